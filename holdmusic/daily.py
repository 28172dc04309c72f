"""A small client for Daily's dial-in config API (facts from docs.daily.co/reference/rest-api).

- Explicit timeouts on every request; ``transport`` is injectable (httpx's model).
- Retries 429, 5xx, connection errors and timeouts with exponential backoff and jitter,
  honouring ``Retry-After`` when Daily sends one, within a bound on attempts and time
  (tenacity). Only GET and PUT are sent, and both are idempotent, so retrying is safe.
- One token-bucket rate limiter shared by every thread using the client, a little under
  Daily's 20 requests/s, so that big jobs do not live on 429s.
- The API key never appears in a message, a log line or ``--verbose`` output.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import tenacity

from holdmusic import __version__
from holdmusic.errors import HoldmusicError, UsageError

DEFAULT_BASE_URL = "https://api.daily.co/v1"
DEFAULT_RATE = 18.0  # requests/s: a little under Daily's documented 20/s
DEFAULT_BURST = 5
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
PAGE_SIZE = 100  # Daily's maximum
LEGACY_HINT = (
    "if this domain is older, its dial-in settings may live on the legacy domain config "
    "(GET /, config.pinless_dialin), which holdmusic does not manage"
)

log = logging.getLogger("holdmusic.daily")
T = TypeVar("T")


class DailyError(HoldmusicError):
    """Daily answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error


class DailyAuthError(DailyError):
    """The key was missing, malformed or rejected."""


class DailyNotFound(DailyError):
    """No object with that id (on this domain)."""


class DailyRequestError(DailyError):
    """Daily refused the request as invalid (400); its ``info`` says why."""


class DailyUnavailable(DailyError):
    """Rate limits, server errors or the network won, after every retry."""


class _Retryable(Exception):
    """Internal: a failure worth another attempt."""

    def __init__(self, error: DailyError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


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


class RateLimiter:
    """Token bucket (as GCRA): ``burst`` requests at once, then ``rate`` per second.

    Shared by every thread; each ``acquire`` reserves the next free slot under a lock
    and sleeps outside it. ``penalize`` pushes every thread back after a 429.
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.allowance = (burst - 1) * self.interval
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")  # the first caller, whatever the clock says, goes at once
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; returns how long this caller waited."""
        with self._lock:
            now = self._clock()
            slot = max(self._next, now - self.allowance)
            self._next = slot + self.interval
            wait = slot - now
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


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
        max_retry_seconds: float = 60.0,
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
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.limiter = limiter or RateLimiter()
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": f"holdmusic/{__version__}",
                "Accept": "application/json",
            },
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            trust_env=False,
        )
        self.requests_sent = 0
        self._count_lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **kwargs: Any) -> DailyClient:
        # An empty or malformed key is refused by __init__, with the same message.
        key = env.get("DAILY_API_KEY", "")
        return cls(key, env.get("DAILY_API_URL") or DEFAULT_BASE_URL, **kwargs)

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
        return DialinConfig.from_json(self._call("GET", _config_path(config_id), ident=config_id))

    def set_hold_music(self, config_id: str, url: str) -> DialinConfig:
        """PUT only ``hold_music_url``: every other field is left to Daily to keep."""
        body = {"hold_music_url": url}
        return DialinConfig.from_json(
            self._call("PUT", _config_path(config_id), json=body, ident=config_id)
        )

    def get_domain(self) -> dict[str, Any]:
        """``GET /``: the domain config; proves the key is accepted."""
        result = self._call("GET", "/")
        return result if isinstance(result, dict) else {}

    # --- plumbing ----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, ident: str | None = None, **kwargs: Any) -> Any:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=(
                tenacity.stop_after_attempt(self.max_attempts)
                | tenacity.stop_after_delay(self.max_retry_seconds)
            ),
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        attempts = 0
        started = time.monotonic()

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            return self._once(method, path, ident, **kwargs)

        try:
            return retrying(attempt)
        except _Retryable as exc:
            error = exc.error
            if isinstance(error, DailyUnavailable):
                # Say how hard it tried: "could not be reached" after 1 s and after 60 s
                # call for different fixes (a typo in DAILY_API_URL vs a Daily outage).
                waited = time.monotonic() - started
                tried = f"tried {attempts} time{'' if attempts == 1 else 's'} over {waited:.1f} s"
                error = DailyUnavailable(
                    f"{error} ({tried})", status=error.status, error=error.error
                )
            raise error from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Retry-After when Daily gives one, else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_seconds)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        log.info("retrying after %s (attempt %d, waiting %.2fs)", exc, state.attempt_number, sleep)

    def _once(self, method: str, path: str, ident: str | None, **kwargs: Any) -> Any:
        self.limiter.acquire()
        with self._count_lock:
            self.requests_sent += 1
        started = time.monotonic()
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise _Retryable(
                DailyUnavailable(f"Daily did not answer {method} {path} in time ({_kind(exc)})")
            ) from None
        except httpx.LocalProtocolError:
            # Refused by our own HTTP stack (a malformed header): retrying cannot help, and
            # its message may quote the header, so it is not shown.
            raise DailyError(f"could not send {method} {path}: the request was malformed") from None
        except httpx.TransportError as exc:
            raise _Retryable(
                DailyUnavailable(f"cannot reach Daily at {self.base_url}: {_scrub(exc, self._key)}")
            ) from None
        log.info(
            "%s %s -> %d (%.0f ms)",
            method,
            path,
            resp.status_code,
            1000 * (time.monotonic() - started),
        )
        if resp.status_code < 400:
            try:
                return resp.json()
            except ValueError:
                raise DailyError(
                    f"Daily answered {method} {path} with a body that is not JSON",
                    status=resp.status_code,
                ) from None
        raise self._error(resp, method, path, ident)

    def _error(self, resp: httpx.Response, method: str, path: str, ident: str | None) -> Exception:
        status = resp.status_code
        try:
            body = resp.json()
        except ValueError:
            body = {}
        kind = str(body.get("error", "")) if isinstance(body, dict) else ""
        info = _scrub(str(body.get("info", "")) if isinstance(body, dict) else "", self._key)
        detail = f": {info}" if info else ""
        if status == 429:
            wait = _retry_after(resp)
            self.limiter.penalize(wait if wait is not None else self.backoff_initial)
            return _Retryable(
                DailyUnavailable(
                    "Daily kept answering 429 (rate limited) after every retry",
                    status=status,
                    error=kind,
                ),
                retry_after=wait,
            )
        if status >= 500:
            return _Retryable(
                DailyUnavailable(
                    f"Daily answered {status} ({kind or 'server error'}) to {method} {path}, "
                    "every time it was tried",
                    status=status,
                    error=kind,
                ),
                retry_after=_retry_after(resp),
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


def _config_path(config_id: str) -> str:
    if not config_id or "/" in config_id or config_id in (".", ".."):
        raise UsageError(f"not a dial-in config id: {config_id!r}")
    return f"/domain-dialin-config/{config_id}"


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
