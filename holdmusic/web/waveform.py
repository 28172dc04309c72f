"""A picture of a waveform as numbers for an SVG template: the envelope, the time axis,
the part that is kept, the cut, the fades and the announcements.

Only numbers and fixed words leave this module; the template draws them (autoescaped),
so nothing from a file reaches the page as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 800
HEIGHT = 120
AXIS = 16  # room under the wave for the time labels


@dataclass(frozen=True)
class Marks:
    """What to draw over the wave, in seconds of the drawn file."""

    start: float | None = None  # where the kept part begins (a cut at the front)
    end: float | None = None  # where it ends (the cut)
    fade_in: float = 0.0
    fade_out: float = 0.0
    limit: float | None = None  # Daily's limit (60 s), dashed
    announcements: tuple[tuple[float, float], ...] = ()  # (at, seconds)
    planned: bool = False  # marks of what fix would do, not of what it did


@dataclass(frozen=True)
class Line:
    x: float
    kind: str  # cut, limit, announce
    label: str


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    mid: float
    peak_points: str
    rms_points: str
    seconds: float
    complete: bool
    ticks: list[tuple[float, str]] = field(default_factory=list)
    shade: list[tuple[float, float]] = field(default_factory=list)  # (x, width) cut away
    lines: list[Line] = field(default_factory=list)
    fades: list[str] = field(default_factory=list)  # polygons
    spans: list[tuple[float, float]] = field(default_factory=list)  # announcements (x, w)
    planned: bool = False
    description: str = ""


def _clock(seconds: float) -> str:
    """``1:15``, or ``0:59.5`` when the time is not a whole second."""
    tenths = round(seconds * 10)
    m, rest = divmod(tenths, 600)
    s, t = divmod(rest, 10)
    return f"{m}:{s:02d}" + (f".{t}" if t else "")


def picture(
    peaks: tuple[float, ...],
    rms: tuple[float, ...],
    block_seconds: float,
    seconds: float,
    complete: bool,
    marks: Marks | None = None,
) -> Picture:
    marks = marks or Marks()
    span = max(seconds, marks.limit or 0.0, marks.end or 0.0, block_seconds)
    wave_h = HEIGHT - AXIS
    mid = wave_h / 2
    half = mid - 2

    def x_of(t: float) -> float:
        return round(min(max(t, 0.0), span) / span * WIDTH, 1)

    columns = WIDTH // 2
    top: list[tuple[float, float]] = []
    top_rms: list[tuple[float, float]] = []
    for c in range(columns):
        t0, t1 = c * span / columns, (c + 1) * span / columns
        lo, hi = int(t0 / block_seconds), max(int(t0 / block_seconds) + 1, int(t1 / block_seconds))
        chunk = peaks[lo:hi]
        if not chunk:
            if lo >= len(peaks):
                break
            continue
        x = round((c + 0.5) * WIDTH / columns, 1)
        top.append((x, max(chunk)))
        top_rms.append((x, max(rms[lo:hi] or (0.0,))))

    def polygon(edge: list[tuple[float, float]]) -> str:
        if not edge:
            return ""
        upper = [f"{x},{round(mid - v * half, 1)}" for x, v in edge]
        lower = [f"{x},{round(mid + v * half, 1)}" for x, v in reversed(edge)]
        return " ".join(upper + lower)

    step = 5 if span <= 40 else 10 if span <= 120 else 30 if span <= 400 else 60
    ticks = [(x_of(t), _clock(t)) for t in range(0, int(span) + 1, step)]

    shade: list[tuple[float, float]] = []
    lines: list[Line] = []
    fades: list[str] = []
    start = marks.start or 0.0
    end = marks.end
    if marks.limit is not None:
        lines.append(Line(x_of(marks.limit), "limit", f"{marks.limit:g} s limit"))
    if start > 0:
        shade.append((0.0, x_of(start)))
        lines.append(Line(x_of(start), "cut", f"start {_clock(start)}"))
    if end is not None and end < seconds:
        shade.append((x_of(end), WIDTH - x_of(end)))
        lines.append(Line(x_of(end), "cut", f"cut {_clock(end)}"))
    if marks.fade_in > 0:
        a, b = x_of(start), x_of(start + marks.fade_in)
        fades.append(f"{a},0 {b},0 {a},{mid}")
    if marks.fade_out > 0 and end is not None:
        a, b = x_of(end - marks.fade_out), x_of(end)
        fades.append(f"{a},0 {b},0 {b},{mid}")
    spans = []
    for at, length in marks.announcements:
        spans.append((x_of(at), max(1.0, x_of(at + length) - x_of(at))))
        lines.append(Line(x_of(at), "announce", f"announcement {_clock(at)}"))
    words = [f"waveform, {seconds:.1f} s"]
    if end is not None and end < seconds:
        verb = "would keep" if marks.planned else "kept"
        words.append(f"{verb} {_clock(start)} to {_clock(end)}")
    if marks.fade_out:
        words.append(f"{marks.fade_out:g} s fade-out")
    return Picture(
        width=WIDTH,
        height=HEIGHT,
        mid=mid,
        peak_points=polygon(top),
        rms_points=polygon(top_rms),
        seconds=seconds,
        complete=complete,
        ticks=ticks,
        shade=shade,
        lines=lines,
        fades=fades,
        spans=spans,
        planned=marks.planned,
        description=", ".join(words),
    )
