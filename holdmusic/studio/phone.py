"""``holdmusic preview``: the narrowband phone path (300-3400 Hz, 8 kHz, G.711), rendered."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from holdmusic.studio import (
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


@dataclass(frozen=True)
class Preview:
    output: str
    codec: str  # "pcm_mulaw" or "pcm_alaw"
    seconds: float
    size_bytes: int


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
    with partial_file(output) as tmp:
        with container:
            stream = _audio_stream(path, container)
            samples = 0
            with av.open(tmp, "w", format="wav") as out:
                enc = out.add_stream(codec, rate=PHONE_RATE, layout="mono")
                chain: _Chain | None = None
                for frame in _plays(av, path, container, stream, 2 if twice else 1):
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
    return Preview(output, codec, samples / PHONE_RATE, size)


def _plays(av: Any, path: str, container: Any, stream: Any, times: int) -> Iterator[Any]:
    """The decoded audio, ``times`` times in a row (reopened for each play after the first:
    every decoder starts clean, as a player's does)."""
    yield from _decoded(path, container, stream)
    for _ in range(times - 1):
        with _open_input(av, path) as again:
            yield from _decoded(path, again, _audio_stream(path, again))


def _encode(out: Any, enc: Any, frame: Any) -> None:
    frame.pts = None
    for packet in enc.encode(frame):
        out.mux(packet)
