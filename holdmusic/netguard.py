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
