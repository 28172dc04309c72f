"""Does ``holdmusic serve`` keep its memory flat under concurrent uploads?

Starts a real ``holdmusic serve`` (uvicorn, its own process, loopback only; Daily and
storage are configured but never contacted: validate needs neither), then sends
``POST /api/validate`` uploads of a ~5 MB MP3 (a sox mix encoded by lame, cached in
benchmarks/.work/) and samples the server's resident memory (/proc/PID/status) every 10 ms:

  a) one upload on its own (the baseline, after one warm-up upload);
  b) N uploads at once (default 20), three rounds back to back: memory must not grow
     with the number of uploads in flight, nor from round to round;
  c) one upload of ~60 MB (over validate's 10 MB limit, under --max-upload-bytes):
     streamed to disk, so memory does not grow by its size either.

Goals (issue 21): the peak during b) within 64 MB of a)'s peak (uploads stream to disk,
and at most 2 files are judged at once), and rounds 2 and 3 no higher than round 1 + 8 MB.

    python benchmarks/bench_serve.py [--uploads 20] [--size-mb 5] [--rounds 3] [--check]
"""

from __future__ import annotations

import argparse
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
from _bench import WORK

GROWTH_GOAL_MB = 64.0
ROUND_DRIFT_MB = 8.0


def make_input(size_mb: float) -> Path:
    seconds = max(5.0, size_mb * 8_000_000 / 128_000)  # 128 kbit/s
    return _bench.synth_mp3(WORK / f"serve-{size_mb:g}mb.mp3", seconds, 128, ("330", "880"))


def make_big(size_mb: float) -> Path:
    """~size_mb of MPEG frames: the 5 MB file repeated (validate calls it too_large)."""
    out = WORK / f"serve-big-{size_mb:g}mb.mp3"
    if not out.exists():
        piece = make_input(5).read_bytes()
        with out.open("wb") as fh:
            while fh.tell() < size_mb * 1_000_000:
                fh.write(piece)
    return out


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(re.search(r"VmRSS:\s+(\d+)", fh.read()).group(1))  # type: ignore[union-attr]


class Sampler:
    """The server's RSS every 10 ms while a phase runs; the peak of the phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            self._stop.wait(0.01)

    def __enter__(self) -> Sampler:
        self.peak = rss_kb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kb(self.pid))


def start_server(tmp: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = _bench.python_env()
    for k in list(env):
        if k.startswith(("HOLDMUSIC_", "DAILY_", "AWS_")):
            del env[k]
    env.update(
        DAILY_API_KEY="bench-key-never-sent-anywhere",
        DAILY_API_URL="http://127.0.0.1:9/v1",  # not contacted by validate
        HOLDMUSIC_BUCKET="bench",
        TMPDIR=str(tmp),
    )
    proc = subprocess.Popen(
        [*_bench.holdmusic_command(), "serve", "--port", "0", "--reports-dir", str(tmp)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while not line.startswith("Log in:"):
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready or proc.poll() is not None:
            raise SystemExit("holdmusic serve did not start")
        line = proc.stdout.readline()
    link = line.split(": ", 1)[1].strip()
    return proc, link.split("/login")[0], link.split("token=")[1]


def upload(base: str, token: str, path: Path, seconds: list[float], errors: list[str]) -> None:
    import httpx

    start = time.perf_counter()
    try:
        with path.open("rb") as fh, httpx.Client(trust_env=False, timeout=300) as client:
            r = client.post(
                base + "/api/validate",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": (path.name, fh, "audio/mpeg")},
            )
        if r.status_code != 200 or "ok" not in r.json():
            errors.append(f"{r.status_code}: {r.text[:200]}")
    except Exception as exc:  # noqa: BLE001 (reported, the run goes on)
        errors.append(repr(exc))
    seconds.append(time.perf_counter() - start)


def burst(base: str, token: str, path: Path, n: int, pid: int) -> tuple[float, list[float], int]:
    seconds: list[float] = []
    errors: list[str] = []
    gate = threading.Barrier(n)

    def one() -> None:
        gate.wait()
        upload(base, token, path, seconds, errors)

    threads = [threading.Thread(target=one) for _ in range(n)]
    with Sampler(pid) as s:
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} uploads failed, e.g. {errors[0]}")
    return wall, sorted(seconds), s.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--size-mb", type=float, default=5.0)
    ap.add_argument("--big-mb", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args()
    for tool in ("sox", "lame"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for this benchmark")
    src = make_input(args.size_mb)
    big = make_big(args.big_mb) if args.big_mb else None
    found = _bench.versions("httpx")
    import starlette
    import uvicorn

    found["starlette"] = starlette.__version__
    found["uvicorn"] = uvicorn.__version__
    print("versions:")
    _bench.print_versions(found)
    size = src.stat().st_size
    print(f"\ninput: {src.name}, {size:,} bytes; {args.uploads} concurrent uploads x "
          f"{args.rounds} rounds\n")  # fmt: skip
    tmp = WORK / "serve-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    proc, base, token = start_server(tmp)
    try:
        idle = rss_kb(proc.pid)
        burst(base, token, src, 1, proc.pid)  # warm-up: imports, the token's hash
        rows = []
        wall, secs, one_peak = burst(base, token, src, 1, proc.pid)
        rows.append(["1 upload", f"{wall:.2f}", f"{secs[-1]:.2f}", f"{one_peak / 1024:.1f}",
                     f"{size / wall / 1e6:.1f}"])  # fmt: skip
        peaks = []
        for r in range(args.rounds):
            wall, secs, peak = burst(base, token, src, args.uploads, proc.pid)
            peaks.append(peak)
            rows.append([
                f"{args.uploads} at once, round {r + 1}", f"{wall:.2f}",
                f"{secs[len(secs) // 2]:.2f} / {secs[-1]:.2f}", f"{peak / 1024:.1f}",
                f"{args.uploads * size / wall / 1e6:.1f}",
            ])  # fmt: skip
        big_peak = None
        if big is not None:
            wall, secs, big_peak = burst(base, token, big, 1, proc.pid)
            rows.append([f"1 upload of {big.stat().st_size / 1e6:.0f} MB", f"{wall:.2f}",
                         f"{secs[-1]:.2f}", f"{big_peak / 1024:.1f}",
                         f"{big.stat().st_size / wall / 1e6:.1f}"])  # fmt: skip
        after = rss_kb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    left = [p for p in tmp.rglob("*") if p.is_file()]
    print(f"server RSS idle after start: {idle / 1024:.1f} MB; after all phases: "
          f"{after / 1024:.1f} MB\n")  # fmt: skip
    print(_bench.table(
        ["phase", "wall s", "per upload s (median / max)", "peak RSS MB", "MB/s in"],
        rows, right=(1, 2, 3, 4),
    ))  # fmt: skip
    growth = (max(peaks) - one_peak) / 1024
    drift = (max(peaks[1:], default=peaks[0]) - peaks[0]) / 1024
    ok = [
        growth <= GROWTH_GOAL_MB,
        drift <= ROUND_DRIFT_MB,
        big_peak is None or (big_peak - one_peak) / 1024 <= GROWTH_GOAL_MB,
        not left,
    ]
    print("\ngoals:")
    print(_bench.goal_line(ok[0], f"{args.uploads} at once: peak {growth:+.1f} MB over one "
                           f"upload's (goal ≤ {GROWTH_GOAL_MB:g} MB)"))  # fmt: skip
    print(_bench.goal_line(ok[1], f"later rounds: {drift:+.1f} MB over round 1 "
                           f"(goal ≤ {ROUND_DRIFT_MB:g} MB)"))  # fmt: skip
    if big_peak is not None:
        print(_bench.goal_line(ok[2], f"{args.big_mb:g} MB upload: peak "
                               f"{(big_peak - one_peak) / 1024:+.1f} MB over one upload's "
                               f"(goal ≤ {GROWTH_GOAL_MB:g} MB)"))  # fmt: skip
    print(_bench.goal_line(ok[3], f"work area empty after shutdown ({len(left)} files left)"))
    shutil.rmtree(tmp, ignore_errors=True)
    if args.check and not all(ok):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
