"""``holdmusic preview``: the narrowband phone path (300-3400 Hz, 8 kHz, G.711), rendered."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from holdmusic.studio import (
    DecodeReport,
    StudioError,
    _audio_stream,
    _Chain,
    _decoded,
    _open_input,
    _publish,
    check_output,
    load_av,
)
from holdmusic.tempfiles import partial_file

# --- preview --------------------------------------------------------------------------------

# 4th-order Butterworth edges (two biquads each): the narrowband telephone channel's
# 300-3400 Hz, 24 dB/octave outside it (a 100 Hz tone comes out ~38 dB under a 1 kHz one).
_BUTTERWORTH_4 = (0.5412, 1.3066)
_TELEPHONE = [
    *(("highpass", f"f=300:p=2:width_type=q:width={q}") for q in _BUTTERWORTH_4),
    *(("lowpass", f"f=3400:p=2:width_type=q:width={q}") for q in _BUTTERWORTH_4),
]
PHONE_RATE = 8000
# What preview renders at most: Daily plays hold music under 60 s, so later audio reaches
# no caller; and a header claiming 1 Hz or ten hours must not become gigabytes.
PREVIEW_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class Preview:
    output: str
    codec: str  # "pcm_mulaw" or "pcm_alaw"
    seconds: float
    size_bytes: int
    cut: bool = False  # the input went on past PREVIEW_MAX_SECONDS
    problems: tuple[Any, ...] = ()  # rules.Problem warnings about the input (damage, cuts)


def preview(
    path: str, output: str, *, alaw: bool = False, force: bool = False, twice: bool = False
) -> Preview:
    """Render what a caller on a narrowband line hears: mono, 300-3400 Hz, 8 kHz, G.711
    (μ-law, or A-law) in a WAV any player opens. Same safety as :func:`fix`: the input is
    only read, the output appears complete or not at all, and replaces a file only with
    ``force``. ``twice``: the file played twice back to back, as Daily plays hold music,
    through one phone path, so the seam sounds as a caller hears it."""
    av = load_av("holdmusic preview")
    check_output(path, output, force)
    container = _open_input(av, path)
    codec = "pcm_alaw" if alaw else "pcm_mulaw"
    # Each play is capped at PREVIEW_MAX_SECONDS (Daily plays no more), so --twice is at
    # most twice that.
    limit = round(PREVIEW_MAX_SECONDS * PHONE_RATE) * (2 if twice else 1)
    report = DecodeReport()
    cut = False
    with partial_file(output) as tmp:
        with container:
            stream = _audio_stream(path, container)
            samples = 0
            with av.open(tmp, "w", format="wav") as out:
                enc = out.add_stream(codec, rate=PHONE_RATE, layout="mono")
                chain: _Chain | None = None
                shape = ""
                plays = _Plays(av, path, container, stream, 2 if twice else 1, report)
                for frame in plays:
                    if chain is not None and _shape(frame) != shape:
                        # An MP3 that changes rate or channels mid-stream (two files joined):
                        # finish the old chain and go on with one for the new format.
                        samples = _drain(out, enc, chain.push(None), samples)
                        chain = None
                    if chain is None:
                        chain, shape = _phone_chain(av, frame, limit - samples), _shape(frame)
                    samples = _drain(out, enc, chain.push(frame), samples)
                    if samples >= limit:  # the cap (atrim's end) is reached: stop decoding
                        cut = True
                        break
                cut = cut or plays.cut
                if chain is None:
                    raise StudioError(f"{path}: the audio stream holds no decodable audio")
                samples = _drain(out, enc, chain.push(None), samples)
                for packet in enc.encode(None):
                    out.mux(packet)
        size = os.path.getsize(tmp)
        _publish(tmp, output, force)
    return Preview(output, codec, samples / PHONE_RATE, size, cut, tuple(report.notes))


def _shape(frame: Any) -> str:
    return f"{frame.sample_rate}/{frame.layout.name}/{frame.format.name}"


def _phone_chain(av: Any, frame: Any, remaining: int) -> _Chain:
    return _Chain(
        av,
        frame,
        [
            ("aformat", "sample_fmts=flt:channel_layouts=mono"),
            *_TELEPHONE,
            ("aresample", str(PHONE_RATE)),
            ("aformat", "sample_fmts=s16"),
            ("asetpts", "N/SR/TB"),
            ("atrim", f"end_sample={max(1, remaining)}"),
        ],
    )


def _drain(out: Any, enc: Any, frames: Any, samples: int) -> int:
    for f in frames:
        samples += f.samples
        _encode(out, enc, f)
    return samples


class _Plays:
    """The decoded audio, ``times`` times in a row (reopened for each play after the first:
    every decoder starts clean, as a player's does), each play stopped once it has run
    PREVIEW_MAX_SECONDS (``cut`` then says so)."""

    def __init__(
        self, av: Any, path: str, container: Any, stream: Any, times: int, report: DecodeReport
    ) -> None:
        self.av, self.path, self.container, self.stream = av, path, container, stream
        self.times, self.report = times, report
        self.cut = False

    def __iter__(self) -> Iterator[Any]:
        yield from self._one(_decoded(self.path, self.container, self.stream, self.report))
        for _ in range(self.times - 1):
            with _open_input(self.av, self.path) as again:
                yield from self._one(_decoded(self.path, again, _audio_stream(self.path, again)))

    def _one(self, frames: Iterator[Any]) -> Iterator[Any]:
        played = 0.0
        for frame in frames:
            if played >= PREVIEW_MAX_SECONDS:
                self.cut = True
                return
            played += frame.samples / frame.sample_rate
            yield frame


def _encode(out: Any, enc: Any, frame: Any) -> None:
    frame.pts = None
    for packet in enc.encode(frame):
        out.mux(packet)
