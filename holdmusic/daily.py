"""A small client for Daily's dial-in config API (facts from docs.daily.co/reference/rest-api).

- Explicit timeouts on every request; ``transport`` is injectable (httpx's model).
- Retries 429, 5xx, connection errors and timeouts with exponential backoff and jitter,
  honouring ``Retry-After`` when Daily sends one. Every wait is capped (``MAX_WAIT``),
  and all the waiting one call does (backoff, Retry-After, the shared limiter's penalty)
  counts against one budget (``RETRY_BUDGET``). Only GET and PUT are sent, and both are
  idempotent, so retrying is safe.
- Each exchange has a total deadline (``EXCHANGE_DEADLINE``), however slowly Daily sends.
- One token-bucket rate limiter shared by every thread using the client, a little under
  Daily's 20 requests/s, so that big jobs do not live on 429s.
- ``interrupt()`` (on Ctrl-C) wakes every waiting thread and cuts every open connection.
- The API key never appears in a message, a log line or ``--verbose`` output: it is
  scrubbed from everything Daily sends back, in every field.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from holdmusic import __version__, configid
from holdmusic.dailyretry import (  # re-exported: callers know them as daily.*
    DEFAULT_BURST,
    DEFAULT_RATE,
    MAX_WAIT,
    RETRY_BUDGET,
    DailyAuthError,
    DailyError,
    DailyInterrupted,
    DailyNotFound,
    DailyRequestError,
    DailyUnavailable,
    RateLimiter,
    Retryable,
    with_retries,
)
from holdmusic.errors import UsageError
from holdmusic.netguard import deadline, deadline_passed, guarded_transport

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_RATE",
    "MAX_WAIT",
    "RETRY_BUDGET",
    "DailyAuthError",
    "DailyClient",
    "DailyError",
    "DailyInterrupted",
    "DailyNotFound",
    "DailyRequestError",
    "DailyUnavailable",
    "DialinConfig",
    "RateLimiter",
    "target_problem",
]

DEFAULT_BASE_URL = "https://api.daily.co/v1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
EXCHANGE_DEADLINE = 15.0  # s: one request and its whole answer, however slowly it drips
PAGE_SIZE = 100  # Daily's maximum
LEGACY_HINT = (
    "if this domain is older, its dial-in settings may live on the legacy domain config "
    "(GET /, config.pinless_dialin), which holdmusic does not manage"
)

log = logging.getLogger("holdmusic.daily")


@dataclass(frozen=True)
class DialinConfig:
    id: str
    type: str
    config: Mapping[str, Any]

    @property
    def hold_music_url(self) -> str | None:
        value = self.config.get("hold_music_url")
        return value if isinstance(value, str) else None

    @property
    def phone_number(self) -> str | None:
        return self.config.get("phone_number")

    @property
    def name_prefix(self) -> str | None:
        return self.config.get("name_prefix")

    @property
    def pinless(self) -> bool:
        return self.type == "pinless_dialin"

    @classmethod
    def from_json(cls, data: Any) -> DialinConfig:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise DailyError("Daily answered with an unexpected body (no dial-in config id)")
        config = data.get("config")
        return cls(
            data["id"], str(data.get("type", "")), config if isinstance(config, dict) else {}
        )

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "config": dict(self.config)}


def target_problem(config: DialinConfig) -> str | None:
    """Why hold music cannot be set on this config, or None (Daily's rule, kept here)."""
    if config.type == "pin_dialin":
        return (
            f"config {config.id} is pin_dialin: Daily plays hold music only on pinless_dialin "
            "configs, so there is nothing to set"
        )
    if not config.pinless:
        return f"config {config.id} has type {config.type!r}, not pinless_dialin"
    return None


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class DailyClient:
    """Thread-safe: one ``httpx.Client`` (connection pool) and one rate limiter."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: httpx.Timeout | float = TIMEOUT,
        limiter: RateLimiter | None = None,
        max_attempts: int = 6,
        max_retry_seconds: float = RETRY_BUDGET,
        max_wait: float = MAX_WAIT,
        exchange_seconds: float = EXCHANGE_DEADLINE,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        transport: httpx.BaseTransport | None = None,
        pool_size: int = 16,
    ) -> None:
        api_key = api_key.strip()
        if not api_key:
            raise UsageError("no Daily API key: set DAILY_API_KEY (Dashboard → Developers)")
        if not re.fullmatch(r"[!-~]+", api_key):  # never repeat a malformed key back
            raise UsageError(
                "DAILY_API_KEY contains spaces, line breaks or non-ASCII characters: "
                "copy the key again (Dashboard → Developers)"
            )
        check_base_url(base_url)
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.limiter = limiter or RateLimiter()
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.max_wait = max_wait
        self.exchange_seconds = exchange_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._interrupt = threading.Event()
        self._backend = None
        if transport is None:
            transport, self._backend = guarded_transport(public_only=False, pool_size=pool_size)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": f"holdmusic/{__version__}",
                "Accept": "application/json",
            },
            trust_env=False,
        )
        self.requests_sent = 0
        self._count_lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kwargs: Any) -> DailyClient:
        # The caller passes the environment it read (an interface); an empty or malformed
        # key is refused by __init__, with the same message.
        key = env.get("DAILY_API_KEY", "")
        return cls(key, env.get("DAILY_API_URL") or DEFAULT_BASE_URL, **kwargs)

    def interrupt(self) -> None:
        """Stop every call: waits end at once and open connections are cut, so that one
        Ctrl-C ends a run within moments. A PUT cut in flight has an unknown outcome."""
        self._interrupt.set()
        if self._backend is not None:
            self._backend.abort()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DailyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API -----------------------------------------------------------------------

    def list_configs(self, **filters: str) -> list[DialinConfig]:
        """Every dial-in config (trimmed: no hold_music_url), following pagination."""
        out: list[DialinConfig] = []
        seen: set[str] = set()
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE_SIZE, **filters}
            if after:
                params["starting_after"] = after
            page = self._call("GET", "/domain-dialin-config", params=params)
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list):
                raise DailyError("Daily answered the list with an unexpected body (no data)")
            items = [DialinConfig.from_json(d) for d in data]
            fresh = [c for c in items if c.id not in seen]
            out.extend(fresh)
            seen.update(c.id for c in fresh)
            total = page.get("total_count")
            if (
                len(items) < PAGE_SIZE
                or not fresh
                or (isinstance(total, int) and len(out) >= total)
            ):
                return out
            after = items[-1].id

    def get_config(self, config_id: str) -> DialinConfig:
        got = self._call("GET", _config_path(config_id), ident=config_id)
        return _same_id(config_id, got, "GET", outcome_unknown=False)

    def set_hold_music(self, config_id: str, url: str) -> DialinConfig:
        """PUT only ``hold_music_url``: every other field is left to Daily to keep."""
        body = {"hold_music_url": url}
        got = self._call("PUT", _config_path(config_id), json=body, ident=config_id)
        # Answered, but not about this config: what happened to it is unknown.
        return _same_id(config_id, got, "PUT", outcome_unknown=True)

    def get_domain(self) -> dict[str, Any]:
        """``GET /``: the domain config; proves the key is accepted."""
        result = self._call("GET", "/")
        return result if isinstance(result, dict) else {}

    # --- plumbing ----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, ident: str | None = None, **kwargs: Any) -> Any:
        """One call: attempts under the shared limiter, every wait counted in one budget."""
        return with_retries(
            lambda: self._once(method, path, ident, **kwargs),
            f"{method} {path}",
            limiter=self.limiter,
            max_attempts=self.max_attempts,
            budget=self.max_retry_seconds,
            backoff=self._backoff,
            interrupt=self._interrupt,
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when Daily gives one, else exponential backoff with full jitter;
        never more than ``max_wait``."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return min(random.uniform(ceiling / 2, ceiling), self.max_wait)

    def _once(self, method: str, path: str, ident: str | None, **kwargs: Any) -> Any:
        with self._count_lock:
            self.requests_sent += 1
        started = time.monotonic()
        try:
            with deadline(self.exchange_seconds):
                try:
                    resp = self._http.request(method, path, **kwargs)
                except httpx.TimeoutException as exc:
                    kind = (
                        f"no whole answer within {self.exchange_seconds:g} s"
                        if deadline_passed()
                        else _kind(exc)
                    )
                    raise Retryable(
                        DailyUnavailable(f"Daily did not answer {method} {path} in time ({kind})"),
                        unknown=not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)),
                    ) from None
        except httpx.LocalProtocolError:
            # Refused by our own HTTP stack (a malformed header): retrying cannot help, and
            # its message may quote the header, so it is not shown.
            raise DailyError(f"could not send {method} {path}: the request was malformed") from None
        except httpx.TransportError as exc:
            raise Retryable(
                DailyUnavailable(
                    f"cannot reach Daily at {self.base_url}: {_scrub(exc, self._key)}"
                ),
                unknown=not isinstance(exc, httpx.ConnectError),
            ) from None
        log.info(
            "%s %s -> %d (%.0f ms)",
            method,
            path,
            resp.status_code,
            1000 * (time.monotonic() - started),
        )
        try:
            body = _scrub_json(resp.json(), self._key)
        except ValueError:
            body = None
            if resp.status_code < 400:
                raise DailyError(
                    f"Daily answered {method} {path} with a body that is not JSON",
                    status=resp.status_code,
                    outcome_unknown=method != "GET",
                ) from None
        if resp.status_code < 400:
            return body
        raise self._error(resp, body, method, path, ident)

    def _error(
        self, resp: httpx.Response, body: Any, method: str, path: str, ident: str | None
    ) -> Exception:
        status = resp.status_code
        if not isinstance(body, dict):
            body = {}
        kind = _short(body.get("error", ""))
        info = _short(body.get("info", ""))
        detail = f": {info}" if info else ""
        if status == 429:
            wait = _retry_after(resp)
            self.limiter.penalize(
                min(wait, self.max_wait) if wait is not None else self.backoff_initial
            )
            return Retryable(
                DailyUnavailable(
                    "Daily kept answering 429 (rate limited) after every retry",
                    status=status,
                    error=kind,
                ),
                retry_after=wait,
            )
        if status >= 500:
            return Retryable(
                DailyUnavailable(
                    f"Daily answered {status} ({kind or 'server error'}) to {method} {path}, "
                    "every time it was tried",
                    status=status,
                    error=kind,
                ),
                retry_after=_retry_after(resp),
                unknown=True,
            )
        if status == 401 or kind == "authentication-error":
            return DailyAuthError(
                "Daily rejected the API key (401): check DAILY_API_KEY (a key belongs to one "
                "domain)",
                status=status,
                error=kind,
            )
        if kind == "authorization-header-error":
            return DailyAuthError(
                f"Daily refused the Authorization header{detail}", status=status, error=kind
            )
        if status == 403:
            return DailyAuthError(f"Daily refused access (403){detail}", status=status, error=kind)
        if status == 404:
            what = f"no dial-in config with id {ident!r}" if ident else f"{path} not found"
            return DailyNotFound(f"{what} on this domain; {LEGACY_HINT}", status=status, error=kind)
        return DailyRequestError(
            f"Daily refused {method} {path} ({status} {kind or 'error'}){detail}",
            status=status,
            error=kind,
        )


def check_base_url(base_url: str) -> None:
    """DAILY_API_URL must be a plain http(s) URL: credentials in it would be printed in
    errors and logs, and httpx would send them as Basic auth instead of the Bearer key."""
    try:
        parts = urlsplit(base_url)
        has_credentials = parts.username is not None or parts.password is not None
    except ValueError:
        raise UsageError("DAILY_API_URL is not a URL") from None
    if has_credentials:
        raise UsageError(
            "DAILY_API_URL must not contain credentials (user:password@); "
            "the key goes in DAILY_API_KEY"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("DAILY_API_URL must be an http(s) URL, like https://api.daily.co/v1")


def _same_id(config_id: str, got: Any, method: str, *, outcome_unknown: bool) -> DialinConfig:
    config = DialinConfig.from_json(got)
    if config.id != config_id:
        raise DailyError(
            f"Daily answered {method} for config {config_id} with config {_short(config.id)!r}",
            outcome_unknown=outcome_unknown,
        )
    return config


def _short(value: object, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scrub_json(value: Any, secret: str) -> Any:
    """Everything Daily sent, with the key masked wherever it appears (keys and values)."""
    if isinstance(value, str):
        return _scrub(value, secret)
    if isinstance(value, list):
        return [_scrub_json(v, secret) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, secret): _scrub_json(v, secret) for k, v in value.items()}
    return value


def _config_path(config_id: str) -> str:
    return f"/domain-dialin-config/{configid.check(config_id)}"


def _kind(exc: httpx.TimeoutException) -> str:
    return {
        httpx.ConnectTimeout: "connect timeout",
        httpx.ReadTimeout: "read timeout",
        httpx.WriteTimeout: "write timeout",
        httpx.PoolTimeout: "pool timeout",
    }.get(type(exc), "timeout")


def _scrub(text: object, secret: str) -> str:
    """Never let the key through, whatever an exception or a server says."""
    s = str(text)
    return s.replace(secret, "***") if secret else s
