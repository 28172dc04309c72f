"""``--listen``: what a caller will hear, measured through one FFmpeg filter graph."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from holdmusic import rules
from holdmusic.studio import (
    PEAK_PAD_SECONDS,
    Fan,
    FanThread,
    StudioError,
    _audio_stream,
    _db,
    _decoded,
    _meter,
    load_av,
    open_media,
)

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
# Past the length the frame walk found, FFmpeg is not decoding the file the validator
# judged (a polyglot's other half, or junk it resyncs on): stop there, with a margin for
# the decoder's edges.
_WALK_MARGIN_SECONDS = 1.0


def listen(
    source: str | bytes,
    name: str | None = None,
    *,
    max_seconds: float | None = None,
    format: str | None = "mp3",
) -> rules.Listening:
    """Decode ``source`` (a path, or a file's bytes) and measure what a caller will hear.

    One decode feeds one FFmpeg filter graph with four branches: ``ebur128`` on the
    channels as they are (loudness, what ``ffmpeg -af ebur128`` reports); the same meter
    with true peak after a little padding (so the last, incomplete 100 ms block counts);
    ``silencedetect`` at -50 dBFS on all channels, then the RMS level of the mono
    fold-down; and the same RMS level after a 300-3400 Hz band-pass. The phone-band share
    is the ratio of the two energies. (The true-peak branch is a graph of its own in a
    thread of its own: see :class:`Listener`.)

    Frames are measured as they stream by and dropped: memory stays flat whatever the
    length. Decoding stops after ``max_seconds`` of audio when given. ``format``: the
    bytes are opened as this demuxer only (MP3: what the validator judged), so FFmpeg's
    probe can never hand them to SDP, HLS or concat; None lets FFmpeg probe, among
    local-file protocols only.
    """
    import io

    av = load_av("validate --listen")
    label = name or (source if isinstance(source, str) else "the download")
    try:
        container = open_media(
            av, io.BytesIO(source) if isinstance(source, bytes) else source, format=format
        )
    except av.FFmpegError as exc:
        raise StudioError(f"{label}: cannot decode it: {exc}") from None
    with container, Listener(av, label) as listener:
        stream = _audio_stream(label, container)
        for frame in _decoded(label, container, stream):
            listener.push(frame)
            if max_seconds is not None and listener.samples >= max_seconds * listener.rate:
                break
        return listener.finish()


class Listener:
    """:func:`listen`'s meters, fed decoded frames one at a time (``push``) and read once
    at the end (``finish``). The true-peak meter, the costliest, runs in a thread of its
    own. ``fix`` feeds one made with ``background=True`` (every meter in one thread) the
    frames of its encoder's packets as it encodes, so hearing the result costs little more
    than making it."""

    def __init__(self, av: Any, label: str, *, background: bool = False) -> None:
        self.av = av
        self.label = label
        self.background = background  # every meter in threads: the feeder only hands over
        self.fan: Fan | FanThread | None = None
        self.peaks: FanThread | None = None
        self.samples = 0
        self.rate = 0
        self.layout = ""
        self.measures = _Measures()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        for lane in (self.fan, self.peaks):
            if isinstance(lane, FanThread):
                lane.abandon()  # after finish() it has ended already

    def push(self, frame: Any) -> None:
        if self.fan is None:
            self.rate, self.layout = frame.sample_rate, frame.layout.name
            mono = ("aformat", "sample_fmts=flt:channel_layouts=mono")
            detect = f"noise={rules.SILENCE_DBFS}dB:d={_MIN_SILENCE_SECONDS}"
            pad = ("apad", f"pad_len={math.ceil(self.rate * PEAK_PAD_SECONDS)}")
            m = self.measures
            # Big frames: fewer trips through Python, and astats writes its metadata once
            # per frame.
            common = [("asetnsamples", f"n={_BLOCK}:p=0")]
            branches = [
                [("ebur128", "metadata=1")],
                [("asetpts", "N/SR/TB"), ("silencedetect", detect), mono, _RMS],
                [mono, *_PHONE_BAND, _RMS],
            ]
            readers = [m.loudness, m.silence, m.band]
            peak_branch = [pad, _meter("true")]
            if self.background:
                # One thread for every meter: the feeder (fix's encoder) keeps the other core.
                fan = Fan(self.av, frame, common, [*branches, peak_branch], [*readers, m.peak])
                self.fan = FanThread(fan)
            else:
                # The true peak (FFmpeg upsamples to 192 kHz for it: the costliest meter) in a
                # thread of its own, beside the others.
                self.fan = Fan(self.av, frame, common, branches, readers)
                self.peaks = FanThread(Fan(self.av, frame, common, [peak_branch], [m.peak]))
        elif frame.sample_rate != self.rate or frame.layout.name != self.layout:
            raise StudioError(
                f"{self.label}: the audio format changes mid-stream ({self.rate} Hz "
                f"{self.layout} → {frame.sample_rate} Hz {frame.layout.name})"
            )
        self.samples += frame.samples
        frame.pts = None  # before two threads read it
        if self.peaks is not None:
            self.peaks.push(frame)
        self.fan.push(frame)

    def finish(self) -> rules.Listening:
        if self.fan is None:
            raise StudioError(f"{self.label}: the audio stream holds no decodable audio")
        if isinstance(self.fan, FanThread):
            self.fan.close()
        else:
            self.fan.push(None)
        if self.peaks is not None:
            self.peaks.close()
        m = self.measures
        total = self.samples / self.rate
        trailing = total - m.silence_start if m.silence_start is not None else 0.0
        silent = not math.isfinite(m.full_db) or m.full_db <= -150
        share = None if silent else min(1.0, 10 ** ((m.band_db - m.full_db) / 10))
        return rules.Listening(
            loudness_lufs=m.integrated if m.integrated > -70.0 else None,
            true_peak_dbtp=_db(m.top) if m.top > 0 else None,
            phone_band_share=share,
            trailing_silence_seconds=trailing,
            longest_silence_seconds=m.longest_inside,
        )


_BLOCK = 8192


class _Measures:
    """Running values read from the meters' metadata, frame by frame."""

    def __init__(self) -> None:
        self.integrated = -math.inf
        self.top = 0.0
        self.silence_start: float | None = None
        self.longest_inside = 0.0
        self.full_db = -math.inf
        self.band_db = -math.inf

    def loudness(self, out: Any) -> None:
        self.integrated, _ = _r128(out.metadata, self.integrated, 0.0)

    def peak(self, out: Any) -> None:
        _, self.top = _r128(out.metadata, -math.inf, self.top)

    def silence(self, out: Any) -> None:
        meta = out.metadata
        self.full_db = float(meta.get(_RMS_KEY, self.full_db))
        self.silence_start, self.longest_inside = _silence(
            meta, self.silence_start, self.longest_inside
        )

    def band(self, out: Any) -> None:
        self.band_db = float(out.metadata.get(_RMS_KEY, self.band_db))


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
    calls for; a file FFmpeg cannot decode gets a ``listen_failed`` warning instead.

    A file already refused as ``too_long`` is not listened to (``listen_skipped``): it
    must be cut before anything else matters, ``holdmusic fix`` cuts and levels it, and a
    3-hour file would cost minutes of decoding for warnings about audio nobody will play.
    Otherwise decoding stops where the validator's frame walk ended."""
    if any(p.code == "too_long" for p in verdict.errors):
        problem = rules.Problem(
            "listen_skipped",
            "warning",
            "not listened to: it is too long already; `holdmusic fix` cuts it to fit "
            "(and levels it), then listen to the result",
        )
        return replace(verdict, problems=(*verdict.problems, problem))
    walked = verdict.duration_seconds
    try:
        listening = listen(
            source,
            name=verdict.path,
            max_seconds=None if walked is None else walked + _WALK_MARGIN_SECONDS,
        )
    except StudioError as exc:
        problem = rules.Problem(
            "listen_failed", "warning", f"could not decode the audio to listen to it ({exc})"
        )
        return replace(verdict, problems=(*verdict.problems, problem))
    return rules.with_listening(verdict, listening)
