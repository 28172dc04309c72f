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

Fixture (in :mod:`testkit.daily.plugin`; ``tests/conftest.py`` lists it in ``pytest_plugins``):

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

import contextlib
import json
import socket
import socketserver
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from testkit.daily.api import (
    API_PREFIX,
    MAX_BODY_BYTES,
    MAX_LIMIT,
    ApiError,
    DialinApi,
    _Reply,
)

HOST = "127.0.0.1"


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


class DailyStandIn(DialinApi):
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
        super().__init__(
            api_key=api_key,
            domain_name=domain_name,
            seed=seed,
            legacy_pinless_dialin=legacy_pinless_dialin,
        )

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
