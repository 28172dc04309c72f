"""How fast is ``holdmusic fix`` next to the plain ffmpeg command a user would otherwise run?

Builds (once, cached in benchmarks/.work/) a 5-minute 320 kbit/s stereo MP3 of a
music-like sox mix, then times, side by side in one run, alternating, start-up included:

  a) ``holdmusic fix in.mp3 -o out.mp3 --force``: decode what is needed, trim silence,
     search the last 10 s before 59.5 s for a pause to cut at (a fade), high-pass, mono,
     22.05 kHz, measure loudness, normalise (limiter when needed), encode, hear the encoded
     file with `validate --listen`'s code (loudness, true peak, phone band, silences; a
     bass shelf and another pass when the band share is short and a gentle shelf can
     mend it) and validate it;
  b) ``ffmpeg -i in.mp3 -t 59 -ac 1 -ar 22050 -b:a 48k out.mp3``: the plain conversion,
     with no loudness, no fade and no check (the issue's yardstick).

Goal (issue 13): a) within 3x of b).

    python benchmarks/bench_fix.py [--reps 5] [--seconds 300]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
from _bench import WORK

GOAL = 3.0


def make_input(seconds: float) -> Path:
    """A stereo mix with bass, chords and noise, as lame -b 320 (cached)."""
    return _bench.synth_mp3(WORK / f"fix-input-{seconds:g}s-320k.mp3", seconds, 320, ("110", "165"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    ap.add_argument("--seconds", type=float, default=300.0, help="input length")
    args = ap.parse_args()
    for tool in ("ffmpeg", "sox", "lame"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for this benchmark")

    src = make_input(args.seconds)
    out_dir = WORK / "fix-out"
    out_dir.mkdir(parents=True, exist_ok=True)
    hm = [*_bench.holdmusic_command(), "fix", str(src), "-o", str(out_dir / "hm.mp3"), "--force"]
    ff = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-t", "59", "-ac", "1",
          "-ar", "22050", "-b:a", "48k", str(out_dir / "ff.mp3")]  # fmt: skip

    found = _bench.versions("ffmpeg", "lame", "sox", "pyav")
    print("bench_fix: holdmusic fix vs plain ffmpeg")
    _bench.print_versions(found)
    print(f"  input: {src.name}, {src.stat().st_size:,} bytes; {args.reps} runs each, alternating")
    print(f"  {_bench.bytecode_note()}")

    _bench.run_quiet(hm)  # warm the page cache and the bytecode cache
    _bench.run_quiet(ff)
    times: dict[str, list[float]] = {"hm": [], "ff": []}
    for _ in range(args.reps):
        times["hm"].append(_bench.timed(lambda: _bench.run_quiet(hm)))
        times["ff"].append(_bench.timed(lambda: _bench.run_quiet(ff)))
    hm_s, ff_s = _bench.median(times["hm"]), _bench.median(times["ff"])
    ratio = hm_s / ff_s
    print()
    print(
        _bench.table(
            ["tool", "median s", "min s", "x ffmpeg"],
            [
                [
                    f"a) holdmusic fix ({args.seconds:g} s 320k stereo MP3)",
                    f"{hm_s:.3f}",
                    f"{min(times['hm']):.3f}",
                    f"{ratio:.2f}",
                ],
                [
                    "b) ffmpeg -t 59 -ac 1 -ar 22050 -b:a 48k",
                    f"{ff_s:.3f}",
                    f"{min(times['ff']):.3f}",
                    "1.00",
                ],
            ],
            right=(1, 2, 3),
        )
    )
    print()
    print(_bench.goal_line(ratio <= GOAL, f"holdmusic fix within {GOAL:g}x of plain ffmpeg: "
                                          f"{ratio:.2f}x"))  # fmt: skip

    if args.check and ratio > GOAL:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
