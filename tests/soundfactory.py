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


# --- material a media team has: voices, silences, long exports (issue 19) -----------------


def speech(path: Path, text: str, *, gain_db: float = 0.0) -> Path:
    """espeak-ng reading ``text`` (22.05 kHz mono WAV), ``gain_db`` louder: a voice with
    known timing (words ~0.05 s apart, sentences ~0.3 s)."""
    raw = path.with_name(path.name + ".espeak.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    try:
        ffmpeg("-i", str(raw), "-af", f"volume={gain_db}dB", "-c:a", "pcm_s16le", str(path))
    finally:
        raw.unlink()
    return path


def sound_span(path: Path | str, noise_db: float = -45.0) -> tuple[float, float]:
    """Where the sound in a file begins and ends (seconds), by ffmpeg's silencedetect."""
    err = ffmpeg(
        "-i", str(path), "-af", f"silencedetect=noise={noise_db}dB:d=0.05", "-f", "null", "-"
    )
    length = seconds(path)
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", err)]
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", err)]
    first = ends[0] if starts and starts[0] <= 0.001 and ends else 0.0
    last = starts[-1] if starts and len(starts) > len(ends) else length
    return first, last


def seconds(path: Path | str) -> float:
    """The decoded length, from the samples ffmpeg decodes."""
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=sample_rate", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return decoded_samples(path) / int(p.stdout.split()[0])


def mix_at(bed: Path, voice: Path, at: float, out: Path, voice_gain_db: float = 0.0) -> Path:
    """``voice`` mixed over ``bed`` from ``at`` seconds (summed, not normalised), as long as
    the bed, in 16-bit WAV at the bed's rate."""
    rate = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=sample_rate", "-of", "csv=p=0",
         str(bed)],
        capture_output=True, text=True, check=True,
    ).stdout.split()[0]  # fmt: skip
    ms = round(at * 1000)
    ffmpeg(
        "-i", str(bed), "-i", str(voice), "-filter_complex",
        f"[1]aresample={rate},volume={voice_gain_db}dB,adelay={ms}|{ms},"
        "aformat=channel_layouts=stereo[v];[0][v]amix=inputs=2:normalize=0:duration=first",
        "-c:a", "pcm_s16le", str(out),
    )  # fmt: skip
    return out


def padded(src: Path, out: Path, lead: float, tail: float) -> Path:
    """``src`` with ``lead`` seconds of digital silence before it and ``tail`` after."""
    ffmpeg(
        "-i", str(src), "-af", f"adelay={round(lead * 1000)}:all=1,apad=pad_dur={tail}",
        "-c:a", "pcm_s16le", str(out),
    )  # fmt: skip
    return out


def long_silent_flac(
    path: Path, hours: float, tone_seconds: float = 0.0, *, seekable: bool = True
) -> Path:
    """``hours`` of FLAC at 1 kHz (tens of KB: long exports compress to nothing), silent but
    for a 220 Hz tone in the last ``tone_seconds``. ``seekable=False`` makes one that FFmpeg
    refuses to seek in (its sources rendered inside one filter graph: FFmpeg 5.1 writes it
    so that av_seek_frame gives EPERM), so only decoding from the top finds a time in it."""
    silent = hours * 3600 - tone_seconds
    if seekable:
        args = ["-f", "lavfi", "-i", f"anullsrc=r=1000:cl=mono:d={silent}"]
        if tone_seconds:
            args += ["-f", "lavfi", "-i", f"sine=f=220:r=1000:d={tone_seconds}"]
            args += ["-filter_complex", "[1]volume=-6dB[t];[0][t]concat=n=2:v=0:a=1"]
    else:
        graph = f"anullsrc=r=1000:cl=mono:d={silent}"
        if tone_seconds:
            graph += (
                f"[a];sine=f=220:r=1000:d={tone_seconds},volume=-6dB[b];[a][b]concat=n=2:v=0:a=1"
            )
        args = ["-filter_complex", graph]
    ffmpeg(*args, "-c:a", "flac", "-frame_size", "16384", str(path))
    return path


def mono_samples(path: Path | str, rate: int | None = None) -> list[float]:
    """The decoded audio folded to mono as floats (ffmpeg), optionally resampled."""
    import array

    args = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1"]
    if rate:
        args += ["-ar", str(rate)]
    p = subprocess.run([*args, "-f", "f32le", "-"], capture_output=True, check=True)
    a = array.array("f")
    a.frombytes(p.stdout)
    return list(a)


def rms_db(samples: list[float]) -> float:
    import math

    power = sum(x * x for x in samples) / max(1, len(samples))
    return 10 * math.log10(power) if power > 0 else -200.0


def loudness_of(path: Path | str, start: float, duration: float) -> float:
    """BS.1770 integrated loudness of a stretch of a file (ffmpeg's ebur128)."""
    err = ffmpeg("-ss", f"{start}", "-t", f"{duration}", "-i", str(path), "-af", "ebur128",
                 "-f", "null", "-")  # fmt: skip
    summary = err[err.rfind("Summary:") :]
    m = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    assert m, summary
    return float(m.group(1))
