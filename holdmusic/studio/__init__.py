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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from holdmusic.errors import HoldmusicError, UsageError
from holdmusic.tempfiles import remove_quietly

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
SILENCE_DBFS = -50.0  # "does the cut start mid-sound?" (as rules.SILENCE_DBFS for listen)

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


def _open_input(av: Any, path: str) -> Any:
    """Open ``path`` for reading and return the container, or raise one clear line."""
    if not os.path.exists(path):
        raise StudioError(f"{path}: no such file")
    if os.path.isdir(path):
        raise StudioError(f"{path}: this is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise StudioError(f"{path}: permission denied: cannot read it")
    if os.path.getsize(path) == 0:
        raise StudioError(f"{path}: the file is empty (0 bytes)")
    try:
        return av.open(path, "r")
    except av.FFmpegError as exc:
        raise StudioError(f"{path}: {_not_media(path, exc)}") from None


def _not_media(path: str, exc: BaseException | None = None) -> str:
    """Say what the file is when FFmpeg cannot read it as media (an HTML page, a text file)."""
    from holdmusic import audio

    with open(path, "rb") as fh:
        what = audio.identify(fh.read(4096))
    if what:
        # identify() words things relative to MP3; here the point is that it isn't audio.
        what = what.split(", not ")[0].split(" (")[0]
        return f"this is {what}, not audio"
    if exc is None:
        return "not an audio or video file FFmpeg can read"
    reason = getattr(exc, "strerror", None) or str(exc)
    return f"not an audio or video file FFmpeg can read ({reason})"


def _audio_stream(path: str, container: Any) -> Any:
    streams = list(container.streams.audio)
    if not streams:
        kinds = sorted({s.type for s in container.streams})
        what = f" (it has {' and '.join(kinds)} only)" if kinds else ""
        if not kinds:
            raise StudioError(f"{path}: {_not_media(path)}")
        raise StudioError(f"{path}: no audio stream{what}")
    return streams[0]


def _decoded(path: str, container: Any, stream: Any) -> Iterator[Any]:
    av = load_av()
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.InvalidDataError:
                # A damaged packet: skip it as ffmpeg does, rather than refuse the file.
                continue
    except av.FFmpegError as exc:
        raise StudioError(f"{path}: cannot decode the audio: {exc}") from None


# --- filter graphs ------------------------------------------------------------------


def _graph(av: Any, first: Any, filters: Iterable[tuple[str, str]]) -> tuple[Any, Any]:
    """A graph whose source takes frames like ``first``, through ``filters``; returns the
    graph and its last filter."""
    g = av.filter.Graph()
    node = g.add_abuffer(
        format=first.format.name,
        sample_rate=first.sample_rate,
        layout=first.layout.name,
        time_base=Fraction(1, first.sample_rate),
    )
    for name, args in filters:
        nxt = g.add(name, args) if args else g.add(name)
        node.link_to(nxt)
        node = nxt
    return g, node


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


def measure(av: Any, frames: Iterable[Any], peak: str = "true") -> Loudness:
    """BS.1770 integrated loudness and true peak, as ffmpeg's ``ebur128=peak=true`` reports
    them (the filter itself does the work; its per-frame metadata carries the running values).
    ``peak="sample"`` reads sample peaks instead: much cheaper, and enough for an estimate."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        return Loudness(-math.inf, -math.inf)
    chain = _Chain(av, first, [_meter(peak)])
    return _read_meter(chain.run(_prepend(first, it)), peak, keep=None)


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
    """Refuse before any work: the output must not be the input, nor replace a file unasked."""
    if os.path.abspath(output) == os.path.abspath(path) or (
        os.path.exists(output) and os.path.exists(path) and os.path.samefile(output, path)
    ):
        raise StudioError(f"{output}: the output cannot be the input (the input is never changed)")
    if os.path.isdir(output):
        raise StudioError(f"{output}: is a directory; name the output file")
    if os.path.lexists(output) and not force:
        raise StudioError(f"{output} already exists; use --force to replace it")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise StudioError(f"{output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise StudioError(f"{output}: folder {folder} is not writable")


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
