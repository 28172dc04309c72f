"""``holdmusic fix``: any audio file in, a passing hold-music MP3 out.

The steps (``docs/fix-and-listen.md`` says why each is as it is):

1. decode only what the output needs, at the output's rate and channels (seeking to a far
   ``--start``; skipping leading digital silence without keeping it);
2. trim the silence at both ends, mix announcements in (the music ducked under them);
3. cut: at ``--end``, or at a pause searched back from the length limit, or, for
   ``--loop``, crossfade the end into the start;
4. gentle phone-band shaping, fades;
5. gain (and a limiter on oversampled audio when the peaks need it), LAME, and measure the
   MP3 with ``validate --listen``'s own ears until it meets the loudness and peak targets;
6. judge it with ``rules`` and only then rename it into place.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from holdmusic import rules
from holdmusic.errors import UsageError
from holdmusic.studio import (
    _AIM_LU,
    _ENCODER_LOSS_LU,
    _FIRST_HEADROOM_DB,
    _INTERSAMPLE_DB,
    _LAME_OPTIONS,
    _MAX_PASSES,
    _MIN_MEASURABLE_SECONDS,
    _OVERSAMPLE,
    DEFAULT_BITRATE_KBPS,
    DEFAULT_FADE_IN_SECONDS,
    DEFAULT_FADE_OUT_SECONDS,
    DEFAULT_LENGTH_SECONDS,
    DEFAULT_LOUDNESS_LUFS,
    DEFAULT_SAMPLE_RATE,
    LOUDNESS_TOLERANCE_LU,
    TRUE_PEAK_CEILING_DBTP,
    DecodeReport,
    Loudness,
    Source,
    StudioError,
    _audio_stream,
    _Chain,
    _decoded,
    _meter,
    _open_input,
    _publish,
    _read_meter,
    check_output,
    cutting,
    load_av,
    measure,
    mixing,
    walked_seconds,
)
from holdmusic.tempfiles import partial_file

DEFAULT_CROSSFADE_SECONDS = 2.0  # --loop: long enough to blend two unrelated bars
# A --start further in than this is reached by seeking (exact for PCM and FLAC, the
# demuxer's index for compressed formats) rather than by decoding everything before it.
_SEEK_AFTER_SECONDS = 60.0
# Decoded before --start, so the resampler's own edge falls outside the output.
_EDGE_SECONDS = 0.1
# While looking for the first sound, decoded frames whose peak is under this are dropped
# rather than kept (a short run of them stays, for the trim to choose from). -80 dBFS is
# about where the validator's `leading_silence` draws the line too.
_SOUND_DBFS = -80.0
_RING_SECONDS = 0.5
_BLOCK = 4096
_SOURCE_BLOCK = 16384
# Nothing above -80 dBFS this long after --start: not hold music, or it starts later.
_SOUND_SEARCH_SECONDS = 300.0
# --end past the audio by no more than this reads as "to the end" (decoders disagree by
# a few ms about where a compressed file ends).
_END_TOLERANCE_SECONDS = 0.05
# Fix's own warnings (the output's verdict carries validate's).
LARGE_GAIN_DB = 15.0
_FLOAT_CODECS = ("pcm_f32", "pcm_f64", "pcm_f16", "pcm_f24")


@dataclass(frozen=True)
class Announcement:
    path: str
    at_seconds: float  # where the voice begins, in seconds into the output


@dataclass(frozen=True)
class FixSettings:
    # Cut anything longer to at most this (at a pause). None: 59.5 s when the audio is not
    # under max_seconds, else keep its length.
    length_seconds: float | None = None
    end_seconds: float | None = None  # cut exactly here (seconds into the input)
    max_seconds: float = 60.0  # a file at or over this is too long (validate's limit)
    start_seconds: float = 0.0
    # None: the defaults, each only where it is needed (a fade-out at a cut, a fade-in where
    # --start cuts into sound). A number: exactly that, wherever the output ends or begins.
    fade_out_seconds: float | None = None
    fade_in_seconds: float | None = None
    keep_silence: bool = False
    loop: bool = False
    crossfade_seconds: float = DEFAULT_CROSSFADE_SECONDS
    phone_shaping: bool = True
    announcements: tuple[Announcement, ...] = ()
    loudness_lufs: float = DEFAULT_LOUDNESS_LUFS
    sample_rate: int = DEFAULT_SAMPLE_RATE
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS
    channels: int = 1

    @property
    def layout(self) -> str:
        return {1: "mono", 2: "stereo"}[self.channels]

    def longest_output(self) -> float:
        """The most seconds the output can hold, before looking at the input."""
        if self.end_seconds is not None:
            return self.end_seconds - self.start_seconds
        if self.length_seconds is not None:
            return self.length_seconds
        return self.max_seconds


def check_settings(s: FixSettings) -> None:
    """What can be refused before any decoding: one line each, a usage error."""
    if s.end_seconds is not None and s.length_seconds is not None:
        raise UsageError("give --end or --length, not both")
    if s.end_seconds is not None and s.end_seconds <= s.start_seconds:
        raise UsageError(f"--end {s.end_seconds:g} s is not after --start {s.start_seconds:g} s")
    longest = s.longest_output()
    if longest >= s.max_seconds and (s.end_seconds is not None or s.length_seconds is not None):
        what = "--length" if s.length_seconds is not None else "--end minus --start:"
        raise UsageError(f"{what} {longest:g} s is not under --max-seconds {s.max_seconds:g}")
    fades = (s.fade_in_seconds or 0.0) + (s.fade_out_seconds or 0.0)
    if fades > longest:
        raise UsageError(
            f"the fades ({fades:g} s) are longer than the output can be ({longest:g} s)"
        )
    for name, value in (("--fade-out", s.fade_out_seconds), ("--fade-in", s.fade_in_seconds)):
        if value is not None and value > longest / 2:
            raise UsageError(
                f"{name} {value:g} s would fade more than half of the output "
                f"(at most {longest:g} s); fades are for the edges"
            )
    if s.loop:
        if s.fade_out_seconds is not None:
            raise UsageError(
                "--loop has no fade-out: its end crossfades into its start (--crossfade)"
            )
        if s.fade_in_seconds is not None:
            raise UsageError(
                "--loop has no fade-in: its start is the crossfade from its end (--crossfade)"
            )
        if s.crossfade_seconds <= 0 or s.crossfade_seconds > longest / 4:
            raise UsageError(
                f"--crossfade {s.crossfade_seconds:g} s: give more than 0 and at most a quarter "
                f"of the output ({longest / 4:g} s)"
            )
    ats = sorted(a.at_seconds for a in s.announcements)
    for at in ats:
        if at < 0 or not math.isfinite(at):
            raise UsageError(f"--announce-at {at:g}: give a time into the output")
        if at >= longest:
            raise UsageError(
                f"--announce-at {at:g} s is past the end of the output (at most {longest:g} s)"
            )
        if s.loop and at < s.crossfade_seconds:
            raise UsageError(
                f"--announce-at {at:g} s: with --loop the first {s.crossfade_seconds:g} s are "
                "the crossfade from the end, which would fade the voice in; start it later"
            )


@dataclass(frozen=True)
class FixResult:
    source: Source
    output: str
    input_seconds: float | None  # the whole input; from its header when it was not all decoded
    output_samples: int
    output_seconds: float
    trimmed: bool  # the output was cut before the end of the input
    start_seconds: float
    fade_in_seconds: float
    fade_out_seconds: float
    # The source over the stretch fix read (from --start), folded to the output's channels:
    # before silence trimming, announcements, shaping and gain.
    input_loudness_lufs: float
    output_loudness_lufs: float  # measured on the encoded file
    output_true_peak_dbtp: float  # measured on the encoded file
    gain_db: float
    limited: bool  # the limiter had to hold peaks down (gain alone would have clipped)
    passes: int
    size_bytes: int
    verdict: rules.Verdict  # of the output, by the same rules as `holdmusic validate --listen`
    settings: FixSettings = field(default_factory=FixSettings)
    silence_trimmed: tuple[float, float] = (0.0, 0.0)  # seconds, at the start and at the end
    cut_at_seconds: float | None = None  # in the input: where the output ends (or loops)
    cut_where: str | None = None  # "pause", "limit" (no pause found) or "end" (--end)
    loop_crossfade_seconds: float | None = None
    announcements: tuple[mixing.Placed, ...] = ()
    shaping: mixing.Shaping | None = None
    warnings: tuple[rules.Problem, ...] = ()  # fix's own, about the source and the cut

    def changes(self) -> dict[str, Any]:
        s = self.settings
        rate = s.sample_rate
        return {
            "duration_seconds": {
                "from": None if self.input_seconds is None else round(self.input_seconds, 6),
                "to": round(self.output_seconds, 6),
            },
            "trimmed": self.trimmed,
            "start_seconds": self.start_seconds,
            "fade_in_seconds": round(self.fade_in_seconds, 3),
            "fade_out_seconds": round(self.fade_out_seconds, 3),
            "silence_trimmed_seconds": {
                "start": round(self.silence_trimmed[0], 3),
                "end": round(self.silence_trimmed[1], 3),
            },
            "cut": None
            if self.cut_at_seconds is None
            else {"at_seconds": round(self.cut_at_seconds, 3), "where": self.cut_where},
            "loop": None
            if self.loop_crossfade_seconds is None
            else {"crossfade_seconds": round(self.loop_crossfade_seconds, 3)},
            "announcements": [
                {
                    "path": a.path,
                    "at_seconds": round(a.at / rate, 3),
                    "seconds": round(a.samples / rate, 3),
                    "gain_db": round(a.gain_db, 2),
                }
                for a in self.announcements
            ],
            "phone_shaping": None if self.shaping is None else self.shaping.to_dict(),
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
            "input_problems": [p.to_dict() for p in self.source.problems],
        }

    def summary(self) -> str:
        """``75.0 s → 57.1 s (cut at a pause at 57.1 s, 1.7 s fade-out), stereo → mono, ...``"""
        s = self.settings
        parts = []
        before = "?" if self.input_seconds is None else f"{self.input_seconds:.1f}"
        notes = []
        if self.start_seconds:
            notes.append(f"from {self.start_seconds:g} s")
        lead, tail = self.silence_trimmed
        if lead >= 0.05 or tail >= 0.05:
            trims = []
            if lead >= 0.05:
                trims.append(f"{lead:.1f} s at the start")
            if tail >= 0.05:
                trims.append(f"{tail:.1f} s at the end")
            notes.append(f"silence trimmed: {' and '.join(trims)}")
        if self.cut_at_seconds is not None:
            where = "at a pause " if self.cut_where == "pause" else ""
            notes.append(f"cut {where}at {self.cut_at_seconds:.1f} s")
        if self.loop_crossfade_seconds is not None:
            notes.append(f"loop: {self.loop_crossfade_seconds:g} s crossfade into the start")
        if self.fade_in_seconds:
            notes.append(f"{self.fade_in_seconds:.3g} s fade-in")
        if self.fade_out_seconds:
            notes.append(f"{self.fade_out_seconds:.3g} s fade-out")
        if self.announcements:
            n = len(self.announcements)
            notes.append(f"{n} announcement{'s' if n > 1 else ''}, music ducked")
        if notes:
            parts.append(f"{before} s → {self.output_seconds:.1f} s ({', '.join(notes)})")
        else:
            parts.append(f"{self.output_seconds:.3f} s kept")
        if self.source.channels != s.channels:
            parts.append(f"{_channels(self.source.channels)} → {_channels(s.channels)}")
        if self.source.sample_rate != s.sample_rate:
            parts.append(f"{_khz(self.source.sample_rate)} → {_khz(s.sample_rate)}")
        if self.shaping is not None and (self.shaping.low_shelf_db or self.shaping.high_shelf_db):
            shelves = []
            if self.shaping.low_shelf_db:
                shelves.append(f"bass {self.shaping.low_shelf_db:.1f} dB")
            if self.shaping.high_shelf_db:
                shelves.append(f"treble {self.shaping.high_shelf_db:.1f} dB")
            parts.append(f"phone band: {', '.join(shelves)}")
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


# --- reading: only what the output needs ------------------------------------------------


@dataclass
class _Window:
    frames: list[Any]  # at the output rate and layout, float
    offset: int  # the input's output-rate sample where frames[0] begins
    samples: int  # in frames
    complete: bool  # decoding reached the end of the input
    in_rate: int
    in_channels: int
    in_seconds: float  # how far into the input decoding got
    peak_dbfs: float  # the source's sample peak in what was kept (before any resampling)
    sound: bool  # anything above _SOUND_DBFS at all


def _read_window(
    av: Any,
    path: str,
    container: Any,
    stream: Any,
    s: FixSettings,
    *,
    seek: bool = True,
    report: DecodeReport | None = None,
) -> _Window:
    """Decode from --start (seeking when it is far in) to as far as the output and the cut
    search need, resampled and down-mixed to the output's format. Memory holds about the
    output's length plus the search's margin: nothing before --start, and only half a
    second of leading digital silence, however long."""
    rate = s.sample_rate
    to_output = [
        # Big frames first: astats writes its metadata into every frame, which costs more
        # than the measuring on a decoder's small ones (MP3: 1152 samples).
        ("asetnsamples", f"n={_SOURCE_BLOCK}:p=0"),
        # The source's sample peak, read from the frames' metadata (aresample keeps it).
        ("astats", "metadata=1:reset=0:measure_perchannel=none:measure_overall=Peak_level"),
        ("aresample", str(rate)),
        ("aformat", f"sample_fmts=flt:channel_layouts={s.layout}"),
        # Every later pass runs through Python once per frame: few, big frames (the
        # decoders' own are 576-4608 samples).
        ("asetnsamples", f"n={_BLOCK}:p=0"),
    ]
    margin = max(cutting.PAUSE_CONTEXT_SECONDS, (s.crossfade_seconds if s.loop else 0) + 1) + 1
    need_after_sound = round((max(s.max_seconds, s.longest_output()) + margin) * rate)
    seeked = False
    if seek and s.start_seconds > _SEEK_AFTER_SECONDS:
        try:
            container.seek(
                int((s.start_seconds - 1) / stream.time_base), stream=stream, backward=True
            )
            seeked = True
        except (av.FFmpegError, OverflowError, ValueError, ZeroDivisionError, TypeError):
            # No index to seek by (a FLAC without a seek table...), and a failed seek may
            # leave the demuxer anywhere: decode from the top, dropping what comes first.
            with _open_input(av, path) as again:
                return _read_window(
                    av, path, again, _audio_stream(path, again), s, seek=False, report=report
                )

    frames: deque[Any] = deque()
    kept = 0
    offset: int | None = None
    sound_at: int | None = 0 if s.keep_silence else None  # samples into frames
    chain: _Chain | None = None
    in_rate = in_channels = 0
    pos = 0  # the input's sample (at its own rate) where the next frame begins
    keep_from = end_at = 0
    peak = "-inf"
    complete = True
    sound_floor = 10 ** (_SOUND_DBFS / 20)
    ring = round(_RING_SECONDS * rate)

    def add(out: Any) -> None:
        nonlocal kept, sound_at, offset, peak
        peak = out.metadata.get("lavfi.astats.Overall.Peak_level", peak)
        if sound_at is None and _peak(out) > sound_floor:
            sound_at = kept
        frames.append(out)
        kept += out.samples
        if sound_at is None:
            while frames and kept - frames[0].samples >= ring:
                dropped = frames.popleft()
                kept -= dropped.samples
                assert offset is not None
                offset += dropped.samples

    for frame in _decoded(path, container, stream, report):
        if chain is None:
            in_rate, in_channels = frame.sample_rate, frame.layout.nb_channels
            chain = _Chain(av, frame, to_output)
            if seeked:
                if frame.pts is None or frame.time is None:
                    raise StudioError(
                        f"{path}: cannot find --start {s.start_seconds:g} s in this file "
                        "(its frames carry no times)"
                    )
                pos = round(frame.time * in_rate)
            keep_from = round((s.start_seconds - _EDGE_SECONDS) * in_rate)
            if s.end_seconds is not None:
                end_at = round((s.end_seconds + margin) * in_rate)
        elif frame.sample_rate != in_rate or frame.layout.nb_channels != in_channels:
            raise StudioError(
                f"{path}: the audio format changes mid-stream "
                f"({in_rate} Hz/{in_channels} ch → {frame.sample_rate} Hz/"
                f"{frame.layout.nb_channels} ch); convert it to one format first"
            )
        here = pos
        pos += frame.samples
        if pos <= keep_from:
            continue  # before --start: decoded, never kept
        if offset is None:
            offset = round(here * rate / in_rate)
        for out in chain.push(frame):
            add(out)
        if s.end_seconds is not None and pos >= end_at:
            complete = False
            break
        if sound_at is not None and kept - sound_at >= need_after_sound:
            complete = False
            break
        searched = pos - keep_from > _SOUND_SEARCH_SECONDS * in_rate
        if sound_at is None and searched and s.end_seconds is None:
            raise StudioError(
                f"{path}: nothing above {_SOUND_DBFS:g} dBFS in the "
                f"{_SOUND_SEARCH_SECONDS:g} s after the start; if the music begins "
                "later, say where with --start"
            )
    if chain is None:
        raise StudioError(f"{path}: the audio stream holds no decodable audio")
    for out in chain.push(None):
        add(out)
    return _Window(
        list(frames),
        offset or 0,
        kept,
        complete,
        in_rate,
        in_channels,
        pos / in_rate,
        float(peak),
        sound_at is not None,
    )


def _peak(frame: Any) -> float:
    """The largest magnitude in a float frame (C-speed min/max over the samples)."""
    n = frame.samples * (1 if frame.format.is_planar else frame.layout.nb_channels)
    top = 0.0
    for plane in frame.planes:
        values = memoryview(plane).cast("f")[:n]
        if len(values):
            top = max(top, max(values), -min(values))
    return top


# --- fix ------------------------------------------------------------------------------------


def fix(
    path: str,
    output: str,
    settings: FixSettings = FixSettings(),
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    *,
    force: bool = False,
) -> FixResult:
    """Write ``output``: ``path`` decoded, trimmed, cut to fit at a pause (or looped), with
    announcements mixed in, shaped for the phone band, mono, resampled, normalised, MP3.

    The file is written under a temporary name in the output's folder, judged by
    ``rules`` (with ``validate --listen``'s measurements) and only then renamed into place,
    so a failure or Ctrl-C leaves nothing behind, and nothing that fails validation; the
    input is only ever read.
    """

    from holdmusic.studio import listening

    av = load_av("holdmusic fix")
    s = settings
    check_settings(s)
    check_output(path, output, force)
    rate = s.sample_rate
    longest = round(s.longest_output() * rate)
    voices = [mixing.load_voice(av, a.path, rate, s.layout, longest) for a in s.announcements]
    container = _open_input(av, path)
    with container:
        stream = _audio_stream(path, container)
        report = DecodeReport()
        win = _read_window(av, path, container, stream, s, report=report)
        source = Source(
            path=path,
            container=container.format.name,
            codec=stream.codec_context.codec.canonical_name,
            sample_rate=win.in_rate,
            channels=win.in_channels,
            size_bytes=os.path.getsize(path),
            problems=tuple(report.notes),
        )
        walked = None if win.complete else walked_seconds(path, container.format.name)
        if win.complete:
            total_seconds: float | None = win.in_seconds
        elif walked is not None:  # an MP3's header can lie; the frame walk does not
            total_seconds = walked
        elif container.duration:  # decoding stopped early: the header's word for the rest
            total_seconds = container.duration / 1_000_000
        else:
            total_seconds = None

    # --- the stretch asked for: --start to --end (or to what was decoded) ---
    a0 = max(0, round(s.start_seconds * rate) - win.offset)
    if a0 >= win.samples and s.start_seconds >= win.in_seconds:
        raise StudioError(
            f"{path}: --start {s.start_seconds:g} s is past the end of the audio "
            f"({win.in_seconds:.3f} s)"
        )
    if not win.sound:
        raise StudioError(f"{path}: the audio is silent; nothing to fix")
    region_end = win.samples
    ends_at_input_end = win.complete
    x = round(s.crossfade_seconds * rate) if s.loop else 0
    if s.end_seconds is not None:
        e = round(s.end_seconds * rate) - win.offset
        if e > win.samples + round(_END_TOLERANCE_SECONDS * rate) and win.complete:
            raise StudioError(
                f"{path}: --end {s.end_seconds:g} s is past the end of the audio "
                f"({win.in_seconds:.3f} s)"
            )
        if e < win.samples - round(_END_TOLERANCE_SECONDS * rate) or not win.complete:
            # A loop's seam is at --end: what follows it is the crossfade's outgoing part.
            region_end = min(win.samples, e + x)
            ends_at_input_end = False
    frames = win.frames
    if a0 or region_end < win.samples:
        frames = mixing.slice_frames(av, frames, a0, region_end)
    region_len = region_end - a0
    if region_len < _MIN_MEASURABLE_SECONDS * rate:
        raise StudioError(
            f"{path}: only {max(0.0, region_len / rate):.3f} s of audio; too short to make "
            "hold music from"
        )
    first = measure(av, frames, peak=None)
    if not math.isfinite(first.integrated_lufs):
        raise StudioError(f"{path}: the audio is silent (below BS.1770's gate); nothing to fix")
    gain_guess = s.loudness_lufs - first.integrated_lufs

    # --- silence at the ends, as the output will be heard ---
    spans: list[tuple[int, int | None]] = []
    s0, t_end = 0, region_len
    if not s.keep_silence:
        noise = min(-20.0, max(-100.0, cutting.SILENCE_DBFS - gain_guess))
        spans = cutting.silences(av, frames, rate, noise)
        span = cutting.sound_span(spans, region_len, rate)
        if span is None:
            raise StudioError(f"{path}: the audio is silent; nothing to fix")
        s0 = span[0]
        if ends_at_input_end or (s.end_seconds is not None and not s.loop):
            t_end = span[1]
    work_len = t_end - s0
    if s0 or t_end < region_len:
        frames = mixing.slice_frames(av, frames, s0, t_end)
    spans = [(a - s0, None if b is None else b - s0) for a, b in spans]
    if work_len < _MIN_MEASURABLE_SECONDS * rate:
        raise StudioError(
            f"{path}: only {work_len / rate:.3f} s of sound; too short to make hold music from"
        )
    # Where the output begins in the input; what lies between --start and there was
    # silence (some of it dropped while decoding).
    begins = (win.offset + a0 + s0) / rate
    lead_trimmed = 0.0 if s.keep_silence else max(0.0, begins - s.start_seconds)
    tail_trimmed = (region_len - t_end) / rate

    # --- announcements over the music ---
    placed: list[mixing.Placed] = []
    if voices:
        positions = [
            (v, round(a.at_seconds * rate)) for v, a in zip(voices, s.announcements, strict=True)
        ]
        _check_announcements(positions, rate, work_len)
        frames, placed = mixing.mix_announcements(av, frames, rate, positions)
    protected_end = max((p.protected(rate)[1] for p in placed), default=0)

    # --- where it ends ---
    fade_default = round(DEFAULT_FADE_OUT_SECONDS * rate)
    fade_asked = None if s.fade_out_seconds is None else round(s.fade_out_seconds * rate)
    cut: cutting.Cut | None = None
    if s.end_seconds is not None and not ends_at_input_end:
        n = work_len - x  # exactly at --end (a loop crossfades what follows it)
        is_cut = True
        fade_start = n - (fade_default if fade_asked is None else fade_asked)
    else:
        if s.length_seconds is not None:
            limit = round(s.length_seconds * rate)
            is_cut = work_len > limit or not ends_at_input_end
        else:
            limit = round(DEFAULT_LENGTH_SECONDS * rate)
            is_cut = work_len >= s.max_seconds * rate or not ends_at_input_end
        if is_cut:
            if protected_end > limit:
                raise UsageError(
                    f"the announcements end at {protected_end / rate:.1f} s (with the music's "
                    f"return), past the {limit / rate:g} s the output may last"
                )
            cut = _search_cut(av, frames, rate, limit, protected_end, fade_asked, fade_default,
                              x, work_len, s.loop)  # fmt: skip
            n = cut.end
            if not s.loop:
                n = cutting.end_before_silence(spans, n, rate)
            fade_start = min(cut.fade_start, n)
        else:
            # Keep the length to the sample; never round a just-under file up to the limit.
            n = min(work_len, math.ceil(s.max_seconds * rate) - 1) - x
            fade_start = n - (fade_asked or 0)
    if s.loop and n < 2 * x:
        raise StudioError(
            f"{path}: {work_len / rate:.1f} s of sound is too short to loop with a "
            f"{s.crossfade_seconds:g} s crossfade"
        )
    if placed and max(p.at + p.samples for p in placed) > n:
        raise UsageError(
            f"the announcements end at {max(p.at + p.samples for p in placed) / rate:.1f} s, "
            f"past the end of the output ({n / rate:.1f} s)"
        )
    fade_out = 0 if s.loop else max(0, n - fade_start)
    fade_in = 0
    if s.fade_in_seconds is not None:
        fade_in = round(s.fade_in_seconds * rate)
    elif a0 + win.offset > 0 and s0 == 0 and _starts_mid_sound(frames, rate, gain_guess):
        fade_in = round(DEFAULT_FADE_IN_SECONDS * rate)
    if fade_in + fade_out > n:
        raise UsageError(
            f"the fades ({(fade_in + fade_out) / rate:g} s) are longer than the "
            f"{n / rate:.1f} s output"
        )

    # --- phone band, fades: the shaped audio ---
    base = frames
    shaping = mixing.Shaping() if s.phone_shaping else None
    shaped, before = _shape(av, base, n, x, s.loop, shaping, fade_in, fade_out)
    if not math.isfinite(before.integrated_lufs):
        raise StudioError(f"{path}: the audio is silent (below BS.1770's gate); nothing to fix")

    with partial_file(output) as tmp:
        target = s.loudness_lufs
        gain = target - before.integrated_lufs + _ENCODER_LOSS_LU
        ceiling = TRUE_PEAK_CEILING_DBTP - _FIRST_HEADROOM_DB
        # Inter-sample peaks sit up to ~1 dB above sample peaks in music; only when gain
        # could bring them near the ceiling is the (oversampled, slower) limiter needed.
        limited = before.true_peak_dbtp + gain > ceiling - _INTERSAMPLE_DB
        passes = 0
        wrap = round(_WRAP_SECONDS * rate) if s.loop else 0
        shelves_tried = False
        while True:
            passes += 1
            heard, heard_samples = _render_mp3(
                av, shaped, n, gain, ceiling if limited else None, tmp, s, wrap, output
            )
            # The validator's judgement of this pass's file; the last one is the output's.
            checked = rules.check_path(tmp, limits)
            file_seconds = checked.duration_seconds
            if file_seconds is None or round(file_seconds * rate) != heard_samples:
                # FFmpeg's MP3 muxer sometimes writes less end padding into the LAME tag
                # than LAME added (2 lengths in 32 here): the file then plays a few samples
                # of the encoder's tail more than was heard. Hear the file itself.
                heard = listening.listen(tmp, name=output)
            after = Loudness(
                heard.loudness_lufs if heard.loudness_lufs is not None else -math.inf,
                heard.true_peak_dbtp if heard.true_peak_dbtp is not None else -math.inf,
            )
            share = heard.phone_band_share
            if (
                shaping is not None
                and not shelves_tried
                and share is not None
                and share < mixing.SHAPE_BELOW
                and mixing.could_lift(share)
                and passes < _MAX_PASSES
            ):
                # The listen check would warn (or nearly): shape, and measure again.
                shelves_tried = True
                fitted = mixing.fit_shelves(av, _head(av, base, n + x), share)
                if fitted is not None:
                    shaping = fitted
                    shaped, again = _shape(av, base, n, x, s.loop, shaping, fade_in, fade_out)
                    gain += before.integrated_lufs - again.integrated_lufs
                    if math.isfinite(after.integrated_lufs):
                        gain -= after.integrated_lufs - target
                    before = again
                    limited = limited or before.true_peak_dbtp + gain > ceiling - _INTERSAMPLE_DB
                    continue
            loud_err = after.integrated_lufs - target
            peak_over = after.true_peak_dbtp - TRUE_PEAK_CEILING_DBTP
            if (abs(loud_err) <= _AIM_LU and peak_over <= 0) or passes >= _MAX_PASSES:
                break
            if not math.isfinite(loud_err):
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
        verdict = replace(checked, path=output)
        if not verdict.ok:
            reasons = "; ".join(f"{p.code}: {p.message}" for p in verdict.errors)
            raise StudioError(f"{path}: the new MP3 would not pass ({reasons})")
        verdict = rules.with_listening(verdict, heard)
        _publish(tmp, output, force)

    cut_at = None
    if cut is not None or (s.end_seconds is not None and not ends_at_input_end):
        cut_at = begins + n / rate
    warnings = _source_warnings(source, win.peak_dbfs, gain_guess)
    if cut is not None and not cut.at_pause:
        searched = min(cutting.SEARCH_SECONDS, cutting.SEARCH_SHARE * cut.end / rate)
        warnings.append(_no_pause_warning(cut, rate, begins, fade_out, s.loop, searched))
    return FixResult(
        source=source,
        output=output,
        input_seconds=total_seconds,
        output_samples=n,
        output_seconds=n / rate,
        trimmed=cut_at is not None,
        start_seconds=s.start_seconds,
        fade_in_seconds=fade_in / rate,
        fade_out_seconds=fade_out / rate,
        input_loudness_lufs=first.integrated_lufs,
        output_loudness_lufs=after.integrated_lufs,
        output_true_peak_dbtp=after.true_peak_dbtp,
        gain_db=gain,
        limited=limited,
        passes=passes,
        size_bytes=size,
        verdict=verdict,
        settings=s,
        silence_trimmed=(lead_trimmed, tail_trimmed),
        cut_at_seconds=cut_at,
        cut_where=None if cut_at is None else _cut_where(cut),
        loop_crossfade_seconds=x / rate if s.loop else None,
        announcements=tuple(placed),
        shaping=shaping,
        warnings=tuple(warnings),
    )


def _cut_where(cut: cutting.Cut | None) -> str:
    if cut is None:
        return "end"
    return "pause" if cut.at_pause else "limit"


# A loop's gain, limiter and resampler see this much of the other end on each side, so that
# their state at the seam is the state of the music running through it.
_WRAP_SECONDS = 0.25


def _head(av: Any, frames: list[Any], samples: int) -> list[Any]:
    """The first ``samples`` of ``frames``."""
    if sum(f.samples for f in frames) <= samples:
        return frames
    return mixing.slice_frames(av, frames, 0, samples)


def _shape(
    av: Any,
    frames: list[Any],
    n: int,
    x: int,
    loop: bool,
    shaping: mixing.Shaping | None,
    fade_in: int,
    fade_out: int,
) -> tuple[list[Any], Loudness]:
    """The output's audio before gain: ``n`` samples, phone-band shaped, faded, or (a loop)
    with its end crossfaded into its start; and its loudness and sample peak."""
    filters = [] if shaping is None else shaping.filters()
    shape: list[tuple[str, str]] = [("asetpts", "N/SR/TB")]
    if loop:
        # Shaped before the crossfade, so the filters run through what becomes the seam.
        shape += [("atrim", f"end_sample={n + x}"), *filters]
        frames = mixing.crossfade_loop(av, list(_Chain(av, frames[0], shape).run(frames)), n, x)
        shape = [("asetpts", "N/SR/TB")]
    else:
        shape += [("atrim", f"end_sample={n}"), ("asetpts", "N/SR/TB"), *filters]
    shape.append(("apad", f"whole_len={n}"))
    if fade_in:
        shape.append(("afade", f"t=in:ss=0:ns={fade_in}"))
    if fade_out:
        shape.append(("afade", f"t=out:ss={n - fade_out}:ns={fade_out}"))
    # Measured on the way through: sample peaks (cheap) are enough to decide on the limiter.
    shape.append(_meter("sample"))
    shaped: list[Any] = []
    before = _read_meter(_Chain(av, frames[0], shape).run(frames), "sample", keep=shaped)
    return shaped, before


def _search_cut(
    av: Any,
    frames: list[Any],
    rate: int,
    limit: int,
    lowest: int,
    fade_asked: int | None,
    fade_default: int,
    x: int,
    available: int,
    loop: bool,
) -> cutting.Cut:
    """Measure the loudness contour around the end of the search, and place the cut."""
    search = round(min(cutting.SEARCH_SECONDS, cutting.SEARCH_SHARE * limit / rate) * rate)
    context = round((cutting.PAUSE_CONTEXT_SECONDS + 0.5) * rate)
    hop = round(rate * cutting.HOP_SECONDS)
    lo = max(0, limit - search - context)
    lo -= lo % hop
    hi = min(available, limit + x + context)
    part = mixing.slice_frames(av, frames, lo, hi)
    c = cutting.contour(av, part, rate)
    fade = x if loop else (fade_default if fade_asked is None else fade_asked)
    cut = cutting.place_cut(
        c,
        rate,
        limit=limit - lo,
        lowest=max(0, lowest - lo),
        fade=fade,
        loop=loop,
        available=available - lo,
    )
    return cutting.Cut(
        cut.end + lo,
        cut.fade_start + lo,
        cut.at_pause,
        None if cut.quietest is None else cut.quietest + lo,
        cut.quietest_db,
    )


def _check_announcements(positions: list[tuple[mixing.Voice, int]], rate: int, length: int) -> None:
    spans = sorted((at, at + v.samples, v.path) for v, at in positions)
    for (_, e1, p1), (a2, _, p2) in itertools.pairwise(spans):
        if a2 < e1:
            raise UsageError(
                f"--announce {p2} at {a2 / rate:g} s would start while {p1} is still speaking "
                f"(until {e1 / rate:.1f} s)"
            )
    for at, end, p in spans:
        if end > length:
            raise UsageError(
                f"--announce {p} at {at / rate:g} s lasts {(end - at) / rate:.1f} s: it would "
                f"end at {end / rate:.1f} s, past the {length / rate:.1f} s of music"
            )


def _starts_mid_sound(frames: list[Any], rate: int, gain_db: float) -> bool:
    """Is there sound in the first 10 ms? (a few hundred samples: read them)."""
    window = max(1, rate // 100)
    threshold = 10 ** ((cutting.SILENCE_DBFS - gain_db) / 20)
    if not frames:
        return False
    f = frames[0]
    n = f.samples * f.layout.nb_channels
    chunk = memoryview(f.planes[0]).cast("f")[: min(n, window * f.layout.nb_channels)]
    return any(abs(x) > threshold for x in chunk)


def _source_warnings(source: Source, peak_dbfs: float, gain_db: float) -> list[rules.Problem]:
    out = []
    # The validator calls a file `clipping` when its true peak passes -0.1 dBTP; a source
    # whose samples reach that has been clipped (or mastered right at full scale, where
    # any conversion clips). Floating-point PCM carries peaks over full scale intact.
    if peak_dbfs >= rules.CLIPPING_DBTP and not source.codec.startswith(_FLOAT_CODECS):
        out.append(
            rules.Problem(
                "source_clipped",
                "warning",
                f"the source peaks at {peak_dbfs:+.1f} dBFS: it clips (or sits right at full "
                "scale); fix lowers the level, but distortion already in the recording stays, "
                "only quieter: use an unclipped master if there is one",
            )
        )
    if gain_db > LARGE_GAIN_DB:
        out.append(
            rules.Problem(
                "large_gain",
                "warning",
                f"the source is very quiet: fix raised it by {gain_db:.1f} dB, and its noise "
                "floor (hiss, hum) with it; a louder master will sound cleaner",
            )
        )
    return out


def _no_pause_warning(
    cut: cutting.Cut, rate: int, origin: float, fade: int, loop: bool, searched: float
) -> rules.Problem:
    at = origin + cut.end / rate
    how = (
        "the loop's crossfade runs over the music"
        if loop
        else (f"with a {fade / rate:.3g} s fade over the music")
    )
    where = f"cut at {_clock(at)}, {how}"
    if cut.quietest is not None:
        t = origin + cut.quietest / rate
        quiet = f"{cut.quietest_db:.1f} dB under the music around it"
        if abs(t - at) < 0.05:
            where = f"cut at {_clock(at)}, the quietest moment ({quiet}), {how}"
        else:
            where += (
                f"; the quietest moment was at {_clock(t)} ({quiet}): --end {_clock(t)} cuts there"
            )
    return rules.Problem(
        "cut_without_pause",
        "warning",
        f"no pause in the {searched:.3g} s before the length limit to cut at (none of about "
        f"{cutting.PAUSE_MIN_SECONDS:g} s, {cutting.PAUSE_DB:g} dB under the music around it): "
        f"{where}",
    )


def _clock(seconds: float) -> str:
    """``83.4`` → ``1:23.4``: the form --start/--end accept."""
    m, sec = divmod(round(seconds, 1), 60)
    return f"{int(m)}:{sec:04.1f}" if m else f"{sec:.1f}"


def _render_mp3(
    av: Any,
    shaped: list[Any],
    n: int,
    gain_db: float,
    ceiling_dbtp: float | None,
    path: str,
    settings: FixSettings,
    wrap: int = 0,
    label: str | None = None,
) -> tuple[rules.Listening, int]:
    """Gain, then a limiter on oversampled audio (so it sees inter-sample peaks), back to the
    output rate at exactly ``n`` samples, encoded CBR. With ``wrap`` (a loop), the filters
    first hear the end before the start and the start after the end, then that is cut off.
    Returns what :class:`_Hearing` measured in the packets as they were written, and how
    many samples they decode to."""
    rate = settings.sample_rate
    chain = [("volume", f"volume={gain_db:.4f}dB:precision=float")]
    frames = shaped
    skip = wrap if ceiling_dbtp is not None else 0  # gain alone has no state to wrap
    if ceiling_dbtp is not None:
        if skip:
            frames = [
                *mixing.slice_frames(av, shaped, n - wrap, n),
                *shaped,
                *mixing.slice_frames(av, shaped, 0, wrap),
            ]
        limit = min(1.0, max(0.0625, 10 ** (ceiling_dbtp / 20)))
        chain += [
            ("aresample", str(rate * _OVERSAMPLE)),
            # level=0: no auto make-up gain; latency=1: no lookahead delay in the output.
            ("alimiter", f"limit={limit:.6f}:attack=1:release=50:level=0:latency=1"),
            ("aresample", str(rate)),
            ("asetpts", "N/SR/TB"),
            ("atrim", f"start_sample={skip}:end_sample={n + skip}"),
            ("asetpts", "N/SR/TB"),
            ("apad", f"whole_len={n}"),
        ]
    chain.append(("aformat", "sample_fmts=fltp"))
    with av.open(path, "w", format="mp3") as out, _Hearing(av, label or path) as hearing:
        enc = out.add_stream("libmp3lame", rate=rate, layout=settings.layout, options=_LAME_OPTIONS)
        enc.bit_rate = settings.bitrate_kbps * 1000
        for frame in _Chain(av, frames[0], chain).run(frames):
            frame.pts = None
            for packet in enc.encode(frame):
                hearing.hear(packet)
                out.mux(packet)
        for packet in enc.encode(None):
            hearing.hear(packet)
            out.mux(packet)
    return hearing.heard(), hearing.listener.samples


class _Hearing:
    """What a caller will hear in the MP3 being written, measured while it is written.

    Each packet the encoder makes is decoded here, before it is written, with the decoder
    FFmpeg opens the file with (``mp3float``); the packets carry LAME's start delay and
    end padding as skip-samples side data, which the decoder applies as the MP3 demuxer
    does from the file's LAME tag, so the frames are the file's, sample for sample (a test
    holds this against :func:`listening.listen` on the file) — except where FFmpeg's MP3
    muxer writes less end padding into the tag than LAME added: ``fix`` compares the
    written file's length with :attr:`Listener.samples` and listens to the file then. The
    meters run in a thread of their own: encoding leaves the GIL, so on two cores hearing
    the output costs a fraction of decoding and measuring the file afterwards."""

    def __init__(self, av: Any, label: str) -> None:
        from holdmusic.studio import listening

        self.decoder = av.CodecContext.create("mp3float", "r")
        self.listener = listening.Listener(av, label, background=True)
        self.result: rules.Listening | None = None

    def __enter__(self) -> _Hearing:
        return self

    def hear(self, packet: Any) -> None:
        for frame in self.decoder.decode(packet):
            self.listener.push(frame)

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            if exc is None:
                for frame in self.decoder.decode(None):
                    self.listener.push(frame)
                self.result = self.listener.finish()
        finally:
            self.listener.__exit__(kind, exc, tb)  # stops its threads on an error or Ctrl-C

    def heard(self) -> rules.Listening:
        assert self.result is not None
        return self.result
