"""The waveform's envelope as an entry point (``holdmusic serve`` draws it): peak and RMS
per block of any file FFmpeg decodes, from :mod:`holdmusic.studio.peaks` (PyAV, loaded
only inside the call). Kept out of ``holdmusic.app``'s ``__all__`` until a second
interface needs it: import ``holdmusic.app.envelope``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Envelope:
    block_seconds: float
    peaks: tuple[float, ...]  # linear 0..1, one per block
    rms: tuple[float, ...]
    seconds: float  # decoded length
    complete: bool  # False: decoding stopped at the cap (the rest is not drawn)


def envelope(path: str) -> Envelope | None:
    """The envelope of ``path``, or None when FFmpeg cannot decode it. Raises
    ``MissingExtra`` (usage) without PyAV."""
    from holdmusic.studio import StudioError, peaks

    try:
        e = peaks.envelope(path)
    except StudioError:
        return None
    return Envelope(e.block_seconds, e.peaks, e.rms, e.seconds, e.complete)
