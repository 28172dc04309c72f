"""What ``fix`` adds to the music: announcements (levelled against the music, which is
ducked under them), the crossfade that makes a loop seamless, and gentle phone-band
shaping. Every signal operation is an FFmpeg filter (``amix``, ``adelay``, ``volume``
with a time expression for the ducking envelope, ``afade``, ``highpass``, shelves); Python
only decides the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from holdmusic.errors import UsageError
from holdmusic.studio import (
    Fan,
    StudioError,
    _audio_stream,
    _Chain,
    _decoded,
    _open_input,
    cutting,
    measure,
)

# --- announcements ------------------------------------------------------------------------

# The voice is set this much louder than the music around it (BS.1770 loudness of each,
# over the voice and over the music within BED_CONTEXT_SECONDS of it), and the music is
# ducked by DUCK_DB under the voice: the voice stands ~16 dB over what is left of the bed,
# the broadcast habit for speech over music, whatever the two files' own levels.
VOICE_OVER_BED_LU = 4.0
DUCK_DB = 12.0
# The music is down before the first syllable (attack, ending at the voice's onset) and
# comes back after the last one (release): slow enough not to pump, quick enough that the
# music does not seem to stop.
DUCK_ATTACK_SECONDS = 0.3
DUCK_RELEASE_SECONDS = 0.8
BED_CONTEXT_SECONDS = 2.0
# The ducking gain is evaluated per frame of this many samples (5.8 ms at 22.05 kHz):
# a 12 dB ramp over 0.3 s moves by under 0.25 dB per step, far below what ears notice.
_DUCK_STEP = 128
# An announcement's own silence: this far under its loudness.
_VOICE_SILENCE_LU = 35.0


@dataclass(frozen=True)
class Voice:
    """An announcement, decoded to the output's format, its leading and trailing silence
    trimmed."""

    path: str
    frames: list[Any]
    samples: int
    loudness_lufs: float


@dataclass(frozen=True)
class Placed:
    """An announcement as mixed: where its voice begins in the output, for how long, and
    the gain it was given."""

    path: str
    at: int  # samples into the output
    samples: int
    gain_db: float

    def protected(self, rate: int) -> tuple[int, int]:
        """The span the cut must leave whole: the voice and the ducking around it."""
        return (
            max(0, self.at - round(DUCK_ATTACK_SECONDS * rate)),
            self.at + self.samples + round(DUCK_RELEASE_SECONDS * rate),
        )


def load_voice(av: Any, path: str, rate: int, layout: str, max_samples: int) -> Voice:
    """Decode an announcement to ``rate``/``layout``; refuse one with no sound or one
    longer than ``max_samples`` (the output could never hold it)."""
    container = _open_input(av, path)
    frames: list[Any] = []
    total = 0
    with container:
        stream = _audio_stream(path, container)
        chain: _Chain | None = None
        to_output = [
            ("aresample", str(rate)),
            ("aformat", f"sample_fmts=flt:channel_layouts={layout}"),
        ]
        for frame in _decoded(path, container, stream):
            if chain is None:
                chain = _Chain(av, frame, to_output)
            for out in chain.push(frame):
                frames.append(out)
                total += out.samples
            if total > max_samples + rate:
                break
        if chain is None:
            raise StudioError(f"{path}: the audio stream holds no decodable audio")
        for out in chain.push(None):
            frames.append(out)
            total += out.samples
    loudness = measure(av, frames, peak=None).integrated_lufs
    if not math.isfinite(loudness):
        raise StudioError(f"{path}: the announcement is silent (below BS.1770's gate)")
    spans = cutting.silences(av, frames, rate, loudness - _VOICE_SILENCE_LU)
    span = cutting.sound_span(spans, total, rate)
    if span is None:  # pragma: no cover - loudness above the gate implies sound
        raise StudioError(f"{path}: the announcement is silent")
    start, end = span
    if end - start > max_samples:
        raise UsageError(
            f"--announce {path}: the voice lasts {(end - start) / rate:.1f} s, longer than "
            f"the output can be ({max_samples / rate:.1f} s)"
        )
    if start or end < total:
        frames = slice_frames(av, frames, start, end)
    return Voice(path, frames, end - start, loudness)


def mix_announcements(
    av: Any, bed: list[Any], rate: int, voices: Sequence[tuple[Voice, int]]
) -> tuple[list[Any], list[Placed]]:
    """``bed`` with each voice mixed in at its sample position, levelled against the music
    around it, and the music ducked under every voice."""
    total = sum(f.samples for f in bed)
    placed: list[Placed] = []
    whole: float | None = None  # the whole bed's loudness, measured only when needed
    for voice, at in voices:
        lo = max(0, at - round(BED_CONTEXT_SECONDS * rate))
        hi = min(total, at + voice.samples + round(BED_CONTEXT_SECONDS * rate))
        bed_lufs = measure(av, slice_frames(av, bed, lo, hi), peak=None).integrated_lufs
        if not math.isfinite(bed_lufs):  # silence around the voice: the bed as a whole
            if whole is None:
                whole = measure(av, bed, peak=None).integrated_lufs
            bed_lufs = whole
        gain = bed_lufs + VOICE_OVER_BED_LU - voice.loudness_lufs
        placed.append(Placed(voice.path, at, voice.samples, gain))
    duck = [
        ("asetpts", "N/SR/TB"),
        ("asetnsamples", f"n={_DUCK_STEP}:p=0"),
        ("volume", f"volume='{_duck_expression(placed, rate)}':eval=frame:precision=float"),
    ]
    inputs: list[tuple[Sequence[Any], list[tuple[str, str]]]] = [(bed, duck)]
    for (voice, _), p in zip(voices, placed, strict=True):
        inputs.append(
            (
                voice.frames,
                [
                    ("asetpts", "N/SR/TB"),
                    ("volume", f"volume={p.gain_db:.4f}dB:precision=float"),
                    ("adelay", f"delays={p.at}S:all=1"),
                ],
            )
        )
    return _sum(av, inputs), placed


def _duck_expression(placed: Sequence[Placed], rate: int) -> str:
    """volume's expression of time: 0 dB, ramping linearly (in dB) down to -DUCK_DB over
    the attack before each voice and back up over the release after it."""
    a, r = DUCK_ATTACK_SECONDS, DUCK_RELEASE_SECONDS
    weights = []
    for p in placed:
        down, up = p.at / rate - a, (p.at + p.samples) / rate + r
        weights.append(f"min(clip((t-{down:.6f})/{a},0,1),clip(({up:.6f}-t)/{r},0,1))")
    w = weights[0]
    for more in weights[1:]:
        w = f"max({w},{more})"
    return f"pow(10,-{DUCK_DB}*{w}/20)"


# --- the loop -------------------------------------------------------------------------------


def crossfade_loop(av: Any, frames: list[Any], n: int, x: int) -> list[Any]:
    """``n`` samples whose first ``x`` hold the ``x`` samples that followed sample ``n`` in
    the source fading out (equal power: cos) while the start fades in (sin). Played twice
    back to back, sample ``n - 1`` runs on into what followed it, so the seam is continuous,
    and the power through the crossfade is constant for uncorrelated music."""
    tail = slice_frames(av, frames, n, n + x)
    head = slice_frames(av, frames, 0, n)
    return _sum(
        av,
        [
            (tail, [("asetpts", "N/SR/TB"), ("afade", f"t=out:ss=0:ns={x}:curve=qsin")]),
            (head, [("asetpts", "N/SR/TB"), ("afade", f"t=in:ss=0:ns={x}:curve=qsin")]),
        ],
    )


# --- the phone band -------------------------------------------------------------------------

# Always: a 2nd-order high-pass at 80 Hz. A phone line carries nothing below 300 Hz (a
# wideband call nothing below ~50-100 Hz); sub-bass only eats the peak headroom the
# loudness target needs, and DC offsets upset the encoder.
HIGHPASS_HZ = 80
# When `validate --listen` finds less than SHAPE_BELOW of the output's energy in 300-3400 Hz
# (its warning fires under 0.5), a shelf takes the bass (below ~250 Hz) or, failing that,
# the treble (above ~4 kHz) down just enough to bring the share to TARGET_SHARE, by at
# most MAX_SHELF_DB: gentle. Music that even that would leave under 0.5 (a bass-only
# track) is left as it is, and the warning says so: carving it thin would not save it.
SHAPE_BELOW = 0.55
TARGET_SHARE = 0.6
MAX_SHELF_DB = 12.0
LOW_SHELF_HZ = 250
HIGH_SHELF_HZ = 4000
_SHELF_STEPS = 3


@dataclass(frozen=True)
class Shaping:
    highpass_hz: int = HIGHPASS_HZ
    low_shelf_db: float = 0.0  # 0 or negative
    high_shelf_db: float = 0.0

    def filters(self) -> list[tuple[str, str]]:
        out = [("highpass", f"f={self.highpass_hz}:p=2")]
        if self.low_shelf_db:
            out.append(("lowshelf", f"f={LOW_SHELF_HZ}:g={self.low_shelf_db:.2f}:t=s:w=1"))
        if self.high_shelf_db:
            out.append(("highshelf", f"f={HIGH_SHELF_HZ}:g={self.high_shelf_db:.2f}:t=s:w=1"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "highpass_hz": self.highpass_hz,
            "low_shelf_db": round(self.low_shelf_db, 1),
            "high_shelf_db": round(self.high_shelf_db, 1),
        }


def fit_shelves(av: Any, frames: list[Any], share: float) -> Shaping | None:
    """A shelf that lifts the phone-band share of ``frames`` (``share`` with the high-pass
    alone, as measured on the output) to TARGET_SHARE, or None when a gentle one cannot
    get it over 0.5. The share is monotonic in the shelf's gain: a few measurements of it
    (secant steps between the two ends) find the gain."""
    if not could_lift(share):
        return None
    for side in ("low", "high"):

        def with_gain(g: float, side: str = side) -> Shaping:
            return Shaping(low_shelf_db=g) if side == "low" else Shaping(high_shelf_db=g)

        deepest = band_share(av, frames, with_gain(-MAX_SHELF_DB).filters())
        if deepest < share + 0.02:
            continue  # the energy is not on this side
        if deepest < 0.5:
            return None
        lo_g, lo_s = 0.0, share  # lo: not enough
        hi_g, hi_s = -MAX_SHELF_DB, deepest  # hi: enough (or the most allowed)
        if hi_s < TARGET_SHARE:
            return with_gain(hi_g)
        for _ in range(_SHELF_STEPS):
            g = lo_g + (hi_g - lo_g) * (TARGET_SHARE - lo_s) / (hi_s - lo_s)
            got = band_share(av, frames, with_gain(g).filters())
            if got >= TARGET_SHARE:
                hi_g, hi_s = g, got
                if got < TARGET_SHARE + 0.03:
                    break
            else:
                lo_g, lo_s = g, got
        return with_gain(round(hi_g, 1))
    return None


def could_lift(share: float) -> bool:
    """Whether a gentle shelf could possibly lift ``share`` over 0.5: even with all the
    energy outside the band deep inside the shelf, it falls by at most MAX_SHELF_DB."""
    floor = 10 ** (-MAX_SHELF_DB / 10)
    return share > 0 and share / (share + floor * (1 - share)) >= 0.5


def band_share(av: Any, frames: list[Any], shaping: list[tuple[str, str]]) -> float:
    """The share of the mono fold-down's energy in 300-3400 Hz (``--listen``'s measure,
    with its filters), after ``shaping``: one pass, split in two."""
    from holdmusic.studio.listening import _PHONE_BAND, _RMS, _RMS_KEY

    mono = ("aformat", "sample_fmts=flt:channel_layouts=mono")
    levels = [-math.inf, -math.inf]  # dB: the whole, the band

    def level(i: int) -> Any:
        def read(out: Any) -> None:
            levels[i] = float(out.metadata.get(_RMS_KEY, levels[i]))

        return read

    fan = Fan(av, frames[0], [*shaping, mono], [[_RMS], [*_PHONE_BAND, _RMS]], [level(0), level(1)])
    for f in frames:
        fan.push(f)
    fan.push(None)
    full_db, band_db = levels
    if not (math.isfinite(full_db) and math.isfinite(band_db)) or full_db <= -150:
        return 0.0
    return min(1.0, 10 ** ((band_db - full_db) / 10))


# --- helpers --------------------------------------------------------------------------------


def slice_frames(av: Any, frames: Sequence[Any], start: int, end: int) -> list[Any]:
    """Samples ``start`` to ``end`` of ``frames``, exactly (padded with silence if short)."""
    if not frames or end <= start:
        return []
    chain = _Chain(
        av,
        frames[0],
        [
            ("asetpts", "N/SR/TB"),
            ("atrim", f"start_sample={start}:end_sample={end}"),
            ("asetpts", "N/SR/TB"),
            ("apad", f"whole_len={end - start}"),
        ],
    )
    return list(chain.run(frames))


def _sum(av: Any, inputs: Sequence[tuple[Sequence[Any], list[tuple[str, str]]]]) -> list[Any]:
    """Several inputs, each through its own filters, summed sample by sample (``amix``
    without normalisation), as long as the longest."""
    g = av.filter.Graph()
    mix = g.add("amix", f"inputs={len(inputs)}:normalize=0:duration=longest")
    sources = []
    for i, (frames, filters) in enumerate(inputs):
        first = frames[0]
        node = g.add_abuffer(
            format=first.format.name,
            sample_rate=first.sample_rate,
            layout=first.layout.name,
            time_base=Fraction(1, first.sample_rate),
        )
        sources.append(node)
        for name, args in filters:
            nxt = g.add(name, args)
            node.link_to(nxt)
            node = nxt
        node.link_to(mix, 0, i)
    # amix hands out frames of any size; blocks of 4096 keep the trips through Python few.
    block = g.add("asetnsamples", "n=4096:p=0")
    mix.link_to(block)
    sink = g.add("abuffersink")
    block.link_to(sink)
    g.configure()
    out: list[Any] = []

    def drain() -> None:
        while True:
            try:
                out.append(sink.pull())
            except (av.BlockingIOError, av.EOFError):
                return

    # One input after the other: amix holds what it has until every input has spoken for
    # the same stretch, so memory stays within the inputs' own size.
    for source, (frames, _) in zip(sources, inputs, strict=True):
        for f in frames:
            f.pts = None
            source.push(f)
            drain()
        source.push(None)
        drain()
    return out
