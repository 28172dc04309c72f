"""Helpers shared by the benchmark scripts: paths, tool versions, timing, tables.

Not a benchmark itself. The scripts put this folder on ``sys.path`` (to import this
module), and this module puts the repository root there so that ``testkit`` (the
project's test-support package: the real Daily and S3 servers and the MP3 factory,
not shipped in the wheel) can be reused.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"  # git-ignored cache

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# The running interpreter as it was started. sys.executable is already the real binary under
# a pyenv shim (the shim execs it), and resolving its symlinks would leave a virtual
# environment for the base interpreter, which has none of the venv's packages.
PYTHON = sys.executable


def python_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for timed Python subprocesses: bytecode cached, as after an install.

    pip compiles an installed package's bytecode; an editable checkout run with
    ``PYTHONDONTWRITEBYTECODE=1`` (set on some CI and sandbox machines) would instead
    recompile every changed module on every start. Caching bytecode under
    benchmarks/.work/pycache (never in the source tree) puts every tool on an equal footing.
    """
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    return env


def bytecode_note() -> str:
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return (
            "PYTHONDONTWRITEBYTECODE is set here; timed Python subprocesses run with it unset "
            f"and PYTHONPYCACHEPREFIX={WORK / 'pycache'}, as after a normal install"
        )
    return f"timed Python subprocesses cache bytecode in {WORK / 'pycache'}"


def holdmusic_command() -> list[str]:
    """``holdmusic`` as a user runs it: the console script next to this interpreter.

    Its shebang names the real interpreter, so no shim is involved. Falls back to
    ``python -m holdmusic`` when the package is not installed with its script.
    """
    script = Path(sysconfig.get_path("scripts")) / "holdmusic"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [PYTHON, "-m", "holdmusic"]


def _first_line(cmd: Sequence[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return "not installed"
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def versions(*extra: str) -> dict[str, str]:
    """Versions of everything that affects the numbers; ``extra`` adds optional entries."""
    import holdmusic

    found = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": f"{platform.python_version()} ({PYTHON})",
        "holdmusic": holdmusic.__version__,
    }
    for name in extra:
        if name == "mutagen":
            import mutagen

            found[name] = mutagen.version_string
        elif name == "httpx":
            import httpx

            found[name] = httpx.__version__
        elif name == "ffmpeg":
            found[name] = _first_line(["ffprobe", "-version"])
        elif name == "pyav":
            import av

            libs = av.library_versions
            found[name] = (
                f"{av.__version__} (FFmpeg libavcodec {libs['libavcodec']}, "
                f"libavfilter {libs['libavfilter']})"
            )
        elif name == "lame":
            found[name] = _first_line(["lame", "--version"])
        elif name == "sox":
            found[name] = _first_line(["sox", "--version"])
        elif name == "weed":
            from testkit.s3 import weed_binary

            found[name] = _first_line([weed_binary(), "version"])
    return found


def print_versions(found: dict[str, str]) -> None:
    width = max(len(k) for k in found)
    for k, v in found.items():
        print(f"  {k:<{width}}  {v}")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_quiet(
    cmd: Sequence[str], ok: Sequence[int] = (0,), **kw: object
) -> subprocess.CompletedProcess[bytes]:
    """Run a command with its output thrown away, as a timing target.

    A timed run that fails measures nothing, so any exit status outside ``ok`` stops the
    benchmark with the command and its last lines of stderr.
    """
    kw.setdefault("env", python_env())
    proc = subprocess.run(
        list(cmd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
        **kw,  # type: ignore[arg-type]
    )
    if proc.returncode not in ok:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return proc


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A plain-text table; ``right`` lists the columns to right-align."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            out.append(str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def goal_line(ok: bool, text: str) -> str:
    return f"  [{'met' if ok else 'MISSED':<6}] {text}"


def synth_mp3(out: Path, seconds: float, kbps: int, tones: Sequence[str]) -> Path:
    """A stereo sox mix (sines, pink noise, tremolo) encoded by lame at ``kbps`` CBR; made
    once and cached (``out`` is under WORK)."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    wav = out.with_suffix(".wav")
    synth = [x for tone in tones for x in ("sine", tone)]
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(wav), "synth", f"{seconds:g}",
         *synth, "pinknoise", "tremolo", "2", "50", "gain", "-12"],
        check=True,
    )  # fmt: skip
    subprocess.run(["lame", "--quiet", "-b", str(kbps), str(wav), str(out)], check=True)
    wav.unlink()
    return out
