"""Regenerate the sample files in ``samples/`` (see README.md there).

Needs ``lame`` and ``ffmpeg`` on PATH (Debian packages of the same names) and mutagen (a
holdmusic dependency); it reuses the frame walker and Xing editor of ``testkit.mp3``, the
repository's test-support package (no pytest needed).
The melody is synthesised here in pure Python, so the output is byte-for-byte deterministic
for a given lame/ffmpeg version.

    python samples/make_samples.py          # rewrite every sample, then verify them
"""

from __future__ import annotations

import array
import math
import shutil
import sys
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # testkit/ lives at the repository root, not in the wheel

from testkit import mp3 as mf  # noqa: E402  (needs the sys.path entry above)

# A-minor / F / C / G arpeggios, two seconds per chord: calm enough to be hold music, varied
# enough that VBR encodes really vary their bitrate.
CHORDS = (
    ("A3", "C4", "E4", "A4"),
    ("F3", "A3", "C4", "F4"),
    ("C4", "E4", "G4", "C5"),
    ("G3", "B3", "D4", "G4"),
)
NOTE_SECONDS = 0.25
_SEMITONES = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}


def _hz(note: str) -> float:
    return 440.0 * 2 ** ((_SEMITONES[note[0]] + 12 * (int(note[1:]) - 4)) / 12)


def melody(samples: int, rate: int, channels: int) -> bytes:
    """Exactly ``samples`` frames of 16-bit PCM: a plucked arpeggio over a soft pad."""
    table_size = 4096
    sine = [math.sin(2 * math.pi * i / table_size) for i in range(table_size)]
    per_note = round(NOTE_SECONDS * rate)
    decay = [math.exp(-4.0 * i / rate) for i in range(per_note)]
    out = array.array("h", bytes(2 * samples * channels))
    arp_phase = pad_phase = 0.0
    for start in range(0, samples, per_note):
        n = start // per_note
        chord = CHORDS[(n // 8) % len(CHORDS)]
        pattern = (0, 1, 2, 3, 2, 1, 2, 3)[n % 8]
        arp_step = _hz(chord[pattern]) * table_size / rate
        pad_step = _hz(chord[0]) / 2 * table_size / rate
        for i in range(min(per_note, samples - start)):
            arp = sine[int(arp_phase) % table_size] * decay[i]
            pad = sine[int(pad_phase) % table_size]
            arp_phase += arp_step
            pad_phase += pad_step
            if channels == 1:
                out[start + i] = int(9000 * arp + 2500 * pad)
            else:  # arpeggio leans left, pad leans right
                out[2 * (start + i)] = int(9000 * arp + 1500 * pad)
                out[2 * (start + i) + 1] = int(5000 * arp + 3000 * pad)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def write_wav(path: Path, seconds: float, rate: int, channels: int = 1) -> int:
    samples = round(seconds * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(melody(samples, rate, channels))
    return samples


ERROR_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>403 Forbidden</title></head>
<body><h1>Forbidden</h1><p>You don't have permission to access this resource.</p>
<hr><address>Apache Server at cdn.example.com Port 443</address></body></html>
"""


def build(work: Path) -> dict[str, Callable[[], None]]:
    """Map sample name -> check to run once every file is written."""
    checks: dict[str, Callable[[], None]] = {}

    def honest(name: str, seconds: float, rate: int, channels: int, *lame_args: str) -> None:
        wav = work / f"{name}.wav"
        samples = write_wav(wav, seconds, rate, channels)
        dest = HERE / name
        mf.lame(wav, dest, "--resample", f"{rate / 1000:g}", *lame_args)

        def check() -> None:
            f = mf.facts(dest.read_bytes())
            expected = f.gapless() if f.info else len(f.frames) * f.spf
            got = mf.ffmpeg_samples(dest, channels)
            assert got == expected, f"{name}: ffmpeg {got} != {expected}"
            if f.info:
                assert expected == samples, f"{name}: {expected} != input {samples}"

        checks[name] = check

    honest("welcome-mono.mp3", 45, 32000, 1, "-b", "40", "-m", "m")
    honest("calm-vbr.mp3", 50, 44100, 1, "-V", "9", "-m", "m")
    honest("jingle-stereo.mp3", 30, 44100, 2, "-b", "96", "-m", "j")
    # 16 kbit/s at 16 kHz: the 72-byte frames cannot hold an Info tag, so lame writes none
    honest("too-long.mp3", 75, 16000, 1, "-b", "16", "-m", "m")

    # the lie: an honest 90 s VBR file whose Xing frame count is cut to a third
    wav = work / "lying.wav"
    write_wav(wav, 90, 22050)
    honest_lie = work / "lying-honest.mp3"
    mf.lame(wav, honest_lie, "--resample", "22.05", "-V", "9", "-m", "m")
    data = honest_lie.read_bytes()
    walked = mf.facts(data).audio_frames
    (HERE / "lying-header.mp3").write_bytes(mf.set_xing_frames(data, walked // 3))

    def check_lie() -> None:
        f = mf.facts((HERE / "lying-header.mp3").read_bytes())
        assert f.info and f.info.frames == walked // 3 and f.audio_frames == walked

    checks["lying-header.mp3"] = check_lie

    short = work / "short.wav"
    write_wav(short, 2, 8000)
    shutil.copyfile(short, HERE / "not-really.mp3")
    layer2 = work / "layer2.mp2"
    write_wav(work / "l2.wav", 5, 32000)
    mf.ffmpeg(layer2, "-i", str(work / "l2.wav"), "-c:a", "mp2", "-b:a", "48k", "-f", "mp2")
    shutil.copyfile(layer2, HERE / "layer2.mp3")
    (HERE / "error-page.mp3").write_bytes(ERROR_PAGE)
    return checks


def truth(path: Path) -> str:
    """Exact length by walking the frames (the rule holdmusic must follow)."""
    data = path.read_bytes()
    try:
        f = mf.facts(data)
    except ValueError:
        return "not MP3"
    walked = f.audio_frames * f.spf
    if not f.info:  # no LAME tag: every walked frame is audio
        samples = walked
    else:
        delay, padding = f.info.delay or 0, f.info.padding or 0
        claimed = f.info.frames if f.info.frames is not None else f.audio_frames
        if claimed <= f.audio_frames:  # the end is intact (a header claiming fewer frames lies)
            samples = walked - delay - padding
        else:  # the end is gone: what is left, never more than the encoder's own total
            samples = min(walked - delay, claimed * f.spf - delay - padding)
    rate = f.frames[0].sample_rate
    return f"{samples:,} @ {rate} = {samples / rate:.3f} s"


def main() -> None:
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    with tempfile.TemporaryDirectory() as tmp:
        checks = build(Path(tmp))
    for check in checks.values():
        check()
    total = 0
    for path in sorted(HERE.glob("*.mp3")):
        size = path.stat().st_size
        total += size
        try:
            mutagen = f"{MP3(path).info.length:.3f} s"
        except MutagenError as exc:
            mutagen = type(exc).__name__
        print(f"{path.name:20} {size:>9,} B   truth: {truth(path):28} mutagen: {mutagen}")
    print(f"{'total':20} {total:>9,} B")


if __name__ == "__main__":
    main()
