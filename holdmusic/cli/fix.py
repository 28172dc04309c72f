"""``holdmusic fix INPUT... [-o OUTPUT]``: make any audio file into hold music that passes."""

from __future__ import annotations

import math
import os
import re
from typing import Any

import click

from holdmusic import app
from holdmusic.cli._common import finish, limit_options, limits_from, print_json, to_stderr
from holdmusic.cli._render import print_verdict, show

# MP3 sample rates a phone path carries well without the low_sample_rate warning.
_RATES = ("16000", "22050", "24000", "32000", "44100", "48000")
# CBR bitrates every one of those rates allows, up to the high_bitrate warning's 128.
_BITRATES = ("32", "40", "48", "56", "64", "80", "96", "112", "128")

_CLOCK = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")


def parse_time(text: str) -> float:
    """``90``, ``90.5``, ``1:30``, ``1:30.5``, ``0:01:30`` → seconds. Minutes and seconds
    after a colon are under 60 (``1:75`` is a typo, not 2:15)."""
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(text)
    hours, minutes, seconds = m.group(1), m.group(2), float(m.group(3))
    if minutes is not None and seconds >= 60:
        raise ValueError(text)
    if hours is not None and int(minutes) >= 60:
        raise ValueError(text)
    total = seconds + 60 * int(minutes or 0) + 3600 * int(hours or 0)
    if not math.isfinite(total):
        raise ValueError(text)
    return total


class _Time(click.ParamType):  # type: ignore[type-arg]
    """Seconds (``90.5``) or a clock time (``1:30.5``, ``1:01:30``); never negative."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return parse_time(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not a time: give seconds (90, 90.5) or minutes:seconds "
                "(1:30, 1:30.5, 0:01:30)",
                param,
                ctx,
            )


TIME = _Time()


@click.command("fix")
@click.argument("paths", metavar="INPUT...", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="The MP3 to write, or an existing folder to write into (needed for several "
    "INPUTs). Default: INPUT's whole name + .hold.mp3, beside it (song.wav → "
    "song.wav.hold.mp3).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option(
    "--start",
    type=TIME,
    default=0.0,
    show_default=True,
    help="Where in INPUT the hold music begins (seconds, or m:ss / h:mm:ss).",
)
@click.option(
    "--end",
    type=TIME,
    help="Cut exactly here in INPUT (seconds or m:ss), with the fade-out ending here.",
)
@click.option(
    "--length",
    type=TIME,
    help="Cut anything longer to at most this, at a pause [default: 59.5 when INPUT is "
    "not under --max-seconds; else its length is kept].",
)
@click.option(
    "--fade-in",
    type=TIME,
    help="Seconds of fade-in at the start [default: 0.3 only where --start cuts into sound].",
)
@click.option(
    "--fade-out",
    type=TIME,
    help="Seconds of fade-out at the end [default: 2 at a cut, shortened to fit a pause; "
    "none where the music ends by itself]. 0 for none.",
)
@click.option(
    "--keep-silence",
    is_flag=True,
    help="Keep silence at the start and the end (trimmed by default).",
)
@click.option(
    "--loop",
    is_flag=True,
    help="Crossfade the end into the start: played twice (as Daily does), the end runs on "
    "into the start with no dip and no click.",
)
@click.option(
    "--crossfade",
    type=TIME,
    help="With --loop: seconds of the crossfade [default: 2].",
)
@click.option(
    "--announce",
    "announce",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A spoken announcement to mix over the music (the music ducks under it). "
    "Repeatable; each needs an --announce-at.",
)
@click.option(
    "--announce-at",
    "announce_at",
    multiple=True,
    type=TIME,
    help="Where the matching --announce's voice begins, in seconds (or m:ss) into the output.",
)
@click.option(
    "--no-phone-shaping",
    is_flag=True,
    help="Leave the frequency balance as it is (by default: a high-pass at 80 Hz, and bass "
    "or treble shelves when too little is in the 300-3400 Hz a phone carries).",
)
@click.option(
    "--loudness",
    type=click.FloatRange(min=-40, max=-10),
    default=-19.0,
    show_default=True,
    help="Target integrated loudness in LUFS (ITU-R BS.1770), measured on the MP3.",
)
@click.option(
    "--sample-rate",
    type=click.Choice(_RATES),
    default="22050",
    show_default=True,
    help="Output sample rate in Hz.",
)
@click.option(
    "--bitrate",
    type=click.Choice(_BITRATES),
    default="64",
    show_default=True,
    help="Output CBR bitrate in kbit/s.",
)
@click.option("--stereo", is_flag=True, help="Keep two channels (phone calls are mono).")
@limit_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (an array for several INPUTs).")
def fix(
    paths: tuple[str, ...],
    output: str | None,
    force: bool,
    start: float,
    end: float | None,
    length: float | None,
    fade_in: float | None,
    fade_out: float | None,
    keep_silence: bool,
    loop: bool,
    crossfade: float | None,
    announce: tuple[str, ...],
    announce_at: tuple[float, ...],
    no_phone_shaping: bool,
    loudness: float,
    sample_rate: str,
    bitrate: str,
    stereo: bool,
    max_bytes: int,
    max_seconds: float,
    as_json: bool,
) -> None:
    """Decode each INPUT (WAV, FLAC, Ogg, M4A, MP3, MP2, a video's audio...) and write an
    MP3 that passes `holdmusic validate --listen`: silence trimmed, cut to fit at a pause,
    phone-band shaped, mono, 22.05 kHz, 64 kbit/s CBR, -19 LUFS with the true peak at or
    below -1 dBTP. INPUT is never changed.

    Exit status: 0 when every new file passes, 1 when an INPUT cannot be fixed, 2 on a
    usage error (including the audio extra not being installed).
    """
    if length is not None and length < 1:
        raise click.BadParameter(f"{length:g} s is too short: at least 1", param_hint="--length")
    if length is not None and length >= max_seconds:
        raise click.BadParameter(
            f"{length:g} s is not under --max-seconds {max_seconds:g}", param_hint="--length"
        )
    if crossfade is not None and not loop:
        raise click.UsageError("--crossfade is the length of --loop's crossfade; add --loop")
    if len(announce) != len(announce_at):
        raise click.UsageError(
            f"{len(announce)} --announce and {len(announce_at)} --announce-at: give each "
            "announcement its time (--announce VOICE --announce-at T)"
        )
    limits = limits_from(max_bytes, max_seconds)
    settings = app.fix_settings(
        limits=limits,
        length_seconds=length,
        end_seconds=end,
        start_seconds=start,
        fade_out_seconds=fade_out,
        fade_in_seconds=fade_in,
        keep_silence=keep_silence,
        loop=loop,
        crossfade_seconds=crossfade,
        phone_shaping=not no_phone_shaping,
        announcements=tuple(zip(announce, announce_at, strict=True)),
        loudness_lufs=loudness,
        sample_rate=int(sample_rate),
        bitrate_kbps=int(bitrate),
        channels=2 if stereo else 1,
    )
    try:
        jobs = app.fix_outputs(list(paths), output)
    except app.UsageError as exc:
        raise click.UsageError(f"-o {exc}" if output is not None else str(exc)) from None

    if len(jobs) == 1:
        path, out = jobs[0]
        result = app.fix_with(path, out, settings, limits=limits, force=force)
        if not as_json:
            _print(path, result)
        finish(result, as_json=as_json)
        return

    outcomes: list[app.FixOutcome | app.FixFailure] = []
    for path, out in jobs:
        try:
            done = app.fix_with(path, out, settings, limits=limits, force=force)
        except app.HoldmusicError as exc:
            if app.is_usage(exc):
                raise
            outcomes.append(app.FixFailure(path, out, app.problem_for(exc)))
            to_stderr(click.style("error: ", fg="red") + show(exc))
            continue
        if not as_json:
            _print(path, done)
        outcomes.append(done)
    fixed = sum(o.ok for o in outcomes)
    if as_json:
        print_json([o.to_dict() for o in outcomes])
    else:
        click.echo(f"{len(jobs)} files: {fixed} fixed, {len(jobs) - fixed} failed")
    raise click.exceptions.Exit(0 if fixed == len(jobs) else 1)


def _print(path: str, result: app.FixOutcome) -> None:
    print_verdict(result.verdict, strict=False)
    click.echo(f"  fixed {show(os.path.basename(path))}: {show(result.summary())}")
    for w in result.warnings:
        label = click.style("warning", fg="yellow")
        click.echo(f"  {label} [{w.code}]: {show(w.message)}")
