"""Test signals made with the system's ffmpeg/sox, and ffmpeg's meters as an independent witness.

holdmusic's audio stage runs FFmpeg's libraries through PyAV; the witnesses here run the
``ffmpeg`` program from the Debian package (.ci/system-packages), a separate build, so a
measurement that agrees is not holdmusic agreeing with itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# A music-like stereo mix: a bass line, chords and a melody that move, a kick every half
# second (so the crest factor is that of real music, not of a sine), and some noise.
_LEFT = (
    "0.20*sin(2*PI*110*t)*(0.6+0.4*sin(2*PI*0.5*t))"
    "+0.14*sin(2*PI*440*t)+0.10*sin(2*PI*554*t)+0.08*sin(2*PI*659*t)"
    "+0.07*sin(2*PI*(880+220*(mod(floor(t*2),4)))*t)"
    "+0.05*sin(2*PI*2637*t)*lt(mod(t,1),0.5)"
    "+0.30*sin(2*PI*60*t)*exp(-mod(t,0.5)*14)"
    "+0.02*(2*random(0)-1)"
)
_RIGHT = _LEFT.replace("440", "330").replace("random(0)", "random(1)")


def ffmpeg(*args: str) -> str:
    """Run ffmpeg quietly; return its stderr (where the meters report)."""
    p = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-y", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    return p.stderr


def music(
    path: Path,
    seconds: float,
    *,
    rate: int = 48000,
    channels: int = 2,
    gain_db: float = 0.0,
    codec: list[str] | None = None,
    left: str = _LEFT,
    right: str = _RIGHT,
    extra: list[str] | None = None,
    af: str | None = None,
) -> Path:
    """Write ``seconds`` of the mix, ``gain_db`` louder, then through the ``af`` filters,
    encoded with ``codec`` options.

    ffmpeg evaluates the expression per sample, slowly, so one 4 s cycle (the mix's own
    period) is rendered and looped."""
    expr = (f"{left}|{right}" if channels == 2 else left).replace(",", "\\,")
    cycle = path.with_name(path.name + ".cycle.wav")
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={expr}:s={rate}:d=4", "-c:a", "pcm_f64le", str(cycle))
    try:
        ffmpeg(
            "-stream_loop",
            "-1",
            "-i",
            str(cycle),
            *(extra or []),
            "-t",
            f"{seconds}",
            "-af",
            f"volume={gain_db}dB" + (f",{af}" if af else ""),
            *(codec or []),
            str(path),
        )
    finally:
        cycle.unlink()
    return path


@dataclass(frozen=True)
class Meter:
    integrated_lufs: float
    true_peak_dbtp: float


def ebur128(path: Path | str) -> Meter:
    """ffmpeg's ebur128 meter with peak=true, read from its summary."""
    err = ffmpeg("-i", str(path), "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-")
    summary = err[err.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    assert i and peak, summary
    return Meter(float(i.group(1)), float(peak.group(1)))


def mean_volume_db(path: Path | str, start: float, duration: float) -> float:
    """RMS level of a stretch of the file (ffmpeg's volumedetect), in dBFS."""
    err = ffmpeg(
        "-ss",
        f"{start}",
        "-t",
        f"{duration}",
        "-i",
        str(path),
        "-af",
        "volumedetect",
        "-f",
        "null",
        "-",
    )
    m = re.search(r"mean_volume:\s+(-?[\d.]+|-inf) dB", err)
    assert m, err
    return float(m.group(1))


def decoded_samples(path: Path | str) -> int:
    """How many samples (per channel) ffmpeg decodes from the file."""
    p = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    )
    return len(p.stdout) // 4


_WITHOUT_AV = (
    "import sys\n"
    "sys.modules['av'] = None  # what an environment without holdmusic[fix] looks like\n"
    "from holdmusic.cli import main\n"
    "sys.argv = ['holdmusic', *sys.argv[1:]]\n"
    "main()\n"
)


def holdmusic_without_pyav(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``holdmusic ARGS`` in a Python where ``import av`` fails, as without the extra."""
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_AV, *args], capture_output=True, text=True, check=False
    )
