"""The page under test: ``holdmusic serve``'s app on SeaweedFS and the Daily stand-in,
driven through Starlette's TestClient (real HTTP semantics, in process).

``served`` is a logged-out app with one user (``ana``) and her token; ``Served.login()``
goes through the login link as a browser would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLES, Stack

pytest.importorskip("starlette", reason="needs the serve extra")

from starlette.testclient import TestClient

from holdmusic.app import Environment
from holdmusic.web import auth
from holdmusic.web._uses import Context
from holdmusic.web.app import ServeConfig, create_app, media_origins

WELCOME = SAMPLES / "welcome-mono.mp3"  # passes
CALM = SAMPLES / "calm-vbr.mp3"  # passes
TOO_LONG = SAMPLES / "too-long.mp3"  # fails: too_long (an MP3)
ERROR_PAGE = SAMPLES / "error-page.mp3"  # fails: not_mp3 (an HTML page)
NOT_REALLY = SAMPLES / "not-really.mp3"  # a WAV named .mp3
BASE = "http://127.0.0.1:8000"
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass
class Served:
    client: TestClient
    config: ServeConfig
    token: str
    stack: Stack
    reports: Path
    audit_log: Path
    work: Path
    csrf: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> Any:
        return self.client.app.state.hm  # type: ignore[attr-defined]

    def login(self, token: str | None = None) -> None:
        r = self.client.get("/login", params={"token": token or self.token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = self.page_csrf()

    def page_csrf(self) -> str:
        r = self.client.get("/history")
        assert r.status_code == 200, r.text
        m = _META_CSRF.search(r.text)
        assert m is not None
        return m.group(1)

    def check(self, path: Path, *, name: str | None = None, data: bytes | None = None) -> str:
        """Upload a file through the page; returns the upload id."""
        body = data if data is not None else path.read_bytes()
        r = self.client.post(
            "/check",
            data={"csrf_token": self.csrf},
            files={"file": (name or path.name, body, "audio/mpeg")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        m = re.match(r"/\?u=([A-Za-z0-9_-]+)#verdict", r.headers["location"])
        assert m is not None, r.headers["location"]
        return m.group(1)

    def form(self, url: str, fields: dict[str, Any] | list[tuple[str, str]]) -> Any:
        return self.client.post(
            url,
            data=as_fields([("csrf_token", self.csrf), *_items(fields)]),
            follow_redirects=False,
        )

    def bearer(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines()]

    def wait_run(self, location: str) -> dict[str, Any]:
        """Follow a run to its end (the run's own event, not a sleep)."""
        jid = location.rsplit("/", 1)[-1]
        job = self.state.jobs.get(jid, "ana")
        assert job is not None
        assert job.finished.wait(60), "the run did not finish"
        r = self.client.get(f"/runs/{jid}.json")
        assert r.status_code == 200
        snap: dict[str, Any] = r.json()
        return snap


def _items(fields: dict[str, Any] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(fields.items()) if isinstance(fields, dict) else list(fields)


def as_fields(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated form fields as httpx takes them (a dict of lists)."""
    out: dict[str, list[str]] = {}
    for k, v in items:
        out.setdefault(k, []).append(v)
    return out


def build_app(stack: Stack, tmp_path: Path, **overrides: Any) -> tuple[Any, str, ServeConfig]:
    """The app as ``holdmusic serve`` makes it, with one user ``ana``; returns the app,
    ana's token and the settings."""
    import os

    users, token = auth.Users.single("ana")
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = Environment.from_env(os.environ)
    ctx = Context(
        env=env,
        storage=env.storage_settings(bucket=stack.public_bucket),
        reports_dir=str(reports),
        max_bytes=10_000_000,
        max_seconds=60.0,
    )
    config = ServeConfig(
        ctx=ctx,
        users=overrides.pop("users", users),
        audit_log=str(tmp_path / "audit.jsonl"),
        work_parent=str(work),
        media_origins=media_origins(None),
        **overrides,
    )
    return create_app(config), token, config


def make_served(stack: Stack, tmp_path: Path, **overrides: Any) -> Iterator[Served]:
    base_url = overrides.pop("base_url", BASE)
    app, token, config = build_app(stack, tmp_path, **overrides)
    with TestClient(app, base_url=base_url) as client:
        yield Served(
            client,
            config,
            token,
            stack,
            tmp_path / "reports",
            tmp_path / "audit.jsonl",
            tmp_path / "work",
        )


@pytest.fixture(scope="session")
def clean_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40 s mono MP3 that passes validate --listen without a warning: a 700 Hz tone in
    pink noise, inside the phone band, near -19 LUFS."""
    import subprocess

    out = tmp_path_factory.mktemp("clean") / "clean-tone.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=700:d=40",
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=d=40:c=pink:a=0.05",
            "-filter_complex",
            "[0][1]amix=inputs=2,highpass=f=300,lowpass=f=3000,volume=9dB",
            "-ac",
            "1",
            "-ar",
            "22050",
            "-b:a",
            "64k",
            str(out),
        ],
        check=True,
    )
    return out


@pytest.fixture
def served(stack: Stack, tmp_path: Path) -> Iterator[Served]:
    yield from make_served(stack, tmp_path)


@pytest.fixture
def logged_in(served: Served) -> Served:
    served.login()
    return served


class LiveServer:
    """The app under uvicorn on a loopback socket, in a thread: real HTTP, for what the
    test client cannot show (a body cut off while it is still being sent)."""

    def __init__(self, app: Any) -> None:
        import socket
        import threading

        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:  # uvicorn's own flag, set once it listens
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
