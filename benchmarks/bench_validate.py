"""How fast is ``holdmusic validate`` next to what a user would otherwise run?

Builds (once, cached in benchmarks/.work/) a corpus of N realistic 30-60 s MP3s, then
times, side by side in one run, with a warm page cache, over several repetitions:

  a) ``holdmusic validate DIR``: the CLI as a user runs it (a subprocess; a process pool
     for many files);
  b) the in-process equivalent, ``files.check_many`` (and a one-process ``check_path``
     loop, the raw cost of walking every frame);
  c) a mutagen loop as a user would write it: ``python -c`` reading ``MP3(p).info.length``
     (header only: it trusts the Xing/Info frame count, holdmusic walks every frame);
  d) ``ffprobe -count_packets`` once per file from a shell loop (on an evenly spread
     subset of files when N is large; the total is extrapolated per file and marked so).

Then the goal's own measure, whole processes side by side: ``holdmusic validate DIR``
(default ``-j`` and ``-j 1``) and the mutagen loop, each a fresh process with its start-up,
run back to back in alternating order, ``--whole-reps`` times; each pair gives a ratio, and
the best, median and worst are printed with the load average (other jobs on the machine
slow every tool, not always alike). ``--busy N`` keeps N CPU-bound processes running
during the whole benchmark, to measure a loaded machine on purpose.

Then the single-file start-up: ``holdmusic validate one.mp3`` against ``python -c pass``;
the default worker count on many small files against ``-j 1`` and ``-j 2``; and the worst
inputs anyone has constructed (testkit/adversarial.py), each just under Daily's 10 MB limit,
validated in this process: every one must take well under a second.

    python benchmarks/bench_validate.py [--n 300] [--reps 5] [--jobs J] [--whole-reps 15]
                                        [--busy N]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import hashlib
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
from _bench import PYTHON, WORK

# --- the corpus -----------------------------------------------------------------------


@dataclass(frozen=True)
class Encode:
    """One distinct lame encode; corpus files are tagged copies of these."""

    name: str
    rate: int
    channels: int
    lame_args: tuple[str, ...]
    seconds: float
    voice: int  # which of mp3factory's two synthetic "songs"


# Ordered so that the first few (all a tiny --n builds) already mix CBR/VBR, mono/stereo
# and all three MPEG-1 sample rates.
ENCODES = (
    Encode("cbr64-mono-44k", 44100, 1, ("-b", "64"), 45.0, 0),
    Encode("vbr-v4-stereo-48k", 48000, 2, ("-V", "4"), 52.5, 1),
    Encode("cbr128-stereo-32k", 32000, 2, ("-b", "128"), 38.0, 0),
    Encode("vbr-v4-mono-44k", 44100, 1, ("-V", "4"), 55.0, 1),
    Encode("cbr192-stereo-48k", 48000, 2, ("-b", "192"), 30.5, 0),
    Encode("cbr64-mono-32k", 32000, 1, ("-b", "64"), 59.0, 1),
    Encode("vbr-v2-stereo-44k", 44100, 2, ("-V", "2"), 31.0, 1),
    Encode("cbr80-mono-48k", 48000, 1, ("-b", "80"), 42.0, 0),
    Encode("cbr160-stereo-44k", 44100, 2, ("-b", "160"), 36.0, 1),
    Encode("vbr-v2-mono-32k", 32000, 1, ("-V", "2"), 50.0, 0),
    Encode("cbr96-stereo-32k", 32000, 2, ("-b", "96"), 48.0, 1),
    Encode("vbr-v3-mono-48k", 48000, 1, ("-V", "3"), 57.5, 0),
)
TAG_KINDS = ("none", "id3v23", "id3v24+picture", "id3v23+id3v1", "id3v23+picture+id3v1")
CORPUS_FORMAT = 1  # bump when the recipe below changes: the cache key includes it
ARTISTS = ("Acme Records", "Nordlicht", "Café Müller Trio", "The Hold Queue", "李 Studio")


def cache_key() -> str:
    from testkit import mp3 as mp3factory

    recipe = {
        "format": CORPUS_FORMAT,
        "encodes": [e.__dict__ for e in ENCODES],
        "tags": TAG_KINDS,
        "tools": mp3factory.tool_versions(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _encode(e: Encode, dest: Path) -> None:
    from testkit import mp3 as mp3factory

    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        wav = Path(tmp) / "pcm.wav"
        samples = round(e.seconds * e.rate)
        mp3factory.sox_pcm(wav, samples, e.rate, e.channels, voice=e.voice)
        # lame resamples low bitrates on its own unless told the output rate
        args = ("--resample", f"{e.rate / 1000:g}", *e.lame_args)
        mp3factory.lame(wav, dest, *args)


def _tagged(k: int, audio: bytes) -> tuple[str, bytes]:
    """Copy ``k`` of an encode, with the kind of tags a music library leaves behind."""
    from testkit.mp3 import fake_jpeg, id3v1, id3v2_apic, id3v2_tag, id3v2_text

    kind = TAG_KINDS[k % len(TAG_KINDS)]
    title = f"Hold music {k:04d}"
    artist = ARTISTS[k % len(ARTISTS)]

    def texts(version: int) -> bytes:
        return (
            id3v2_text("TIT2", title, version)
            + id3v2_text("TPE1", artist, version)
            + id3v2_text("TALB", "On hold, vol. 2", version)
            + id3v2_text("TRCK", str(k % 12 + 1), version)
        )

    v1 = id3v1(title, artist.encode("latin-1", "replace").decode("latin-1"))  # ID3v1 is Latin-1
    picture = fake_jpeg(20_000 + (k * 7919) % 130_000, seed=k)  # 20-150 kB "cover art"
    if kind == "none":
        return kind, audio
    if kind == "id3v23":
        return kind, id3v2_tag(texts(3), version=3, pad=1024) + audio
    if kind == "id3v24+picture":
        frames = texts(4) + id3v2_apic(picture, 4)
        return kind, id3v2_tag(frames, version=4, pad=2048) + audio
    if kind == "id3v23+id3v1":
        return kind, id3v2_tag(texts(3), version=3, pad=512) + audio + v1
    frames = texts(3) + id3v2_apic(picture, 3)
    return kind, id3v2_tag(frames, version=3) + audio + v1


def build_corpus(n: int, root: Path) -> Path:
    """``root/<key>/n<N>/``: N tagged copies of the encodes, built once and reused."""

    missing = [t for t in ("sox", "lame") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"building the corpus needs {', '.join(missing)} on PATH")
    key = cache_key()
    if root.is_dir():  # corpora of an older recipe or older encoders are never used again
        for old in root.iterdir():
            if old.is_dir() and old.name != key:
                shutil.rmtree(old, ignore_errors=True)
    base = root / key
    corpus = base / f"n{n}"
    if (corpus / ".complete").is_file():
        return corpus
    encodes = ENCODES[: min(n, len(ENCODES))]
    enc_dir = base / "encodes"
    enc_dir.mkdir(parents=True, exist_ok=True)
    todo = [
        (e, enc_dir / f"{e.name}.mp3") for e in encodes if not (enc_dir / f"{e.name}.mp3").exists()
    ]
    if todo:
        print(f"encoding {len(todo)} sources with sox + lame into {enc_dir} ...", flush=True)
        # sox and lame are single-threaded subprocesses: threads fill the CPUs
        with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2)) as pool:
            list(pool.map(lambda t: _encode(*t), todo))
    audio = [(e, (enc_dir / f"{e.name}.mp3").read_bytes()) for e in encodes]
    tmp = Path(tempfile.mkdtemp(prefix=f".n{n}-", dir=base))
    try:
        manifest = []
        for k in range(n):
            e, data = audio[k % len(audio)]
            kind, blob = _tagged(k, data)
            name = f"{k:04d}-{e.name}.mp3"
            (tmp / name).write_bytes(blob)
            manifest.append({"file": name, "encode": e.name, "tags": kind, "bytes": len(blob)})
        (tmp / ".complete").write_text(json.dumps(manifest, indent=1))
        try:
            tmp.rename(corpus)
        except OSError:  # another run finished first
            if not (corpus / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return corpus


def describe_corpus(paths: list[str]) -> str:
    from holdmusic import rules

    verdicts = [rules.check_path(p) for p in paths]
    infos = [v.info for v in verdicts if v.info is not None]
    seconds = [i.duration_seconds for i in infos]
    kbps = [i.format.bitrate_kbps for i in infos]
    size = sum(v.size_bytes or 0 for v in verdicts)
    rates = sorted({i.format.sample_rate for i in infos})
    modes = sorted({i.format.bitrate_mode for i in infos})
    channels = sorted({"mono" if i.format.channels == 1 else "stereo" for i in infos})
    tagged = sum(i.audio_offset > 0 for i in infos)
    failed = sum(not v.ok for v in verdicts)
    return (
        f"{len(paths)} files, {size / 1e6:.1f} MB, {min(seconds):.1f}-{max(seconds):.1f} s, "
        f"{min(kbps):.0f}-{max(kbps):.0f} kbit/s, {'/'.join(modes)}, {'/'.join(channels)}, "
        f"{'/'.join(f'{r / 1000:g}' for r in rates)} kHz, {tagged} with ID3v2 tags "
        f"({failed} fail validation)"
    )


# --- what gets timed ------------------------------------------------------------------

# What a user writes to get durations with mutagen: header-only, trusts the Xing frame count.
MUTAGEN_LOOP = """\
import glob, os, sys
from mutagen.mp3 import MP3
for p in sorted(glob.glob(os.path.join(sys.argv[1], "**", "*.mp3"), recursive=True)):
    print(p, MP3(p).info.length)
"""
MUTAGEN_ONE = "import sys\nfrom mutagen.mp3 import MP3\nprint(MP3(sys.argv[1]).info.length)\n"
FFPROBE = "ffprobe -v error -count_packets -show_entries stream=nb_read_packets -of csv=p=0"
# A user's shell loop: one ffprobe process per file.
FFPROBE_LOOP = f'for f in "$@"; do {FFPROBE} "$f"; done'


@dataclass
class Tool:
    label: str
    run: Callable[[], object]
    files: int  # how many files one run covers
    scale: int  # files the total is reported for (extrapolated when > files)
    times: list[float]

    @property
    def per_file(self) -> float:
        return _bench.median(self.times) / self.files

    @property
    def total(self) -> float:
        return self.per_file * self.scale


def _check(proc: subprocess.CompletedProcess[str], what: str, want_lines: int | None) -> None:
    # every file in the corpus is valid hold music: any other status is a failure
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    # at least a line per file (ffprobe adds one for a cover picture: a video stream)
    if want_lines is not None:
        got = len(proc.stdout.splitlines())
        if got < want_lines:
            raise SystemExit(f"{what} printed {got} lines, expected {want_lines}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="files in the corpus (default 300)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    ap.add_argument("--jobs", type=int, default=None, help="holdmusic -j (default: its own)")
    ap.add_argument(
        "--ffprobe-files",
        type=int,
        default=100,
        help="files the ffprobe loop runs on, evenly spread (default 100; 0 = all N)",
    )
    ap.add_argument(
        "--whole-reps",
        type=int,
        default=15,
        help="back-to-back pairs for the whole-process comparison (default 15)",
    )
    ap.add_argument(
        "--busy",
        type=int,
        default=0,
        help="CPU-bound processes to keep running meanwhile (default 0: measure as found)",
    )
    ap.add_argument("--startup-runs", type=int, default=20, help="runs per start-up command")
    ap.add_argument("--profile", action="store_true", help="profile check_path even if fast")
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--work", type=Path, default=WORK / "validate", help="corpus cache folder")
    args = ap.parse_args(argv)
    if args.n < 1 or args.reps < 1 or args.whole_reps < 1 or args.busy < 0:
        ap.error("--n, --reps and --whole-reps must be at least 1, --busy at least 0")
    with busy_loops(args.busy):
        return run(args)


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` processes spinning on a CPU each, stopped (by their own pid) when done."""
    procs = [subprocess.Popen([PYTHON, "-c", "while 1: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f})"


def run(args: argparse.Namespace) -> int:
    from holdmusic import files, rules

    print("holdmusic validate benchmark")
    _bench.print_versions(_bench.versions("mutagen", "ffmpeg", "lame", "sox"))
    print(f"  {load()} at the start" + (f", with {args.busy} busy loops" if args.busy else ""))
    corpus = build_corpus(args.n, args.work)
    paths = files.expand_paths([str(corpus)])
    assert len(paths) == args.n, (len(paths), args.n)
    print(f"corpus: {corpus}\n  {describe_corpus(paths)}")
    print(f"  {_bench.bytecode_note()}")

    sub = args.ffprobe_files if 0 < args.ffprobe_files < args.n else args.n
    subset = [paths[i * args.n // sub] for i in range(sub)]
    hm = _bench.holdmusic_command()
    jobs = ["-j", str(args.jobs)] if args.jobs else []
    cli_cmd = [*hm, "validate", str(corpus), *jobs]
    mutagen_cmd = [PYTHON, "-c", MUTAGEN_LOOP, str(corpus)]
    ffprobe_cmd = ["bash", "-c", FFPROBE_LOOP, "ffprobe-loop", *subset]

    # Warm the page cache and check that every tool really reads every file.
    for p in paths:
        Path(p).read_bytes()
    for what, cmd, lines in (
        ("holdmusic validate", cli_cmd, args.n + 1),
        ("mutagen loop", mutagen_cmd, args.n),
        ("ffprobe loop", ffprobe_cmd, sub),
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_bench.python_env())
        # holdmusic prints a line per problem too: count its "Checking" lines instead
        if what == "holdmusic validate":
            _check(proc, what, None)
            checked = sum(line.startswith("Checking ") for line in proc.stdout.splitlines())
            if checked != args.n:
                raise SystemExit(f"holdmusic validate checked {checked} files, not {args.n}")
        else:
            _check(proc, what, lines)

    tools = [
        Tool(
            "a) holdmusic validate DIR (CLI)", lambda: _bench.run_quiet(cli_cmd), args.n, args.n, []
        ),
        Tool(
            "b) files.check_many (in-process, pool)",
            lambda: list(files.check_many(files.expand_paths([str(corpus)]), jobs=args.jobs)),
            args.n,
            args.n,
            [],
        ),
        Tool(
            "b') rules.check_path loop (1 process)",
            lambda: [rules.check_path(p) for p in files.expand_paths([str(corpus)])],
            args.n,
            args.n,
            [],
        ),
        Tool(
            "c) mutagen MP3().info.length loop",
            lambda: _bench.run_quiet(mutagen_cmd),
            args.n,
            args.n,
            [],
        ),
        Tool(
            "d) ffprobe -count_packets per file",
            lambda: _bench.run_quiet(ffprobe_cmd),
            sub,
            args.n,
            [],
        ),
    ]
    print(
        f"timing {len(tools)} tools x {args.reps} repetitions (order rotates each repetition) ..."
    )
    for rep in range(args.reps):
        order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
        for tool in order:
            tool.times.append(_bench.timed(tool.run))

    cli, mutagen, ffprobe = tools[0], tools[3], tools[4]
    rows = []
    for t in tools:
        star = "*" if t.files < t.scale else ""
        spread = f"{min(t.times) / t.files * t.scale:.3f}-{max(t.times) / t.files * t.scale:.3f}"
        rows.append(
            [
                t.label,
                f"{t.files}",
                f"{t.total:.3f}{star}",
                spread,
                f"{1000 * t.per_file:.2f}",
                f"{t.total / cli.total:.2f}x",
            ]
        )
    print()
    print(f"Median wall time for {args.n} files, {args.reps} repetitions, warm page cache:")
    print(
        _bench.table(
            ["tool", "files run", "total s", "min-max s", "ms/file", "vs holdmusic"],
            rows,
            right=(1, 2, 3, 4, 5),
        )
    )
    if sub < args.n:
        print(
            f"  * ffprobe ran on {sub} of the {args.n} files (evenly spread over the corpus); "
            f"its total is {1000 * ffprobe.per_file:.2f} ms/file x {args.n}, extrapolated."
        )
    print(f"  holdmusic command: {' '.join(cli_cmd[:-1])} DIR")

    vs_mutagen = cli.total / mutagen.total
    vs_ffprobe = ffprobe.total / cli.total
    ok_mutagen = vs_mutagen <= 3
    ok_ffprobe = vs_ffprobe >= 30
    print("\nGoals:")
    print(
        _bench.goal_line(ok_mutagen, f"holdmusic within 3x of the mutagen loop: {vs_mutagen:.2f}x")
    )
    print(
        _bench.goal_line(
            ok_ffprobe, f"holdmusic at least 30x faster than ffprobe: {vs_ffprobe:.1f}x"
        )
    )

    ok_whole = whole_process(hm, corpus, mutagen_cmd, args.whole_reps, args.n)
    ok_mutagen = ok_mutagen and ok_whole

    startup(paths[0], hm, args.startup_runs)
    small_files(paths, hm, args.work, args.reps)
    ok_worst = worst_inputs(args.reps)

    if args.profile or not ok_mutagen:
        profile(paths)
    return 1 if args.check and not (ok_mutagen and ok_ffprobe and ok_worst) else 0


def whole_process(hm: list[str], corpus: Path, mutagen_cmd: list[str], reps: int, n: int) -> bool:
    """The speed goal as a user meets it: whole processes, start-up included, side by side.

    Each repetition runs holdmusic (default -j, then -j 1) and the mutagen loop back to back,
    in alternating order, so a burst of load from elsewhere hits both; each pair's ratio is
    what the goal is about.
    """
    cmds = {
        "holdmusic validate DIR": [*hm, "validate", str(corpus)],
        "holdmusic validate -j 1 DIR": [*hm, "validate", "-j", "1", str(corpus)],
        "python -c 'MP3(p).info.length' loop": mutagen_cmd,
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    before = load()
    for rep in range(reps):
        order = list(cmds.items())
        if rep % 2:
            order.reverse()
        for label, cmd in order:
            times[label].append(_bench.timed(functools.partial(_bench.run_quiet, cmd)))
    after = load()
    mutagen = times["python -c 'MP3(p).info.length' loop"]
    rows = []
    for label, ts in times.items():
        ratios = sorted(t / m for t, m in zip(ts, mutagen, strict=True))
        rows.append(
            [
                label,
                f"{min(ts):.3f}",
                f"{_bench.median(ts):.3f}",
                f"{max(ts):.3f}",
                f"{ratios[0]:.2f}x",
                f"{_bench.median(ratios):.2f}x",
                f"{ratios[-1]:.2f}x",
            ]
        )
    print(
        f"\nWhole process, {n} files, {reps} back-to-back repetitions (wall s; ratio to the "
        "mutagen process of the same repetition):"
    )
    headers = ["command", "best s", "median s", "worst s", "best", "median", "worst"]
    print(_bench.table(headers, rows, right=(1, 2, 3, 4, 5, 6)))
    print(f"  {before} before, {after} after")

    def paired(label: str) -> float:
        return _bench.median([t / m for t, m in zip(times[label], mutagen, strict=True)])

    default, single = paired("holdmusic validate DIR"), paired("holdmusic validate -j 1 DIR")
    ok = default <= 3
    print(
        _bench.goal_line(
            ok,
            "whole process, holdmusic validate DIR within 3x of the mutagen process: "
            f"{default:.2f}x (median of pairs; with -j 1: {single:.2f}x)",
        )
    )
    return ok


SMALL_FILES = 364  # the count in the report that asked for a smarter -j default
SMALL_BYTES = 24_000  # a second or so of audio: what other projects' test suites hold


def small_files(paths: list[str], hm: list[str], work: Path, reps: int) -> None:
    """The default worker count against -j 1 and -j 2 on many small files."""
    folder = work / f"small{SMALL_FILES}"
    if not folder.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=work))
        for i in range(SMALL_FILES):
            data = Path(paths[i % len(paths)]).read_bytes()[:SMALL_BYTES]
            (tmp / f"s{i:03d}.mp3").write_bytes(data)
        tmp.rename(folder)
    cmds = {
        "holdmusic validate DIR (default -j)": [*hm, "validate", str(folder)],
        "holdmusic validate -j 1 DIR": [*hm, "validate", "-j", "1", str(folder)],
        "holdmusic validate -j 2 DIR": [*hm, "validate", "-j", "2", str(folder)],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(max(reps, 3)):
        for label, cmd in cmds.items():
            times[label].append(_bench.timed(functools.partial(_bench.run_quiet, cmd, ok=(0, 1))))
    rows = [[label, f"{_bench.median(ts):.3f}"] for label, ts in times.items()]
    print(f"\n{SMALL_FILES} small files ({SMALL_BYTES // 1000} KB each), median wall time:")
    print(_bench.table(["command", "total s"], rows, right=(1,)))


WORST_SIZE = 9_990_000  # just under Daily's limit: anything larger is refused unread


def worst_inputs(reps: int) -> bool:
    """The crafted inputs that once took minutes, validated in this process."""
    from holdmusic import rules
    from testkit.adversarial import WORST

    rows = []
    ok = True
    for name, build in WORST.items():
        data = build(WORST_SIZE)
        ts = [
            _bench.timed(functools.partial(rules.check_bytes, data, "x.mp3")) for _ in range(reps)
        ]
        verdict = rules.check_bytes(data, "x.mp3")
        worst = max(ts)
        ok = ok and worst < 0.5
        codes = ", ".join(sorted({p.code for p in verdict.errors})) or "passes"
        rows.append([name, f"{1000 * _bench.median(ts):.0f}", f"{1000 * worst:.0f}", codes])
    print(f"\nWorst inputs, {WORST_SIZE:,} bytes each, rules.check_bytes, {reps} runs:")
    print(_bench.table(["input", "median ms", "max ms", "verdict"], rows, right=(1, 2)))
    print(_bench.goal_line(ok, "every worst input under 0.5 s"))
    return ok


def startup(one: str, hm: list[str], runs: int) -> None:
    if runs < 1:
        return
    cmds = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "python -c 'MP3(one).info.length' (mutagen)": [PYTHON, "-c", MUTAGEN_ONE, one],
        "holdmusic validate one.mp3": [*hm, "validate", one],
    }
    envs = {label: _bench.python_env() for label in cmds}
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # what this machine does by default: changed modules recompiled on every start
        label = "holdmusic validate one.mp3 (PYTHONDONTWRITEBYTECODE=1)"
        cmds[label] = cmds["holdmusic validate one.mp3"]
        envs[label] = dict(os.environ)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):
        for label, cmd in cmds.items():
            run = functools.partial(_bench.run_quiet, cmd, env=envs[label])
            times[label].append(_bench.timed(run))
    base = _bench.median(times["python -c pass"])
    rows = [
        [
            label,
            f"{1000 * _bench.median(ts):.1f}",
            f"{1000 * min(ts):.1f}",
            f"{_bench.median(ts) / base:.2f}x",
        ]
        for label, ts in times.items()
    ]
    print(f"\nSingle-file start-up, median of {runs} runs:")
    print(
        _bench.table(["command", "median ms", "min ms", "vs python -c pass"], rows, right=(1, 2, 3))
    )


def profile(paths: list[str]) -> None:
    """Where the in-process time goes (one process, every file)."""
    from holdmusic import rules

    prof = cProfile.Profile()
    prof.enable()
    for p in paths:
        rules.check_path(p)
    prof.disable()
    print("\ncProfile of rules.check_path over the corpus (top 15 by own time):")
    stats = pstats.Stats(prof, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    raise SystemExit(main())
