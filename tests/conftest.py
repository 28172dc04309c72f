"""Shared fixtures: real servers on loopback, real encoders for MP3 fixtures.

- ``seaweed`` / ``s3_env``: a SeaweedFS S3 server (``weed mini``) for the session
  (testkit/s3.py); ``s3_env`` points os.environ at it for one test.
- ``daily``: a stand-in for Daily's REST API, a real HTTP server (testkit/daily/).
- ``mp3s``: MP3 fixtures encoded with lame/ffmpeg/sox, with their exact sample counts
  (testkit/mp3/).
- ``cli`` / ``run_cli``: run ``holdmusic`` in-process with click's runner, or as a real
  subprocess (exit codes, stdout/stderr as a user sees them).

Markers (pyproject.toml): ``network`` tests install from the package index and are
skipped, with the reason, when it cannot be reached; ``slow`` ones are left out of the
lowest-versions CI step.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from testkit.daily import DailyStandIn
from testkit.s3 import SeaweedS3

# Fixtures of the test-support package (testkit/): ``daily``, ``mp3s``, ``seaweed``, ``s3_env``.
pytest_plugins = ["testkit.daily.plugin", "testkit.mp3.plugin", "testkit.s3_plugin"]

# A shell that starts a command in the background (`cmd &`, as a CI runner may) makes it
# ignore SIGINT, and the ignoring is inherited across exec: Ctrl-C tests would then
# interrupt nothing. Restore Python's own handler here; children then start with the
# default disposition, as they do under a terminal.
signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
INDEX_PROBE_SECONDS = 5.0


@functools.cache
def index_unreachable() -> str | None:
    """Why the package index pip would use cannot be reached, or None if it answers.

    One HEAD request per session with a short timeout: offline, DNS fails at once; behind
    a silent firewall the wait is bounded. Any HTTP answer (even 404) means reachable.
    """
    index = (os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/").split()[0]
    url = index.rstrip("/") + "/pip/"
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=INDEX_PROBE_SECONDS):
            return None
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"needs the package index, and {url} cannot be reached ({reason})"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``network`` tests before their fixtures start installing from the index."""
    if item.get_closest_marker("network") is not None and (why := index_unreachable()):
        pytest.skip(why)


@pytest.fixture(autouse=True)
def allow_loopback_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every server these tests talk to (SeaweedFS, the stand-in, purpose-built ones) is on
    loopback, which holdmusic refuses as a hold-music URL unless this opt-in is set. Tests
    of the refusal itself delete it (``monkeypatch.delenv``)."""
    monkeypatch.setenv("HOLDMUSIC_ALLOW_PRIVATE_URLS", "1")


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run holdmusic in-process: ``cli("validate", path, env={...})``."""
    from holdmusic.cli import cli as command

    def run(*args: str, env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
        runner = CliRunner()
        r = runner.invoke(
            command, list(args), env=dict(env or {}), input=input, catch_exceptions=False
        )
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Run ``python -m holdmusic`` as a subprocess, exactly as a user would."""

    def run(
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = 120,
    ) -> Result:
        full = {**os.environ, **(env or {})}
        p = subprocess.run(
            [sys.executable, "-m", "holdmusic", *args],
            env=full,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    return run


@pytest.fixture
def daily_env(daily: DailyStandIn, monkeypatch: pytest.MonkeyPatch) -> DailyStandIn:
    """The stand-in, with DAILY_API_KEY/DAILY_API_URL pointing at it (no storage)."""
    monkeypatch.setenv("DAILY_API_KEY", daily.api_key)
    monkeypatch.setenv("DAILY_API_URL", daily.url)
    return daily


@pytest.fixture
def stack(
    s3_env: SeaweedS3,
    daily: DailyStandIn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """SeaweedFS + the Daily stand-in, with os.environ pointing holdmusic at both and a
    fresh public bucket (prefix hold-music/) and a fresh private one. The working folder is
    a fresh one too: every publish writes a report there by default (issue 18), and a test
    must not leave reports in the clone."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    public = s3_env.make_bucket(public_prefix="hold-music/")
    private = s3_env.make_bucket()
    monkeypatch.setenv("DAILY_API_KEY", daily.api_key)
    monkeypatch.setenv("DAILY_API_URL", daily.url)
    monkeypatch.setenv("HOLDMUSIC_BUCKET", public)
    yield Stack(s3_env, daily, public, private)


@dataclass(frozen=True)
class Stack:
    s3: SeaweedS3
    daily: DailyStandIn
    public_bucket: str
    private_bucket: str

    def keys(self, bucket: str | None = None) -> list[str]:
        listing = self.s3.client().list_objects_v2(Bucket=bucket or self.public_bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test argument named after one of testkit.mp3.FIXTURE_SETS runs once per fixture of
    that set, as the factory built them."""
    from testkit.mp3.plugin import FIXTURE_SETS, fixture_names

    for kind in FIXTURE_SETS:
        if kind in metafunc.fixturenames:
            metafunc.parametrize(kind, fixture_names(metafunc.config, kind))
