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
  scrubbed from everything Daily sends back, in every field, wherever it stands as a whole
  token (never inside a longer word: a short key once turned ``new-year.mp3`` into
  ``***-year.mp3``), and keys too short to be Daily's are refused.
- Every answer is bounded: its size (``MAX_ANSWER_BYTES``, read as a stream and never past
  the cap) and its JSON nesting (``MAX_ANSWER_DEPTH``, checked before parsing); a listing
  is bounded in configs, pages and time (``MAX_LIST_CONFIGS``, ``MAX_LIST_PAGES``,
  ``LIST_DEADLINE``).
- A circuit breaker shared by every thread (:class:`holdmusic.dailyretry.Breaker`) stops a
  run whose requests Daily refuses in a row, instead of spending every config's retries.
- ``DAILY_API_URL`` must be https unless it is a loopback address: the key is a bearer
  token.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from holdmusic import __version__, configid
from holdmusic.dailyretry import (  # re-exported: callers know them as daily.*
    DEFAULT_BURST,
    DEFAULT_RATE,
    MAX_WAIT,
    RETRY_BUDGET,
    Breaker,
    DailyAuthError,
    DailyCircuitOpen,
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
from holdmusic.nesting import TooDeep, json_depth_problem
from holdmusic.netguard import FetchError, deadline, deadline_passed, guarded_transport, read_capped
from holdmusic.text import shorten

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_RATE",
    "MAX_WAIT",
    "RETRY_BUDGET",
    "Breaker",
    "DailyAuthError",
    "DailyCircuitOpen",
    "DailyClient",
    "DailyError",
    "DailyInterrupted",
    "DailyNotFound",
    "DailyRequestError",
    "DailyUnavailable",
    "DialinConfig",
    "InvalidConfigId",
    "RateLimiter",
    "target_problem",
]

DEFAULT_BASE_URL = "https://api.daily.co/v1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
EXCHANGE_DEADLINE = 15.0  # s: one request and its whole answer, however slowly it drips
PAGE_SIZE = 100  # Daily's maximum
# A listing ends within these, whatever Daily sends: a Daily that pages forever (100 fresh
# ids a page, no total) once held `configs list` for 90 s at 439 MB and growing. 10,000
# configs is 100 full pages; 200 pages leave room for short ones; 120 s is 200 pages at
# the shared limiter's 18/s with retries to spare.
MAX_LIST_CONFIGS = 10_000
MAX_LIST_PAGES = 200
LIST_DEADLINE = 120.0  # s
# One answer is read as a stream and never past this: a page of 100 trimmed configs is
# ~30 KB and one config ~2 KB, so 2 MB is far above any honest answer (a 1.5 GB answer
# once took 5.7 GB of memory).
MAX_ANSWER_BYTES = 2_000_000
# Daily's answers nest 4 levels (page, data, config, timeout_config); json and the key
# scrubber recurse, and a deeply nested answer raised RecursionError, ending the run.
MAX_ANSWER_DEPTH = 32
# Daily's keys are long random strings (64 characters); a key under this is a
# placeholder or a typo, and scrubbing a short one from answers corrupts data.
MIN_KEY_LENGTH = 20
LEGACY_HINT = (
    "if this domain is older, its dial-in settings may live on the legacy domain config "
    "(GET /, config.pinless_dialin), which holdmusic does not manage"
)

log = logging.getLogger("holdmusic.daily")
N = TypeVar("N", int, float)


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


class InvalidConfigId(UsageError, DailyError):
    """A config id outside the allowed form. A usage error (exit 2) when a person typed it;
    for an id that came from Daily's own list, one config's error (``configs check``
    goes on with the others)."""


class DailyListTooLong(DailyError):
    """Daily's listing did not end within the caps on configs, pages or time."""


class DailyClient:
    """Thread-safe: one ``httpx.Client`` (connection pool), one rate limiter, one circuit
    breaker."""

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
        breaker: Breaker | None = None,
        sleep: Callable[[float], None] | None = None,
        max_answer_bytes: int | None = None,
        max_list_configs: int | None = None,
        max_list_pages: int | None = None,
        list_deadline: float | None = None,
    ) -> None:
        api_key = api_key.strip()
        if not api_key:
            raise UsageError("no Daily API key: set DAILY_API_KEY (Dashboard → Developers)")
        if not re.fullmatch(r"[!-~]+", api_key):  # never repeat a malformed key back
            raise UsageError(
                "DAILY_API_KEY contains spaces, line breaks or non-ASCII characters: "
                "copy the key again (Dashboard → Developers)"
            )
        if len(api_key) < MIN_KEY_LENGTH:
            raise UsageError(
                f"DAILY_API_KEY is {len(api_key)} characters long: Daily's keys are far longer "
                f"(holdmusic wants at least {MIN_KEY_LENGTH}); copy the key again "
                "(Dashboard → Developers)"
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
        # None: the module's bound, read now (so one place sets it for every client)
        self.max_answer_bytes = _or(max_answer_bytes, MAX_ANSWER_BYTES)
        self.max_list_configs = _or(max_list_configs, MAX_LIST_CONFIGS)
        self.max_list_pages = _or(max_list_pages, MAX_LIST_PAGES)
        self.list_deadline = _or(list_deadline, LIST_DEADLINE)
        self._interrupt = threading.Event()
        # Every wait ends when this is set: by interrupt(), or by the breaker opening.
        self._wake = threading.Event()
        self.breaker = breaker or Breaker()
        self.breaker.wake_on_open(self._wake)
        self._sleep = sleep  # tests: waits between attempts without real time passing
        self._scrubber = _Scrubber(api_key)
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
                # Compressed answers would be inflated by httpx all at once; identity keeps
                # the size cap a cap (a server that compresses anyway is decoded by hand,
                # within it).
                "Accept-Encoding": "identity",
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
        self._wake.set()
        if self._backend is not None:
            self._backend.abort()

    @property
    def stopped(self) -> str | None:
        """Why the circuit breaker stopped this client's calls (one line), or None."""
        return self.breaker.reason

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DailyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API -----------------------------------------------------------------------

    def list_configs(self, **filters: str) -> list[DialinConfig]:
        """Every dial-in config (trimmed: no hold_music_url), following pagination.

        Bounded: at most ``max_list_configs`` configs over ``max_list_pages`` pages, all
        within ``list_deadline`` seconds; past any of them, :class:`DailyListTooLong`.
        """
        out: list[DialinConfig] = []
        seen: set[str] = set()
        after: str | None = None
        started = time.monotonic()
        pages = 0
        while True:
            left = self.list_deadline - (time.monotonic() - started)
            if pages and left <= 0:
                raise self._too_long(
                    f"did not end within {self.list_deadline:g} s ({pages} pages, "
                    f"{len(out):,} configs)"
                )
            if pages >= self.max_list_pages:
                raise self._too_long(f"did not end after {pages} pages ({len(out):,} configs)")
            params: dict[str, Any] = {"limit": PAGE_SIZE, **filters}
            if after:
                params["starting_after"] = after
            page = self._call("GET", "/domain-dialin-config", params=params, budget=max(0.0, left))
            pages += 1
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list):
                raise DailyError("Daily answered the list with an unexpected body (no data)")
            items = [DialinConfig.from_json(d) for d in data]
            fresh = [c for c in items if c.id not in seen]
            if len(out) + len(fresh) > self.max_list_configs:
                raise self._too_long(f"holds more than {self.max_list_configs:,} configs")
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

    def _too_long(self, why: str) -> DailyListTooLong:
        return DailyListTooLong(
            f"Daily's list of dial-in configs {why}: stopped there (holdmusic reads at most "
            f"{self.max_list_configs:,} configs in {self.max_list_pages} pages within "
            f"{self.list_deadline:g} s); name the configs instead (--config ID, or ID...)"
        )

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

    def _call(
        self,
        method: str,
        path: str,
        *,
        ident: str | None = None,
        budget: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """One call: attempts under the shared limiter, every wait counted in one budget."""
        limit = self.max_retry_seconds if budget is None else min(budget, self.max_retry_seconds)
        return with_retries(
            lambda: self._once(method, path, ident, **kwargs),
            f"{method} {path}",
            limiter=self.limiter,
            max_attempts=self.max_attempts,
            budget=limit,
            backoff=self._backoff,
            interrupt=self._interrupt,
            breaker=self.breaker,
            wake=self._wake,
            sleep=self._sleep,
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
                    with self._http.stream(method, path, **kwargs) as resp:
                        raw, over = read_capped(resp, self.max_answer_bytes)
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
                    f"cannot reach Daily at {self.base_url}: {self._scrubber.text(exc)}"
                ),
                unknown=not isinstance(exc, httpx.ConnectError),
            ) from None
        except FetchError as exc:  # an encoding other than identity/gzip/deflate, or corrupt
            raise DailyError(
                f"Daily's answer to {method} {path} could not be read: {exc}",
                outcome_unknown=method != "GET",
            ) from None
        log.info(
            "%s %s -> %d (%.0f ms)",
            method,
            path,
            resp.status_code,
            1000 * (time.monotonic() - started),
        )
        if over:
            # Not retried: the same request gets the same answer. For a PUT, the answer
            # that would say what happened was not read.
            raise DailyError(
                f"Daily answered {method} {path} with more than "
                f"{self.max_answer_bytes:,} bytes: not read past that",
                status=resp.status_code,
                outcome_unknown=method != "GET",
            )
        body = self._parse(raw, resp.status_code, method, path)
        if resp.status_code < 400:
            return body
        raise self._error(resp, body, method, path, ident)

    def _parse(self, raw: bytes, status: int, method: str, path: str) -> Any:
        """The answer's JSON, depth-checked before parsing and scrubbed of the key; None
        for an error answer that is not JSON."""
        why = json_depth_problem(raw, MAX_ANSWER_DEPTH)
        try:
            if why is not None:
                raise TooDeep(why)
            return self._scrubber.json(json.loads(raw))
        except (ValueError, RecursionError) as exc:
            if status >= 400:
                return None
            what = "JSON " + str(exc) if isinstance(exc, TooDeep) else "not JSON"
            raise DailyError(
                f"Daily answered {method} {path} with a body that is {what}",
                status=status,
                outcome_unknown=method != "GET",
            ) from None

    def _error(
        self, resp: httpx.Response, body: Any, method: str, path: str, ident: str | None
    ) -> Exception:
        status = resp.status_code
        if not isinstance(body, dict):
            body = {}
        kind = shorten(self._scrubber.text(body.get("error", "")), _SHORT)
        info = shorten(self._scrubber.text(body.get("info", "")), _SHORT)
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
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            "DAILY_API_URL must be https (like https://api.daily.co/v1): over plain http the "
            "API key would cross the network in cleartext (http is allowed only on loopback, "
            "for the stand-in and the playground)"
        )


def _or(value: N | None, default: N) -> N:
    return default if value is None else value


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_id(config_id: str, got: Any, method: str, *, outcome_unknown: bool) -> DialinConfig:
    config = DialinConfig.from_json(got)
    if config.id != config_id:
        raise DailyError(
            f"Daily answered {method} for config {config_id} with config "
            f"{shorten(config.id, _SHORT)!r}",
            outcome_unknown=outcome_unknown,
        )
    return config


_SHORT = 300  # characters of Daily's words or ids quoted in a message


def _config_path(config_id: str) -> str:
    why = configid.problem(config_id)
    if why is not None:
        raise InvalidConfigId(why)
    return f"/domain-dialin-config/{config_id}"


def _kind(exc: httpx.TimeoutException) -> str:
    return {
        httpx.ConnectTimeout: "connect timeout",
        httpx.ReadTimeout: "read timeout",
        httpx.WriteTimeout: "write timeout",
        httpx.PoolTimeout: "pool timeout",
    }.get(type(exc), "timeout")


class _Scrubber:
    """Masks the key wherever it can appear in what Daily (or an exception) says: as a
    whole token, and as an Authorization value. Never inside a longer word: with a short
    key, plain substring replacement corrupted config values (``new-year.mp3``)."""

    _BEARER = re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+")

    def __init__(self, secret: str) -> None:
        self._pattern = re.compile(
            rf"(?<![A-Za-z0-9_-]){re.escape(secret)}(?![A-Za-z0-9_-])" if secret else r"(?!)"
        )

    def value(self, text: str) -> str:
        return self._pattern.sub("***", text)

    def text(self, message: object) -> str:
        """An error message: the key, and any bearer token, masked."""
        return self._BEARER.sub(r"\1***", self.value(str(message)))

    def json(self, value: Any) -> Any:
        """Everything Daily sent, with the key masked wherever it stands (keys and values).
        Recursion is bounded: answers are depth-checked before parsing."""
        if isinstance(value, str):
            return self.value(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {self.value(k): self.json(v) for k, v in value.items()}
        return value
