"""Runs that overlap (issue 20): a live run is detectable by the OS lock its process holds
on its report, rollback refuses a live run's report, and a dead run's report stays
rollback-able.

The live run is a real second process: ``holdmusic batch`` against the stand-in with its
PUTs held (``faults.block``) until the test lets them go. Every wait is on an event (the
stand-in holds a PUT, the process ended), never on the clock.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from holdmusic import runlock
from holdmusic.record import Recorder, ReportExists
from tests.conftest import SAMPLES, Result, Stack

Cli = Callable[..., Result]
Running = tuple["subprocess.Popen[str]", Path, dict[str, str]]


def url_of(stack: Stack, cid: str) -> str | None:
    return stack.daily.get(cid)["config"].get("hold_music_url")


# -- the lock itself -----------------------------------------------------------------------


def test_a_recorder_holds_its_report_until_it_finishes(tmp_path: Path) -> None:
    report = str(tmp_path / "run.json")
    recorder = Recorder(report, "batch", "m.csv")
    assert runlock.live_pid(report) == os.getpid()
    with pytest.raises(runlock.RunInProgress) as e:
        runlock.refuse_if_live(report)
    assert f"process {os.getpid()}" in str(e.value) and "still going" in str(e.value)
    recorder.finish()
    assert runlock.live_pid(report) is None
    assert not os.path.exists(runlock.lock_path(report))  # no litter once finished
    runlock.refuse_if_live(report)


def test_a_live_report_cannot_be_claimed_again(tmp_path: Path) -> None:
    report = str(tmp_path / "run.json")
    first = Recorder(report, "batch", "m.csv")
    with pytest.raises(ReportExists):
        Recorder(report, "batch", "m.csv")
    assert runlock.live_pid(report) == os.getpid()  # the failed claim let go of nothing
    first.finish()


def test_a_dead_process_holds_nothing(tmp_path: Path) -> None:
    """The OS releases the lock of a process that dies, however it dies."""
    report = str(tmp_path / "run.json")
    code = (
        "import os, sys; from holdmusic.record import Recorder; "
        f"Recorder({report!r}, 'batch', 'm.csv'); print('held', flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        assert runlock.live_pid(report) == proc.pid
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert os.path.exists(runlock.lock_path(report))  # left behind, and unlocked
    assert runlock.live_pid(report) is None
    runlock.refuse_if_live(report)


# -- rollback against a live batch -----------------------------------------------------------


@pytest.fixture
def running_batch(stack: Stack, tmp_path: Path) -> Iterator[Running]:
    """A batch of 6 configs in a second process, its PUTs held by the stand-in."""
    d = stack.daily
    original = "https://cdn.example.com/hold/original.mp3"
    ids = [d.add_config(hold_music_url=original) for _ in range(6)]
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy(SAMPLES / "welcome-mono.mp3", music)
    manifest = tmp_path / "m.csv"
    manifest.write_text("config_id,file\n" + "".join(f"{c},music/welcome-mono.mp3\n" for c in ids))
    report = tmp_path / "run.json"
    d.faults.block(methods={"PUT"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "holdmusic", "batch", str(manifest), "--report", str(report)],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert d.faults.blocked.wait(90), "the batch sent no PUT"
        yield proc, report, {cid: original for cid in ids}
    finally:
        d.faults.unblock()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def test_rollback_refuses_a_live_batch_then_undoes_it_once_it_ends(
    stack: Stack,
    cli: Cli,
    tmp_path: Path,
    running_batch: Running,
) -> None:
    proc, report, originals = running_batch
    d = stack.daily
    assert json.loads(report.read_text())["complete"] is False
    gets_before = d.count("GET")
    refused = cli("rollback", str(report), "--report", str(tmp_path / "rb.json"))
    assert refused.exit_code == 1, refused.output
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and "still going" in line and f"process {proc.pid}" in line
    assert not (tmp_path / "rb.json").exists()  # refused before anything, its report too
    assert d.count("GET") == gets_before  # not one request from the rollback

    d.faults.unblock()
    assert proc.wait(timeout=90) == 0, proc.stderr.read() if proc.stderr else ""
    assert all(url_of(stack, cid) != url for cid, url in originals.items())  # batch landed
    assert not os.path.exists(runlock.lock_path(str(report)))

    back = cli("rollback", str(report), "--report", str(tmp_path / "rb.json"), "--no-verify")
    assert back.exit_code == 0, back.output
    assert all(url_of(stack, cid) == url for cid, url in originals.items())


def test_a_killed_batch_stays_rollback_able(
    stack: Stack,
    cli: Cli,
    tmp_path: Path,
    running_batch: Running,
) -> None:
    proc, report, originals = running_batch
    d = stack.daily
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    d.faults.unblock()  # the PUTs it had sent land after it died: they were pending
    assert d.wait_idle(30)
    items = json.loads(report.read_text())["items"]
    assert {i["status"] for i in items} <= {"pending", "queued"}

    back = cli("rollback", str(report), "--report", str(tmp_path / "rb.json"), "--no-verify")
    assert back.exit_code == 0, back.output
    assert all(url_of(stack, cid) == url for cid, url in originals.items())
