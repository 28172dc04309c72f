"""Every connection holdmusic opens, bounded and checked.

httpx's timeouts bound each socket operation, not an exchange, and httpx connects to
whatever a name resolves to. holdmusic's transports (:func:`guarded_transport`, used by
the Daily client and by public fetches) put every connect, read, write and TLS handshake
under a per-thread deadline, refuse private addresses for hold-music URLs (checked on the
address actually connected to, on every redirect hop), and can cut every open connection
at once when a run is interrupted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from holdmusic.errors import HoldmusicError

ALLOW_PRIVATE_ENV = "HOLDMUSIC_ALLOW_PRIVATE_URLS"


class FetchError(HoldmusicError):
    """The URL could not be fetched at all (DNS, refused connection, timeout, bad URL)."""

    code = "unreachable"


class PrivateURLError(FetchError):
    """The URL (or a redirect) leads to a loopback, private or link-local address."""

    code = "private_url"


class BadURLError(FetchError):
    """The URL (or a redirect's Location) cannot be parsed: a malformed address or host
    name (``http://0177.0.0.1/``, ``https://xn--/``), a bad port, a broken IPv6 literal."""

    code = "bad_url"


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
    """Only the exact opt-in counts: local playgrounds and test suites set it to 1.

    Read only when a caller of :mod:`holdmusic.publicurl` does not say (``allow_private``
    None): the application layer always says, from what its interface read at start."""
    return os.environ.get(ALLOW_PRIVATE_ENV) == "1"


# IPv6 forms that carry an IPv4 address inside them: a host that answers with one of these
# reaches the embedded address on a network that translates it (NAT64, 6to4, SIIT), so
# the embedded address is what is judged. ``ipv4_mapped`` (::ffff:a.b.c.d) and Teredo are
# unwrapped by :mod:`ipaddress` itself.
_EMBEDDING_96 = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, RFC 4291): ::a.b.c.d
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)
# Local-use NAT64 prefix (RFC 8215): translated by the local network, and where the IPv4
# address sits depends on that network's prefix length, so it is refused outright.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def address_problem(ip: str) -> str | None:
    """Why Daily could never fetch from this address, or None for a public one."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _LOCAL_NAT64:
            return "a local-use NAT64 address (it reaches the local network's IPv4 addresses)"
        if addr.ipv4_mapped is not None:  # the IPv4 address itself, in IPv6 clothes
            return _ip_problem(addr.ipv4_mapped)
        inner = _embedded_ipv4(addr)
        why = None if inner is None else _ip_problem(inner)
        if why is not None:
            return f"an IPv6 form of {inner}, {why}"
    return _ip_problem(addr)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (compatible, translated, NAT64, 6to4,
    Teredo's client), or None."""
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    # :: and ::1 are the unspecified and loopback addresses, not IPv4-compatible ones.
    if any(addr in net for net in _EMBEDDING_96) and int(addr) > 1:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _ip_problem(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
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
        if self._public_only:
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


def read_capped(resp: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read the body, stopping one byte past the cap: an endless body costs nothing.

    The cap counts *decoded* bytes, and decoding is bounded too: a gzip body of a few
    kilobytes can inflate to gigabytes, so it is never inflated past the cap.
    """
    if resp.is_stream_consumed and hasattr(resp, "_content"):
        # Already read whole (an answer built in memory, as an injected transport gives):
        # nothing left to bound but the length.
        body = resp.content
        return body[: max_bytes + 1], len(body) > max_bytes
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
