"""Audio work through FFmpeg's libraries: make a file fit for hold music, measure it, render it.

The stage beside ``audio`` (the header walk) and ``rules`` (the verdict). ``fix`` decodes
anything FFmpeg can read and writes a new MP3; ``listen`` measures what a caller will hear;
``preview`` renders the narrowband phone path to a WAV. ``rules`` judges what comes out of
here with its usual problem codes.

Only this module imports PyAV (``av``, the ``holdmusic[fix]`` extra), and only inside the
functions that need it, so ``holdmusic validate`` without ``--listen`` never loads it.
Every signal operation (resampling, down-mixing, trimming, fades, loudness and true-peak
metering, limiting, filtering, encoding) is an FFmpeg filter or codec: nothing here does
arithmetic on samples except reading a handful of them to decide whether a cut starts
mid-sound.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from holdmusic import rules
from holdmusic.errors import HoldmusicError, UsageError

INSTALL_HINT = "pip install 'holdmusic[fix]'"

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


# --- fix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixSettings:
    length_seconds: float = DEFAULT_LENGTH_SECONDS  # cut a too-long file to this
    max_seconds: float = 60.0  # a file at or over this is too long (validate's limit)
    start_seconds: float = 0.0
    fade_out_seconds: float = DEFAULT_FADE_OUT_SECONDS
    fade_in_seconds: float = DEFAULT_FADE_IN_SECONDS
    loudness_lufs: float = DEFAULT_LOUDNESS_LUFS
    sample_rate: int = DEFAULT_SAMPLE_RATE
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS
    channels: int = 1


@dataclass(frozen=True)
class FixResult:
    source: Source
    output: str
    input_seconds: float | None  # the whole input; from its header when it was not all decoded
    output_samples: int
    output_seconds: float
    trimmed: bool
    start_seconds: float
    fade_in_seconds: float
    fade_out_seconds: float
    input_loudness_lufs: float  # of the kept audio, folded to the output's channels
    output_loudness_lufs: float  # measured on the encoded file
    output_true_peak_dbtp: float  # measured on the encoded file
    gain_db: float
    limited: bool  # the limiter had to hold peaks down (gain alone would have clipped)
    passes: int
    size_bytes: int
    verdict: rules.Verdict  # of the output, by the same rules as `holdmusic validate`
    settings: FixSettings = field(default_factory=FixSettings)

    def changes(self) -> dict[str, Any]:
        s = self.settings
        return {
            "duration_seconds": {
                "from": None if self.input_seconds is None else round(self.input_seconds, 6),
                "to": round(self.output_seconds, 6),
            },
            "trimmed": self.trimmed,
            "start_seconds": self.start_seconds,
            "fade_in_seconds": self.fade_in_seconds,
            "fade_out_seconds": self.fade_out_seconds,
            "channels": {"from": self.source.channels, "to": s.channels},
            "sample_rate": {"from": self.source.sample_rate, "to": s.sample_rate},
            "loudness_lufs": {
                "from": _finite(self.input_loudness_lufs),
                "to": round(self.output_loudness_lufs, 2),
            },
            "true_peak_dbtp": round(self.output_true_peak_dbtp, 2),
            "gain_db": round(self.gain_db, 2),
            "limited": self.limited,
            "bitrate_kbps": s.bitrate_kbps,
            "size_bytes": {"from": self.source.size_bytes, "to": self.size_bytes},
            "input_format": {"container": self.source.container, "codec": self.source.codec},
        }

    def summary(self) -> str:
        """``75.0 s → 59.5 s (2 s fade-out), stereo → mono, 48 kHz → 22.05 kHz, ...``"""
        s = self.settings
        parts = []
        before = "?" if self.input_seconds is None else f"{self.input_seconds:.1f}"
        if self.trimmed or self.start_seconds:
            notes = []
            if self.start_seconds:
                notes.append(f"from {self.start_seconds:g} s")
            if self.fade_in_seconds:
                notes.append(f"{self.fade_in_seconds:g} s fade-in")
            if self.fade_out_seconds:
                notes.append(f"{self.fade_out_seconds:g} s fade-out")
            parts.append(f"{before} s → {self.output_seconds:.1f} s ({', '.join(notes)})")
        else:
            parts.append(f"{self.output_seconds:.3f} s kept")
        if self.source.channels != s.channels:
            parts.append(f"{_channels(self.source.channels)} → {_channels(s.channels)}")
        if self.source.sample_rate != s.sample_rate:
            parts.append(f"{_khz(self.source.sample_rate)} → {_khz(s.sample_rate)}")
        loud = f"{_lufs(self.input_loudness_lufs)} → {_lufs(self.output_loudness_lufs)} LUFS"
        if self.limited:
            loud += " (peaks limited)"
        parts.append(loud)
        parts.append(f"{_mb(self.source.size_bytes)} → {_mb(self.size_bytes)}")
        return ", ".join(parts)


def _finite(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None


def _channels(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n} channels")


def _khz(rate: int) -> str:
    return f"{rate / 1000:g} kHz"


def _lufs(x: float) -> str:
    return f"{x:.1f}" if math.isfinite(x) else "silent"


def _mb(n: int) -> str:
    mb = n / 1_000_000
    return f"{mb:.2f} MB" if mb < 1 else f"{mb:.1f} MB"


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


def fix(
    path: str,
    output: str,
    settings: FixSettings = FixSettings(),
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    *,
    force: bool = False,
) -> FixResult:
    """Write ``output``: ``path`` decoded, cut to fit, mono, resampled, normalised, MP3.

    The file is written under a temporary name in the output's folder, judged by
    ``rules`` and only then renamed into place, so a failure or Ctrl-C leaves nothing
    behind, and nothing that fails validation; the input is only ever read.
    """
    av = load_av("holdmusic fix")
    check_output(path, output, force)
    container = _open_input(av, path)
    with container:
        stream = _audio_stream(path, container)
        frames, in_samples, in_rate, in_channels, complete = _decode_to_output_format(
            av, path, container, stream, settings
        )
        source = Source(
            path=path,
            container=container.format.name,
            codec=stream.codec_context.codec.canonical_name,
            sample_rate=in_rate,
            channels=in_channels,
            size_bytes=os.path.getsize(path),
        )
        if complete:
            total_seconds: float | None = in_samples / in_rate
        elif container.duration:  # decoding stopped early: the header's word for the rest
            total_seconds = container.duration / 1_000_000
        else:
            total_seconds = None
    rate = settings.sample_rate
    start = round(settings.start_seconds * rate)
    available_samples = max(0, round(in_samples * rate / in_rate) - start) if in_rate else 0
    input_seconds = in_samples / in_rate - settings.start_seconds
    if available_samples < _MIN_MEASURABLE_SECONDS * rate:
        if settings.start_seconds and input_seconds <= 0:
            raise StudioError(
                f"{path}: --start {settings.start_seconds:g} s is past the end of the audio "
                f"({in_samples / in_rate:.3f} s)"
            )
        raise StudioError(
            f"{path}: only {max(0.0, input_seconds):.3f} s of audio; too short to make hold "
            "music from"
        )
    too_long = input_seconds >= settings.max_seconds
    if too_long:
        n = round(settings.length_seconds * rate)
    else:
        # Keep the length to the sample; never round a just-under file up to the limit.
        n = min(available_samples, math.ceil(settings.max_seconds * rate) - 1)
    fade_out = round(settings.fade_out_seconds * rate) if too_long else 0
    fade_out = min(fade_out, n)
    fade_in = 0
    if start and _starts_mid_sound(frames, start, rate):
        fade_in = min(round(settings.fade_in_seconds * rate), n)

    shape = [("asetpts", "N/SR/TB")]
    if start or n < available_samples:
        shape += [("atrim", f"start_sample={start}:end_sample={start + n}"), ("asetpts", "N/SR/TB")]
    shape.append(("apad", f"whole_len={n}"))
    if fade_in:
        shape.append(("afade", f"t=in:ss=0:ns={fade_in}"))
    if fade_out:
        shape.append(("afade", f"t=out:ss={n - fade_out}:ns={fade_out}"))
    # Measured on the way through: sample peaks (cheap) are enough to decide on the limiter.
    shape.append(_meter("sample"))
    shaped: list[Any] = []
    before = _read_meter(_Chain(av, frames[0], shape).run(frames), "sample", keep=shaped)
    if not math.isfinite(before.integrated_lufs):
        raise StudioError(f"{path}: the audio is silent (below BS.1770's gate); nothing to fix")

    folder, name = os.path.split(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        os.close(fd)
        target = settings.loudness_lufs
        gain = target - before.integrated_lufs + _ENCODER_LOSS_LU
        ceiling = TRUE_PEAK_CEILING_DBTP - _FIRST_HEADROOM_DB
        # Inter-sample peaks sit up to ~1 dB above sample peaks in music; only when gain
        # could bring them near the ceiling is the (oversampled, slower) limiter needed.
        limited = before.true_peak_dbtp + gain > ceiling - _INTERSAMPLE_DB
        passes = 0
        while True:
            passes += 1
            _render_mp3(av, shaped, n, gain, ceiling if limited else None, tmp, settings)
            after = _measure_file(av, tmp)
            loud_err = after.integrated_lufs - target
            peak_over = after.true_peak_dbtp - TRUE_PEAK_CEILING_DBTP
            if (abs(loud_err) <= _AIM_LU and peak_over <= 0) or passes >= _MAX_PASSES:
                break
            gain -= loud_err
            if peak_over > -0.1:
                if limited:  # the encoder overshot the limiter: aim lower by as much
                    ceiling -= max(peak_over, 0.0) + 0.2
                limited = True
            limited = limited or before.true_peak_dbtp + gain > ceiling - _INTERSAMPLE_DB
        if abs(after.integrated_lufs - target) > LOUDNESS_TOLERANCE_LU or (
            after.true_peak_dbtp > TRUE_PEAK_CEILING_DBTP
        ):
            raise StudioError(
                f"{path}: could not reach {target:g} LUFS with the true peak at or below "
                f"{TRUE_PEAK_CEILING_DBTP:g} dBTP (got {after.integrated_lufs:.1f} LUFS, "
                f"{after.true_peak_dbtp:.1f} dBTP); the audio is too peaky to be made this loud "
                "— try a lower --loudness"
            )
        size = os.path.getsize(tmp)
        verdict = replace(rules.check_path(tmp, limits), path=output)
        if not verdict.ok:
            reasons = "; ".join(f"{p.code}: {p.message}" for p in verdict.errors)
            raise StudioError(f"{path}: the new MP3 would not pass ({reasons})")
        _publish(tmp, output, force)
    except BaseException:
        _remove(tmp)
        raise
    return FixResult(
        source=source,
        output=output,
        input_seconds=total_seconds,
        output_samples=n,
        output_seconds=n / rate,
        trimmed=too_long,
        start_seconds=settings.start_seconds,
        fade_in_seconds=fade_in / rate,
        fade_out_seconds=fade_out / rate,
        input_loudness_lufs=before.integrated_lufs,
        output_loudness_lufs=after.integrated_lufs,
        output_true_peak_dbtp=after.true_peak_dbtp,
        gain_db=gain,
        limited=limited,
        passes=passes,
        size_bytes=size,
        verdict=verdict,
        settings=settings,
    )


def _decode_to_output_format(
    av: Any, path: str, container: Any, stream: Any, settings: FixSettings
) -> tuple[list[Any], int, int, int, bool]:
    """Decode what is needed (from 0 to --start + the length, plus a margin), down-mixed and
    resampled to the output format. Returns the frames, the input samples decoded, the input
    rate and channel count, and whether the whole input was decoded."""
    frames: list[Any] = []
    chain: _Chain | None = None
    in_rate = in_channels = 0
    in_samples = 0
    # Enough to know the file is too long, and to cut it: start + limit (+1 s for the
    # resampler's and the decoder's edges).
    need_seconds = settings.start_seconds + max(settings.max_seconds, settings.length_seconds) + 1
    layout = {1: "mono", 2: "stereo"}[settings.channels]
    to_output = [
        ("aresample", str(settings.sample_rate)),
        ("aformat", f"sample_fmts=flt:channel_layouts={layout}"),
    ]
    complete = True
    for frame in _decoded(path, container, stream):
        if chain is None:
            in_rate, in_channels = frame.sample_rate, frame.layout.nb_channels
            chain = _Chain(av, frame, to_output)
        elif frame.sample_rate != in_rate or frame.layout.nb_channels != in_channels:
            raise StudioError(
                f"{path}: the audio format changes mid-stream "
                f"({in_rate} Hz/{in_channels} ch → {frame.sample_rate} Hz/"
                f"{frame.layout.nb_channels} ch); convert it to one format first"
            )
        in_samples += frame.samples
        frames.extend(chain.push(frame))
        if in_samples >= need_seconds * in_rate:
            complete = False
            break
    if chain is None:
        raise StudioError(f"{path}: the audio stream holds no decodable audio")
    frames.extend(chain.push(None))
    return frames, in_samples, in_rate, in_channels, complete


def _starts_mid_sound(frames: list[Any], start: int, rate: int) -> bool:
    """Is there sound in the first 10 ms after the cut? (a few hundred samples: read them)."""
    window = max(1, rate // 100)
    threshold = 10 ** (SILENCE_DBFS / 20)
    pos = 0
    for f in frames:
        if pos + f.samples <= start:
            pos += f.samples
            continue
        samples = memoryview(bytes(f.planes[0])).cast("f")
        lo = max(0, start - pos)
        chunk = samples[lo : lo + window]
        if any(abs(x) > threshold for x in chunk):
            return True
        window -= len(chunk)
        pos += f.samples
        if window <= 0:
            return False
    return False


def _render_mp3(
    av: Any,
    shaped: list[Any],
    n: int,
    gain_db: float,
    ceiling_dbtp: float | None,
    path: str,
    settings: FixSettings,
) -> None:
    """Gain, then a limiter on oversampled audio (so it sees inter-sample peaks), back to the
    output rate at exactly ``n`` samples, encoded CBR."""
    rate = settings.sample_rate
    chain = [("volume", f"volume={gain_db:.4f}dB:precision=float")]
    if ceiling_dbtp is not None:
        limit = min(1.0, max(0.0625, 10 ** (ceiling_dbtp / 20)))
        chain += [
            ("aresample", str(rate * _OVERSAMPLE)),
            # level=0: no auto make-up gain; latency=1: no lookahead delay in the output.
            ("alimiter", f"limit={limit:.6f}:attack=1:release=50:level=0:latency=1"),
            ("aresample", str(rate)),
            ("asetpts", "N/SR/TB"),
            ("atrim", f"end_sample={n}"),
            ("apad", f"whole_len={n}"),
        ]
    chain.append(("aformat", "sample_fmts=fltp"))
    layout = {1: "mono", 2: "stereo"}[settings.channels]
    with av.open(path, "w", format="mp3") as out:
        enc = out.add_stream("libmp3lame", rate=rate, layout=layout, options=_LAME_OPTIONS)
        enc.bit_rate = settings.bitrate_kbps * 1000
        for frame in _Chain(av, shaped[0], chain).run(shaped):
            frame.pts = None
            for packet in enc.encode(frame):
                out.mux(packet)
        for packet in enc.encode(None):
            out.mux(packet)


def _measure_file(av: Any, path: str) -> Loudness:
    with av.open(path, "r") as c:
        stream = c.streams.audio[0]
        return measure(av, c.decode(stream))


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
    _remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# --- listen -------------------------------------------------------------------------------

_MIN_SILENCE_SECONDS = 0.1  # shorter runs are the gaps between notes, not silence
# The band edges as 8th-order Butterworth filters (four biquads each, with these Qs): flat
# inside, 48 dB/octave outside, and an energy bandwidth within 1% of the nominal one, so
# the share is close to that of an ideal 300-3400 Hz band-pass.
_BUTTERWORTH_8 = (0.5098, 0.6013, 0.9000, 2.5629)
_PHONE_BAND = [
    *(("highpass", f"f=300:p=2:width_type=q:width={q}") for q in _BUTTERWORTH_8),
    *(("lowpass", f"f=3400:p=2:width_type=q:width={q}") for q in _BUTTERWORTH_8),
]
_RMS = ("astats", "metadata=1:measure_perchannel=none:measure_overall=RMS_level")
_RMS_KEY = "lavfi.astats.Overall.RMS_level"


def listen(source: str | bytes, name: str | None = None) -> rules.Listening:
    """Decode ``source`` (a path, or a file's bytes) and measure what a caller will hear.

    One decode feeds one FFmpeg filter graph with three branches: ``ebur128`` with true
    peak on the channels as they are (what ``ffmpeg -af ebur128=peak=true`` reports);
    ``silencedetect`` at -50 dBFS on all channels, then the RMS level of the mono
    fold-down; and the same RMS level after a 300-3400 Hz band-pass. The phone-band share
    is the ratio of the two energies.
    """
    import io

    av = load_av("validate --listen")
    label = name or (source if isinstance(source, str) else "the download")
    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else source, "r")
    except av.FFmpegError as exc:
        raise StudioError(f"{label}: cannot decode it: {exc}") from None
    with container:
        stream = _audio_stream(label, container)
        fan: _Fan | None = None
        samples = rate = 0
        layout = ""
        for frame in _decoded(label, container, stream):
            if fan is None:
                rate, layout = frame.sample_rate, frame.layout.name
                mono = ("aformat", "sample_fmts=flt:channel_layouts=mono")
                detect = f"noise={rules.SILENCE_DBFS}dB:d={_MIN_SILENCE_SECONDS}"
                fan = _Fan(
                    av,
                    frame,
                    # Big frames: fewer trips through Python, and astats writes its
                    # metadata once per frame.
                    [("asetnsamples", f"n={_BLOCK}:p=0")],
                    [
                        [_meter("true")],
                        [("asetpts", "N/SR/TB"), ("silencedetect", detect), mono, _RMS],
                        [mono, *_PHONE_BAND, _RMS],
                    ],
                )
            elif frame.sample_rate != rate or frame.layout.name != layout:
                raise StudioError(
                    f"{label}: the audio format changes mid-stream ({rate} Hz {layout} → "
                    f"{frame.sample_rate} Hz {frame.layout.name})"
                )
            samples += frame.samples
            fan.push(frame)
        if fan is None:
            raise StudioError(f"{label}: the audio stream holds no decodable audio")
        fan.push(None)
    integrated, peak = -math.inf, 0.0
    for out in fan.outputs[0]:
        integrated, peak = _r128(out.metadata, integrated, peak)
    silence_start: float | None = None
    longest_inside = 0.0
    full_db = band_db = -math.inf
    for out in fan.outputs[1]:
        meta = out.metadata
        full_db = float(meta.get(_RMS_KEY, full_db))
        silence_start, longest_inside = _silence(meta, silence_start, longest_inside)
    for out in fan.outputs[2]:
        band_db = float(out.metadata.get(_RMS_KEY, band_db))
    total = samples / rate
    trailing = total - silence_start if silence_start is not None else 0.0
    silent = not math.isfinite(full_db) or full_db <= -150
    share = None if silent else min(1.0, 10 ** ((band_db - full_db) / 10))
    return rules.Listening(
        loudness_lufs=integrated if integrated > -70.0 else None,
        true_peak_dbtp=_db(peak) if peak > 0 else None,
        phone_band_share=share,
        trailing_silence_seconds=trailing,
        longest_silence_seconds=longest_inside,
    )


_BLOCK = 8192


class _Fan:
    """abuffer → common filters → asplit → one chain and sink per branch. Output frames
    are kept per branch (measurements read their metadata afterwards)."""

    def __init__(
        self,
        av: Any,
        first: Any,
        common: list[tuple[str, str]],
        branches: list[list[tuple[str, str]]],
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
        self.outputs: list[list[Any]] = [[] for _ in branches]

    def push(self, frame: Any) -> None:
        if frame is not None:
            frame.pts = None
        self.graph.push(frame)
        for sink, kept in zip(self.sinks, self.outputs, strict=True):
            while True:
                try:
                    kept.append(sink.pull())
                except (self.av.BlockingIOError, self.av.EOFError):
                    break


def _r128(meta: Any, integrated: float, peak: float) -> tuple[float, float]:
    if "lavfi.r128.I" in meta:
        integrated = float(meta["lavfi.r128.I"])
    if "lavfi.r128.true_peak" in meta:
        peak = max(peak, float(meta["lavfi.r128.true_peak"]))
    return integrated, peak


def _silence(meta: Any, start: float | None, longest: float) -> tuple[float | None, float]:
    """Follow silencedetect's marks: a run that starts after 0 and ends is inside."""
    if "lavfi.silence_start" in meta:
        start = max(0.0, float(meta["lavfi.silence_start"]))
    if "lavfi.silence_end" in meta and start is not None:
        end = float(meta["lavfi.silence_end"])
        if start > 0:
            longest = max(longest, end - start)
        start = None
    return start, longest


def hear(verdict: rules.Verdict, source: str | bytes) -> rules.Verdict:
    """``verdict`` with what :func:`listen` measured in ``source`` and the warnings that
    calls for; a file FFmpeg cannot decode gets a ``listen_failed`` warning instead."""
    try:
        listening = listen(source, name=verdict.path)
    except StudioError as exc:
        problem = rules.Problem(
            "listen_failed", "warning", f"could not decode the audio to listen to it ({exc})"
        )
        return replace(verdict, problems=(*verdict.problems, problem))
    return rules.with_listening(verdict, listening)


# --- preview --------------------------------------------------------------------------------

# 4th-order Butterworth edges (two biquads each): the narrowband telephone channel's
# 300-3400 Hz, 24 dB/octave outside it (a 100 Hz tone comes out ~38 dB under a 1 kHz one).
_BUTTERWORTH_4 = (0.5412, 1.3066)
_TELEPHONE = [
    *(("highpass", f"f=300:p=2:width_type=q:width={q}") for q in _BUTTERWORTH_4),
    *(("lowpass", f"f=3400:p=2:width_type=q:width={q}") for q in _BUTTERWORTH_4),
]
PHONE_RATE = 8000


@dataclass(frozen=True)
class Preview:
    output: str
    codec: str  # "pcm_mulaw" or "pcm_alaw"
    seconds: float
    size_bytes: int


def preview(path: str, output: str, *, alaw: bool = False, force: bool = False) -> Preview:
    """Render what a caller on a narrowband line hears: mono, 300-3400 Hz, 8 kHz, G.711
    (μ-law, or A-law) in a WAV any player opens. Same safety as :func:`fix`: the input is
    only read, the output appears complete or not at all, and replaces a file only with
    ``force``."""
    av = load_av("holdmusic preview")
    check_output(path, output, force)
    container = _open_input(av, path)
    codec = "pcm_alaw" if alaw else "pcm_mulaw"
    folder, name = os.path.split(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        os.close(fd)
        with container:
            stream = _audio_stream(path, container)
            samples = 0
            with av.open(tmp, "w", format="wav") as out:
                enc = out.add_stream(codec, rate=PHONE_RATE, layout="mono")
                chain: _Chain | None = None
                for frame in _decoded(path, container, stream):
                    if chain is None:
                        chain = _Chain(
                            av,
                            frame,
                            [
                                ("aformat", "sample_fmts=flt:channel_layouts=mono"),
                                *_TELEPHONE,
                                ("aresample", str(PHONE_RATE)),
                                ("aformat", "sample_fmts=s16"),
                            ],
                        )
                    for f in chain.push(frame):
                        samples += f.samples
                        _encode(out, enc, f)
                if chain is None:
                    raise StudioError(f"{path}: the audio stream holds no decodable audio")
                for f in chain.push(None):
                    samples += f.samples
                    _encode(out, enc, f)
                for packet in enc.encode(None):
                    out.mux(packet)
        size = os.path.getsize(tmp)
        _publish(tmp, output, force)
    except BaseException:
        _remove(tmp)
        raise
    return Preview(output, codec, samples / PHONE_RATE, size)


def _encode(out: Any, enc: Any, frame: Any) -> None:
    frame.pts = None
    for packet in enc.encode(frame):
        out.mux(packet)
