"""A stand-in for Daily's REST API (the ``domain-dialin-config`` part) on loopback.

Tests must never call the real Daily API, yet the client code should talk real
HTTP (httpx, connection pooling, timeouts, retries).  :class:`DailyStandIn` is a
real ``ThreadingHTTPServer`` on ``127.0.0.1`` with an in-memory store of dial-in
configs, faithful to Daily's public REST API reference (docs.daily.co/reference/rest-api,
the dial-in pages), plus switchable faults
(rate limiting, 5xx before/after applying a PUT, slow answers, dropped
connections) and hostile answers (dripped one byte at a time, a PUT that lands
after the client gave up, a PUT that stores another URL or changes another
field, an answer about another config, an error that echoes the API key, a list
that pages forever, an answer of gigabytes, JSON nested thousands deep, 429 to
everything, requests held until the test lets them go) and a request log for
assertions.  Standard library only.

Usage::

    with DailyStandIn() as daily:
        config_id = daily.add_config(hold_music_url="https://cdn.example/a.mp3")
        client = httpx.Client(base_url=daily.url, headers=daily.auth_headers)
        daily.faults.fail_before([503], methods={"PUT"})
        ...
        assert daily.put_history(config_id) == [...]

Fixture (wire it into ``conftest.py`` with ``from tests.daily_standin import daily``):

``daily`` (function)
    a started :class:`DailyStandIn`, stopped afterwards; the test fails if the
    stand-in itself crashed while handling a request.

Choices made where DAILY_API.md is silent (stricter is safer: code that
passes here should not trip over the real API):

* A missing config id is HTTP 404 with ``invalid-request-error``: the doc
  lists no ``not-found`` error type, only that DELETE of a missing id is 404.
* ``hold_music_url`` must be an ``http://`` or ``https://`` URL with a host.
  ``null`` is refused (400): clearing hold music is not documented.
* ``sip_uri`` is server-generated; sending it in a PUT/POST body is a 400, as
  is ``type`` in a PUT (switching type means delete and re-create).
* ``hmac``, ``room_creation_api`` and ``hold_music_url`` are refused on a
  ``pin_dialin`` config.  ``ivr_greeting`` is accepted on both types because
  Daily's own PUT example sends it for a ``pinless_dialin`` config.
* PUT merges top-level fields: omitted fields are kept; a nested object such
  as ``timeout_config`` is replaced as a whole.
* An unknown ``starting_after`` / ``ending_before`` id is a 400 rather than an
  empty page, so a client cannot mistake a vanished cursor for "done".
* DELETE answers ``{"status": "success"}`` (the doc names only the key).
* No ``Retry-After`` on 429 unless a test asks for one: Daily does not
  document it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import random
import re
import secrets
import socket
import socketserver
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

HOST = "127.0.0.1"
API_PREFIX = "/v1"
MAX_LIMIT = 100
MAX_BODY_BYTES = 1_000_000
CONFIG_TYPES = ("pinless_dialin", "pin_dialin")
# Fields a client may send in PUT (and POST); ``sip_uri`` is server-generated.
WRITABLE_FIELDS = frozenset(
    {
        "phone_number",
        "name_prefix",
        "hmac",
        "room_creation_api",
        "hold_music_url",
        "timeout_config",
        "ivr_greeting",
    }
)
PINLESS_ONLY_FIELDS = frozenset({"hmac", "room_creation_api", "hold_music_url"})
# What a list entry keeps of a config; the rest (hold_music_url included) needs a GET by id.
TRIMMED_FIELDS = ("phone_number", "name_prefix", "sip_uri")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")

When = Literal["before", "after"]
ConfigObject = dict[str, Any]


# ---------------------------------------------------------------------------
# Request log
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the stand-in saw it.

    ``path`` is the full URL path (``/v1/domain-dialin-config/<id>``), ``query``
    keeps the last value of each parameter, ``headers`` have lower-cased names.
    ``status`` is ``None`` when the connection was dropped without an answer.
    ``time`` is ``time.monotonic()`` at arrival, so gaps between retries can be
    measured.  ``faults`` names the fault switches that fired for this request.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int | None
    time: float
    faults: tuple[str, ...] = ()

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# ---------------------------------------------------------------------------
# Fault switches
# ---------------------------------------------------------------------------


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(m.upper() for m in methods)


def _check_probability(probability: float) -> None:
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be within [0, 1], got {probability}")


def _check_5xx(status: int) -> None:
    if not 500 <= status <= 599:
        raise ValueError(f"injected failures must be 5xx, got {status}")


@dataclass(slots=True)
class _Target:
    """Which requests a fault applies to (``None`` = all)."""

    methods: frozenset[str] | None = None
    path_prefix: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass(slots=True)
class _Bucket:
    rate_per_s: float
    burst: float
    retry_after: float | None
    tokens: float
    updated: float


@dataclass(slots=True)
class _FailBefore:
    codes: deque[int]
    probability: float
    status: int
    target: _Target


@dataclass(slots=True)
class _FailAfterPut:
    remaining: int
    probability: float
    status: int


@dataclass(slots=True)
class _Delay:
    seconds: float
    remaining: int | None  # None: every matching request
    when: When
    target: _Target


@dataclass(slots=True)
class _Drop:
    remaining: int
    when: When
    target: _Target


@dataclass(slots=True)
class _Switch:
    """A hostile-answer switch: ``remaining`` matching requests (None: all), ``value``."""

    remaining: int | None
    target: _Target
    value: Any = None

    def take(self, method: str, path: str) -> bool:
        if not self.target.matches(method, path) or self.remaining == 0:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


class Faults:
    """Fault switches, settable from the test thread while requests are in flight.

    Every setter replaces the previous setting of that switch; calling it with
    its "off" value (or :meth:`reset`) turns the switch off.  Probabilities draw
    from one ``random.Random(seed)`` so a failing run can be replayed.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._bucket: _Bucket | None = None
        self._fail_before: _FailBefore | None = None
        self._fail_after_put: _FailAfterPut | None = None
        self._delay: _Delay | None = None
        self._drop: _Drop | None = None
        self._switches: dict[str, _Switch] = {}
        self._block: _Target | None = None
        self._release = threading.Event()
        self.blocked = threading.Event()  # a request is being held by block()
        self._hurry = threading.Event()  # end_delays(): delays in progress end now
        # The rate limiter's clock; a test may set a fake one (a bucket that refills only
        # when the test says so, whatever the machine's speed).
        self.clock: Callable[[], float] = time.monotonic

    # -- setters --------------------------------------------------------------

    def _set(
        self,
        name: str,
        count: int | None,
        value: Any = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 (None: every matching request)")
        with self._lock:
            if count == 0:
                self._switches.pop(name, None)
            else:
                target = _Target(_methods(methods), path_prefix)
                self._switches[name] = _Switch(count, target, value)

    def drip(
        self,
        interval: float,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Send the whole answer (status line and headers too) one byte every
        ``interval`` seconds: each read finishes quickly, so only a total deadline
        on the exchange ends it.  The request is applied first.  ``interval=0``: off."""
        self._set("drip", 0 if interval <= 0 else count, interval, methods, path_prefix)

    def late_put(self, seconds: float, *, count: int | None = 1) -> None:
        """The next ``count`` PUTs get no answer (the connection is closed) and are
        applied ``seconds`` later, after the client has given up and maybe looked."""
        self._set("late_put", 0 if seconds <= 0 else count, seconds, {"PUT"})

    def store_other_url(self, url: str | None, *, count: int | None = None) -> None:
        """A PUT of ``hold_music_url`` is accepted (200) but ``url`` is stored instead.
        ``None``: off."""
        self._set("store_other_url", 0 if url is None else count, url, {"PUT"})

    def change_other_field(
        self, name: str | None, value: Any = None, *, count: int | None = None
    ) -> None:
        """A successful PUT also sets config field ``name`` to ``value`` (Daily changing
        something it was not asked to).  ``name=None``: off."""
        self._set("change_other_field", 0 if name is None else count, (name, value), {"PUT"})

    def wrong_id(self, *, count: int | None = None, methods: Iterable[str] | None = None) -> None:
        """Answer a config GET/PUT with the object of another id (state is unchanged for
        a GET, applied for a PUT).  ``count=0``: off."""
        self._set("wrong_id", count, None, methods or {"GET", "PUT"}, "/v1/domain-dialin-config/")

    def echo_key(self, *, count: int | None = None, methods: Iterable[str] | None = None) -> None:
        """Answer 400 with the caller's bearer token in ``error``, ``info`` and an extra
        ``detail`` field, as a careless server or proxy might.  ``count=0``: off."""
        self._set("echo_key", count, None, methods)

    def endless_list(self, *, count: int | None = None) -> None:
        """The config list answers every page with 100 configs of fresh ids and no
        ``total_count``, so a client that follows pagination never ends.  ``count=0``: off."""
        self._set("endless_list", count, None, {"GET"}, API_PREFIX + "/domain-dialin-config")

    def huge_answer(
        self,
        size: int,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer 200 with a body of ``size`` bytes (a JSON object's start, then spaces),
        made lazily 64 KB at a time: nothing that size is ever held in memory.  How much
        went out before the client hung up is in :attr:`DailyStandIn.huge_sent`.
        ``size=0``: off."""
        self._set("huge_answer", 0 if size <= 0 else count, size, methods, path_prefix)

    def deep_json(
        self,
        depth: int,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer 200 with the config asked for, plus a field holding arrays nested
        ``depth`` levels deep (what makes a recursive parser give up).  ``depth=0``: off."""
        self._set("deep_json", 0 if depth <= 0 else count, depth, methods, path_prefix)

    def too_many_requests(
        self,
        *,
        count: int | None = None,
        retry_after: float | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Answer 429 ``rate-limit-error`` to the next ``count`` matching requests (None:
        every one, however slowly they come), with ``Retry-After`` when given.  Unlike
        :meth:`rate_limit`, no token ever refills.  ``count=0``: off."""
        self._set("too_many_requests", count, retry_after, methods)

    def block(self, *, methods: Iterable[str] | None = ("PUT",)) -> None:
        """Hold every matching request (before it is applied) until :meth:`unblock`.
        :attr:`blocked` is set when the first one is held, so a test waits on an event,
        not on time.  Stopping the stand-in lets held requests go (unapplied)."""
        with self._lock:
            self._block = _Target(_methods(methods), None)
            self.blocked.clear()
            self._release.clear()

    def end_delays(self) -> None:
        """End every ``delay`` in progress now (the request goes on as if its delay had
        passed), and start no more: a test sees a delayed request land on its own cue
        instead of sleeping for it."""
        with self._lock:
            self._delay = None
        self._hurry.set()

    def _wait(self, seconds: float, stopping: threading.Event) -> None:
        """A delay: ends after ``seconds``, at end_delays(), or when the stand-in stops."""
        end = time.monotonic() + seconds
        while not self._hurry.is_set() and not stopping.is_set():
            left = end - time.monotonic()
            if left <= 0 or self._hurry.wait(min(left, 0.05)):
                return

    def unblock(self) -> None:
        """Let every held request go on (and be applied), and hold no more."""
        with self._lock:
            self._block = None
        self._release.set()

    def rate_limit(
        self,
        rate_per_s: float | None = 20.0,
        *,
        burst: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Token bucket: ``rate_per_s`` refill, ``burst`` capacity (default = rate).

        Over the limit: 429 ``rate-limit-error``.  Daily documents 20 requests/s
        (or 100 per 5 s).  ``retry_after`` (seconds, rounded up) adds a
        ``Retry-After`` header; Daily does not document one, so none by default.
        ``rate_limit(None)`` switches limiting off.  The bucket starts full.
        """
        with self._lock:
            if rate_per_s is None:
                self._bucket = None
                return
            if rate_per_s <= 0:
                raise ValueError("rate_per_s must be positive (use None to switch off)")
            capacity = float(rate_per_s if burst is None else burst)
            if capacity < 1:
                raise ValueError("burst must be at least 1")
            self._bucket = _Bucket(
                rate_per_s, capacity, retry_after, tokens=capacity, updated=self.clock()
            )

    def fail_before(
        self,
        codes: Iterable[int] = (),
        *,
        probability: float = 0.0,
        status: int = 503,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer 5xx ``server-error`` *before* applying a request (no state change).

        ``codes`` is a queue: each matching request takes the next code.  Once
        it is empty, each matching request fails with ``status`` at
        ``probability``.  ``methods={"PUT"}`` targets only PUTs, and so on.
        Authentication and rate limiting are checked first.  No arguments: off.
        """
        queue = deque(codes)
        for code in (*queue, status):
            _check_5xx(code)
        _check_probability(probability)
        with self._lock:
            if not queue and probability == 0.0:
                self._fail_before = None
            else:
                target = _Target(_methods(methods), path_prefix)
                self._fail_before = _FailBefore(queue, probability, status, target)

    def fail_after_put(
        self, count: int = 0, *, probability: float = 0.0, status: int = 502
    ) -> None:
        """Apply a valid PUT, then answer ``status`` (``server-error``) anyway.

        The nasty case: the change is live but the client sees an error.  The
        next ``count`` successful PUTs fail this way, then each further one at
        ``probability``.  Rejected PUTs (4xx) do not use up the count.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        _check_5xx(status)
        _check_probability(probability)
        with self._lock:
            if count == 0 and probability == 0.0:
                self._fail_after_put = None
            else:
                self._fail_after_put = _FailAfterPut(count, probability, status)

    def delay(
        self,
        seconds: float,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
        when: When = "after",
    ) -> None:
        """Sleep ``seconds`` for the next ``count`` matching requests (None: all).

        ``when="after"`` (default) applies the request, then sleeps before
        answering: a client read timeout fires although a PUT already took
        effect.  ``when="before"`` sleeps first, so the change lands only after
        the client gave up.  ``delay(0)`` switches it off.  :meth:`DailyStandIn.stop`
        cuts sleeps short.
        """
        if seconds < 0 or (count is not None and count < 0):
            raise ValueError("seconds and count must be >= 0")
        with self._lock:
            if seconds == 0 or count == 0:
                self._delay = None
            else:
                target = _Target(_methods(methods), path_prefix)
                self._delay = _Delay(seconds, count, when, target)

    def drop_connection(
        self,
        count: int = 1,
        *,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
        when: When = "before",
    ) -> None:
        """Close the socket without any response for the next ``count`` matching requests.

        ``when="before"``: nothing is applied.  ``when="after"``: the request
        (e.g. a PUT) is applied, then the connection is closed unanswered.
        ``drop_connection(0)`` switches it off.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            target = _Target(_methods(methods), path_prefix)
            self._drop = _Drop(count, when, target) if count else None

    def reset(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._bucket = None
            self._fail_before = None
            self._fail_after_put = None
            self._delay = None
            self._drop = None
            self._switches.clear()
            self._block = None
        self._release.set()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    # -- decisions, called by the server (one lock hold each) ------------------

    def _take_token(self, now: float) -> tuple[bool, float | None]:
        with self._lock:
            bucket = self._bucket
            if bucket is None:
                return True, None
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(bucket.burst, bucket.tokens + elapsed * bucket.rate_per_s)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, None
            return False, bucket.retry_after

    def _take_fail_before(self, method: str, path: str) -> int | None:
        with self._lock:
            fault = self._fail_before
            if fault is None or not fault.target.matches(method, path):
                return None
            if fault.codes:
                return fault.codes.popleft()
            if fault.probability and self._rng.random() < fault.probability:
                return fault.status
            return None

    def _take_fail_after_put(self) -> int | None:
        with self._lock:
            fault = self._fail_after_put
            if fault is None:
                return None
            if fault.remaining > 0:
                fault.remaining -= 1
                return fault.status
            if fault.probability and self._rng.random() < fault.probability:
                return fault.status
            return None

    def _take_delay(self, method: str, path: str, when: When) -> float:
        with self._lock:
            fault = self._delay
            if fault is None or fault.when != when or not fault.target.matches(method, path):
                return 0.0
            if fault.remaining is not None:
                if fault.remaining == 0:
                    return 0.0
                fault.remaining -= 1
            return fault.seconds

    def _hold(self, method: str, path: str, stopping: threading.Event) -> bool:
        """Hold this request while block() is on; True when it was held."""
        with self._lock:
            target = self._block
            if target is None or not target.matches(method, path):
                return False
            release = self._release
        self.blocked.set()
        while not release.wait(0.05) and not stopping.is_set():
            pass
        return True

    def _take(self, name: str, method: str, path: str) -> _Switch | None:
        with self._lock:
            switch = self._switches.get(name)
            return switch if switch is not None and switch.take(method, path) else None

    def _take_drop(self, method: str, path: str, when: When) -> bool:
        with self._lock:
            fault = self._drop
            if fault is None or fault.when != when or fault.remaining == 0:
                return False
            if not fault.target.matches(method, path):
                return False
            fault.remaining -= 1
            return True


# ---------------------------------------------------------------------------
# API errors and replies
# ---------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer in Daily's shape: ``{"error": type, "info": text}``."""

    def __init__(self, status: int, error: str, info: str) -> None:
        super().__init__(f"{status} {error}: {info}")
        self.status = status
        self.error = error
        self.info = info


def _invalid(info: str) -> ApiError:
    return ApiError(400, "invalid-request-error", info)


def _not_found(config_id: str) -> ApiError:
    return ApiError(404, "invalid-request-error", f"dialin config {config_id} not found")


@dataclass(slots=True)
class _Reply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_s: float = 0.0
    drip_s: float = 0.0
    faults: list[str] = field(default_factory=list)
    raw: bytes | None = None  # sent as is instead of json.dumps(payload)
    huge: int = 0  # stream a body of this many bytes, made lazily

    @classmethod
    def error(cls, exc: ApiError) -> _Reply:
        return cls(exc.status, {"error": exc.error, "info": exc.info})


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str) or any(ch.isspace() for ch in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_message_object(name: str, value: object) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("message"), str):
        raise _invalid(f"{name} must be an object with a string 'message'")
    extra = set(value) - {"message"}
    if extra:
        raise _invalid(f"{name} has unknown field(s): {', '.join(sorted(extra))}")


def _validate_fields(fields: Mapping[str, Any], config_type: str) -> None:
    """Check client-supplied config fields; raise :class:`ApiError` on the first problem."""
    for name in fields:
        if name == "sip_uri":
            raise _invalid("sip_uri is generated by the server and cannot be set")
        if name not in WRITABLE_FIELDS:
            raise _invalid(f"unknown field: {name}")
        if name in PINLESS_ONLY_FIELDS and config_type != "pinless_dialin":
            raise _invalid(f"{name} is only for pinless_dialin configs, not {config_type}")
    for name, value in fields.items():
        if name == "phone_number":
            if not isinstance(value, str) or not _E164.match(value):
                raise _invalid("phone_number must be an E.164 string such as +12125550100")
        elif name in ("name_prefix", "hmac"):
            if not isinstance(value, str):
                raise _invalid(f"{name} must be a string")
        elif name == "room_creation_api":
            if not _is_http_url(value):
                raise _invalid("room_creation_api must be an http(s) URL")
        elif name == "hold_music_url":
            if not _is_http_url(value):
                raise _invalid("hold_music_url must be a publicly accessible http(s) URL")
        else:  # timeout_config, ivr_greeting
            _check_message_object(name, value)


def _parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(
            400, "json-parsing-error", f"request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "json-parsing-error", "request body must be a JSON object")
    return parsed


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes bursts of ~50 connects stall on
    # SYN retransmits (1 s each); a real API front end would not.
    request_queue_size = 128

    def __init__(self, standin: DailyStandIn) -> None:
        self.standin = standin
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup
        # that can take seconds on some CI hosts; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def close_open_sockets(self) -> None:
        """Wake handler threads parked on keep-alive reads so nothing outlives stop()."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx pools connections
    server_version = "DailyStandIn/1.0"
    # Headers and body go out in separate send() calls; with Nagle on, a
    # keep-alive client can wait ~40 ms for the delayed ACK on every request.
    disable_nagle_algorithm = True
    # An idle keep-alive connection ends after this, so no thread lingers forever.
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log on :class:`DailyStandIn` is the place to look."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Requests http.server rejects itself (bad request line, HEAD...) get JSON too.

        The stdlib would answer with an HTML page; a client parsing Daily's
        error shape should never see one from this stand-in.
        """
        self.close_connection = True
        info = message or self.responses.get(code, ("error",))[0]
        error = "invalid-request-error" if code < 500 else "server-error"
        self._write(_Reply(code, {"error": error, "info": info}))

    def do_GET(self) -> None:
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_PATCH = do_GET

    def _dispatch(self) -> None:
        standin = self.server.standin
        body = self._read_body()
        if isinstance(body, _Reply):  # unreadable request: answer and close
            self.close_connection = True
            standin._record_unprocessed(self.command, self.path, self.headers.items(), body)
            self._write(body)
            return
        try:
            reply = standin._handle(self.command, self.path, self.headers.items(), body)
        except Exception:
            # A bug in the stand-in must not look like a network fault to the
            # client; it answers 500 and the fixture fails the test.
            standin._internal_errors.append(traceback.format_exc())
            reply = _Reply(500, {"error": "server-error", "info": "stand-in crashed"})
        if reply.drop:
            self.close_connection = True  # finish() closes the socket, unanswered
            return
        self._write(reply)

    def _read_body(self) -> bytes | _Reply:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _Reply(
                411, {"error": "invalid-request-error", "info": "Content-Length required"}
            )
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError(raw_length)
        except ValueError:
            return _Reply(400, {"error": "invalid-request-error", "info": "bad Content-Length"})
        if length > MAX_BODY_BYTES:
            return _Reply(413, {"error": "invalid-request-error", "info": "request body too large"})
        return self.rfile.read(length)

    def _write(self, reply: _Reply) -> None:
        if reply.huge:
            self._write_huge(reply)
            return
        payload = reply.raw if reply.raw is not None else json.dumps(reply.payload).encode()
        if reply.drip_s:
            self._drip(reply, payload)
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # client gave up (e.g. its read timeout fired): nothing to tell it
            self.close_connection = True

    def _write_huge(self, reply: _Reply) -> None:
        self.close_connection = True
        standin = self.server.standin
        start = b'{"id": "huge", "type": "pinless_dialin", "config": {"pad": "'
        chunk = b" " * 65536
        sent = 0
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(reply.huge))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(start)
            sent = len(start)
            while sent < reply.huge and not standin._stopping.is_set():
                piece = chunk[: reply.huge - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:  # the client hung up: what a size cap does
            pass
        finally:
            with standin._idle:
                standin._huge_sent.append(sent)
                standin._events += 1
                standin._idle.notify_all()

    def _drip(self, reply: _Reply, payload: bytes) -> None:
        head = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}"]
        head += ["Content-Type: application/json; charset=utf-8"]
        head += [f"Content-Length: {len(payload)}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        self.close_connection = True
        stopping = self.server.standin._stopping
        try:
            for i in range(len(raw)):
                self.wfile.write(raw[i : i + 1])
                self.wfile.flush()
                if stopping.wait(reply.drip_s):
                    return
        except OSError:  # the client gave up: what a total deadline does
            pass


# ---------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------


class DailyStandIn:
    """Daily's ``/v1/domain-dialin-config`` API on ``127.0.0.1:<free port>``.

    Use as a context manager, or :meth:`start` / :meth:`stop`.  ``url`` is the
    base URL to use as ``DAILY_API_URL``; ``api_key`` the only accepted key.
    State and log are safe to read from the test thread at any time.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        domain_name: str = "holdmusic-test",
        seed: int = 0,
        legacy_pinless_dialin: list[dict[str, Any]] | None = None,
    ) -> None:
        self.api_key = api_key or f"test-key-{secrets.token_hex(16)}"
        self.domain_name = domain_name
        # Older domains keep dial-in settings on the domain config (GET /v1/).
        self.legacy_pinless_dialin = legacy_pinless_dialin
        self.faults = Faults(seed)

        self._lock = threading.Lock()  # guards configs, order and put history
        self._configs: dict[str, ConfigObject] = {}  # insertion order = list order
        self._seq: dict[str, int] = {}
        self._next_seq = 0
        self._next_phone = 0
        self._put_history: dict[str, list[str]] = {}

        self._log_lock = threading.Lock()  # guards log, rate window and gauges
        self._log: list[Recorded] = []
        self._window: deque[float] = deque()
        self._peak_rate = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._idle = threading.Condition(self._log_lock)
        self._events = 0  # bumped at each arrival, log entry and departure (wait_until)

        self._internal_errors: list[str] = []
        self._huge_sent: list[int] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> DailyStandIn:
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("a DailyStandIn can be started once")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # stop() waits up to one poll interval; keep per-test teardown short.
            kwargs={"poll_interval": 0.01},
            name=f"daily-standin:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut delays short and close kept-alive connections. Idempotent."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is None:
            return
        server.shutdown()
        server.close_open_sockets()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DailyStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("DailyStandIn is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234/v1`` (Daily's is ``https://api.daily.co/v1``)."""
        return f"http://{HOST}:{self.port}{API_PREFIX}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def huge_sent(self) -> list[int]:
        """Bytes of each ``huge_answer`` body sent before the client hung up (or all);
        an entry appears once that answer is over (``wait_until`` it)."""
        with self._log_lock:
            return list(self._huge_sent)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of crashes inside the stand-in (should stay empty)."""
        return list(self._internal_errors)

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<DailyStandIn {where} configs={len(self._configs)}>"

    # -- state helpers for tests -------------------------------------------------

    def add_config(
        self,
        type: str = "pinless_dialin",
        phone_number: str | None = None,
        name_prefix: str | None = None,
        hold_music_url: str | None = None,
        *,
        config_id: str | None = None,
        **more: Any,
    ) -> str:
        """Create a config directly (no HTTP, no log entry, no faults); return its id.

        Realistic defaults: a unique ``+1555…`` number when ``phone_number`` is
        None, ``room_creation_api`` / ``hmac`` / ``timeout_config`` for
        ``pinless_dialin``, ``ivr_greeting`` for ``pin_dialin``.  ``more`` adds
        or overrides config fields without validation (to model odd data).
        """
        if type not in CONFIG_TYPES:
            raise ValueError(f"type must be one of {CONFIG_TYPES}, got {type!r}")
        if hold_music_url is not None and type != "pinless_dialin":
            raise ValueError("hold_music_url is only for pinless_dialin configs")
        with self._lock:
            config_id = config_id or str(uuid.uuid4())
            if config_id in self._configs:
                raise ValueError(f"config id {config_id} already exists")
            number = phone_number or self._fresh_phone_number()
            if self._phone_owner(number) is not None:
                raise ValueError(f"phone_number {number} is used by another config")
            n = self._next_seq
            config: dict[str, Any] = {
                "phone_number": number,
                "name_prefix": name_prefix or f"config-{n}",
            }
            if type == "pinless_dialin":
                config["room_creation_api"] = f"https://app.example.com/dialin/{n}/create-room"
                config["hmac"] = base64.b64encode(secrets.token_bytes(32)).decode()
                config["timeout_config"] = {
                    "message": "No agents are available right now, please try again later"
                }
                if hold_music_url is not None:
                    config["hold_music_url"] = hold_music_url
            else:
                config["ivr_greeting"] = {
                    "message": "Please enter the dial-in code from the meeting invite"
                }
            config.update(more)
            config["sip_uri"] = self._fresh_sip_uri()
            self._store({"id": config_id, "type": type, "config": config})
            return config_id

    def seed(
        self,
        n: int,
        type: str = "pinless_dialin",
        *,
        name_prefix: str = "seed",
        hold_music_url: str | None = None,
        **more: Any,
    ) -> list[str]:
        """Add ``n`` configs named ``<name_prefix>-<i>``; return their ids in creation order."""
        return [
            self.add_config(
                type, name_prefix=f"{name_prefix}-{i}", hold_music_url=hold_music_url, **more
            )
            for i in range(n)
        ]

    def get(self, config_id: str) -> ConfigObject:
        """A deep copy of the whole object; ``KeyError`` if absent."""
        with self._lock:
            return copy.deepcopy(self._configs[config_id])

    def configs(self) -> list[ConfigObject]:
        """Deep copies of all configs, in list (creation) order."""
        with self._lock:
            return copy.deepcopy(list(self._configs.values()))

    def remove(self, config_id: str) -> None:
        with self._lock:
            del self._configs[config_id]
            del self._seq[config_id]

    def put_history(self, config_id: str) -> list[str]:
        """Every ``hold_music_url`` applied by PUT to this config, in order.

        Includes rewrites of the same value (a retried PUT shows up twice) and
        PUTs whose answer was turned into an error by ``fail_after_put``.
        """
        with self._lock:
            return list(self._put_history.get(config_id, []))

    # -- request log ---------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot of the request log, in the order answers were decided."""
        with self._log_lock:
            return list(self._log)

    def count(
        self, method: str | None = None, path_prefix: str | None = None, status: int | None = None
    ) -> int:
        """Logged requests matching all given filters (``path_prefix`` on the full path)."""
        return sum(1 for r in self.requests if _log_matches(r, method, path_prefix, status))

    def puts(self, config_id: str | None = None) -> list[Recorded]:
        """Logged PUTs, optionally only those addressed to ``config_id``."""
        prefix = f"{API_PREFIX}/domain-dialin-config/"
        return [
            r
            for r in self.requests
            if r.method == "PUT"
            and r.path.startswith(prefix)
            and (config_id is None or unquote(r.path[len(prefix) :].rstrip("/")) == config_id)
        ]

    def reset_log(self) -> None:
        """Forget logged requests and the rate/concurrency peaks (not state or put history)."""
        with self._log_lock:
            self._log.clear()
            self._window.clear()
            self._peak_rate = 0
            self._peak_in_flight = self._in_flight

    @property
    def peak_rate_per_s(self) -> int:
        """Most requests that arrived within any 1-second window since the last reset."""
        with self._log_lock:
            return self._peak_rate

    @property
    def peak_in_flight(self) -> int:
        """Most requests being handled at the same time since the last reset."""
        with self._log_lock:
            return self._peak_in_flight

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``condition()`` holds (re-checked whenever a request arrives, is
        logged or ends): e.g. ``lambda: daily.count("PUT") == 1``.  False on timeout."""
        end = time.monotonic() + timeout
        while True:
            with self._idle:
                seen = self._events
            if condition():  # outside the lock: it may read the log
                return True
            with self._idle:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait_for(lambda seen=seen: self._events != seen, left)

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._in_flight

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled (e.g. a delayed PUT has landed)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    # -- request handling (called on handler threads) -------------------------------

    def _handle(
        self, method: str, raw_path: str, header_items: Iterable[tuple[str, str]], body: bytes
    ) -> _Reply:
        arrival = self._arrive()
        try:
            split = urlsplit(raw_path)
            path = split.path
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in header_items}
            reply = self._decide(method, path, query, headers, body)
            self._append_log(
                Recorded(
                    method,
                    path,
                    query,
                    headers,
                    body,
                    None if reply.drop else reply.status,
                    arrival,
                    tuple(reply.faults),
                )
            )
            if reply.delay_s:
                self.faults._wait(reply.delay_s, self._stopping)
            return reply
        finally:
            self._depart()

    def _decide(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        faults = self.faults
        if faults._take_drop(method, path, "before"):
            return _Reply(0, None, drop=True, faults=["drop_connection"])
        fired: list[str] = []
        early_delay = faults._take_delay(method, path, "before")
        if early_delay:
            fired.append("delay")
            faults._wait(early_delay, self._stopping)
        try:
            allowed, retry_after = faults._take_token(faults.clock())
            if not allowed:
                reply = _Reply.error(
                    ApiError(429, "rate-limit-error", "Too many requests; retry with backoff")
                )
                if retry_after is not None:
                    reply.headers["Retry-After"] = str(max(0, int(-(-retry_after // 1))))
                reply.faults = [*fired, "rate_limit"]
                return reply
            too_many = faults._take("too_many_requests", method, path)
            if too_many is not None:
                reply = _Reply.error(
                    ApiError(429, "rate-limit-error", "Too many requests; retry with backoff")
                )
                if too_many.value is not None:
                    reply.headers["Retry-After"] = str(max(0, int(-(-too_many.value // 1))))
                reply.faults = [*fired, "too_many_requests"]
                return reply
            self._authenticate(headers.get("authorization"))
            if faults._hold(method, path, self._stopping):
                fired.append("block")
            code = faults._take_fail_before(method, path)
            late = faults._take("late_put", method, path)
            if late is not None:
                self._apply_later(late.value, method, path, query, body)
                return _Reply(0, None, drop=True, faults=[*fired, "late_put"])
            if faults._take("echo_key", method, path) is not None:
                key = headers.get("authorization", "").partition(" ")[2].strip()
                fired.append("echo_key")
                reply = _Reply(
                    400,
                    {
                        "error": f"invalid-request-error (key {key})",
                        "info": f"Authorization: Bearer {key} is not allowed here",
                        "detail": {"received": key},
                    },
                )
            elif code is not None:
                fired.append("fail_before")
                reply = _Reply(code, {"error": "server-error", "info": f"upstream error ({code})"})
            elif (
                path.rstrip("/") == API_PREFIX + "/domain-dialin-config"
                and faults._take("endless_list", method, path) is not None
            ):
                fired.append("endless_list")
                reply = _Reply(200, {"data": [self._fresh_entry() for _ in range(MAX_LIMIT)]})
            elif (huge := faults._take("huge_answer", method, path)) is not None:
                fired.append("huge_answer")
                reply = _Reply(200, None, huge=huge.value)
            elif (deep := faults._take("deep_json", method, path)) is not None:
                fired.append("deep_json")
                reply = self._route(method, path, query, body)
                head = json.dumps(reply.payload).encode()[:-1]  # the object, still open
                nest = b"[" * deep.value + b"]" * deep.value
                reply.raw = head + b', "deep": ' + nest + b"}"
            else:
                reply = self._route(method, path, query, body)
                if reply.status == 200 and faults._take("wrong_id", method, path) is not None:
                    fired.append("wrong_id")
                    reply.payload = {**reply.payload, "id": str(uuid.uuid4())}
                if method == "PUT" and reply.status == 200:
                    code = faults._take_fail_after_put()
                    if code is not None:  # state already changed above
                        fired.append("fail_after_put")
                        reply = _Reply(
                            code, {"error": "server-error", "info": f"upstream error ({code})"}
                        )
        except ApiError as exc:
            reply = _Reply.error(exc)
        if faults._take_drop(method, path, "after"):
            reply.drop = True
            fired.append("drop_connection")
        reply.delay_s = faults._take_delay(method, path, "after")
        if reply.delay_s:
            fired.append("delay")
        drip = faults._take("drip", method, path)
        if drip is not None:
            reply.drip_s = drip.value
            fired.append("drip")
        reply.faults = fired + reply.faults
        return reply

    def _apply_later(
        self, seconds: float, method: str, path: str, query: dict[str, str], body: bytes
    ) -> None:
        def apply() -> None:
            if self._stopping.wait(seconds):
                return
            with contextlib.suppress(ApiError):
                self._route(method, path, query, body)

        threading.Thread(target=apply, name="daily-standin:late-put", daemon=True).start()

    def _authenticate(self, header: str | None) -> None:
        if header is None:
            raise ApiError(400, "authorization-header-error", "Authorization header missing")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise ApiError(
                400, "authorization-header-error", "Authorization header must be 'Bearer <key>'"
            )
        if not secrets.compare_digest(token.encode(), self.api_key.encode()):
            raise ApiError(401, "authentication-error", "Invalid API key")

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Reply:
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            raise ApiError(404, "invalid-request-error", f"no such endpoint: {path}")
        parts = [unquote(p) for p in path[len(API_PREFIX) :].split("/") if p]
        handlers: dict[str, Callable[[], _Reply]]
        if not parts:
            handlers = {"GET": self._get_domain}
        elif parts[0] == "domain-dialin-config" and len(parts) == 1:
            handlers = {"GET": lambda: self._list(query), "POST": lambda: self._create(body)}
        elif parts[0] == "domain-dialin-config" and len(parts) == 2:
            config_id = parts[1]
            handlers = {
                "GET": lambda: self._get(config_id),
                "PUT": lambda: self._update(config_id, body),
                "DELETE": lambda: self._delete(config_id),
            }
        else:
            raise ApiError(404, "invalid-request-error", f"no such endpoint: {path}")
        if method not in handlers:
            raise ApiError(405, "invalid-request-error", f"{method} is not allowed on {path}")
        return handlers[method]()

    # -- endpoints -------------------------------------------------------------------

    def _get_domain(self) -> _Reply:
        config: dict[str, Any] = {"lang": "en", "enable_prejoin_ui": True, "hipaa": False}
        if self.legacy_pinless_dialin is not None:
            config["pinless_dialin"] = copy.deepcopy(self.legacy_pinless_dialin)
        return _Reply(200, {"domain_name": self.domain_name, "config": config})

    def _list(self, query: dict[str, str]) -> _Reply:
        raw_limit = query.get("limit", str(MAX_LIMIT))
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise _invalid(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw_limit!r}")
        starting_after = query.get("starting_after") or None
        ending_before = query.get("ending_before") or None
        if starting_after and ending_before:
            raise _invalid("use only one of starting_after and ending_before")
        wanted_type = query.get("type")
        if wanted_type is not None and wanted_type not in CONFIG_TYPES:
            raise _invalid(f"type must be one of {', '.join(CONFIG_TYPES)}")
        filters = {k: query[k] for k in ("phone_number", "name_prefix") if k in query}

        with self._lock:
            matching = [
                obj
                for obj in self._configs.values()
                if (wanted_type is None or obj["type"] == wanted_type)
                and all(obj["config"].get(k) == v for k, v in filters.items())
            ]
            page = matching
            # Cursors position by creation order even when the cursor object
            # itself does not match the filters.
            for cursor in (starting_after, ending_before):
                if cursor is not None and cursor not in self._seq:
                    raise _invalid(f"cursor id {cursor} not found")
            if starting_after is not None:
                after = self._seq[starting_after]
                page = [o for o in matching if self._seq[o["id"]] > after][:limit]
            elif ending_before is not None:
                before = self._seq[ending_before]
                page = [o for o in matching if self._seq[o["id"]] < before][-limit:]
            else:
                page = matching[:limit]
            data = [
                {
                    "id": o["id"],
                    "type": o["type"],
                    "config": {k: o["config"][k] for k in TRIMMED_FIELDS if k in o["config"]},
                }
                for o in page
            ]
            return _Reply(200, copy.deepcopy({"total_count": len(matching), "data": data}))

    def _get(self, config_id: str) -> _Reply:
        with self._lock:
            obj = self._configs.get(config_id)
            if obj is None:
                raise _not_found(config_id)
            return _Reply(200, copy.deepcopy(obj))

    def _update(self, config_id: str, body: bytes) -> _Reply:
        fields = _parse_json_object(body)
        with self._lock:
            obj = self._configs.get(config_id)
            if obj is None:
                raise _not_found(config_id)
            if "type" in fields:
                raise _invalid("type cannot be changed; delete the config and create a new one")
            _validate_fields(fields, obj["type"])
            fired = []
            if "hold_music_url" in fields:
                other = self.faults._take("store_other_url", "PUT", API_PREFIX)
                if other is not None:
                    fields["hold_music_url"] = other.value
                    fired.append("store_other_url")
            changed = self.faults._take("change_other_field", "PUT", API_PREFIX)
            if changed is not None:
                name, value = changed.value
                fields[name] = value
                fired.append("change_other_field")
            number = fields.get("phone_number")
            if number is not None and self._phone_owner(number) not in (None, config_id):
                raise _invalid(f"phone_number {number} is used by another config")
            obj["config"].update(copy.deepcopy(fields))
            if "hold_music_url" in fields:
                self._put_history.setdefault(config_id, []).append(fields["hold_music_url"])
            return _Reply(200, copy.deepcopy(obj), faults=fired)

    def _create(self, body: bytes) -> _Reply:
        fields = _parse_json_object(body)
        config_type = fields.pop("type", None)
        if config_type not in CONFIG_TYPES:
            raise _invalid(f"type is required and must be one of {', '.join(CONFIG_TYPES)}")
        if "phone_number" not in fields:
            raise _invalid("phone_number is required")
        _validate_fields(fields, config_type)
        with self._lock:
            if self._phone_owner(fields["phone_number"]) is not None:
                raise _invalid(f"phone_number {fields['phone_number']} is used by another config")
            obj = {
                "id": str(uuid.uuid4()),
                "type": config_type,
                "config": {**copy.deepcopy(fields), "sip_uri": self._fresh_sip_uri()},
            }
            self._store(obj)
            return _Reply(200, copy.deepcopy(obj))

    def _delete(self, config_id: str) -> _Reply:
        with self._lock:
            if config_id not in self._configs:
                raise _not_found(config_id)
            del self._configs[config_id]
            del self._seq[config_id]
            return _Reply(200, {"status": "success"})

    # -- internals -------------------------------------------------------------------

    def _store(self, obj: ConfigObject) -> None:  # caller holds self._lock
        self._configs[obj["id"]] = obj
        self._seq[obj["id"]] = self._next_seq
        self._next_seq += 1

    def _phone_owner(self, number: str) -> str | None:  # caller holds self._lock
        for config_id, obj in self._configs.items():
            if obj["config"].get("phone_number") == number:
                return config_id
        return None

    def _fresh_phone_number(self) -> str:  # caller holds self._lock
        while True:
            self._next_phone += 1
            number = f"+1555{self._next_phone:07d}"
            if self._phone_owner(number) is None:
                return number

    def _fresh_entry(self) -> dict[str, Any]:
        """A list entry for a config that exists nowhere (endless_list)."""
        with self._lock:
            number = self._fresh_phone_number()
        return {
            "id": str(uuid.uuid4()),
            "type": "pinless_dialin",
            "config": {"phone_number": number, "name_prefix": "endless"},
        }

    def _fresh_sip_uri(self) -> str:
        return f"sip:{secrets.token_hex(8)}@{self.domain_name}.sip.daily.co"

    def _arrive(self) -> float:
        now = time.monotonic()
        with self._log_lock:
            # Peak over any 1 s window: the busiest window always ends at an
            # arrival, so checking the window ending now at each arrival suffices.
            self._window.append(now)
            while self._window[0] <= now - 1.0:
                self._window.popleft()
            self._peak_rate = max(self._peak_rate, len(self._window))
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._events += 1
            self._idle.notify_all()
        return now

    def _depart(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._events += 1
            self._idle.notify_all()

    def _append_log(self, record: Recorded) -> None:
        with self._log_lock:
            self._log.append(record)
            self._events += 1
            self._idle.notify_all()

    def _record_unprocessed(
        self, method: str, raw_path: str, header_items: Iterable[tuple[str, str]], reply: _Reply
    ) -> None:
        split = urlsplit(raw_path)
        headers = {k.lower(): v for k, v in header_items}
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        self._append_log(
            Recorded(method, split.path, query, headers, b"", reply.status, time.monotonic())
        )


def _log_matches(
    record: Recorded, method: str | None, path_prefix: str | None, status: int | None
) -> bool:
    return (
        (method is None or record.method == method.upper())
        and (path_prefix is None or record.path.startswith(path_prefix))
        and (status is None or record.status == status)
    )


@pytest.fixture
def daily() -> Iterator[DailyStandIn]:
    """A running :class:`DailyStandIn` for one test."""
    standin = DailyStandIn()
    with standin:
        yield standin
    if standin.internal_errors:
        pytest.fail("Daily stand-in crashed:\n" + "\n".join(standin.internal_errors))


__all__ = ["ApiError", "DailyStandIn", "Faults", "Recorded", "daily"]
