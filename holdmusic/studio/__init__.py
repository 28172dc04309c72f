"""Audio work through FFmpeg's libraries: make a file fit for hold music, measure it, render it.

The stage beside ``audio`` (the header walk) and ``rules`` (the verdict). ``fix`` decodes
anything FFmpeg can read and writes a new MP3; ``listen`` measures what a caller will hear;
``preview`` renders the narrowband phone path to a WAV. ``rules`` judges what comes out of
here with its usual problem codes.

This package's own module holds what every part shares (loading PyAV, decoding, filter
graphs, loudness metering, writing an output safely); ``fixing``, ``listening`` and
``phone`` hold ``fix``, ``listen``/``hear`` and ``preview``.

Only this module imports PyAV (``av``, the ``holdmusic[fix]`` extra), and only inside the
functions that need it, so ``holdmusic validate`` without ``--listen`` never loads it.
Every signal operation (resampling, down-mixing, trimming, fades, loudness and true-peak
metering, limiting, filtering, encoding) is an FFmpeg filter or codec: nothing here does
arithmetic on samples except reading a handful of them to decide whether a cut starts
mid-sound.
"""

from __future__ import annotations

import math
import os
import re
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from holdmusic.errors import HoldmusicError, UsageError
from holdmusic.tempfiles import partial_file, remove_quietly

if TYPE_CHECKING:
    from holdmusic.rules import Problem

# holdmusic is not on a package index: `pip install 'holdmusic[fix]'` would fetch whatever
# else carries that name there, so the hint names the clone and the wheel.
INSTALL_HINT = (
    "pip install '.[fix]' in a clone of holdmusic "
    "(a wheel: pip install 'holdmusic-<version>-py3-none-any.whl[fix]')"
)

# --- what `fix` makes ---------------------------------------------------------------
# 22.05 kHz keeps everything a wideband (HD voice, WebRTC/Opus) call carries (up to 7-8 kHz)
# with room to spare and stays clear of the low_sample_rate warning (< 16 kHz); 8/16 kHz
# would make the file sound dull the moment it is played anywhere but a PSTN line.
DEFAULT_SAMPLE_RATE = 22_050
# 64 kbit/s CBR mono at 22.05 kHz is transparent for anything a phone carries; it is the
# figure the validator's own advice names, far below the high_bitrate warning (128), and
# keeps a 59.5 s file near 0.48 MB, fast for Daily to fetch.
DEFAULT_BITRATE_KBPS = 64
DEFAULT_LOUDNESS_LUFS = -19.0  # mono equivalent of the -16 LUFS common for spoken-word streams
LOUDNESS_TOLERANCE_LU = 1.0  # the promise, measured on the encoded output
TRUE_PEAK_CEILING_DBTP = -1.0  # after encoding
DEFAULT_LENGTH_SECONDS = 59.5  # where a too-long file is cut: a margin under Daily's 60 s
DEFAULT_FADE_OUT_SECONDS = 2.0  # at the cut, so the loop doesn't click
DEFAULT_FADE_IN_SECONDS = 0.3  # only where --start cuts into sound

# Aim inside the promise so that rounding in the encoder never lands us outside it.
_AIM_LU = 0.5
# The limiter runs on 4x oversampled audio, where sample peaks approximate true peaks;
# it aims below the ceiling because the MP3 encoder adds its own overshoot. Each pass
# measures the encoded file and tightens the aim by what it overshot.
_OVERSAMPLE = 4
_FIRST_HEADROOM_DB = 0.6
_MAX_PASSES = 5
_INTERSAMPLE_DB = 1.5
# LAME at these settings reads about 0.3-0.4 LU quieter than its input (measured on tones,
# noise and music). Aiming that much higher makes one pass usually enough; the measurement
# of the encoded file still decides.
_ENCODER_LOSS_LU = 0.35
# LAME's quality 7 instead of its default 3: PyAV's LAME build encodes ~2.5x slower than
# Debian's, and -q 7 takes 40% off that while the coding error in the phone band (300-3400
# Hz) of a 64 kbit/s mono encode stays where it was (-58.1 dB against the source at both
# settings, measured on the test mix; docs/fix-and-listen.md).
_LAME_OPTIONS = {"compression_level": "7"}
_MIN_MEASURABLE_SECONDS = 0.5  # BS.1770 integrates 400 ms blocks

# --- what holdmusic opens (bounds against hostile inputs; docs/fix-and-listen.md) ----------
# FFmpeg's open (probe, header, stream info) may take this long, then gives up what it is
# doing: a sparse 5 GB WAV made the WAV demuxer scan 1 GB of zeros for trailing chunks,
# 8 bytes at a time, for 106 s. Cutting that scan short still opens the file.
OPEN_SECONDS = 3.0
# Sample rates outside this are not audio anyone records: 1 Hz made preview write 4 GB,
# 2^31-1 Hz exhausted memory in the resampler.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
# FFmpeg names layouts up to 24 channels; others have no order, and are folded down by
# count with `pan`, which takes at most 64 inputs.
MAX_CHANNELS = 64
# Demuxers holdmusic lets FFmpeg use on an input: audio and video containers. Text formats
# that point elsewhere (SDP and RTP binding sockets, HLS/DASH fetching URLs, concat/IMF
# opening other files, image sequences) are not among them, so a file whose first bytes
# one of those claims is refused instead of followed.
SAFE_DEMUXERS = (
    "aac,ac3,aiff,amr,amrnb,amrwb,ape,asf,au,avi,caf,dsf,dts,dtshd,eac3,flac,flv,gsm,iff,"
    "ircam,loas,matroska,mlp,mov,mp3,mpc,mpc8,mpeg,mpegts,nut,ogg,rm,shn,sox,tak,truehd,tta,"
    "voc,w64,wav,wsaud,wv,xwma"
)
# Packets that will not decode are skipped, as ffmpeg does; a file where they outnumber
# the good ones (after a few) is refused: what remains would not be the music.
_MAX_BAD_SHARE = 0.5
_BAD_PACKETS_BEFORE_REFUSING = 8
# The header's length against what decodes: a shortfall over this (and over 2%) is a cut.
_TRUNCATION_SECONDS = 0.5


class StudioError(HoldmusicError):
    """The input cannot be turned into hold music (not media, no audio, silent, ...)."""


class MissingExtra(UsageError):
    """PyAV is not installed."""


def load_av(command: str = "this command") -> Any:
    """Import PyAV, or explain in one line how to get it."""
    try:
        import av
        import av.filter  # a submodule PyAV does not always import eagerly
    except ImportError:
        raise MissingExtra(
            f"{command} needs the audio extra (PyAV, FFmpeg's libraries): {INSTALL_HINT}"
        ) from None
    return av


def available() -> bool:
    """True when PyAV can be imported (without importing it twice when it is already loaded)."""
    try:
        load_av()
    except MissingExtra:
        return False
    return True


# --- decoding -----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """What the input was, as FFmpeg sees it."""

    path: str
    container: str  # demuxer name: "wav", "mp3", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", ...
    codec: str  # FFmpeg's canonical codec name: "pcm_s24le", "flac", "aac", "mp3", ...
    sample_rate: int
    channels: int
    size_bytes: int
    # Warnings about the input itself (source_truncated, source_corrupt_frames, ...):
    # the output can be fine while the source was damaged, and the user should know.
    problems: tuple[Problem, ...] = ()


def _open_input(av: Any, path: str) -> Any:
    """Open ``path`` for reading and return the container, or raise one clear line."""
    if not os.path.exists(path):
        raise StudioError(f"{path}: no such file")
    if os.path.isdir(path):
        raise StudioError(f"{path}: this is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise StudioError(f"{path}: permission denied: cannot read it")
    if not stat.S_ISREG(os.stat(path).st_mode):
        # A FIFO or a device would block the open, or never end.
        raise StudioError(f"{path}: not a regular file")
    if os.path.getsize(path) == 0:
        raise StudioError(f"{path}: the file is empty (0 bytes)")
    try:
        return open_media(av, path, options={"format_whitelist": SAFE_DEMUXERS})
    except av.FFmpegError as exc:
        raise StudioError(f"{path}: {_not_media(path, exc)}") from None


def open_media(av: Any, target: Any, *, format: str | None = None, **kwargs: Any) -> Any:
    """``av.open(target)`` for reading, bounded: local files only (no network protocol can
    be reached through anything inside the file), metadata that is not UTF-8 read with
    replacement characters, FFmpeg's open cut short after :data:`OPEN_SECONDS`, and
    Ctrl-C (or SIGTERM/SIGHUP, which the CLI turns into the same exception) answered at
    once even while FFmpeg is busy inside the open."""
    options = {"protocol_whitelist": "file", **kwargs.pop("options", {})}

    def opening() -> Any:
        return av.open(
            target,
            "r",
            format=format,
            options=options,
            metadata_errors="replace",
            timeout=(OPEN_SECONDS, None),
            **kwargs,
        )

    if threading.current_thread() is not threading.main_thread():
        return opening()  # signals reach only the main thread: nothing to stay awake for
    # FFmpeg's open runs without the GIL; the main thread waits on it in short, interruptible
    # joins, so a signal's handler runs now, not when FFmpeg returns. An abandoned open
    # ends with the process (daemon thread).
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["container"] = opening()
        except BaseException as exc:  # handed to the main thread as it is
            box["error"] = exc

    worker = threading.Thread(target=work, name="holdmusic-open", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in box:
        raise box["error"]
    return box["container"]


# Formats whose damage should be named as such: "a FLAC file whose audio could not be
# decoded", never "a FLAC file, not audio".
_AUDIO_KINDS = (
    "WAV", "FLAC", "Ogg", "MP4/M4A", "AIFF", "Matroska", "WMA", "AMR", "Core Audio", "FLV",
)  # fmt: skip
_AUDIO_KINDS_PREFIXES = tuple(f"{a} {k}" for k in _AUDIO_KINDS for a in ("a", "an"))


def _not_media(path: str, exc: BaseException | None = None) -> str:
    """Say what the file is when FFmpeg cannot read it as media (an HTML page, a text file,
    a damaged FLAC)."""
    from holdmusic import audio, polyglot

    with open(path, "rb") as fh:
        head = fh.read(4096)
    reason = None
    if exc is not None:
        reason = getattr(exc, "strerror", None) or str(exc)
    what = audio.identify(head)
    if what:
        # identify() words things relative to MP3; here the point is what it is.
        what = what.split(", not ")[0].split(" (")[0]
        if what.startswith(_AUDIO_KINDS_PREFIXES):
            if what.startswith("an MP4/M4A") and head[4:8] == b"ftyp" and _no_moov(path):
                return (
                    f"{what} that is cut off (truncated): its index (the moov atom, which an "
                    "export writes last) is missing, so its audio cannot be found; export or "
                    "download it again"
                )
            why = f": {reason}" if reason else ""
            return f"{what} whose audio could not be decoded{why}"
        return f"this is {what}, not audio"
    claimed = polyglot.scan(head)
    if claimed is not None:
        return f"this holds {claimed}, not audio that holdmusic opens"
    if reason is None:
        return "not an audio or video file FFmpeg can read"
    return f"not an audio or video file FFmpeg can read ({reason})"


def _no_moov(path: str) -> bool:
    """An MP4 whose top-level boxes hold no ``moov`` (the index an interrupted export lacks)."""
    size = os.path.getsize(path)
    pos = 0
    with open(path, "rb") as fh:
        for _ in range(10_000):  # top-level boxes only; a hostile file gets no more
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                return True
            length = int.from_bytes(head[:4], "big")
            if head[4:8] == b"moov":
                return False
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:  # the box runs to the end of the file
                return True
            if length < 8:
                return True
            pos += length
            if pos >= size:
                return True
    return False


def _check_format(path: str, rate: int, channels: int) -> None:
    """Refuse what no resampler or down-mix should be asked to do (one line, not a crash)."""
    if rate and not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise StudioError(
            f"{path}: its header says {rate:,} samples per second, which is not audio "
            f"(holdmusic reads {MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz); the file is "
            "damaged or mislabelled"
        )
    if channels > MAX_CHANNELS:
        raise StudioError(
            f"{path}: {channels} channels: holdmusic folds down at most {MAX_CHANNELS}; "
            "export the mix with fewer channels"
        )


def _audio_stream(path: str, container: Any) -> Any:
    streams = list(container.streams.audio)
    if not streams:
        kinds = sorted({s.type for s in container.streams})
        what = f" (it has {' and '.join(kinds)} only)" if kinds else ""
        if not kinds:
            raise StudioError(f"{path}: {_not_media(path)}")
        raise StudioError(f"{path}: no audio stream{what}")
    stream = streams[0]
    ctx = stream.codec_context
    _check_format(path, ctx.sample_rate or 0, ctx.channels or 0)
    return stream


@dataclass
class DecodeReport:
    """What decoding met on the way: packets skipped, where a damaged container stopped,
    and whether the stream ran to its end (only then can a cut be told from the header)."""

    packets: int = 0  # decoded
    bad_packets: int = 0  # skipped: would not decode
    samples: int = 0  # per channel, at the input's rate
    rate: int = 0
    stopped: str | None = None  # the demuxer's error, when one ended the stream early
    ended: bool = False  # the stream was read to its end (or to the demuxer's error)
    notes: list[Problem] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.samples / self.rate if self.rate else 0.0


def _decoded(
    path: str, container: Any, stream: Any, report: DecodeReport | None = None
) -> Iterator[Any]:
    """The stream's frames. A packet that won't decode is skipped, as ffmpeg does, and
    counted in ``report``; a container error after some audio ends the stream there (what
    decoded is kept). Refuses only when the bad packets outnumber the good ones, or when
    nothing at all decodes."""
    av = load_av()
    r = report if report is not None else DecodeReport()
    checked = False
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                r.bad_packets += 1
                if (
                    r.bad_packets >= _BAD_PACKETS_BEFORE_REFUSING
                    and r.bad_packets > r.packets * _MAX_BAD_SHARE / (1 - _MAX_BAD_SHARE)
                ):
                    raise _undecodable(
                        path,
                        f"{r.bad_packets} of its first {r.bad_packets + r.packets} packets are "
                        "damaged",
                    ) from None
                continue
            if frames:
                r.packets += 1
            for frame in frames:
                if not checked:
                    _check_format(path, frame.sample_rate, frame.layout.nb_channels)
                    r.rate, checked = frame.sample_rate, True
                r.samples += frame.samples
                yield frame
        r.ended = True
    except av.FFmpegError as exc:
        if not r.samples:
            raise _undecodable(path, str(exc)) from None
        # Audio came first, then the container broke (a tag or index after the music):
        # keep what decoded, as ffmpeg does, and say where it stopped.
        r.stopped, r.ended = str(exc), True
    if r.bad_packets and not r.samples:
        s = "s" if r.bad_packets != 1 else ""
        raise _undecodable(path, f"all {r.bad_packets} packet{s} are damaged")
    r.notes[:] = _damage_notes(path, r, container, stream)


def _undecodable(path: str, detail: str) -> StudioError:
    """``PATH: a FLAC file whose audio could not be decoded: DETAIL`` (the kind when known)."""
    from holdmusic import audio

    what = None
    try:
        with open(path, "rb") as fh:
            what = audio.identify(fh.read(4096))
    except OSError:
        pass
    if what:
        kind = what.split(", not ")[0].split(" (")[0]
        return StudioError(f"{path}: {kind} whose audio could not be decoded: {detail}")
    return StudioError(f"{path}: the audio could not be decoded: {detail}")


def _damage_notes(path: str, r: DecodeReport, container: Any, stream: Any) -> list[Problem]:
    from holdmusic.rules import Problem

    notes = []
    declared = None
    if container.format.name in _STATED_LENGTH:
        declared = declared_seconds(container, stream)
    if container.format.name == "wav":
        # FFmpeg clamps a WAV's data size to the file: the header's own word is read here.
        declared = _wav_declared_seconds(path) or declared
    cut = (
        declared is not None
        and r.ended
        and declared - r.seconds > max(_TRUNCATION_SECONDS, 0.02 * declared)
    )
    # The frame cut in half at the end of a cut-off file is part of the cut, not damage.
    if r.bad_packets > (1 if cut else 0):
        n = r.bad_packets
        notes.append(
            Problem(
                "source_corrupt_frames",
                "warning",
                f"{n} damaged packet{'s' if n != 1 else ''} of the input would not decode and "
                f"{'were' if n != 1 else 'was'} skipped, as ffmpeg does; a short gap or click "
                "may be heard there",
            )
        )
    if cut:
        assert declared is not None
        notes.append(
            Problem(
                "source_truncated",
                "warning",
                f"the input is cut off: its header says {declared:.1f} s, but only "
                f"{r.seconds:.1f} s of audio are there (an interrupted export or download?); "
                "export or download it again",
            )
        )
    elif r.stopped:
        notes.append(
            Problem(
                "source_corrupt_frames",
                "warning",
                f"the container is damaged after {r.seconds:.2f} s of audio ({r.stopped}); "
                "what came before it is used",
            )
        )
    return notes


# Containers whose header states the length the encoder wrote (not an estimate from the
# bitrate, as for MP3 without a Xing header, ADTS or MPEG-TS): a shortfall is a cut.
_STATED_LENGTH = frozenset(
    {"wav", "w64", "aiff", "caf", "flac", "mov,mp4,m4a,3gp,3g2,mj2", "wv", "ape", "tta"}
)


def _wav_declared_seconds(path: str) -> float | None:
    """The length a RIFF/WAVE header declares (its data chunk's size over the byte rate),
    read from the file; None when it does not say (streamed WAVs write 0 or 0xFFFFFFFF)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            for _ in range(64):  # chunks before the data: a hostile file gets no more
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                size = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"fmt ":
                    fmt = fh.read(min(size, 16))
                    byte_rate = int.from_bytes(fmt[8:12], "little") if len(fmt) >= 12 else 0
                    fh.seek(size - len(fmt) + (size & 1), os.SEEK_CUR)
                elif chunk[:4] == b"data":
                    if not byte_rate or size in (0, 0xFFFFFFFF):
                        return None
                    return size / byte_rate
                else:
                    fh.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


def declared_seconds(container: Any, stream: Any) -> float | None:
    """The length the container's header declares for ``stream`` (None when it says none)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / 1_000_000
    return None


def walked_seconds(path: str, container_name: str) -> float | None:
    """For an MP3, the length the validator's frame walk finds (a Xing header can lie: a
    90 s file claiming 29.9 s); None for other formats or when the walk fails."""
    if container_name != "mp3":
        return None
    from holdmusic import rules

    verdict = rules.check_path(path, rules.Limits(max_bytes=2**62, max_seconds=math.inf))
    return verdict.duration_seconds


# --- filter graphs ------------------------------------------------------------------


def _graph(av: Any, first: Any, filters: Iterable[tuple[str, str]]) -> tuple[Any, Any]:
    """A graph whose source takes frames like ``first``, through ``filters``; returns the
    graph and its last filter."""
    g = av.filter.Graph()
    n = first.layout.nb_channels
    unnamed = _UNNAMED.fullmatch(first.layout.name) is not None
    node = g.add_abuffer(
        format=first.format.name,
        sample_rate=first.sample_rate,
        # FFmpeg has no default layout for 9, 64, 255... channels: give the count alone.
        **({"channels": n} if unnamed else {"layout": first.layout.name}),
        time_base=Fraction(1, first.sample_rate),
    )
    if unnamed:
        # No speaker positions, so no down-mix matrix: every channel counts the same.
        filters = [("pan", "mono|c0=" + "+".join(f"{1 / n:.9f}*c{i}" for i in range(n))), *filters]
    for name, args in filters:
        nxt = g.add(name, args) if args else g.add(name)
        node.link_to(nxt)
        node = nxt
    return g, node


_UNNAMED = re.compile(r"\d+ channels")


class _Chain:
    """A linear FFmpeg filter graph: push frames in, pull frames out."""

    def __init__(
        self, av: Any, first: Any, filters: Iterable[tuple[str, str]], sink: str = "abuffersink"
    ) -> None:
        self.av = av
        g, node = _graph(av, first, filters)
        self.graph = g
        self.sink = g.add(sink)
        node.link_to(self.sink)
        g.configure()
        self.closed = False

    def push(self, frame: Any) -> Iterator[Any]:
        """Feed one frame (None: the end) and yield what comes out."""
        if not self.closed:
            if frame is not None:
                frame.pts = None  # the chain counts samples itself (asetpts) where time matters
            try:
                self.graph.push(frame)
            except self.av.EOFError:
                # A filter (atrim) has all it wants: the rest of the input is not needed.
                self.closed = True
            if frame is None:
                self.closed = True
        while True:
            try:
                yield self.sink.pull()
            except (self.av.BlockingIOError, self.av.EOFError):
                return

    def run(self, frames: Iterable[Any]) -> Iterator[Any]:
        for f in frames:
            yield from self.push(f)
            if self.closed:
                break
        yield from self.push(None)


def _db(linear: float) -> float:
    return 20 * math.log10(linear) if linear > 0 else -math.inf


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float  # -inf for silence
    true_peak_dbtp: float


def measure(av: Any, frames: Iterable[Any], peak: str | None = "true") -> Loudness:
    """BS.1770 integrated loudness and true peak, as ffmpeg's ``ebur128=peak=true`` reports
    them (the filter itself does the work; its per-frame metadata carries the running values).
    ``peak="sample"`` reads sample peaks instead: much cheaper, and enough for an estimate;
    ``peak=None`` measures the loudness alone (the peak comes back as -inf).

    Every sample counts: the filter writes its running peak only when a 100 ms block
    completes, so the peak is read from a second meter whose input has :data:`PEAK_PAD`
    of silence appended (a burst in the last 50 ms of a file was missed otherwise);
    the loudness comes from an unpadded meter, exactly as the ``ffmpeg`` program's."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        return Loudness(-math.inf, -math.inf)
    meters = PeakAndLoudness(av, first, peak)
    for frame in _prepend(first, it):
        meters.push(frame)
    return meters.finish()


# Silence appended before the peak meter: completes its last 100 ms block and flushes the
# true-peak upsampler (whose delay is a few dozen samples).
PEAK_PAD_SECONDS = 0.2


class PeakAndLoudness:
    """Two ``ebur128`` meters fed the same frames, read as the frames pass (nothing is
    kept): loudness from the plain one, the peak from one whose input ends in padding."""

    def __init__(self, av: Any, first: Any, peak: str | None = "true") -> None:
        self.peak = peak
        branches: list[list[tuple[str, str]]] = [[("ebur128", "metadata=1")]]
        readers = [self._loudness]
        if peak is not None:  # None: the loudness alone, at half the cost
            pad = ("apad", f"pad_len={math.ceil(first.sample_rate * PEAK_PAD_SECONDS)}")
            branches.append([pad, _meter(peak)])
            readers.append(self._peak)
        self.fan = Fan(av, first, [], branches, readers)
        self.integrated = -math.inf
        self.top = 0.0

    def _loudness(self, frame: Any) -> None:
        meta = frame.metadata
        if "lavfi.r128.I" in meta:
            self.integrated = float(meta["lavfi.r128.I"])

    def _peak(self, frame: Any) -> None:
        key = f"lavfi.r128.{self.peak}_peak"
        meta = frame.metadata
        if key in meta:
            self.top = max(self.top, float(meta[key]))

    def push(self, frame: Any) -> None:
        self.fan.push(frame)

    def finish(self) -> Loudness:
        self.fan.push(None)
        integrated = self.integrated if self.integrated > -70.0 else -math.inf
        return Loudness(integrated, _db(self.top))


class Fan:
    """abuffer → common filters → asplit → one chain and sink per branch. Each output frame
    goes to its branch's ``reader`` as it comes out and is then dropped, so memory stays
    flat whatever the length (measurements live in the frames' metadata)."""

    def __init__(
        self,
        av: Any,
        first: Any,
        common: list[tuple[str, str]],
        branches: list[list[tuple[str, str]]],
        readers: list[Any],
    ) -> None:
        self.av = av
        g, node = _graph(av, first, common)
        self.graph = g
        split = g.add("asplit", f"outputs={len(branches)}")
        node.link_to(split)
        self.sinks = []
        for i, branch in enumerate(branches):
            node, out_pad = split, i
            for name, args in branch:
                nxt = g.add(name, args)
                node.link_to(nxt, out_pad, 0)
                node, out_pad = nxt, 0
            sink = g.add("abuffersink")
            node.link_to(sink, out_pad, 0)
            self.sinks.append(sink)
        g.configure()
        self.readers = readers

    def push(self, frame: Any) -> None:
        if frame is not None and frame.pts is not None:  # (never written while shared)
            frame.pts = None
        self.graph.push(frame)
        for sink, read in zip(self.sinks, self.readers, strict=True):
            while True:
                try:
                    read(sink.pull())
                except (self.av.BlockingIOError, self.av.EOFError):
                    break


class FanThread:
    """A :class:`Fan` run by a thread of its own, fed through a short queue in batches of
    frames (a hand-over per frame costs more than it saves): FFmpeg's filters leave the
    GIL while they work, so a second fan measures beside the first on another core.
    ``close()`` waits for it to finish (and raises what it raised); ``abandon()`` stops it
    without waiting for its work (an error, Ctrl-C)."""

    _BATCH_FRAMES = 32
    _QUEUE_BATCHES = 4

    def __init__(self, fan: Fan) -> None:
        import queue
        import threading

        self.fan = fan
        self.batch: list[Any] = []
        self.batches: queue.Queue[list[Any] | None] = queue.Queue(self._QUEUE_BATCHES)
        self.error: BaseException | None = None
        self.abandoned = False
        self.thread = threading.Thread(target=self._run, name="holdmusic-fan", daemon=True)
        self.thread.start()

    def push(self, frame: Any) -> None:
        if self.error is not None:
            raise self.error
        self.batch.append(frame)
        if len(self.batch) >= self._BATCH_FRAMES:
            self.batches.put(self.batch)
            self.batch = []

    def _run(self) -> None:
        ended = False
        try:
            while (batch := self.batches.get()) is not None:
                for frame in batch:
                    if self.abandoned:
                        break
                    self.fan.push(frame)
            ended = True
            if not self.abandoned:
                self.fan.push(None)
        except BaseException as exc:  # handed to the feeding thread
            self.error = exc
            while not ended and self.batches.get() is not None:  # let the feeder go on
                pass

    def close(self) -> None:
        if self.batch:
            self.batches.put(self.batch)
            self.batch = []
        self.batches.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        if self.thread.is_alive():
            self.abandoned = True
            self.batches.put(None)
            self.thread.join()


def _meter(peak: str) -> tuple[str, str]:
    return ("ebur128", f"metadata=1:peak={peak}")


def _read_meter(frames: Iterable[Any], peak: str, keep: list[Any] | None) -> Loudness:
    """The loudness an ebur128 filter (:func:`_meter`) wrote into the frames' metadata;
    the frames themselves go into ``keep`` when given."""
    integrated = -math.inf
    top = 0.0
    key = f"lavfi.r128.{peak}_peak"
    for out in frames:
        meta = out.metadata
        if "lavfi.r128.I" in meta:
            integrated = float(meta["lavfi.r128.I"])
        if key in meta:
            top = max(top, float(meta[key]))
        if keep is not None:
            keep.append(out)
    if integrated <= -70.0:  # BS.1770's absolute gate: nothing above it
        integrated = -math.inf
    return Loudness(integrated, _db(top))


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


# --- writing outputs ---------------------------------------------------------------


def default_output(path: str, suffix: str = ".hold.mp3") -> str:
    """``song.wav`` → ``song.hold.mp3`` beside it; never the input itself (the suffix is
    never the input's own extension alone)."""
    folder, name = os.path.split(path)
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return os.path.join(folder, f"{stem}{suffix}")


def check_output(path: str, output: str, force: bool) -> None:
    """Refuse before any work: the output must not be the input, nor replace a file unasked,
    nor replace anything but a regular file (``-o /dev/stdout --force`` would swap the
    symlink in /dev for a file), and its folder must take a new file."""
    if os.path.abspath(output) == os.path.abspath(path) or (
        os.path.exists(output) and os.path.exists(path) and os.path.samefile(output, path)
    ):
        raise StudioError(f"{output}: the output cannot be the input (the input is never changed)")
    if os.path.isdir(output):
        raise StudioError(f"{output}: is a directory; name the output file")
    try:
        mode: int | None = os.lstat(output).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise StudioError(f"{output}: cannot check it: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise StudioError(
            f"{output}: is {_kind_of(mode)}, not a regular file; holdmusic replaces only "
            "regular files (name a new file)"
        )
    if mode is not None and not force:
        raise StudioError(f"{output} already exists; use --force to replace it")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise StudioError(f"{output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise StudioError(f"{output}: folder {folder} is not writable")
    try:  # /proc, a read-only mount, a full disk: find out now, not after the work
        with partial_file(output) as trial:
            remove_quietly(trial)
    except OSError as exc:
        raise StudioError(
            f"{output}: cannot create a file in {folder}: {exc.strerror or exc}"
        ) from None


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _publish(tmp: str, output: str, force: bool) -> None:
    """Move the finished file into place: atomically, and without --force never over a file
    that appeared while we worked."""
    os.chmod(tmp, 0o644 & ~_umask())
    if force:
        os.replace(tmp, output)
        return
    try:
        os.link(tmp, output)  # fails if output exists: no window for a race
    except FileExistsError:
        raise StudioError(f"{output} already exists; use --force to replace it") from None
    except OSError:
        # A file system without hard links: check, then rename.
        if os.path.lexists(output):
            raise StudioError(f"{output} already exists; use --force to replace it") from None
        os.replace(tmp, output)
        return
    remove_quietly(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
