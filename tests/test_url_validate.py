"""``holdmusic validate URL``: fetch anonymously as Daily will, then judge the bytes.

A real threaded HTTP server on 127.0.0.1 (stdlib http.server) plays every part: a good
host, a private bucket (403), an HTML page served as 200, redirect chains, wrong content
types, a body that never ends and one that stops short.
"""

from __future__ import annotations

import json
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from testkit.mp3 import Made
from tests.conftest import Result

Cli = Callable[..., Result]

ENDLESS_CAP = 200 * 1024 * 1024  # the server gives up here: a client that never stops fails


@dataclass
class Site:
    url: str
    good: bytes  # cbr_mono_44k: 40.000 s
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    endless_closed: threading.Event = field(default_factory=threading.Event)
    endless_sent: list[int] = field(default_factory=list)

    def __call__(self, path: str) -> str:
        return self.url + path


def _handler(site: Site, html: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # a body without Content-Length ends when we close

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, ctype: str | None, body: bytes, **headers: str) -> None:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            site.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            path = self.path
            if path == "/good.mp3":
                self._send(200, "audio/mpeg", site.good)
            elif path == "/typed-mp3.mp3":
                self._send(200, "audio/mp3", site.good)
            elif path == "/octet.mp3":
                self._send(200, "application/octet-stream", site.good)
            elif path == "/untyped.mp3":
                self._send(200, None, site.good)
            elif path == "/private.mp3":
                self._send(403, "application/xml", b"<Error><Code>AccessDenied</Code></Error>")
            elif path == "/missing.mp3":
                self._send(404, "text/plain", b"not found")
            elif path == "/page.mp3":
                self._send(200, "text/html; charset=utf-8", html)
            elif path == "/html-as-audio.mp3":
                self._send(200, "audio/mpeg", html)
            elif path.startswith("/hop/"):
                # /hop/N/... redirects N more times, then serves the good file
                n = int(path.split("/")[2])
                if n == 0:
                    self._send(200, "audio/mpeg", site.good)
                else:
                    self._send(302, "text/plain", b"", Location=f"/hop/{n - 1}/x.mp3")
            elif path == "/endless.mp3":
                self._endless()
            elif path == "/short.mp3":
                # promises the whole file, sends half, hangs up
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(site.good)))
                self.end_headers()
                self.wfile.write(site.good[: len(site.good) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self._send(404, "text/plain", b"no route")

        def _endless(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.end_headers()
            chunk = (site.good * 2)[:65536]
            sent = 0
            try:
                while sent < ENDLESS_CAP:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:  # BrokenPipe / ConnectionReset: the client hung up
                site.endless_closed.set()
            finally:
                site.endless_sent.append(sent)

    return Handler


@pytest.fixture(scope="module")
def site(mp3s: dict[str, Made]) -> Iterator[Site]:
    html = mp3s["html"].path.read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    s = Site(f"http://127.0.0.1:{server.server_address[1]}", mp3s["cbr_mono_44k"].path.read_bytes())
    server.RequestHandlerClass = _handler(s, html)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield s
    server.shutdown()
    server.server_close()


def _one(cli: Cli, *args: str) -> tuple[Result, dict]:
    """The JSON verdict of one URL, with the not_https warning every plain-http URL gets
    checked and then set aside, so each test can look at what it is about."""
    r = cli("validate", "--json", *args)
    [d] = json.loads(r.stdout)
    https = [p for p in d["problems"] if p["code"] == "not_https"]
    if d["path"].startswith("http://"):
        assert len(https) == 1 and https[0]["severity"] == "warning", d["problems"]
        assert "Daily may refuse it" in https[0]["message"]
    d["problems"] = [p for p in d["problems"] if p["code"] != "not_https"]
    return r, d


def _codes(d: dict, severity: str) -> list[str]:
    return [p["code"] for p in d["problems"] if p["severity"] == severity]


def test_good_url_passes_with_exact_duration(cli: Cli, site: Site) -> None:
    r = cli("validate", site("/good.mp3"))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"Checking {site('/good.mp3')}: PASSED, with warnings (40.000 s, "
        f"{len(site.good):,} bytes, MPEG-1 44.1 kHz mono CBR 64 kbit/s)",
        "  warning [not_https]: not https: Daily may refuse it, and anyone on the path can "
        "alter it",
        "1 file checked: 1 passed (1 with warnings), 0 failed",
    ]
    # --strict: a plain-http URL is not good enough
    assert cli("validate", "--strict", site("/good.mp3")).exit_code == 1
    r, d = _one(cli, site("/good.mp3"))
    assert d["ok"] is True and d["problems"] == []
    assert d["duration_seconds"] == 40.0 and d["format"]["samples"] == 1_764_000
    assert d["size_bytes"] == len(site.good)


def test_fetch_is_anonymous(cli: Cli, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    # credentials lying around in the environment must not be sent
    monkeypatch.setenv("HTTP_PROXY", "http://user:secret@127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    site.requests.clear()
    assert cli("validate", site("/good.mp3")).exit_code == 0
    [(path, headers)] = site.requests
    assert path == "/good.mp3"
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["user-agent"].startswith("holdmusic/")


def test_forbidden(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/private.mp3"))
    assert r.exit_code == 1
    assert d["ok"] is False and _codes(d, "error") == ["http_status"]
    assert "403" in d["problems"][0]["message"] and "not public" in d["problems"][0]["message"]
    text = cli("validate", site("/private.mp3")).stdout
    assert "  error [http_status]: answered 403: it is not public" in text


def test_not_found(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/missing.mp3"))
    assert r.exit_code == 1 and _codes(d, "error") == ["http_status"]
    assert "404" in d["problems"][0]["message"]


def test_html_page_served_as_200(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/page.mp3"))
    assert r.exit_code == 1
    assert "content_type" in _codes(d, "error")
    assert "text/html" in " ".join(p["message"] for p in d["problems"])


def test_html_served_as_audio_is_still_not_mp3(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/html-as-audio.mp3"))
    assert r.exit_code == 1
    assert _codes(d, "error") == ["not_mp3"]
    assert "HTML page" in d["problems"][0]["message"]


def test_two_redirects_pass_with_a_warning_per_hop(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/hop/2/start.mp3"))
    assert r.exit_code == 0, r.output
    assert d["ok"] is True and d["duration_seconds"] == 40.0
    redirects = [p["message"] for p in d["problems"] if p["code"] == "redirect"]
    assert len(redirects) == 2 and _codes(d, "warning") == ["redirect", "redirect"]
    assert site("/hop/1/x.mp3") in redirects[0]
    assert site("/hop/0/x.mp3") in redirects[1]
    text = cli("validate", site("/hop/2/start.mp3")).stdout
    assert ": PASSED, with warnings (40.000 s" in text


def test_five_redirects_are_too_many(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/hop/5/start.mp3"))
    assert r.exit_code == 1
    assert _codes(d, "error") == ["too_many_redirects"]
    assert d["duration_seconds"] is None
    [msg] = [p["message"] for p in d["problems"] if p["code"] == "too_many_redirects"]
    assert site("/hop/1/x.mp3") in msg  # names where it would have gone next


def test_audio_mp3_type_is_a_warning(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/typed-mp3.mp3"))
    assert r.exit_code == 0
    assert d["ok"] is True and d["duration_seconds"] == 40.0
    assert _codes(d, "warning") == ["content_type"]
    assert "audio/mp3" in d["problems"][0]["message"]


@pytest.mark.parametrize(
    ("path", "shown"),
    [("/octet.mp3", "application/octet-stream"), ("/untyped.mp3", "no Content-Type")],
)
def test_non_audio_type_is_an_error(cli: Cli, site: Site, path: str, shown: str) -> None:
    r, d = _one(cli, site(path))
    assert r.exit_code == 1
    assert _codes(d, "error") == ["content_type"]
    assert shown in d["problems"][0]["message"]
    assert d["duration_seconds"] == 40.0  # the bytes are still judged and reported


def test_endless_body_stops_one_byte_past_the_limit(cli: Cli, site: Site) -> None:
    site.endless_closed.clear()
    site.endless_sent.clear()
    r, d = _one(cli, "--max-bytes", "300000", site("/endless.mp3"))
    assert r.exit_code == 1
    assert _codes(d, "error") == ["too_large"]
    assert "more than 300,000 bytes" in d["problems"][0]["message"]
    # the command returned on its own; the server then saw the connection close
    assert site.endless_closed.wait(timeout=30), "the client never hung up"
    assert site.endless_sent and site.endless_sent[0] < ENDLESS_CAP


def test_endless_body_at_the_default_limit(run_cli: Cli, site: Site) -> None:
    site.endless_closed.clear()
    site.endless_sent.clear()
    r = run_cli("validate", site("/endless.mp3"))
    assert r.exit_code == 1
    assert "  error [too_large]: more than 10,000,000 bytes" in r.stdout
    assert site.endless_closed.wait(timeout=30)
    assert site.endless_sent[0] < ENDLESS_CAP


def test_body_cut_short(cli: Cli, site: Site) -> None:
    r, d = _one(cli, site("/short.mp3"))
    assert r.exit_code == 1
    assert d["ok"] is False and _codes(d, "error")
    assert "Traceback" not in r.output


def test_unreachable_host(cli: Cli) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.mp3"
    r, d = _one(cli, url)
    assert r.exit_code == 1
    assert _codes(d, "error") == ["unreachable"]
    assert "connection refused" in d["problems"][0]["message"]


def test_urls_and_paths_keep_their_order(
    cli: Cli, site: Site, mp3s: dict[str, Made], tmp_path: Path
) -> None:
    local = str(mp3s["cbr_stereo_128k"].path)
    targets = [site("/private.mp3"), local, site("/good.mp3"), str(mp3s["flac"].path)]
    r = cli("validate", *targets)
    assert r.exit_code == 1
    checked = [
        ln.split(": ", 1)[0][len("Checking ") :]
        for ln in r.stdout.splitlines()
        if ln.startswith("Checking ")
    ]
    assert checked == targets
    assert r.stdout.splitlines()[-1] == "4 files checked: 2 passed (2 with warnings), 2 failed"
    report = tmp_path / "j.xml"
    r = cli("validate", "--json", "--junit", str(report), *targets)
    doc = json.loads(r.stdout)
    assert [d["path"] for d in doc] == targets
    assert [d["ok"] for d in doc] == [False, True, True, False]
    assert doc[2]["duration_seconds"] == 40.0 and doc[1]["duration_seconds"] == 30.0
    names = [c.get("name") for c in ET.parse(report).getroot().iter("testcase")]
    assert names == targets


# -- malformed URLs: one verdict each, never the end of the run (issue 20) ---------------

BAD_URLS = [
    ("http://0177.0.0.1/x.mp3", "Invalid IPv4 address"),  # an octal-looking address
    ("https://xn--/x.mp3", "Punycode"),  # an empty A-label
    ("http://[::1/x.mp3", "Invalid IPv6 URL"),
    ("https://cdn.example.com:99999/x.mp3", "Port out of range"),
]


def test_a_malformed_url_is_one_verdict_and_the_others_are_judged(
    cli: Cli, site: Site, tmp_path: Path
) -> None:
    ok = site("/good.mp3")
    targets = [ok, *[u for u, _ in BAD_URLS], ok]
    junit = tmp_path / "j.xml"
    r = cli("validate", "--json", "--junit", str(junit), *targets)
    assert r.exit_code == 1, r.output
    assert "unexpected" not in r.output and "Traceback" not in r.output
    doc = json.loads(r.stdout)
    assert [d["path"] for d in doc] == targets
    assert [d["ok"] for d in doc] == [True, False, False, False, False, True]
    for d, (url, why) in zip(doc[1:-1], BAD_URLS, strict=True):
        [error] = [p for p in d["problems"] if p["severity"] == "error"]
        assert error["code"] == "bad_url"
        assert (
            error["message"].startswith(f"{url} is not a valid URL: ") and why in error["message"]
        )
    assert len(list(ET.parse(junit).getroot().iter("testcase"))) == len(targets)

    text = cli("validate", ok, BAD_URLS[0][0], ok)
    assert text.stdout.splitlines()[-1] == "3 files checked: 2 passed (2 with warnings), 1 failed"
