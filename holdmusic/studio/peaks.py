"""The envelope of a file, for a picture of its waveform (``holdmusic serve``).

The file is decoded once, folded to mono and cut into blocks of ``BLOCK_SECONDS``; FFmpeg's
``astats`` reports each block's peak and RMS level, and only those two numbers per block
are kept, so memory follows the number of blocks, not the audio. Decoding stops after
``max_seconds`` (the rest is not drawn, and ``complete`` says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from holdmusic.studio import _audio_stream, _Chain, _decoded, _open_input, load_av

BLOCK_SECONDS = 0.05
MAX_SECONDS = 30 * 60.0
_PEAK = "lavfi.astats.Overall.Peak_level"
_RMS = "lavfi.astats.Overall.RMS_level"


@dataclass(frozen=True)
class Envelope:
    block_seconds: float
    peaks: tuple[float, ...]  # linear, 0..1, one per block
    rms: tuple[float, ...]  # linear, 0..1, one per block
    seconds: float  # decoded length
    complete: bool  # False: decoding stopped at max_seconds

    def to_dict(self) -> dict[str, object]:
        return {
            "block_seconds": self.block_seconds,
            "seconds": round(self.seconds, 6),
            "complete": self.complete,
            "peaks": [round(x, 4) for x in self.peaks],
            "rms": [round(x, 4) for x in self.rms],
        }


def _linear(db: str | None) -> float:
    try:
        value = float(db) if db is not None else -math.inf
    except ValueError:
        return 0.0
    return 0.0 if not math.isfinite(value) else min(1.0, 10 ** (value / 20))


def envelope(path: str, max_seconds: float = MAX_SECONDS) -> Envelope:
    """Peak and RMS per block of ``path`` (anything FFmpeg decodes); raises
    :class:`holdmusic.studio.StudioError` with one line when it cannot be decoded."""
    av = load_av("the waveform")
    container = _open_input(av, path)
    peaks: list[float] = []
    rms: list[float] = []
    samples = rate = 0
    complete = True
    with container:
        stream = _audio_stream(path, container)
        chain: _Chain | None = None

        def take(frames: object) -> None:
            for f in frames:  # type: ignore[attr-defined]
                peaks.append(_linear(f.metadata.get(_PEAK)))
                rms.append(_linear(f.metadata.get(_RMS)))

        for frame in _decoded(path, container, stream):
            if chain is None:
                rate = frame.sample_rate
                block = max(1, round(rate * BLOCK_SECONDS))
                chain = _Chain(
                    av,
                    frame,
                    [
                        ("aformat", "sample_fmts=flt:channel_layouts=mono"),
                        ("asetnsamples", f"n={block}:p=0"),
                        (
                            "astats",
                            "metadata=1:reset=1:measure_perchannel=none:"
                            "measure_overall=Peak_level+RMS_level",
                        ),
                    ],
                )
            elif frame.sample_rate != rate:
                break  # a format change mid-stream: draw what came before it
            samples += frame.samples
            take(chain.push(frame))
            if samples >= max_seconds * rate:
                complete = False
                break
        if chain is not None:
            take(chain.push(None))
    seconds = samples / rate if rate else 0.0
    return Envelope(BLOCK_SECONDS, tuple(peaks), tuple(rms), seconds, complete)
