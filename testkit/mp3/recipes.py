"""Test fixture factory: real MP3s (and impostors) with exactly known ground truth.

Every audio file starts as PCM of an exact sample count made by ``sox`` (``synth <N>s``), is
encoded by ``lame`` (or ffmpeg), and is then optionally damaged, wrapped or lied about by hand.
The expected values in :class:`Made` come from the PCM length and from our own byte-level
construction, never from a metadata library.  When a fixture is freshly built, every file whose
decoded length ffmpeg can be trusted on is decoded with ffmpeg and compared with the expected
count, so a new lame/ffmpeg version cannot silently change the truth.

Requires ``sox``, ``lame`` and ``ffmpeg`` on PATH (Debian packages of the same names).
The ``mp3s`` fixture lives in :mod:`testkit.mp3.plugin` (``tests/conftest.py`` lists it in
``pytest_plugins``): ``def test_x(mp3s): made = mp3s["xing_lie"]``.  The byte-level oracle is
:mod:`testkit.mp3.bitstream`, the hand-built tags :mod:`testkit.mp3.tags`.
``python -m testkit.mp3.recipes [DIR]`` builds everything and prints truth vs mutagen/ffmpeg.

LAME gapless bookkeeping (checked for every honest file built here, lame 3.100 / ffmpeg 5.1):
    audio_frames * samples_per_frame - enc_delay - enc_padding == input samples == ffmpeg's count
where audio_frames excludes the Xing/Info frame, enc_delay (always 576 for lame 3.100) and
enc_padding are the two 12-bit fields of the LAME tag.  The padding is whatever fills the last
frames (576..1674 here; the last frame is often, not always, pure padding).  ffmpeg honours the
tag (it skips enc_delay + 529 decoder-delay samples and trims the end to match).

What mutagen 1.48 and ffprobe 5.1 (format duration) report versus the truth (all 44.1 kHz):

    fixture            mutagen    ffprobe    truth                    why they are wrong
    -----------------  ---------  ---------  -----------------------  --------------------------
    xing_lie           29.971 s   30.015 s   90.000 s (3,969,000)     trust the edited Xing count
    vbr_no_xing        25.136 s   72.388 s   75.050 s (3,309,696)     extrapolate from bitrates
    cat_two            40.000 s   80.117 s   80.092 s (3,532,079)     mutagen: 1st Info frame only
    truncated          30.000 s   30.041 s   30.000 s (1,323,000)     (right: only padding lost)
    ffmpeg_libmp3lame  30.041 s   30.041 s   30.000 s (1,323,000)     mutagen: 'Lavf' LAME tag
    gapless_59_98      59.980 s   60.029 s   59.980 s (2,645,118)     ffprobe: never trims gapless
    random_sync        12.185 s   N/A        not audio                mutagen syncs on noise
    wav_mp3 / mp2      5.042 s    5.042 s    not MP3 files            mutagen accepts them
    free_format        error      10.031 s   free format              -

With a Xing/Info frame, ffprobe's format duration is audio_frames * samples_per_frame / rate,
i.e. LAME delay + padding too long (exactly_60 -> 60.029 s).
The exact numbers are printed by ``python -m testkit.mp3.recipes``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.mp3.bitstream import (
    facts,
    lame_crc_ok,
    parse_header,
    read_xing,
    set_xing_frames,
    strip_id3v2,
    walk,
)
from testkit.mp3.tags import (
    apev2,
    fake_jpeg,
    id3v1,
    id3v2_apic,
    id3v2_frame,
    id3v2_tag,
    id3v2_text,
    junk_without_chain,
    layer1_silence,
    lyrics3v2,
    sync_salted_random,
)

DECODER_DELAY = 529  # samples every MP3 decoder outputs late (ffmpeg, libmpg123)
MAX_BYTES = 10_000_000  # Daily's limit: size must be < this
MAX_SECONDS = 60.0  # Daily's limit: duration must be < this

WARNING_CODES = frozenset(
    {
        "stereo",
        "high_bitrate",
        "low_sample_rate",
        "short_clip",
        "leading_silence",
        "header_mismatch",
        "appended_stream",
        "junk_before_audio",
        "junk_in_stream",
        "truncated_frame",
    }
)


@dataclass(frozen=True)
class Made:
    name: str  # key, e.g. "cbr_mono_44k"
    path: Path
    ok: bool  # verdict of a correct validator with default limits
    error_code: str | None  # expected error code when not ok
    expected_samples: int | None  # exact gapless sample count per channel; None when not MP3
    sample_rate: int | None
    channels: int | None
    mpeg_version: str | None  # "1", "2", "2.5"
    warnings: tuple[str, ...]  # warning codes that MUST appear (others may too)
    note: str  # what it shows, one line


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


def _run(cmd: list[str]) -> bytes:
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def ffmpeg_samples(path: Path, channels: int) -> int:
    """Samples per channel ffmpeg decodes (it applies LAME gapless info when present)."""
    decode = ["-f", "s16le", "-acodec", "pcm_s16le", "-"]
    pcm = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), *decode])
    return len(pcm) // 2 // channels


def tool_versions() -> str:
    out = []
    for cmd in (["lame", "--version"], ["sox", "--version"], ["ffmpeg", "-version"]):
        out.append(_run(cmd).decode(errors="replace").splitlines()[0])
    return "\n".join(out)


def _tmp_for(path: Path) -> Path:
    # keep the real suffix: ffmpeg and sox pick the output format from it
    return path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}{path.suffix}")


def _publish(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)  # atomic: a half-written fixture is never mistaken for a cached one


def _write(path: Path, data: bytes) -> None:
    tmp = _tmp_for(path)
    tmp.write_bytes(data)
    _publish(tmp, path)


# Musical-ish, deterministic signal: an A-minor-ish chord plus quiet pink noise with a slow
# tremolo, so VBR encodes really vary their bitrate.  sox -R makes noise and dither repeatable.
_VOICES = {0: ("220", "261.63", "329.63"), 1: ("196", "246.94", "293.66")}


def sox_pcm(
    path: Path,
    samples: int,
    rate: int,
    channels: int,
    *,
    voice: int = 0,
    lead_silence: int = 0,
) -> None:
    """Write a 16-bit WAV of exactly ``samples`` frames (``lead_silence`` of them digital zero)."""
    a, b, c = _VOICES[voice]
    tone = samples - lead_silence
    mix = "1v0.22,2v0.18,3v0.16,4v0.12"
    remix = [mix] if channels == 1 else ["1v0.3,3v0.15,4v0.1", "2v0.3,3v0.15,4v0.1"]
    # format options precede the file they describe: the null input is 4 channels at ``rate``
    # (otherwise sox synthesises at 48 kHz and resamples, changing the count)
    cmd = ["sox", "-R", "-D", "-r", str(rate), "-c", "4", "-n", "-b", "16", "-c", str(channels)]
    tmp = _tmp_for(path)
    synth = ["synth", f"{tone}s", "sine", a, "sine", b, "sine", c, "pinknoise"]
    cmd += [str(tmp), *synth, "remix", *remix, "tremolo", "0.4", "60"]
    if lead_silence:
        cmd += ["pad", f"{lead_silence}s", "0"]
    _run(cmd)
    _publish(tmp, path)


def lame(src: Path, dest: Path, *args: str) -> None:
    tmp = _tmp_for(dest)
    _run(["lame", "--quiet", "--noreplaygain", *args, str(src), str(tmp)])
    _publish(tmp, dest)


def ffmpeg(dest: Path, *args: str) -> None:
    tmp = _tmp_for(dest)
    bitexact = ["-fflags", "+bitexact", "-flags:a", "+bitexact"]  # no version strings
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args, *bitexact, str(tmp)])
    _publish(tmp, dest)


# --------------------------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------------------------

LAME_DELAY = 576  # lame 3.100's encoder delay; asserted from the LAME tag of every encode


@dataclass(frozen=True)
class Pcm:
    """A planned input signal; the WAV only exists once ``_Builder.wav`` is called."""

    path: Path
    samples: int
    rate: int
    channels: int
    options: tuple[tuple[str, int], ...]


class _Builder:
    """Builds fixtures into ``dest``; shared intermediates are built once, thread-safely."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        # private scratch space: concurrent builders (pytest-xdist workers) share ``dest``
        # but never each other's half-made intermediates; removed after the build
        self.work = dest / f"_work-{os.getpid()}"
        self.work.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fresh: set[str] = set()  # fixtures built (not cached) in this run

    def _once(self, path: Path, make: Callable[[], object]) -> Path:
        with self._guard:
            lock = self._locks.setdefault(str(path), threading.Lock())
        with lock:
            if not path.exists():
                make()
        return path

    def out(self, name: str, suffix: str, make: Callable[[Path], object]) -> Path:
        path = self.dest / f"{name}{suffix}"
        if not path.exists():
            self.fresh.add(name)
        return self._once(path, lambda: make(path))

    # Intermediates are only made inside a fixture's ``make`` callback, so a fully cached
    # build runs no subprocess at all.

    def pcm(self, seconds: float, rate: int = 44100, channels: int = 1, **kw: int) -> Pcm:
        samples = round(seconds * rate)
        tag = "_".join(f"{k}{v}" for k, v in sorted(kw.items()))
        path = self.work / f"pcm_{samples}_{rate}_{channels}_{tag}.wav"
        return Pcm(path, samples, rate, channels, tuple(sorted(kw.items())))

    def wav(self, pcm: Pcm) -> Path:
        kw = dict(pcm.options)
        return self._once(
            pcm.path, lambda: sox_pcm(pcm.path, pcm.samples, pcm.rate, pcm.channels, **kw)
        )

    def enc(self, pcm: Pcm, args: str) -> Path:
        """lame-encode ``pcm`` (memoised); ``args`` is a space-separated lame option string."""
        argv = args.split()
        if "--resample" not in argv:
            # lame silently resamples low bitrates (64k stereo or 48k mono 44.1 kHz -> 32 kHz)
            argv = ["--resample", f"{pcm.rate / 1000:g}", *argv]
        key = hashlib.sha1(f"{pcm.path.name} {argv}".encode()).hexdigest()[:12]
        path = self.work / f"enc_{key}.mp3"
        return self._once(path, lambda: lame(self.wav(pcm), path, *argv))

    def check_ffmpeg(self, name: str, path: Path, channels: int, expected: int) -> None:
        """Decode a freshly built fixture and insist ffmpeg agrees with our truth."""
        if name not in self.fresh:
            return
        got = ffmpeg_samples(path, channels)
        if got != expected:
            path.unlink()
            raise AssertionError(f"{name}: ffmpeg decodes {got} samples, we expect {expected}")


def _mp3(
    name: str,
    path: Path,
    samples: int | None,
    note: str,
    *,
    rate: int = 44100,
    channels: int = 1,
    version: str = "1",
    error: str | None = None,
    warnings: tuple[str, ...] = (),
) -> Made:
    return Made(name, path, error is None, error, samples, rate, channels, version, warnings, note)


def _not_mp3(name: str, path: Path, note: str) -> Made:
    return Made(name, path, False, "not_mp3", None, None, None, None, (), note)


Recipe = Callable[[_Builder], list[Made]]
RECIPES: list[Recipe] = []  # each runs in the thread pool and returns one or more fixtures


def recipe(fn: Recipe) -> Recipe:
    RECIPES.append(fn)
    return fn


def _single(fn: Callable[..., Made], *args: Any, **kw: Any) -> None:
    """Register ``fn(builder, *args, **kw)`` as its own recipe (one fixture per pool task)."""
    RECIPES.append(lambda b: [fn(b, *args, **kw)])


# -- honest passing files --------------------------------------------------------------------


def _honest(
    b: _Builder,
    name: str,
    seconds: float,
    lame_args: str,
    note: str,
    *,
    rate: int = 44100,
    channels: int = 1,
    out_rate: int | None = None,
    warnings: tuple[str, ...] = (),
    lead_silence: int = 0,
) -> Made:
    """A clean lame encode: expected samples == input samples, and ffmpeg must agree."""
    pcm = b.pcm(seconds, rate, channels, lead_silence=lead_silence)
    path = b.out(name, ".mp3", lambda p: shutil.copyfile(b.enc(pcm, lame_args), p))
    f = facts(path.read_bytes())
    out_rate = out_rate or rate
    expected = pcm.samples * out_rate // rate  # only the 2:1 --resample 22.05 changes the rate
    assert f.info and f.info.delay == LAME_DELAY, f"{name}: {f.info}"
    assert f.gapless() == expected, f"{name}: frames say {f.gapless()}, input {expected}"
    head = f.frames[1]
    assert head.sample_rate == out_rate, f"{name}: lame resampled to {head.sample_rate}"
    b.check_ffmpeg(name, path, channels, expected)
    long = expected / out_rate >= MAX_SECONDS
    return _mp3(
        name,
        path,
        expected,
        f"{note}; {f.audio_frames} frames*{f.spf} - delay {f.info.delay} - padding "
        f"{f.info.padding} = input = ffmpeg = {expected}",
        rate=out_rate,
        channels=head.channels,
        version=head.version,
        error="too_long" if long else None,
        warnings=warnings,
    )


_single(_honest, "cbr_mono_44k", 40, "-b 64 -m m", "CBR 64k mono 44.1 kHz, 40 s")
_single(
    _honest,
    "cbr_stereo_128k",
    30,
    "-b 128",
    "CBR 128k joint stereo, 30 s",
    channels=2,
    warnings=("stereo",),
)
_single(
    _honest, "vbr_48k", 45, "-V 5 -m m", "VBR -V 5 mono 48 kHz, 45 s; 'Xing' header", rate=48000
)
_single(
    _honest,
    "cbr_320_stereo",
    20,
    "-b 320",
    "CBR 320k stereo, 20 s",
    channels=2,
    warnings=("stereo", "high_bitrate"),
)
_single(_honest, "short_10s", 10, "-b 64 -m m", "10 s clip", warnings=("short_clip",))
_single(
    _honest,
    "leading_silence",
    30,
    "-b 64 -m m",
    "3 s of digital zero, then 27 s of music",
    lead_silence=3 * 44100,
    warnings=("leading_silence",),
)
_single(
    _honest,
    "crc_protected",
    30,
    "-b 64 -m m -p",
    "every frame has a CRC (protection bit 0); LAME still puts the Info tag at "
    "4+side_info, ignoring the 2 CRC bytes, and ffmpeg/mutagen read it there",
)
_single(
    _honest,
    "mpeg2_22k",
    30,
    "--resample 22.05 -b 64 -m m",
    "MPEG-2 22.05 kHz via lame --resample from 44.1 kHz input (2:1, the count halves "
    "exactly); 576 samples/frame; 64k so the Info frame fits",
    out_rate=22050,
)
_single(
    _honest,
    "mpeg25_8k",
    30,
    "-b 24 -m m",
    "MPEG-2.5 8 kHz mono CBR 24k, 30 s",
    rate=8000,
    warnings=("low_sample_rate",),
)
_single(
    _honest,
    "vbr_mpeg25_11k",
    30,
    "-V 6 -m m",
    "MPEG-2.5 11.025 kHz VBR -V 6, 30 s",
    rate=11025,
    warnings=("low_sample_rate",),
)
_single(
    _honest,
    "just_under_60",
    59.9,
    "-b 64 -m m",
    "59.9 s = 2,641,590 samples: passes (limit is < 60.0 s)",
)
_single(
    _honest,
    "gapless_59_98",
    59.98,
    "-b 64 -m m",
    "59.98 s = 2,645,118 samples: passes, but ffprobe's duration (all frames * 1152, no "
    "gapless trim) is over 60 s",
)
_single(
    _honest,
    "exactly_60",
    60,
    "-b 64 -m m",
    "exactly 60.0 s = 2,646,000 samples: fails, the limit is strict < 60.0 s",
)


def _untagged(b: _Builder, name: str, pcm: Pcm, make: Callable[[Path], object], note: str) -> Made:
    """An encode without Xing/Info: no gapless info, so every frame plays in full."""
    path = b.out(name, ".mp3", make)
    f = facts(strip_id3v2(path.read_bytes()))
    assert f.info is None, f"{name}: unexpected tag {f.info}"
    expected = len(f.frames) * f.spf
    b.check_ffmpeg(name, path, 1, expected)
    return _mp3(
        name,
        path,
        expected,
        f"{note}; expected = {len(f.frames)} frames*{f.spf} = {expected} = ffmpeg "
        f"(input was {pcm.samples}, {expected - pcm.samples:+})",
        rate=pcm.rate,
        version=f.frames[0].version,
        error="too_long" if expected / pcm.rate >= MAX_SECONDS else None,
    )


@recipe
def _no_tag(b: _Builder) -> list[Made]:
    p44, p22 = b.pcm(30, 44100), b.pcm(30, 22050)
    p75 = b.pcm(75, 44100)
    shine = "-c:a libshine -b:a 64k -write_xing 0 -id3v2_version 0 -f mp3"
    return [
        _untagged(
            b,
            "no_xing_cbr",
            p44,
            lambda p: shutil.copyfile(b.enc(p44, "-b 64 -m m -t"), p),
            "lame -t: no Xing/LAME tag; the extra samples are lame's delay + padding",
        ),
        _untagged(
            b,
            "mpeg2_cbr_small_no_tag",
            p22,
            lambda p: shutil.copyfile(b.enc(p22, "-b 32 -m m"), p),
            "MPEG-2 22.05k CBR 32k: a 104-byte frame cannot hold the Info tag, so lame "
            "3.100 SILENTLY writes none (so does 44.1k mono at <= 48k)",
        ),
        _untagged(
            b,
            "shine_no_tag",
            p44,
            lambda p: ffmpeg(p, "-i", str(b.wav(p44)), *shine.split()),
            "libshine (fixed-point encoder) via ffmpeg, no Xing/ID3; shine drops the "
            "input's last partial frame",
        ),
        _untagged(
            b,
            "vbr_no_xing",
            p75,
            lambda p: shutil.copyfile(b.enc(p75, "-V 2 -m m -t"), p),
            "75 s VBR -V 2 without Xing (lame -t): duration estimators extrapolate the "
            "first frame's bitrate (mutagen says ~25 s)",
        ),
    ]


@recipe
def _ffmpeg_lame(b: _Builder) -> list[Made]:
    # ffmpeg+libmp3lame is how most people convert: ID3v2.4 (TSSE) + Info frame with LAME tag
    pcm = b.pcm(30, 44100)
    args = ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]
    path = b.out("ffmpeg_libmp3lame", ".mp3", lambda p: ffmpeg(p, "-i", str(b.wav(pcm)), *args))
    f = facts(path.read_bytes())
    assert f.info and f.gapless() == pcm.samples, f"ffmpeg_libmp3lame: {f.info} {f.gapless()}"
    b.check_ffmpeg("ffmpeg_libmp3lame", path, 1, pcm.samples)
    encoder = (f.info.encoder or b"").decode(errors="replace")
    return [
        _mp3(
            "ffmpeg_libmp3lame",
            path,
            pcm.samples,
            f"ffmpeg -c:a libmp3lame: ID3v2.4 + Info frame whose LAME extension says "
            f"'{encoder}', delay {f.info.delay} padding {f.info.padding}; exact = input. "
            f"mutagen applies delay/padding only when the string starts with 'LAME', so "
            f"it says {f.audio_frames}*1152 samples",
        )
    ]


# -- tags ------------------------------------------------------------------------------------


def _mutagen_apic(audio: bytes) -> bytes:
    """ID3v2.3 written by mutagen (as taggers do, with padding) holding a 100 KB picture."""
    from mutagen.id3 import APIC, ID3, TIT2, TPE1

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mp3"
        path.write_bytes(audio)
        tag = ID3()
        tag.add(TIT2(encoding=1, text="Hold music"))
        tag.add(TPE1(encoding=1, text="holdmusic tests"))
        picture = fake_jpeg(100_000, seed=23)
        tag.add(APIC(encoding=0, mime="image/jpeg", type=3, desc="Cover", data=picture))
        tag.save(path, v2_version=3)
        return path.read_bytes()


def _stacked(audio: bytes) -> bytes:
    first = id3v2_tag(id3v2_text("TIT2", "First tag", 3), version=3, pad=256)
    second = id3v2_tag(id3v2_text("TPE1", "Second tag", 4), version=4, pad=512)
    return first + second + audio


def _v24_footer(audio: bytes) -> bytes:
    frames = id3v2_text("TIT2", "Hold music", 4) + id3v2_text("TPE1", "Footer test", 4)
    return id3v2_tag(frames, version=4, footer=True) + audio


def _ape(audio: bytes) -> bytes:
    cover = b"cover.jpg\x00" + fake_jpeg(5000, seed=7)
    items = [
        ("Title", b"Hold music", False),
        ("Artist", b"holdmusic tests", False),
        ("Cover Art (Front)", cover, True),
    ]
    return audio + apev2(items)


def _appended_v24(audio: bytes) -> bytes:
    priv = id3v2_frame("PRIV", b"holdmusic\x00" + b"\xff\xfb\x90\x64" * 8, 4)
    return audio + id3v2_tag(id3v2_text("TIT2", "Appended tag", 4) + priv, version=4, footer=True)


_TAGGED: list[tuple[str, Callable[[bytes], bytes], str]] = [
    (
        "id3v23_apic",
        _mutagen_apic,
        "ID3v2.3 (mutagen) with a 100 KB APIC whose bytes contain FF FB 90 64 every 997 bytes; "
        "skip the tag by its size",
    ),
    ("id3v2_stacked", _stacked, "two ID3v2 tags back to back (v2.3 then v2.4, both padded)"),
    (
        "id3v24_footer",
        _v24_footer,
        "hand-built ID3v2.4 with footer flag 0x10: total = 10 header + size + 10 '3DI' footer",
    ),
    ("id3v1_trailing", lambda a: a + id3v1(), "128-byte ID3v1.1 'TAG' after the last frame"),
    (
        "apev2_trailing",
        _ape,
        "APEv2 with header+footer ('APETAGEX') after the last frame; 5 KB binary item holding "
        "sync words",
    ),
    (
        "lyrics3v2",
        lambda a: a + lyrics3v2("[00:01]Please hold\n[00:05]Thanks") + id3v1(),
        "Lyrics3 v2.00 ('LYRICSBEGIN'...6-digit size...'LYRICS200') followed by ID3v1",
    ),
    (
        "id3v24_appended",
        _appended_v24,
        "ID3v2.4 tag with '3DI' footer appended after the audio (PRIV holds sync words)",
    ),
]


def _tagged(b: _Builder, name: str, wrap: Callable[[bytes], bytes], note: str) -> Made:
    pcm = b.pcm(20, 44100)
    path = b.out(name, ".mp3", lambda p: _write(p, wrap(b.enc(pcm, "-b 64 -m m").read_bytes())))
    b.check_ffmpeg(name, path, 1, pcm.samples)
    return _mp3(name, path, pcm.samples, f"{note}; exact = input = ffmpeg")


for _name, _wrap, _note in _TAGGED:
    _single(_tagged, _name, _wrap, _note)


@recipe
def _size_limit(b: _Builder) -> list[Made]:
    """Pad with an ID3 picture to hit the byte limit exactly: 10,000,000 fails, one less passes."""
    pcm = b.pcm(20, 44100)

    def make(p: Path, total: int) -> None:
        data = b.enc(pcm, "-b 64 -m m").read_bytes()
        overhead = 10 + len(id3v2_apic(b"", 3))  # tag header + APIC frame header and fields
        picture = fake_jpeg(total - len(data) - overhead, seed=total)
        _write(p, id3v2_tag(id3v2_apic(picture, 3), version=3) + data)

    out = []
    for name, total in (("too_large", MAX_BYTES), ("just_under_10mb", MAX_BYTES - 1)):
        path = b.out(name, ".mp3", functools.partial(make, total=total))
        assert path.stat().st_size == total, (name, path.stat().st_size)
        b.check_ffmpeg(name, path, 1, pcm.samples)
        note = f"{total:,} bytes: 20 s of audio behind a huge ID3v2.3 APIC; limit is < 10,000,000"
        too_large = total >= MAX_BYTES
        # A file over the limit is refused from its size alone: no walk, so no count.
        out.append(
            _mp3(
                name,
                path,
                None if too_large else pcm.samples,
                note,
                error="too_large" if too_large else None,
            )
        )
    return out


# -- lies and damage -------------------------------------------------------------------------


@recipe
def _xing_lie(b: _Builder) -> list[Made]:
    pcm = b.pcm(90, 44100)

    def make(p: Path) -> None:
        data = b.enc(pcm, "-V 5 -m m").read_bytes()
        f = facts(data)
        assert f.info and f.info.frames == f.audio_frames
        _write(p, set_xing_frames(data, f.audio_frames // 3))

    path = b.out("xing_lie", ".mp3", make)
    data = path.read_bytes()
    f = facts(data)
    assert f.info and f.info.delay == LAME_DELAY and lame_crc_ok(data)
    bitrates = {fr.bitrate for fr in f.frames[1:]}
    assert len(bitrates) >= 3, f"VBR did not vary: {bitrates}"
    expected = f.audio_frames * 1152 - f.info.delay - f.info.padding
    assert expected == pcm.samples
    return [
        _mp3(
            "xing_lie",
            path,
            expected,
            f"90 s VBR (-V 5) whose Xing frame count was edited {f.audio_frames} -> "
            f"{f.info.frames} and the LAME tag CRC re-sealed (mutagen: ~30 s). Rule: a header "
            f"claiming FEWER frames than the walk is stale or edited, the end is intact, so "
            f"walked frames*1152 - delay {f.info.delay} - padding {f.info.padding} = "
            f"{expected} = input. ffmpeg 5.1 decodes the same count but cuts the padding "
            f"samples out of the MIDDLE (at the lied frame count)",
            error="too_long",
            warnings=("header_mismatch",),
        )
    ]


@recipe
def _cat_two(b: _Builder) -> list[Made]:
    a, c = b.pcm(40, 44100, voice=0), b.pcm(40, 44100, voice=1)

    def make(p: Path) -> None:
        _write(p, b.enc(a, "-b 64 -m m").read_bytes() + b.enc(c, "-b 64 -m m").read_bytes())

    path = b.out("cat_two", ".mp3", make)
    data = path.read_bytes()
    # the walk runs straight through the join; the second stream starts at its Info frame
    join = next(fr.offset for fr in walk(data, 0)[1:] if read_xing(data, fr))
    fa, fb = facts(data[:join]), facts(data[join:])
    assert fa.info and fb.info
    assert fa.gapless() + fb.gapless() == a.samples + c.samples
    frames = len(fa.frames) + len(fb.frames)
    # What a decoder plays: only the first Info frame is a header; ffmpeg also finds the
    # file far longer than that header's byte count and ignores its frame count.
    expected = (frames - 1) * 1152 - fa.info.delay - DECODER_DELAY
    b.check_ffmpeg("cat_two", path, 1, expected)
    return [
        _mp3(
            "cat_two",
            path,
            expected,
            f"cat of two 40 s LAME encodes (mutagen: 40 s, the first Info frame). A decoder "
            f"reads only the first Info frame: it skips delay {fa.info.delay} + its own "
            f"{DECODER_DELAY} samples, plays segment 1's padding, the 2nd Info frame as "
            f"silence and segment 2's delay+padding: ({frames}-1)*1152 - {fa.info.delay} - "
            f"{DECODER_DELAY} = {expected} = ffmpeg (the music alone is "
            f"{a.samples}+{c.samples})",
            error="too_long",
            warnings=("appended_stream",),
        )
    ]


@recipe
def _junk(b: _Builder) -> list[Made]:
    pcm = b.pcm(20, 44100)
    tag = id3v2_tag(id3v2_text("TIT2", "Junk before audio", 3), version=3, pad=100)

    def before(p: Path) -> None:
        audio = b.enc(pcm, "-b 64 -m m").read_bytes()
        _write(p, tag + junk_without_chain(3000, seed=3000, following=audio) + audio)

    def between(p: Path) -> None:
        audio = b.enc(pcm, "-b 64 -m m").read_bytes()
        f = facts(audio)
        cut = f.frames[len(f.frames) // 2].offset
        junk = junk_without_chain(500, seed=500, following=audio[cut:])
        _write(p, audio[:cut] + junk + audio[cut:])

    first = b.out("junk_before", ".mp3", before)
    frames = len(facts(first.read_bytes()[len(tag) + 3000 :]).frames)
    # ffmpeg is not checked on either: it gets both wrong (see the notes)
    return [
        _mp3(
            "junk_before",
            first,
            pcm.samples,
            f"ID3v2.3 tag, then 3000 random bytes (0xFF every 61 bytes, lone FF FB 90 64 "
            f"headers, no two headers chain), then the LAME Info frame; exact = input. "
            f"ffmpeg 5.1 looks for Xing/Info only right after the ID3 tag, so it decodes the "
            f"Info frame as silence and trims nothing: {frames}*1152 = {frames * 1152}",
            warnings=("junk_before_audio",),
        ),
        _mp3(
            "junk_between",
            b.out("junk_between", ".mp3", between),
            pcm.samples,
            "500 garbage bytes (no two headers chain) between two middle frames; every frame "
            "is still there and the LAME tag still matches the walk, so exact = input. "
            "ffmpeg 5.1 decodes 1152 fewer: it loses one frame resyncing",
            warnings=("junk_in_stream",),
        ),
    ]


@recipe
def _truncated(b: _Builder) -> list[Made]:
    pcm = b.pcm(30, 44100)

    def make(p: Path) -> None:
        audio = b.enc(pcm, "-b 64 -m m").read_bytes()
        last = facts(audio).frames[-1]
        _write(p, audio[: last.offset + last.size // 2])

    path = b.out("truncated", ".mp3", make)
    f = facts(path.read_bytes())  # walk() stops before the incomplete frame
    assert f.info and f.info.frames == f.audio_frames + 1 and f.info.delay == LAME_DELAY
    assert (f.info.padding or 0) >= 1152, "the note below assumes the lost frame is all padding"
    walked = f.audio_frames * 1152 - LAME_DELAY
    encoded = f.info.frames * 1152 - LAME_DELAY - f.info.padding
    expected = min(walked, encoded)
    assert expected == pcm.samples
    return [
        _mp3(
            "truncated",
            path,
            expected,
            f"cut in the middle of the last frame: the audio left is {f.audio_frames} complete "
            f"frames*1152 - delay = {walked}, but never more than the encoder's own total "
            f"({encoded}): LAME's padding here is {f.info.padding} > 1152, so the lost frame "
            f"was pure padding and no music is missing = input {pcm.samples}",
            warnings=("truncated_frame",),
        )
    ]


# -- not MP3 and hard errors -----------------------------------------------------------------

_HTML = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Please sign in</h1><p>The file you requested requires authentication.</p>
<form method="post" action="/login"><input name="user"><input name="pass" type="password">
</form></body></html>
"""

_TEXT = (
    b"Hold music for the support line: ask Dana for the final cut.\n"
    b"This file was meant to be replaced before upload.\n"
) * 20

_S3_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    b"<RequestId>4442587FB7D0A2F9</RequestId>"
    b"<HostId>Xr0dQ3kSgF9hW2a1Vt6nUa1qD1bV0pYj7dKx5LmNnO8=</HostId></Error>"
)

# name, suffix, ffmpeg output options applied to a 5 s WAV, note (incl. the words to expect)
_TRANSCODED = [
    ("flac", ".flac", "-c:a flac", "FLAC ('fLaC'); message should say FLAC"),
    (
        "ogg_vorbis",
        ".ogg",
        "-c:a libvorbis -q:a 1",
        "Ogg Vorbis ('OggS'); message should say Ogg/Vorbis",
    ),
    (
        "ogg_opus",
        ".opus",
        "-c:a libopus -b:a 24k",
        "Ogg Opus ('OggS' + 'OpusHead'); message should say Ogg/Opus",
    ),
    (
        "m4a_aac",
        ".m4a",
        "-c:a aac -b:a 48k",
        "AAC in MP4 ('ftyp' at offset 4); message should say MP4/M4A/AAC",
    ),
    (
        "adts_aac",
        ".aac",
        "-c:a aac -b:a 48k -f adts",
        "raw ADTS AAC: sync FFF1 (layer bits 00), easy to mistake for MPEG audio; message should "
        "say AAC/ADTS",
    ),
    (
        "mp2_layer2",
        ".mp2",
        "-c:a mp2 -b:a 64k -f mp2",
        "MPEG-1 Layer II (valid MPEG audio, wrong layer; mutagen accepts it as ~5 s); message "
        "should say Layer II/MP2",
    ),
]

# name, content, note (incl. the words to expect)
_LITERAL: list[tuple[str, bytes | Callable[[], bytes], str]] = [
    ("html", _HTML, "an HTML page saved as .mp3; message should say HTML"),
    ("text", _TEXT, "plain text; message should say text"),
    (
        "s3_xml_error",
        _S3_XML,
        "S3 <Error><Code>AccessDenied</Code> XML body saved as the file; message should say "
        "XML (AccessDenied)",
    ),
    (
        "id3_only",
        lambda: id3v2_tag(id3v2_text("TIT2", "Nothing follows", 3), version=3, pad=2048),
        "a valid ID3v2.3 tag and no audio after it; message should say no audio frames (after "
        "the ID3 tag)",
    ),
    (
        "random_sync",
        lambda: sync_salted_random(200_000, seed=1234),
        "200 KB random bytes with FF FB 90 64 every 389-431 bytes (never 417 apart, so nothing "
        "chains; mutagen says ~12 s); message should say no MPEG audio",
    ),
]


def _transcoded(b: _Builder, name: str, suffix: str, options: str, note: str) -> Made:
    pcm = b.pcm(5, 44100)
    path = b.out(name, suffix, lambda p: ffmpeg(p, "-i", str(b.wav(pcm)), *options.split()))
    return _not_mp3(name, path, note)


for _name, _suffix, _options, _note in _TRANSCODED:
    _single(_transcoded, _name, _suffix, _options, _note)


def _write_lazy(path: Path, data: bytes | Callable[[], bytes]) -> None:
    _write(path, data() if callable(data) else data)


@recipe
def _literal(b: _Builder) -> list[Made]:
    return [
        _not_mp3(name, b.out(name, ".mp3", functools.partial(_write_lazy, data=data)), note)
        for name, data, note in _LITERAL
    ]


@recipe
def _wavs(b: _Builder) -> list[Made]:
    pcm = b.pcm(5, 44100)
    copy = ["-c:a", "copy", "-f", "wav"]
    return [
        _not_mp3(
            "wav_pcm",
            b.out("wav_pcm", ".wav", lambda p: shutil.copyfile(b.wav(pcm), p)),
            "RIFF/WAVE PCM; message should say WAV",
        ),
        _not_mp3(
            "wav_mp3",
            b.out(
                "wav_mp3", ".wav", lambda p: ffmpeg(p, "-i", str(b.enc(pcm, "-b 64 -m m")), *copy)
            ),
            "RIFF/WAVE wrapping MP3 frames (format tag 0x0055; mutagen finds the frames and "
            "says ~5 s); message should say WAV/RIFF container",
        ),
    ]


@recipe
def _layer1(b: _Builder) -> list[Made]:
    # ffmpeg cannot encode Layer I: hand-build silent frames and make ffmpeg prove they decode
    path = b.out("mp1_layer1", ".mp1", lambda p: _write(p, layer1_silence(400)))
    if "mp1_layer1" in b.fresh:
        got = ffmpeg_samples(path, 1)
        assert got == 400 * 384, f"ffmpeg decoded {got} samples from the Layer I fixture"
    note = (
        "MPEG-1 Layer I, hand-built silent frames (header FF FF 40 C0; ffmpeg decodes "
        "400*384 samples; mutagen says ~3.5 s); message should say Layer I/MP1"
    )
    return [_not_mp3("mp1_layer1", path, note)]


@recipe
def _hard_errors(b: _Builder) -> list[Made]:
    pcm = b.pcm(10, 44100)
    enc = "-b 200 --freeformat -m m"
    path = b.out("free_format", ".mp3", lambda p: shutil.copyfile(b.enc(pcm, enc), p))
    first = parse_header(path.read_bytes(), 0, allow_free=True)
    assert first and first.bitrate == 0, "lame did not produce free-format frames"
    empty = b.out("empty", ".mp3", lambda p: _write(p, b""))
    return [
        _mp3(
            "free_format",
            path,
            None,
            "lame --freeformat -b 200: bitrate index 0 in every header (frame size only "
            "found by searching for the next sync); has an Info tag; mutagen 'can't sync', "
            "ffmpeg 5.1 fails to decode it",
            error="free_format",
        ),
        Made("empty", empty, False, "empty", None, None, None, None, (), "0-byte file"),
    ]


# -- files that play nothing, or nothing a caller can hear (issue 17) ------------------------

# Decoded peaks below this (16-bit full scale 32767) are below -60 dBFS: inaudible on a phone.
INAUDIBLE_PEAK = 32767 // 1000  # 32 = -60.2 dBFS


def ffmpeg_peak(path: Path) -> int:
    """The largest absolute 16-bit sample ffmpeg decodes from the file."""
    pcm = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "s16le", "-"])
    return max((abs(x) for (x,) in struct.iter_unpack("<h", pcm)), default=0)


def decoded_by_ffmpeg(data: bytes) -> int:
    """Samples ffmpeg outputs from mono ``data``: 0 also when it refuses to open it at all
    (its mp3 demuxer needs a second frame header after the first to start)."""
    with tempfile.NamedTemporaryFile(suffix=".mp3") as f:
        f.write(data)
        f.flush()
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", f.name, "-f", "s16le", "-"]
        return len(subprocess.run(cmd, capture_output=True, check=False).stdout) // 2


def decoded_by_mpg123(data: bytes) -> int | None:
    """Samples libmpg123 outputs from mono ``data`` (``mpg123 -s``); None without mpg123."""
    if shutil.which("mpg123") is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".mp3") as f:
        f.write(data)
        f.flush()
        cmd = ["mpg123", "-q", "-s", f.name]
        return len(subprocess.run(cmd, capture_output=True, check=False).stdout) // 2


@recipe
def _plays_nothing(b: _Builder) -> list[Made]:
    """An ID3 tag, an Info frame and one frame cut short, the way mutagen's bad-POPM-frame.mp3
    and tinytag's chinese_id3.mp3 are made: headers that promise a song, and no decoder
    outputs a sample (ffmpeg's demuxer wants a second frame header before it starts, and
    libmpg123 plays no frame cut short)."""
    pcm = b.pcm(5, 44100)

    def make(p: Path) -> None:
        audio = b.enc(pcm, "-b 64 -m m").read_bytes()
        frames = facts(audio).frames  # the Info frame, then the audio
        cut = audio[: frames[1].offset + frames[1].size // 2]
        tag = id3v2_tag(id3v2_text("TIT2", "Hold music", 3) + id3v2_text("TPE1", "x", 3), version=3)
        _write(p, tag + cut)

    path = b.out("plays_nothing", ".mp3", make)
    if "plays_nothing" in b.fresh:
        data = path.read_bytes()
        assert decoded_by_ffmpeg(data) == 0, "ffmpeg decodes the cut frame"
        assert decoded_by_mpg123(data) in (0, None), "mpg123 decodes the cut frame"
    return [
        _mp3(
            "plays_nothing",
            path,
            0,
            "ID3v2.3 tag + lame's Info frame (LAME tag: 5 s) + the first audio frame cut in "
            "half: ffmpeg and mpg123 output 0 samples (checked when built); passed at 0.001 s "
            "before issue 17",
            error="no_audio",
            warnings=("truncated_frame",),
        )
    ]


def _quiet_pcm(dest: Path, seconds: int, *synth: str) -> None:
    """40-ish seconds of 44.1 kHz mono from ``sox -n ... synth``: repeatable (-R)."""
    tmp = _tmp_for(dest)
    _run(["sox", "-R", "-n", "-r", "44100", "-c", "1", "-b", "16", str(tmp), "synth", str(seconds),
          *synth])  # fmt: skip
    _publish(tmp, dest)


def _quiet(b: _Builder, name: str, synth: tuple[str, ...], note: str, *, audible: bool) -> Made:
    """lame's default encode (64 kbit/s mono for this input, LAME tag) of a quiet signal; its
    decoded peak, by ffmpeg, is checked against -60 dBFS when built."""
    seconds = 40

    def make(p: Path) -> None:
        wav = b.work / f"{name}.wav"
        _quiet_pcm(wav, seconds, *synth)
        lame(wav, p)

    path = b.out(name, ".mp3", make)
    expected = seconds * 44100
    b.check_ffmpeg(name, path, 1, expected)
    if name in b.fresh:
        peak = ffmpeg_peak(path)
        assert (peak > INAUDIBLE_PEAK) is audible, f"{name}: decoded peak {peak} of 32767"
    return _mp3(name, path, expected, note, error=None if audible else "no_audio")


_single(
    _quiet,
    "near_silence",
    ("sine", "440", "gain", "-80", "dither"),
    "sox synth 40 sine 440 gain -80 dither, lame default (64k mono, LAME tag): decodes "
    "to a peak of about 5 of 32767 (-76 dBFS), inaudible: no_audio, 'plays as silence'",
    audible=False,
)
_single(
    _quiet,
    "dither_only",
    ("sine", "440", "gain", "-200", "dither"),
    "a muted track exported with dither on (sox ... gain -200 dither), lame default: a "
    "peak of 1-2 of 32767 (-85 dBFS); no spectral line above -80 dBFS: no_audio, 'digital "
    "silence'",
    audible=False,
)
_single(
    _quiet,
    "quiet_audible",
    ("sine", "220", "sine", "330", "pinknoise", "remix", "1v0.4,2v0.3,3v0.1", "gain", "-48"),
    "quiet but audible: a chord and pink noise peaking near -50 dBFS, lame default: passes",
    audible=True,
)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def build_all(dest: Path, *, workers: int | None = None) -> dict[str, Made]:
    """Build every fixture into ``dest`` (existing files are reused) and return them by name."""
    dest.mkdir(parents=True, exist_ok=True)
    builder = _Builder(dest)
    try:
        # lame/sox/ffmpeg are single-threaded subprocesses: threads are enough to fill the CPUs
        with ThreadPoolExecutor(max_workers=workers or (os.cpu_count() or 2) + 1) as pool:
            groups = list(pool.map(lambda r: r(builder), RECIPES))
    finally:
        shutil.rmtree(builder.work, ignore_errors=True)  # WAVs and encodes: ~60 MB
    made = {m.name: m for group in groups for m in group}
    assert len(made) == sum(map(len, groups)), "duplicate fixture name"
    for m in made.values():
        assert set(m.warnings) <= WARNING_CODES, m
        assert m.ok == (m.error_code is None), m
    return made


def cache_key() -> str:
    """Fixtures depend only on the factory's modules and the tool versions."""
    h = hashlib.sha256()
    for module in ("bitstream.py", "tags.py", "recipes.py"):
        h.update(Path(__file__).with_name(module).read_bytes())
    h.update(tool_versions().encode())
    return h.hexdigest()[:16]


# Named sets of fixtures that tests are parametrized over (``pytest_generate_tests`` in
# conftest): the names come from what the factory built, so a new fixture is covered
# without editing a list in a test module.
FIXTURE_SETS: dict[str, Callable[[Made], bool]] = {
    "any_fixture": lambda m: True,
    # holds a Layer III stream holdmusic must measure to the sample
    "measurable_fixture": lambda m: m.expected_samples is not None,
    # ... and whose length ffmpeg decodes correctly (it honours the LAME tag, or there is
    # none); cat_two, junk_before and junk_between are miscounted by ffmpeg (see their notes)
    # (plays_nothing too, only because ffmpeg refuses to open it: 0 samples, as its recipe
    # checks, but with an error exit that ffmpeg_samples treats as a failure)
    "ffmpeg_agrees_fixture": lambda m: (
        m.expected_samples is not None
        and m.name not in {"cat_two", "junk_before", "junk_between", "plays_nothing"}
    ),
}


def _ffprobe_seconds(path: Path) -> str:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "error"


def report(made: dict[str, Made]) -> Iterator[str]:
    """Truth next to what mutagen, ffprobe and ffmpeg say (for humans)."""
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    yield (
        f"{'name':24} {'ok':5} {'error':11} {'samples':>8} {'seconds':>7} {'mutagen':>7} "
        f"{'ffprobe':>9} {'ffmpeg':>8}  warnings"
    )
    for m in made.values():
        secs = "-"
        if m.expected_samples is not None and m.sample_rate:
            secs = f"{m.expected_samples / m.sample_rate:.3f}"
        try:
            mut = f"{MP3(m.path).info.length:.3f}"
        except (MutagenError, OSError) as exc:
            mut = type(exc).__name__[:7]
        try:
            ff = str(ffmpeg_samples(m.path, m.channels)) if m.channels else "-"
        except RuntimeError:
            ff = "error"
        samples = "-" if m.expected_samples is None else str(m.expected_samples)
        yield (
            f"{m.name:24} {m.ok!s:5} {m.error_code or '-':11} {samples:>8} {secs:>7} "
            f"{mut:>7} {_ffprobe_seconds(m.path)[:9]:>9} {ff:>8}  {','.join(m.warnings)}"
        )
        yield f"    {m.note}"


if __name__ == "__main__":
    import time

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir(), "mp3s")
    t0 = time.perf_counter()
    result = build_all(target)
    print(f"built {len(result)} fixtures into {target} in {time.perf_counter() - t0:.1f} s")
    for line in report(result):
        print(line)
