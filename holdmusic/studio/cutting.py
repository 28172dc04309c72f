"""Where ``fix`` cuts: the silence at the ends, and a pause near the length limit.

Two measurements of the audio in hand (both FFmpeg filters: ``ebur128`` for the loudness
contour, ``silencedetect`` for silences) and the decisions made from them, which are plain
arithmetic on those lists. The numbers below are the thresholds ``docs/fix-and-listen.md``
explains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from holdmusic import rules
from holdmusic.studio import _Chain

# --- thresholds -------------------------------------------------------------------------

# ebur128 measures momentary loudness over 400 ms, every 100 ms: the contour the cut
# search reads.
HOP_SECONDS = 0.1
# A pause: momentary loudness at least this far below the loudest moment within
# PAUSE_CONTEXT_SECONDS either side. 6 dB is a clear dip (a quarter of the energy); a
# voice over a music bed stands well above it, and a phrase ends in a dip at least this deep.
PAUSE_DB = 6.0
PAUSE_CONTEXT_SECONDS = 3.0
# ... for at least this many consecutive momentary values. Three 400 ms windows in a row,
# 100 ms apart, all quiet: the quiet itself lasts about 0.4 s or more. The gaps between
# words (under 0.1 s) and between a fast reader's sentences (espeak-ng: 0.25-0.35 s) are
# shorter, so a cut never lands inside a spoken announcement.
PAUSE_MIN_HOPS = 3
PAUSE_MIN_SECONDS = 0.4  # what that amounts to, for messages
# How far back from the length limit a pause is looked for: a cut there loses at most
# this much music (and never more than a quarter of the length).
SEARCH_SECONDS = 10.0
SEARCH_SHARE = 0.25
# Silence, as `validate --listen` hears it: every channel below -50 dBFS for 0.1 s or more.
SILENCE_DBFS = rules.SILENCE_DBFS
SILENCE_MIN_SECONDS = 0.1
# What trimming leaves of a silence: a breath before the first sound (far under the
# validator's 1 s `leading_silence`), and room for the last note to ring out (far under
# `trailing_silence`'s 2 s).
KEEP_BEFORE_SECONDS = 0.1
KEEP_AFTER_SECONDS = 0.3


# --- measurements -----------------------------------------------------------------------


@dataclass(frozen=True)
class Contour:
    """Momentary loudness (BS.1770, 400 ms) every ``hop`` samples: value ``k`` is the
    loudness of the 400 ms ending at sample ``(k + 1) * hop``; ``-inf`` below the gate."""

    hop: int
    momentary: tuple[float, ...]
    integrated: float  # of everything measured; -inf when silent


def contour(av: Any, frames: Sequence[Any], rate: int) -> Contour:
    """Measure ``frames`` (at ``rate``) with ``ebur128``, one frame per 100 ms so that each
    carries its own momentary value."""
    hop = round(rate * HOP_SECONDS)
    values: list[float] = []
    integrated = -math.inf
    if not frames:
        return Contour(hop, (), integrated)
    chain = _Chain(av, frames[0], [("asetnsamples", f"n={hop}:p=0"), ("ebur128", "metadata=1")])
    for out in chain.run(frames):
        meta = out.metadata
        if out.samples == hop:  # the padding-free last frame carries no full hop
            m = float(meta.get("lavfi.r128.M", "-inf"))
            values.append(m if m > -70.0 else -math.inf)
        if "lavfi.r128.I" in meta:
            integrated = float(meta["lavfi.r128.I"])
    if integrated <= -70.0:
        integrated = -math.inf
    return Contour(hop, tuple(values), integrated)


def silences(
    av: Any, frames: Sequence[Any], rate: int, noise_dbfs: float
) -> list[tuple[int, int | None]]:
    """Silences of 0.1 s or more below ``noise_dbfs`` on every channel, as ``(start, end)``
    sample positions; ``end`` is None for a silence that lasts to the end."""
    if not frames:
        return []
    detect = f"noise={noise_dbfs:.2f}dB:d={SILENCE_MIN_SECONDS}"
    chain = _Chain(av, frames[0], [("asetpts", "N/SR/TB"), ("silencedetect", detect)])
    found: list[tuple[int, int | None]] = []
    start: int | None = None
    for out in chain.run(frames):
        meta = out.metadata
        if "lavfi.silence_start" in meta:
            start = max(0, round(float(meta["lavfi.silence_start"]) * rate))
        if "lavfi.silence_end" in meta and start is not None:
            found.append((start, round(float(meta["lavfi.silence_end"]) * rate)))
            start = None
    if start is not None:
        found.append((start, None))
    return found


# --- silence at the ends ----------------------------------------------------------------


def sound_span(
    spans: Iterable[tuple[int, int | None]], length: int, rate: int
) -> tuple[int, int] | None:
    """Where the sound begins and ends in ``length`` samples, keeping a short breath of the
    silence on each side; None when it is all silence."""
    first, last = 0, length
    for start, end in spans:
        stop = length if end is None else end
        if start <= 0:
            first = max(first, stop)
        if stop >= length:
            last = min(last, start)
    if first >= last:
        return None
    return (
        max(0, first - round(KEEP_BEFORE_SECONDS * rate)),
        min(length, last + round(KEEP_AFTER_SECONDS * rate)),
    )


def end_before_silence(spans: Iterable[tuple[int, int | None]], end: int, rate: int) -> int:
    """``end`` moved back to just after the sound when it falls in (or at the end of) a
    silence, so that the output does not finish on dead air."""
    keep = round(KEEP_AFTER_SECONDS * rate)
    for start, stop in spans:
        if start < end and (stop is None or stop >= end) and end - start > keep:
            return start + keep
    return end


# --- the cut ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """Where the output ends (``end``, in samples of the analysed audio) and where its
    fade-out begins. For a loop, ``end`` is where the crossfade's outgoing part starts."""

    end: int
    fade_start: int
    at_pause: bool
    # When no pause was found: the quietest moment of the search (samples) and how far it
    # sat under the loudest moment around it (dB), for the warning.
    quietest: int | None = None
    quietest_db: float = 0.0


@dataclass(frozen=True)
class _Pause:
    start: int  # the quiet audio, conservatively: the last phrase has ended by here
    end: int  # ... and the next one has not begun


def pauses(c: Contour, rate: int) -> list[_Pause]:
    """Runs of quiet momentary loudness long enough to be a phrase boundary."""
    m = c.momentary
    k = len(m)
    w = round(PAUSE_CONTEXT_SECONDS / HOP_SECONDS)
    quiet = [_below(m[i], _loudest(m, i, w)) for i in range(k)]
    found = []
    i = 0
    while i < k:
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j + 1 < k and quiet[j + 1]:
            j += 1
        if j - i + 1 >= PAUSE_MIN_HOPS:
            # A quiet 400 ms window may still hold ~100 ms of the louder sound at its
            # start; the last quiet one may hold the next sound's first 100 ms at its end.
            start = max(0, (i + 1) * c.hop - round(0.3 * rate))
            found.append(_Pause(start, j * c.hop - round(0.05 * rate)))
        i = j + 1
    return found


def _loudest(m: Sequence[float], i: int, w: int) -> float:
    return max(m[max(0, i - w) : i + w + 1])


def _below(value: float, loudest: float) -> bool:
    if value == -math.inf:
        return True
    return value <= loudest - PAUSE_DB


def place_cut(
    c: Contour,
    rate: int,
    *,
    limit: int,
    lowest: int,
    fade: int,
    loop: bool,
    available: int,
) -> Cut:
    """The latest good place to end: inside a pause that begins before ``limit`` (at most
    the search distance back, never before ``lowest``), with the fade-out inside the pause
    too. For a loop the crossfade's outgoing part (``fade`` samples from the cut, which must
    exist: ``available``) is put in the pause instead. Without a pause, the cut goes to the
    latest moment about as quiet as the quietest of the search (in evenly loud music: the
    limit), and the quietest is reported."""
    search_from = max(
        lowest, limit - round(min(SEARCH_SECONDS, SEARCH_SHARE * limit / rate) * rate)
    )
    best: Cut | None = None
    for p in pauses(c, rate):
        if p.start > limit:
            continue
        if loop:
            end = max(p.start, min(limit, p.end - fade, available - fade))
            if end < search_from or end > limit or end + fade > available:
                continue
            cut = Cut(end, end, True)
        else:
            end = min(limit, p.end)
            if end < search_from or end - p.start < round(0.2 * rate):
                continue
            cut = Cut(end, max(end - fade, p.start, lowest), True)
        if best is None or cut.end > best.end:
            best = cut
    if best is not None:
        return best
    # No pause. In evenly loud music the limit is as good as anywhere: the cut stays there.
    # Where the music at the limit stands out (a voice, a loud phrase: LOUD_AT_LIMIT_DB over
    # the quietest moment of the search), the cut moves back to the latest moment nearly
    # as quiet as the quietest.
    hi = min(limit, available - fade) if loop else limit
    moments = _moments(c, search_from, hi)
    if not moments:
        return Cut(hi, hi if loop else max(hi - fade, lowest), False)
    quietest_at, deepest = min(moments, key=lambda m: (m[1], -m[0]))
    end = hi
    if moments[-1][1] > deepest + LOUD_AT_LIMIT_DB:
        end = max(at for at, depth in moments if depth <= deepest + NEAR_QUIETEST_DB)
    return Cut(end, end if loop else max(end - fade, lowest), False, quietest_at, -deepest)


LOUD_AT_LIMIT_DB = 3.0
NEAR_QUIETEST_DB = 1.5


def _moments(c: Contour, lo: int, hi: int) -> list[tuple[int, float]]:
    """Candidate cut points from ``lo`` to ``hi`` (every 100 ms), each with how far the
    audio around it (from 0.2 s before to 0.4 s after) sits under the loudest moment within
    three seconds (dB, negative: quieter)."""
    m = c.momentary
    w = round(PAUSE_CONTEXT_SECONDS / HOP_SECONDS)
    out = []
    for i in range(len(m)):
        at = (i + 1) * c.hop - 2 * c.hop  # the middle of window i
        if at < lo or at > hi:
            continue
        around = max(m[i : i + 3])
        depth = around - _loudest(m, i, w)
        # Digital silence reads -inf: as deep as is worth telling apart.
        out.append((at, max(-60.0, depth) if math.isfinite(depth) else -60.0))
    return out
