"""holdmusic/publicurl.py ``check_public``: does a URL anonymously serve exactly our file?

Each case is served by a real HTTP server on loopback (stdlib ``http.server``; one over
TLS with a throwaway self-signed certificate), answering the way a misconfigured bucket,
CDN or proxy does.  Nothing is faked inside httpx.
"""

from __future__ import annotations

import hashlib
import http.server
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from holdmusic.publicurl import PublicCheck, check_public
from testkit.s3 import dead_endpoint_url

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "welcome-mono.mp3"
MP3 = SAMPLE.read_bytes()
SHA = hashlib.sha256(MP3).hexdigest()
SIZE = len(MP3)
HINT = "Run 'holdmusic bucket-policy --bucket b --prefix p/ --apply'."
ERROR_PAGE = b"<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>"
ENDLESS_CAP = 256 * 1024 * 1024  # the server gives up here if the client never stops
# what the server may push into loopback socket buffers before it notices a hang-up
# (about 4 MB seen; kernels allow a few MB each side)
BUFFERED_MAX = 64 * 1024 * 1024


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # when set, the handler writes these chunks (and counts them) instead of ``body``
    chunks: Callable[[], Iterator[bytes]] | None = None
    hang: bool = False  # accept, read the request, never answer
    sent: int = 0
    done: threading.Event = field(default_factory=threading.Event)


class Web:
    """A loopback HTTP(S) server whose answers are set per path by each test."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        web = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                web.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = web.routes.get(self.path)
                if route is None:
                    self.send_error(599, "no route")  # a test bug, not a case
                    return
                if route.hang:
                    web.release.wait(30)
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    if route.chunks is None:
                        self.wfile.write(route.body)
                    else:
                        for chunk in route.chunks():
                            self.wfile.write(chunk)
                            route.sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client stopped reading: what an honest cap does
                finally:
                    route.done.set()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.base = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.base + path

    def paths_requested(self) -> list[str]:
        return [p for p, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    server = Web()
    yield server
    server.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web, Path]]:
    """An HTTPS server with a self-signed certificate for 127.0.0.1, and that certificate."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Web(context)
    yield server, cert
    server.close()


def mp3_route() -> Route:
    return Route(200, {"Content-Type": "audio/mpeg"}, MP3)


def said(check: PublicCheck) -> tuple[str, ...]:
    """The problems' messages (each problem is {code, severity, message})."""
    return tuple(p.message for p in check.problems)


# --- the good case ---------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["audio/mpeg", "audio/mpeg; charset=binary", "Audio/MPEG"])
def test_exact_bytes_as_audio_mpeg_pass(web: Web, content_type: str) -> None:
    path = f"/ok/{hashlib.sha256(content_type.encode()).hexdigest()[:8]}.mp3"
    url = web.serve(path, Route(200, {"Content-Type": content_type}, MP3))
    check = check_public(url, SHA, SIZE, hint=HINT)
    assert check.ok, check.problems
    assert check.problems == ()
    assert (check.status, check.content_type, check.sha256, check.size_bytes) == (
        200,
        content_type,
        SHA,
        SIZE,
    )


def test_the_request_is_anonymous(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    # a proxy or netrc in the environment must not change what "anonymous" means
    monkeypatch.setenv("HTTP_PROXY", dead_endpoint_url())
    monkeypatch.setenv("ALL_PROXY", dead_endpoint_url())
    url = web.serve("/anon.mp3", mp3_route())
    assert check_public(url, SHA, SIZE).ok
    (headers,) = [h for p, h in web.requests if p == "/anon.mp3"]
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["user-agent"].startswith("holdmusic/")


def test_http_url_gets_an_https_warning(web: Web) -> None:
    url = web.serve("/warn.mp3", mp3_route())
    check = check_public(url, SHA, SIZE)
    assert check.ok  # a warning, not a failure
    (warning,) = check.warnings
    assert warning.code == "not_https" and warning.severity == "warning"
    assert url in warning.message and "not https" in warning.message


def test_https_url_has_no_warning(tls: tuple[Web, Path]) -> None:
    server, cert = tls
    url = server.serve("/secure.mp3", mp3_route())
    assert url.startswith("https://")
    transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
    check = check_public(url, SHA, SIZE, transport=transport)
    assert check.ok, check.problems
    assert check.warnings == ()


# --- not public, or not there ------------------------------------------------------------


def test_redirect_is_not_followed_and_names_the_location(web: Web) -> None:
    web.serve("/final.mp3", mp3_route())
    url = web.serve("/moved.mp3", Route(302, {"Location": "/final.mp3"}))
    check = check_public(url, SHA, SIZE, hint=HINT)
    assert not check.ok
    assert check.status == 302
    (problem,) = said(check)
    assert f"redirecting to {web.base}/final.mp3" in problem
    assert "/final.mp3" not in web.paths_requested()  # Daily gets no redirect, nor do we


def test_redirect_to_a_login_page(web: Web) -> None:
    login = "https://login.example.com/sso?next=%2Fhold.mp3"
    url = web.serve("/login.mp3", Route(302, {"Location": login}))
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert login in said(check)[0]


@pytest.mark.parametrize("status", [401, 403])
def test_forbidden_is_not_public_with_the_hint(web: Web, status: int) -> None:
    url = web.serve(
        f"/private-{status}.mp3",
        Route(status, {"Content-Type": "application/xml"}, b"<Error><Code>AccessDenied</Code>"),
    )
    check = check_public(url, SHA, SIZE, hint=HINT)
    assert not check.ok
    assert check.status == status
    assert said(check) == (f"anonymous GET answered {status}: the object is not public. {HINT}",)
    assert check.codes == ("not_public",)  # a 403 has a code of its own (issue 18)
    assert check.sha256 is None and check.size_bytes is None


def test_not_found(web: Web) -> None:
    url = web.serve("/gone.mp3", Route(404, {"Content-Type": "application/xml"}, b"NoSuchKey"))
    check = check_public(url, SHA, SIZE, hint=HINT)
    assert not check.ok
    assert check.status == 404
    (problem,) = said(check)
    assert check.codes == ("http_status",)
    assert "404" in problem and "does not reach the uploaded object" in problem
    assert HINT not in problem  # a 404 is not a permissions problem


def test_server_error(web: Web) -> None:
    url = web.serve("/boom.mp3", Route(503, {"Content-Type": "text/plain"}, b"busy"))
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert said(check) == ("anonymous GET answered 503, not 200",)


# --- 200, but not our file -----------------------------------------------------------------


def test_html_error_page_with_200(web: Web) -> None:
    url = web.serve(
        "/soft-404.mp3", Route(200, {"Content-Type": "text/html; charset=utf-8"}, ERROR_PAGE)
    )
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert check.status == 200
    assert check.sha256 == hashlib.sha256(ERROR_PAGE).hexdigest()
    assert check.codes == ("content_type", "wrong_bytes")
    assert all(p.severity == "error" for p in check.problems)
    first, second = said(check)
    assert "text/html" in first and "not audio/mpeg" in first
    assert "an HTML page" in second and "sha256 differs" in second


def test_right_bytes_wrong_content_type(web: Web) -> None:
    url = web.serve("/octet.mp3", Route(200, {"Content-Type": "application/octet-stream"}, MP3))
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert check.sha256 == SHA  # the bytes are right ...
    (problem,) = said(check)  # ... only the type is wrong
    assert "application/octet-stream" in problem and "not audio/mpeg" in problem


def test_no_content_type(web: Web) -> None:
    url = web.serve("/untyped.mp3", Route(200, {}, MP3))
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    (problem,) = said(check)
    assert "(none)" in problem


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("stale", MP3[:-1] + bytes([MP3[-1] ^ 0xFF])),  # same size, other bytes
        ("short", MP3[: SIZE // 2]),  # truncated by a proxy
    ],
)
def test_other_bytes_are_not_the_file(web: Web, name: str, body: bytes) -> None:
    url = web.serve(f"/{name}.mp3", Route(200, {"Content-Type": "audio/mpeg"}, body))
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert check.sha256 == hashlib.sha256(body).hexdigest()
    (problem,) = said(check)
    assert f"served {len(body):,} bytes" in problem and "sha256 differs" in problem


def test_one_byte_too_many(web: Web) -> None:
    url = web.serve("/plus1.mp3", Route(200, {"Content-Type": "audio/mpeg"}, MP3 + b"\0"))
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert check.size_bytes == SIZE + 1
    (problem,) = said(check)
    assert f"more than {SIZE:,} bytes" in problem and "sha256 differs" in problem


def test_endless_body_is_read_only_to_size_plus_one(web: Web) -> None:
    def endless() -> Iterator[bytes]:
        yield MP3
        block = b"\0" * 65536
        for _ in range(ENDLESS_CAP // len(block)):
            yield block

    # no Content-Length: the body ends when the server closes the connection
    route = Route(200, {"Content-Type": "audio/mpeg"}, chunks=endless)
    url = web.serve("/endless.mp3", route)
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert check.size_bytes == SIZE + 1  # what was kept: the cap plus the byte that proves it
    assert f"more than {SIZE:,} bytes" in said(check)[0]
    assert route.done.wait(30), "the server is still sending: the client never hung up"
    # the client hung up right after the cap: the server got rid of little more than
    # what socket buffers hold
    assert route.sent < BUFFERED_MAX


# --- cannot fetch at all: results, not exceptions ---------------------------------------------


def test_connection_refused_is_a_result() -> None:
    base = dead_endpoint_url()
    check = check_public(f"{base}/x.mp3", SHA, SIZE, hint=HINT)
    assert not check.ok
    assert check.status is None and check.sha256 is None
    assert said(check) == (f"cannot connect to {base}: connection refused",)
    assert check.codes == ("unreachable",)


def test_unanswered_request_times_out(web: Web) -> None:
    url = web.serve("/hang.mp3", Route(hang=True))
    check = check_public(url, SHA, SIZE, timeout=httpx.Timeout(0.5))
    assert not check.ok
    assert said(check) == (f"timed out fetching {url}",)


@pytest.mark.parametrize("url", ["ftp://example.com/x.mp3", "hold.mp3", "https:///x.mp3"])
def test_not_an_http_url(url: str) -> None:
    check = check_public(url, SHA, SIZE)
    assert not check.ok
    assert said(check) == (f"not an http(s) URL: {url!r}",)


# --- issue 20: malformed URLs and IPv6 forms that carry an IPv4 address ----------------------


@pytest.mark.parametrize(
    "url", ["http://0177.0.0.1/x.mp3", "https://xn--/x.mp3", "http://[::1/x.mp3"]
)
def test_a_malformed_url_is_a_bad_url_result(url: str) -> None:
    check = check_public(url, SHA, SIZE)
    assert not check.ok and check.codes == ("bad_url",)
    assert said(check)[0].startswith(f"{url} is not a valid URL: ")


def test_a_redirect_to_a_malformed_url_is_a_bad_url_verdict(web: Web) -> None:
    from holdmusic.publicurl import validate_url

    url = web.serve("/to-bad.mp3", Route(302, {"Location": "http://0177.0.0.1/x.mp3"}))
    verdict = validate_url(url)
    errors = [p for p in verdict.problems if p.severity == "error"]
    assert [p.code for p in errors] == ["bad_url"], errors
    assert errors[0].message.startswith(f"{url} redirects to a URL that is not valid")
    assert "0177.0.0.1" in errors[0].message


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("::127.0.0.1", "an IPv6 form of 127.0.0.1, a loopback address"),  # IPv4-compatible
        ("::ffff:0:127.0.0.1", "an IPv6 form of 127.0.0.1, a loopback"),  # IPv4-translated
        ("64:ff9b::127.0.0.1", "an IPv6 form of 127.0.0.1, a loopback"),  # NAT64 well-known
        ("64:ff9b::a9fe:a9fe", "an IPv6 form of 169.254.169.254, a link-local"),
        ("64:ff9b::10.1.2.3", "an IPv6 form of 10.1.2.3, a private"),
        ("64:ff9b:1::8.8.8.8", "local-use NAT64"),  # RFC 8215: the local network's own
        ("2002:7f00:1::", "an IPv6 form of 127.0.0.1, a loopback"),  # 6to4
        ("2002:c0a8:0001::1", "an IPv6 form of 192.168.0.1, a private"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "an IPv6 form of 192.0.2.45"),  # Teredo
        ("::ffff:10.0.0.1", "a private network address"),  # IPv4-mapped, as before
    ],
)
def test_ipv6_forms_of_private_addresses_are_refused(ip: str, why: str) -> None:
    from holdmusic.publicurl import address_problem

    assert why in (address_problem(ip) or "")


@pytest.mark.parametrize("ip", ["64:ff9b::8.8.8.8", "2002:808:808::1", "::ffff:8.8.8.8"])
def test_ipv6_forms_of_public_addresses_pass(ip: str) -> None:
    from holdmusic.publicurl import address_problem

    assert address_problem(ip) is None


@pytest.mark.parametrize("host", ["[::127.0.0.1]", "[::ffff:0:127.0.0.1]", "[64:ff9b::127.0.0.1]"])
def test_a_url_on_an_ipv4_embedding_ipv6_literal_is_private(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOLDMUSIC_ALLOW_PRIVATE_URLS")
    check = check_public(f"https://{host}/x.mp3", SHA, SIZE)
    assert check.codes == ("private_url",)
    assert "127.0.0.1, a loopback address" in said(check)[0]
