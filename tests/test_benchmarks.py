"""The benchmark scripts still run (tiny sizes, no timing asserted), and one scaling bug
they found.

Speed itself is measured by ``benchmarks/*.py``, never asserted here.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Stack

# The benchmarks' speed is not what the lowest-versions CI step checks.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"


def _run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _figures(out: str, label: str) -> list[float]:
    """The numbers printed after ``label`` on its line, each checked to be sane: finite,
    not negative, and not all zero (a timing that printed nothing, NaN or a negative
    span would pass a check that only looks for the label)."""
    line = next((x for x in out.splitlines() if label in x), None)
    assert line is not None, f"{label!r} not in the output"
    rest = line.split(label, 1)[1].replace(",", "")
    assert "nan" not in rest.lower() and "inf" not in rest.lower(), line
    figures = [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", rest)]
    assert figures, f"no figures after {label!r}: {line}"
    assert all(math.isfinite(f) and f >= 0 for f in figures), line
    assert any(f > 0 for f in figures), line
    return figures


def test_bench_validate_runs_every_tool() -> None:
    out = _run(
        "bench_validate.py",
        *("--n", "4", "--reps", "1", "--startup-runs", "1", "--ffprobe-files", "2"),
        *("--whole-reps", "1"),
    )
    assert "4 files," in out
    assert "ffprobe ran on 2 of the 4 files" in out
    for row in (
        "a) holdmusic validate DIR (CLI)",
        "b) files.check_many",
        "c) mutagen MP3().info.length loop",
        "d) ffprobe -count_packets per file",
        "holdmusic within 3x of the mutagen loop:",
        "holdmusic at least 30x faster than ffprobe:",
        "whole process, holdmusic validate DIR within 3x of the mutagen process:",
        "holdmusic validate one.mp3",
        "holdmusic validate -j 1 DIR",
    ):
        _figures(out, row)
    for sentence in ("sync word every 4 bytes", "every worst input under 0.5 s"):
        assert sentence in out, sentence


def test_bench_batch_runs_and_every_config_is_set() -> None:
    out = _run(
        "bench_batch.py",
        *("--configs", "6", "--recorder-sizes", "20", "--recorder-updates", "2"),
    )
    rows = {line.split("  ")[0]: re.split(r"\s{2,}", line) for line in out.splitlines()}
    # run, wall s, requests, 429s, 5xx, req/s, of 20/s, non-429/s, peak/s, configs set
    for label in ("holdmusic batch: PUT phase", "holdmusic batch: whole run"):
        cells = rows[label]
        assert cells[-1] == "6/6", cells
        assert float(cells[1]) > 0, cells  # wall seconds
        assert int(cells[2]) >= 6, cells  # at least one request per config
        assert 0 <= int(cells[3]) <= int(cells[2]) and 0 <= int(cells[4]) <= int(cells[2])
        assert float(cells[5]) > 0 and cells[6].endswith("%"), cells
    assert "shell loop, plain (no retry)" in rows
    assert rows["shell loop, curl --retry 5"][-1] == "6/6"
    share = re.search(r"limit with faults on: (\d+)% \(([\d.]+) req/s\), 6/6 configs set", out)
    assert share is not None, out
    assert int(share.group(1)) > 0 and float(share.group(2)) > 0
    _figures(out, "Report bookkeeping")


def test_batch_report_writes_grow_linearly(stack: Stack, tmp_path: Path) -> None:
    """Measured by benchmarks/bench_batch.py: 1,000 configs wait 15 s and 2,000 configs
    58 s before holdmusic batch sends its first request, because each of those writes
    serialises and fsyncs a report that grows with the batch. One write per finished PUT
    is the write-ahead promise; one more per config before any request is not needed
    (a single ``change_many`` does the same)."""
    from holdmusic import app, manifest, pipeline
    from holdmusic.daily import DailyClient, RateLimiter
    from holdmusic.record import Recorder
    from holdmusic.storage import S3Store

    configs = 12
    shutil.copy(REPO / "samples" / "welcome-mono.mp3", tmp_path / "welcome.mp3")
    ids = stack.daily.seed(configs, hold_music_url="https://old.example.com/hold.mp3")
    (tmp_path / "m.csv").write_text(
        "config_id,file\n" + "".join(f"{cid},welcome.mp3\n" for cid in ids)
    )
    recorder = Recorder(str(tmp_path / "report.json"), "batch", "m.csv")
    client = DailyClient(
        stack.daily.api_key, stack.daily.url, limiter=RateLimiter(rate=1000, burst=100)
    )
    with client:
        result = pipeline.batch(
            [
                pipeline.Assigned(config_id=a.config_id, file=a.file, name=a.given)
                for a in manifest.read(str(tmp_path / "m.csv"))
            ],
            S3Store(
                app.Environment.from_env(os.environ).storage_settings(bucket=stack.public_bucket)
            ),
            client,
            recorder,
            allow_private=True,
        )
    assert result.ok
    url = stack.daily.get(ids[0])["config"]["hold_music_url"]
    assert url.endswith(".mp3") and url != "https://old.example.com/hold.mp3"
    assert all(stack.daily.get(cid)["config"]["hold_music_url"] == url for cid in ids)
    # one write per finished PUT (write-ahead) plus a handful per phase
    assert recorder.writes <= configs + 10, recorder.writes


def test_bench_fix_runs_both_tools() -> None:
    out = _run("bench_fix.py", "--reps", "1", "--seconds", "70")
    for row in (
        "a) holdmusic fix (70 s 320k stereo MP3)",
        "b) ffmpeg -t 59 -ac 1 -ar 22050 -b:a 48k",
        "holdmusic fix within 3x of plain ffmpeg:",
    ):
        _figures(out, row)


def test_bench_listen_runs_every_tool() -> None:
    out = _run("bench_listen.py", "--reps", "1")
    for row in (
        "a) holdmusic validate --listen",
        "b) ffmpeg -af ebur128=peak=true -f null -",
        "c) holdmusic validate (no --listen)",
        "validate --listen within 3x of ffmpeg ebur128:",
    ):
        _figures(out, row)
