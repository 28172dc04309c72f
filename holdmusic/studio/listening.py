"""``--listen``: what a caller will hear, measured through one FFmpeg filter graph."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from holdmusic import rules
from holdmusic.studio import (
    StudioError,
    _audio_stream,
    _db,
    _decoded,
    _graph,
    _meter,
    load_av,
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
