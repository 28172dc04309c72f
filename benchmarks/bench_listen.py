"""How fast is ``holdmusic validate --listen`` next to ffmpeg's own loudness meter?

Builds (once, cached in benchmarks/.work/) a 59 s 128 kbit/s stereo MP3 of a music-like
sox mix, then times, side by side in one run, alternating, start-up included:

  a) ``holdmusic validate --listen f.mp3``: the frame walk and verdict, then one decode
     feeding ebur128 (true peak), silencedetect and the phone-band energy;
  b) ``ffmpeg -i f.mp3 -af ebur128=peak=true -f null -``: loudness and true peak only;
  c) ``holdmusic validate f.mp3`` (no decoding), for scale.

Goal (issue 14): a) within 3x of b).

    python benchmarks/bench_listen.py [--reps 5]
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


def make_input() -> Path:
    return _bench.synth_mp3(WORK / "listen-input-59s-128k.mp3", 59, 128, ("220", "660"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    args = ap.parse_args()
    for tool in ("ffmpeg", "sox", "lame"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for this benchmark")
    src = make_input()
    hm = _bench.holdmusic_command()
    cmds = {
        "listen": [*hm, "validate", "--listen", str(src)],
        "ffmpeg": ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(src),
                   "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        "plain": [*hm, "validate", str(src)],
    }  # fmt: skip
    found = _bench.versions("ffmpeg", "lame", "sox", "pyav")
    print("bench_listen: holdmusic validate --listen vs ffmpeg ebur128")
    _bench.print_versions(found)
    print(f"  input: {src.name}, {src.stat().st_size:,} bytes; {args.reps} runs each, alternating")
    print(f"  {_bench.bytecode_note()}")
    for cmd in cmds.values():  # warm the page cache and the bytecode cache
        _bench.run_quiet(cmd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.reps):
        for k, cmd in cmds.items():
            times[k].append(_bench.timed(lambda cmd=cmd: _bench.run_quiet(cmd)))  # type: ignore[misc]
    med = {k: _bench.median(v) for k, v in times.items()}
    labels = {
        "listen": "a) holdmusic validate --listen",
        "ffmpeg": "b) ffmpeg -af ebur128=peak=true -f null -",
        "plain": "c) holdmusic validate (no --listen)",
    }
    rows = [
        [labels[k], f"{med[k]:.3f}", f"{min(times[k]):.3f}", f"{med[k] / med['ffmpeg']:.2f}"]
        for k in cmds
    ]
    print()
    print(_bench.table(["tool", "median s", "min s", "x ffmpeg"], rows, right=(1, 2, 3)))
    ratio = med["listen"] / med["ffmpeg"]
    print()
    print(
        _bench.goal_line(
            ratio <= GOAL, f"validate --listen within {GOAL:g}x of ffmpeg ebur128: {ratio:.2f}x"
        )
    )

    if args.check and ratio > GOAL:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
