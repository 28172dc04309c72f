"""Daily's hold-music rules, and the warnings a media team wants, as a :class:`Verdict`.

``check_path`` never raises for a bad file: every problem, from "not found" to "not an
MP3", comes back as a :class:`Problem` with a stable ``code`` that scripts can key on.

Error codes: ``not_found``, ``unreadable``, ``empty``, ``too_large``, ``not_mp3``,
``free_format``, ``too_long``, ``no_audio``, ``corrupt_audio``, ``analysis_failed``,
``polyglot``.
Warning codes: ``stereo``, ``high_bitrate``, ``low_sample_rate``, ``short_clip``,
``leading_silence``, ``header_mismatch``, ``appended_stream``, ``junk_before_audio``,
``junk_in_stream``, ``truncated_frame``, ``corrupt_frames``, ``large_tags``; with
``--listen`` (:func:`judge_listening`) also ``too_quiet``, ``too_loud``, ``clipping``,
``outside_phone_band``, ``trailing_silence``, ``silence_gap``, ``listen_failed``,
``listen_skipped``.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from holdmusic import audio, polyglot
from holdmusic.codes import Problem as Problem  # re-exported: callers know it as rules.*
from holdmusic.codes import Severity as Severity
from holdmusic.text import printable

# Daily: "less than 10MB in size and less than 60 seconds in duration". 10 MB read as
# 10,000,000 bytes, the smaller of the two readings, so a file we pass Daily accepts.
DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_MAX_SECONDS = 60.0

# Telephony thresholds for warnings (never errors).
PHONE_BITRATE_KBPS = 128  # above this, the extra bits never reach a caller
MIN_SAMPLE_RATE = 16_000  # below this, music sounds muffled on wideband calls
# The shortest acceptable hold music: Daily plays it twice, so 30 s gives a caller a minute
# of music before the line goes quiet. Shorter is a warning; no sound at all is an error.
SHORT_CLIP_SECONDS = 30.0
LEADING_SILENCE_SECONDS = 1.0
# Bytes that are not audio (cover art, lyrics, padding) worth a warning: a phone platform
# fetches the whole file before the first note plays.
LARGE_TAGS_BYTES = 1_000_000

# Files above this size are mapped rather than read, so memory stays bounded.
_READ_WHOLE = 64 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES  # a file must be smaller than this
    max_seconds: float = DEFAULT_MAX_SECONDS  # and shorter than this


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Verdict:
    path: str
    size_bytes: int | None
    info: audio.AudioInfo | None
    problems: tuple[Problem, ...] = field(default=())
    listen: Listening | None = None  # only with validate --listen

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def passed(self, strict: bool = False) -> bool:
        return self.ok and not (strict and self.warnings)

    @property
    def duration_seconds(self) -> float | None:
        return self.info.duration_seconds if self.info else None

    def status(self, strict: bool = False) -> str:
        """validate's word for it: ``PASSED``, ``PASSED, with warnings`` or ``FAILED``."""
        if not self.passed(strict):
            return "FAILED"
        return "PASSED, with warnings" if self.warnings else "PASSED"

    def describe(self) -> str:
        """`` (42.318 s, 341,207 bytes, MPEG-1 44.1 kHz mono VBR 64 kbit/s)``, as validate
        prints it after the status, or nothing when the file was not walked."""
        info = self.info
        if info is None:
            return ""
        f = info.format
        channels = "mono" if f.channels == 1 else "stereo"
        return (
            f" ({info.duration_seconds:.3f} s, {self.size_bytes:,} bytes, "
            f"MPEG-{f.mpeg_version} {f.sample_rate / 1000:g} kHz {channels} "
            f"{f.bitrate_mode} {f.bitrate_kbps:.0f} kbit/s)"
        )

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        info = self.info
        fmt = None
        if info is not None:
            f = info.format
            fmt = {
                "mpeg_version": f.mpeg_version,
                "layer": f.layer,
                "sample_rate": f.sample_rate,
                "channels": f.channels,
                "channel_mode": f.channel_mode,
                "bitrate_mode": f.bitrate_mode,
                "bitrate_kbps": f.bitrate_kbps,
                "frame_count": f.frame_count,
                "crc_protected": f.crc_protected,
                "samples": info.samples,
                "encoder": info.encoder,
                "encoder_delay": info.encoder_delay,
                "encoder_padding": info.encoder_padding,
                "header": info.header,
                "header_seconds": _round(info.header_seconds),
                "audio_offset": info.audio_offset,
            }
        return {
            "path": self.path,
            "ok": self.passed(strict),
            "size_bytes": self.size_bytes,
            "duration_seconds": _round(self.duration_seconds),
            "problems": [p.to_dict() for p in self.problems],
            "format": fmt,
            **({"listen": self.listen.to_dict()} if self.listen is not None else {}),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _error(code: str, message: str) -> Problem:
    return Problem(code, "error", message)


def check_path(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> Verdict:
    """Judge one file on disk. Reads at most what it must; never raises for a bad file."""
    return _check(path, limits, keep=False)[0]


def load(
    path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS
) -> tuple[Verdict, bytes | None]:
    """Judge a file and keep its bytes, so that what gets uploaded is what was judged."""
    return _check(path, limits, keep=True)


def _check(
    path: str | os.PathLike[str], limits: Limits, *, keep: bool
) -> tuple[Verdict, bytes | None]:
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        return Verdict(name, None, None, (_error("not_found", "no such file"),)), None
    except OSError as exc:
        return Verdict(name, None, None, (_error("unreadable", _os_reason(exc)),)), None
    if stat.S_ISDIR(st.st_mode):
        return Verdict(name, None, None, (_error("unreadable", _folder_reason(name)),)), None
    if not stat.S_ISREG(st.st_mode):
        return Verdict(name, None, None, (_error("unreadable", "not a regular file"),)), None
    size = st.st_size
    if size == 0:
        return Verdict(name, 0, None, (_error("empty", "the file is empty (0 bytes)"),)), None
    try:
        with open(name, "rb") as fh:
            if size >= limits.max_bytes:
                # Too large is final; say what the file is, but don't walk gigabytes.
                return _too_large(name, size, limits, fh.read(4096), fh), None
            if keep or size <= _READ_WHOLE:
                data = fh.read()
                return check_bytes(data, name, limits), data if keep else None
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return check_bytes(mapped, name, limits), None
    except OSError as exc:
        return Verdict(name, size, None, (_error("unreadable", _os_reason(exc)),)), None


def _folder_reason(name: str) -> str:
    try:
        with os.scandir(name):
            pass
    except PermissionError:
        return "permission denied: cannot list this folder"
    except OSError as exc:
        return f"cannot list this folder: {exc.strerror or exc}"
    return "this is a directory"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied: cannot read it"
    if isinstance(exc, IsADirectoryError):
        return "this is a directory"
    return f"cannot read it: {exc.strerror or exc}"


def _too_large(
    name: str, size: int, limits: Limits, head: bytes, fh: BinaryIO | None = None
) -> Verdict:
    fills = ""
    tag = audio.leading_tag_size(head, size)
    if fh is not None and 0 < tag <= _MAX_TAG_READ:
        fh.seek(0)
        fills = _what_fills(fh.read(tag), size)
    problems = [
        _error(
            "too_large",
            f"{size:,} bytes is not under the {limits.max_bytes:,}-byte limit"
            + (" (Daily: under 10 MB)" if limits.max_bytes == DEFAULT_MAX_BYTES else "")
            + (f"; {fills}" if fills else "")
            + "; re-encode at a lower bitrate (mono 64 kbit/s is plenty)"
            + (", without the tag's pictures" if fills else ""),
        )
    ]
    what = audio.identify(head)
    if what:
        problems.append(_error("not_mp3", fix_hint(f"this is {what}")))
    return Verdict(name, size, None, tuple(problems))


# A leading tag read for the message, at most: a 2 GB file claiming a 256 MB tag is
# refused as too large without reading the tag.
_MAX_TAG_READ = 16_000_000


def _what_fills(tag_bytes: bytes, size: int) -> str:
    """What the leading ID3v2 tag holds, biggest first: 'the ID3 tag takes 9.9 MB: ...'.

    mutagen reads ID3 far better than a hand parser would; it is imported only here, on
    the path of a file that is too large or large for its audio, so validate stays fast.
    """
    try:
        from mutagen.id3 import ID3

        tag = ID3(io.BytesIO(tag_bytes))  # type: ignore[no-untyped-call]
    except Exception:  # a tag mutagen cannot read: say nothing rather than fail the verdict
        return ""
    parts: list[tuple[int, str]] = []
    for frame in tag.values():  # type: ignore[no-untyped-call]
        data = getattr(frame, "data", None)
        if not isinstance(data, bytes) or len(data) < 1024:
            continue
        kind = frame.FrameID
        if kind == "APIC":
            mime = printable(str(getattr(frame, "mime", "")) or "image")
            what = f"a picture (APIC, {mime})"
        elif kind == "GEOB":
            what = "an embedded file (GEOB)"
        elif kind == "PRIV":
            what = "private data (PRIV)"
        else:
            what = f"a {kind} frame"
        parts.append((len(data), f"{what} of {_mb(len(data))}"))
    parts.sort(reverse=True)
    listed = ", ".join(p for _, p in parts[:3]) or "no single frame over 1 KB"
    if len(parts) > 3:
        listed += f" and {len(parts) - 3} more"
    tag_size = int(getattr(tag, "size", 0))
    return f"the ID3 tag at the start takes {_mb(tag_size)} of the {_mb(size)}: {listed}"


def _frames(n: int) -> str:
    return "" if not n else "1 frame, " if n == 1 else f"{n} frames, "


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


# not_mp3 messages about things that are not audio at all: `holdmusic fix` cannot help.
_NOT_AUDIO = ("HTML", "XML", "JSON", "text file", "playlist", "MIDI", "no audio", "no MPEG audio")


def fix_hint(message: str, code: str = "not_mp3") -> str:
    """Audio in another format (WAV, FLAC, M4A, MP2, ...) gets the way out named."""
    if code != "not_mp3" or any(w in message for w in _NOT_AUDIO):
        return message
    return f"{message}; `holdmusic fix` makes an MP3 from it that passes"


def check_bytes(data: audio.Buffer, name: str, limits: Limits = DEFAULT_LIMITS) -> Verdict:
    """Judge a file already in memory (or mapped): the audio rules and the warnings."""
    size = len(data)
    if size == 0:
        return Verdict(name, 0, None, (_error("empty", "the file is empty (0 bytes)"),))
    if size >= limits.max_bytes:
        head = bytes(data[:4096])
        tag = audio.leading_tag_size(head, size)
        fh = io.BytesIO(bytes(data[:tag])) if 0 < tag <= _MAX_TAG_READ else None
        return _too_large(name, size, limits, head, fh)
    try:
        info = audio.analyze(data)
    except audio.NotMP3 as exc:
        return Verdict(name, size, None, (_error(exc.code, fix_hint(str(exc), exc.code)),))
    except Exception as exc:  # a bug of ours must not become a traceback about the user's file
        return Verdict(
            name,
            size,
            None,
            (
                _error(
                    "analysis_failed",
                    f"holdmusic could not analyse this file ({type(exc).__name__}: {exc}); "
                    "please report it with the file",
                ),
            ),
        )
    problems = _judge(info, limits)
    if (claimed := polyglot.message(data)) is not None:  # text another demuxer would claim
        problems.append(_error("polyglot", claimed))
    tags = size - info.audio_bytes
    if tags >= LARGE_TAGS_BYTES and tags > info.audio_bytes:
        tag = audio.leading_tag_size(bytes(data[:10]), size)
        fills = _what_fills(bytes(data[:tag]), size) if 0 < tag <= _MAX_TAG_READ else ""
        problems.append(
            Problem(
                "large_tags",
                "warning",
                f"{tags:,} of the file's {size:,} bytes are not audio"
                + (f" ({fills})" if fills else " (tags or other data around the frames)")
                + ": the phone platform downloads them all before the music starts; "
                "remove the pictures",
            )
        )
    return Verdict(name, size, info, tuple(problems))


def _judge(info: audio.AudioInfo, limits: Limits) -> list[Problem]:
    problems: list[Problem] = []
    seconds = info.duration_seconds
    said = any(f.code == "no_audio" for f in info.findings)  # the walk said why already
    if info.samples == 0 and not said:
        problems.append(
            _error(
                "no_audio",
                "no audio: a decoder outputs nothing from this file ("
                + _frames(info.format.frame_count)
                + "0 samples after the encoder's delay and padding); callers would hear silence",
            )
        )
    if seconds >= limits.max_seconds:
        daily = limits.max_seconds == DEFAULT_MAX_SECONDS
        why = " (Daily plays hold music under 60 s)" if daily else ""
        problems.append(
            _error(
                "too_long",
                f"{seconds:.3f} s is not under the {limits.max_seconds:g} s limit{why}; trim it",
            )
        )
    problems.extend(  # errors first: they are the verdict, the walk's warnings explain it
        Problem(f.code, "error" if f.error else "warning", f.message, f.offset)
        for f in sorted(info.findings, key=lambda f: not f.error)
    )
    if any(p.code in ("no_audio", "corrupt_audio") for p in problems):
        # An unusable file: advice about bitrate or stereo would only bury the reason.
        return problems
    fmt = info.format
    if fmt.channels == 2:
        problems.append(
            Problem(
                "stereo",
                "warning",
                "stereo: phone calls are mono, so half the bits are wasted and parts of the "
                "mix can cancel out when it is folded down; export mono",
            )
        )
    if fmt.bitrate_kbps > PHONE_BITRATE_KBPS:
        problems.append(
            Problem(
                "high_bitrate",
                "warning",
                f"{fmt.bitrate_kbps:g} kbit/s: a phone call carries far less (64 kbit/s on a "
                "classic line), so the extra only makes the file bigger and slower to fetch; "
                "64-96 kbit/s mono is plenty",
            )
        )
    if fmt.sample_rate < MIN_SAMPLE_RATE:
        problems.append(
            Problem(
                "low_sample_rate",
                "warning",
                f"{fmt.sample_rate} Hz: music sounds muffled on wideband (HD voice, WebRTC) "
                "calls; use 22.05 kHz or more",
            )
        )
    if seconds < SHORT_CLIP_SECONDS:
        problems.append(
            Problem(
                "short_clip",
                "warning",
                f"{seconds:.1f} s: Daily plays hold music twice, so callers hear "
                f"{2 * seconds:.1f} s of music and then silence; aim for 45-59 s",
            )
        )
    if info.leading_silence_seconds >= LEADING_SILENCE_SECONDS:
        problems.append(
            Problem(
                "leading_silence",
                "warning",
                f"starts with {info.leading_silence_seconds:.1f} s of silence: callers may "
                "think the line is dead, and hear the gap again on the second play",
            )
        )
    return problems


# --- listening (validate --listen): what a caller hears --------------------------------------

# Thresholds for the listening warnings (issue 14). Silence is below -50 dBFS.
TOO_QUIET_LUFS = -26.0
TOO_LOUD_LUFS = -14.0
CLIPPING_DBTP = -0.1
MIN_PHONE_BAND_SHARE = 0.5  # of the energy between 300 and 3400 Hz
TRAILING_SILENCE_SECONDS = 2.0
SILENCE_GAP_SECONDS = 3.0
SILENCE_DBFS = -50.0


@dataclass(frozen=True)
class Listening:
    """Measurements of the decoded audio (``holdmusic.studio.listening.listen``)."""

    loudness_lufs: float | None  # BS.1770 integrated, channels as they are; None: silent
    true_peak_dbtp: float | None  # None: digital silence
    phone_band_share: float | None  # energy in 300-3400 Hz / all energy; None: silent
    trailing_silence_seconds: float
    longest_silence_seconds: float  # inside: not counting the start and the end

    def to_dict(self) -> dict[str, Any]:
        return {
            "loudness_lufs": _round2(self.loudness_lufs),
            "true_peak_dbtp": _round2(self.true_peak_dbtp),
            "phone_band_share": None
            if self.phone_band_share is None
            else round(self.phone_band_share, 3),
            "trailing_silence_seconds": round(self.trailing_silence_seconds, 3),
            "longest_silence_seconds": round(self.longest_silence_seconds, 3),
        }


def _round2(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def with_listening(verdict: Verdict, listening: Listening) -> Verdict:
    """The verdict with the measurements and the warnings they call for."""
    return replace(
        verdict,
        listen=listening,
        problems=(*verdict.problems, *judge_listening(listening)),
    )


def judge_listening(x: Listening) -> list[Problem]:
    """Warnings (never errors: the file still plays) for what a caller would suffer."""
    out: list[Problem] = []
    lufs = x.loudness_lufs
    if lufs is None or lufs < TOO_QUIET_LUFS:
        level = "silent" if lufs is None else f"{lufs:.1f} LUFS"
        out.append(
            Problem(
                "too_quiet",
                "warning",
                f"{level}: over a phone line callers will strain to hear it (aim for about "
                "-19 LUFS); `holdmusic fix` normalises it",
            )
        )
    elif lufs > TOO_LOUD_LUFS:
        out.append(
            Problem(
                "too_loud",
                "warning",
                f"{lufs:.1f} LUFS: far louder than the voices around it, and the phone "
                "path squashes it; `holdmusic fix` brings it to -19 LUFS",
            )
        )
    if x.true_peak_dbtp is not None and x.true_peak_dbtp > CLIPPING_DBTP:
        out.append(
            Problem(
                "clipping",
                "warning",
                f"true peak {x.true_peak_dbtp:+.1f} dBTP: it clips, and clipping turns into "
                "harsh distortion after the phone network's G.711 companding; "
                "`holdmusic fix` limits peaks to -1 dBTP",
            )
        )
    share = x.phone_band_share
    if share is not None and share < MIN_PHONE_BAND_SHARE:
        out.append(
            Problem(
                "outside_phone_band",
                "warning",
                f"only {share:.0%} of its energy is between 300 and 3400 Hz, the band a "
                "narrowband phone line carries: bass-heavy music all but vanishes for the "
                "caller; pick a track with more in the mid-range "
                "(hear it with `holdmusic preview`)",
            )
        )
    if x.trailing_silence_seconds >= TRAILING_SILENCE_SECONDS:
        out.append(
            Problem(
                "trailing_silence",
                "warning",
                f"ends with {x.trailing_silence_seconds:.1f} s of silence: callers hear dead "
                "air at every loop and may think they were cut off; trim the end",
            )
        )
    if x.longest_silence_seconds >= SILENCE_GAP_SECONDS:
        out.append(
            Problem(
                "silence_gap",
                "warning",
                f"{x.longest_silence_seconds:.1f} s of silence inside: callers may think the "
                "call dropped and hang up; cut the gap or pick another track",
            )
        )
    return out
