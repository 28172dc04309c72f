"""Fetch a URL the way Daily will: anonymously, and prove it serves the exact bytes.

Daily fetches ``hold_music_url`` itself when a call comes in. A 403, an HTML error page,
a redirect to a login or a stale CDN copy all fail silently on a live phone line, so a
URL is only "public" here when an anonymous GET answers 200 directly, as
``audio/mpeg``, with a body whose SHA-256 equals the file's.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from holdmusic import __version__, rules
from holdmusic.errors import HoldmusicError

USER_AGENT = f"holdmusic/{__version__} (public-url check)"
TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
# The whole fetch of one URL (every redirect hop, headers and body) ends within this,
# however slowly a server drips bytes: the per-read timeout alone let one byte a second
# hold a run for as long as the server liked. 10 MB in 30 s is 330 KB/s, which any host
# fit to serve a phone system's hold music beats by far.
FETCH_DEADLINE = 30.0
ALLOW_PRIVATE_ENV = "HOLDMUSIC_ALLOW_PRIVATE_URLS"


class FetchError(HoldmusicError):
    """The URL could not be fetched at all (DNS, refused connection, timeout, bad URL)."""

    code = "unreachable"


class PrivateURLError(FetchError):
    """The URL (or a redirect) leads to a loopback, private or link-local address."""

    code = "private_url"


# --- bounded exchanges --------------------------------------------------------------------
# httpx's timeouts bound each socket operation, not an exchange. Every socket operation of
# holdmusic's own transports goes through _Stream below, which shortens its timeout to
# what is left of the current thread's deadline; the same layer checks the address each
# connection really goes to (after DNS, on every redirect hop) and can cut every open
# connection at once when a run is interrupted.

_local = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket operation this thread starts inside the block ends ``seconds`` from now."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = previous


def deadline_passed() -> bool:
    end = getattr(_local, "deadline", None)
    return end is not None and time.monotonic() >= end


def _left(timeout: float | None, kind: type[Exception]) -> float | None:
    end: float | None = getattr(_local, "deadline", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise kind("the exchange's total deadline passed")
    return left if timeout is None else min(timeout, left)


def allow_private() -> bool:
    """Only the exact opt-in counts: local playgrounds and test suites set it to 1."""
    return os.environ.get(ALLOW_PRIVATE_ENV) == "1"


def address_problem(ip: str) -> str | None:
    """Why Daily could never fetch from this address, or None for a public one."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_unspecified:
        return "not a public internet address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if addr.is_private:
        return "a private network address"
    if not addr.is_global or addr.is_multicast:
        return "not a public internet address"
    return None


def public_addresses(host: str, port: int) -> list[str]:
    """Resolve ``host`` and refuse it when any answer is not a public address: Daily
    fetches from the public internet, and a name that also points inward is a trap."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"[Errno {getattr(exc, 'errno', '')}] {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for ip in addresses:
        why = address_problem(ip)
        if why is not None:
            shown = f"{host} is" if host == ip else f"{host} resolves to {ip}, which is"
            raise PrivateURLError(
                f"{shown} {why}: Daily fetches hold music from the public internet and can "
                f"never reach it ({ALLOW_PRIVATE_ENV}=1 allows it for local testing)"
            )
    return addresses


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, backend: GuardedBackend) -> None:
        self._inner = inner
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._backend._forget(self)
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._backend._forget(self)
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return self._backend._track(_Stream(inner, self._backend))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def abort(self) -> None:
        sock = self._inner.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with deadlines, an address check and an abort switch."""

    def __init__(self, *, public_only: bool) -> None:
        self._inner = httpcore.SyncBackend()
        self._public_only = public_only
        self._streams: set[_Stream] = set()
        self._lock = threading.Lock()
        self.aborted = threading.Event()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self.aborted.is_set():
            raise httpcore.ConnectError("interrupted")
        timeout = _left(timeout, httpcore.ConnectTimeout)
        if self._public_only and not allow_private():
            # Connect to the address that was checked, not to a second lookup's answer.
            host = public_addresses(host, port)[0]
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return self._track(_Stream(stream, self))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def abort(self) -> None:
        """Cut every open connection: a request in flight fails at once."""
        self.aborted.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.abort()

    def _track(self, stream: _Stream) -> _Stream:
        with self._lock:
            self._streams.add(stream)
        if self.aborted.is_set():
            stream.abort()
        return stream

    def _forget(self, stream: _Stream) -> None:
        with self._lock:
            self._streams.discard(stream)


def guarded_transport(
    *, public_only: bool, pool_size: int = 10
) -> tuple[httpx.HTTPTransport, GuardedBackend]:
    """An httpx transport whose every connection goes through a :class:`GuardedBackend`."""
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
        trust_env=False,
    )
    backend = GuardedBackend(public_only=public_only)
    pool = getattr(transport, "_pool", None)
    # httpx offers no parameter for httpcore's network backend; fail loudly (and in the
    # tests) if that internal ever moves, rather than silently lose every bound.
    if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx/httpcore version hides the connection pool's backend")
    pool._network_backend = backend
    return transport, backend


@dataclass(frozen=True)
class Fetched:
    url: str  # what was asked for
    final_url: str  # after any redirects followed
    status: int
    content_type: str | None
    body: bytes  # at most the cap
    over_cap: bool  # the server had more than the cap to send
    redirects: tuple[str, ...] = ()  # every Location followed, in order
    location: str | None = None  # an unfollowed redirect's target

    @property
    def media_type(self) -> str | None:
        if self.content_type is None:
            return None
        return self.content_type.split(";", 1)[0].strip().lower()


def fetch(
    url: str,
    *,
    max_bytes: int,
    max_redirects: int = 0,
    timeout: httpx.Timeout = TIMEOUT,
    total_seconds: float = FETCH_DEADLINE,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET ``url`` with no credentials or cookies, reading at most ``max_bytes`` + 1 bytes.

    Redirects are followed by hand, up to ``max_redirects``, so that each hop is reported.
    The whole exchange, redirects included, ends within ``total_seconds``. Unless
    HOLDMUSIC_ALLOW_PRIVATE_URLS=1, an address that is not public (after DNS, on every
    hop) raises :class:`PrivateURLError`.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise FetchError("the URL carries credentials (user:password@): Daily fetches anonymously")
    redirects: list[str] = []
    current = url
    if transport is None:
        transport, _ = guarded_transport(public_only=True, pool_size=2)
    started = time.monotonic()
    try:
        with (
            deadline(total_seconds),
            httpx.Client(
                timeout=timeout,
                transport=transport,
                follow_redirects=False,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "audio/mpeg, */*;q=0.1",
                    # Compressed answers are decoded by hand, within the cap (_read_capped).
                    "Accept-Encoding": "identity",
                },
                trust_env=False,  # no proxy credentials or netrc: anonymous means anonymous
            ) as client,
        ):
            while True:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        target = urljoin(current, resp.headers["location"])
                        if len(redirects) < max_redirects:
                            redirects.append(target)
                            current = target
                            continue
                        return Fetched(
                            url,
                            current,
                            resp.status_code,
                            resp.headers.get("content-type"),
                            b"",
                            False,
                            tuple(redirects),
                            location=target,
                        )
                    body, over = _read_capped(resp, max_bytes)
                    return Fetched(
                        url,
                        current,
                        resp.status_code,
                        resp.headers.get("content-type"),
                        body,
                        over,
                        tuple(redirects),
                    )
    except PrivateURLError:
        raise
    except httpx.TimeoutException:
        if time.monotonic() - started >= total_seconds:
            raise FetchError(
                f"{_origin(current)} did not send the whole answer within {total_seconds:g} s"
            ) from None
        raise FetchError(f"timed out fetching {current}") from None
    except httpx.RemoteProtocolError:
        raise FetchError(
            f"{_origin(current)} closed the connection before the whole file arrived"
        ) from None
    except httpx.ConnectError as exc:
        raise FetchError(f"cannot connect to {_origin(current)}: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"fetching {current} failed: {exc}") from None


def _read_capped(resp: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read the body, stopping one byte past the cap: an endless body costs nothing.

    The cap counts *decoded* bytes, and decoding is bounded too: a gzip body of a few
    kilobytes can inflate to gigabytes, so it is never inflated past the cap.
    """
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    decoder: Any = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        raise FetchError(f"served with Content-Encoding {encoding} although identity was asked for")
    chunks: list[bytes] = []
    got = 0
    try:
        for raw in resp.iter_raw(chunk_size=65536):
            chunk = raw if decoder is None else decoder.decompress(raw, max_bytes + 1 - got)
            chunks.append(chunk)
            got += len(chunk)
            if got > max_bytes:
                return b"".join(chunks)[: max_bytes + 1], True
        if decoder is not None:
            tail = decoder.flush(max_bytes + 1 - got)
            chunks.append(tail)
            got += len(tail)
            if got > max_bytes:
                return b"".join(chunks)[: max_bytes + 1], True
    except zlib.error:
        raise FetchError(f"the {encoding} body is corrupt") from None
    return b"".join(chunks), False


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text


@dataclass(frozen=True)
class PublicCheck:
    url: str
    ok: bool
    status: int | None
    content_type: str | None
    sha256: str | None  # of what was served
    size_bytes: int | None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    # Stable codes for problems that have one (``private_url``, ``unreachable``).
    codes: tuple[str, ...] = ()


def check_public(
    url: str,
    sha256: str,
    size_bytes: int,
    *,
    hint: str = "",
    timeout: httpx.Timeout = TIMEOUT,
    total_seconds: float = FETCH_DEADLINE,
    transport: httpx.BaseTransport | None = None,
) -> PublicCheck:
    """Prove that ``url`` anonymously serves exactly the bytes with this ``sha256``.

    ``hint`` is what to do when the object turns out private (the command the user runs).
    Network failures are results too (``ok=False``), so the caller decides what to say.
    """
    warnings = []
    if urlsplit(url).scheme != "https":
        warnings.append(f"{url} is not https: Daily may refuse it, and anyone on path can alter it")
    try:
        got = fetch(
            url,
            max_bytes=size_bytes,
            timeout=timeout,
            total_seconds=total_seconds,
            transport=transport,
        )
    except FetchError as exc:
        return PublicCheck(
            url, False, None, None, None, None, (str(exc),), tuple(warnings), (exc.code,)
        )
    served = hashlib.sha256(got.body).hexdigest() if got.status == 200 else None
    problems = _judge(got, served, sha256, size_bytes, hint)
    return PublicCheck(
        url,
        not problems,
        got.status,
        got.content_type,
        served,
        len(got.body) if got.status == 200 else None,
        tuple(problems),
        tuple(warnings),
    )


def _judge(got: Fetched, served: str | None, sha256: str, size: int, hint: str) -> list[str]:
    status = got.status
    if got.location is not None:
        return [
            f"anonymous GET answered {status} redirecting to {got.location}; Daily needs the file "
            "itself at this URL (redirects are not documented to work): point the public base "
            "URL at the final location"
        ]
    if status in (401, 403):
        return [f"anonymous GET answered {status}: the object is not public. {hint}".strip()]
    if status == 404:
        return [
            "anonymous GET answered 404: this URL does not reach the uploaded object; check the "
            "public base URL (a CDN's origin path, the bucket name, the region)"
        ]
    if status != 200:
        return [f"anonymous GET answered {status}, not 200"]
    problems = []
    if got.media_type != "audio/mpeg":
        problems.append(
            f"served as Content-Type {got.content_type or '(none)'}, not audio/mpeg: the object's "
            "metadata or a CDN rule changes it"
        )
    if got.over_cap or served != sha256:
        what = "an HTML page" if got.media_type == "text/html" else f"{len(got.body):,} bytes"
        if got.over_cap:
            what = f"more than {size:,} bytes"
        problems.append(
            f"served {what} that are not the uploaded file (sha256 differs): a CDN or proxy "
            "serves a stale or different object"
        )
    return problems


def validate_url(
    url: str,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    *,
    max_redirects: int = 3,
    timeout: httpx.Timeout = TIMEOUT,
    total_seconds: float = FETCH_DEADLINE,
    transport: httpx.BaseTransport | None = None,
    inspect: Callable[[rules.Verdict, bytes], rules.Verdict] | None = None,
) -> rules.Verdict:
    """What Daily would fetch from ``url``, judged by the same rules as a local file.

    ``inspect`` gets the verdict of a downloaded MP3 and its bytes, and returns the verdict
    to report (``validate --listen`` measures the audio there).

    Downloads anonymously and stops one byte past ``max_bytes``; follows at most
    ``max_redirects`` redirects and reports each; requires 200 and an audio type.
    Extra codes: ``unreachable``, ``private_url``, ``http_status``, ``too_many_redirects``,
    ``content_type`` (errors) and ``redirect``, ``not_https`` (warnings).
    """
    problems = []
    if urlsplit(url).scheme != "https":
        problems.append(
            rules.Problem(
                "not_https",
                "warning",
                "not https: Daily may refuse it, and anyone on the path can alter it",
            )
        )
    try:
        got = fetch(
            url,
            max_bytes=limits.max_bytes,
            max_redirects=max_redirects,
            timeout=timeout,
            total_seconds=total_seconds,
            transport=transport,
        )
    except FetchError as exc:
        problems.append(rules.Problem(exc.code, "error", str(exc)))
        return rules.Verdict(url, None, None, tuple(problems))
    problems += [
        rules.Problem(
            "redirect",
            "warning",
            f"redirects to {hop}: Daily does not document following redirects; use the final URL",
        )
        for hop in got.redirects
    ]
    if got.location is not None:
        problems.append(
            rules.Problem(
                "too_many_redirects",
                "error",
                f"more than {max_redirects} redirects (next: {got.location})",
            )
        )
        return rules.Verdict(url, None, None, tuple(problems))
    if got.status != 200:
        hint = {
            401: ": it is not public",
            403: ": it is not public",
            404: ": nothing at that URL",
        }.get(got.status, "")
        problems.append(rules.Problem("http_status", "error", f"answered {got.status}{hint}"))
        return rules.Verdict(url, None, None, tuple(problems))
    media = got.media_type or ""
    if not media.startswith("audio/"):
        problems.append(
            rules.Problem(
                "content_type",
                "error",
                f"served as {got.content_type or '(no Content-Type)'}, not audio: "
                "set Content-Type audio/mpeg on the object",
            )
        )
    elif media != "audio/mpeg":
        problems.append(
            rules.Problem(
                "content_type",
                "warning",
                f"served as {got.content_type}; audio/mpeg is the registered type for MP3",
            )
        )
    if got.over_cap:
        problems.append(
            rules.Problem(
                "too_large",
                "error",
                f"more than {limits.max_bytes:,} bytes (download stopped there); "
                "Daily needs under 10 MB",
            )
        )
        return rules.Verdict(url, None, None, tuple(problems))
    verdict = rules.check_bytes(got.body, url, limits)
    verdict = rules.Verdict(url, verdict.size_bytes, verdict.info, (*problems, *verdict.problems))
    if inspect is not None and verdict.info is not None:
        verdict = inspect(verdict, got.body)
    return verdict
