"""``holdmusic fix INPUT... [-o OUTPUT]``: make any audio file into hold music that passes."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

import click

from holdmusic import rules
from holdmusic.cli._common import limit_options, verdict_lines
from holdmusic.errors import HoldmusicError, UsageError
from holdmusic.text import printable

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
    from holdmusic.studio import fixing

    if length is not None and length < 1:
        raise click.BadParameter(f"{length:g} s is too short: at least 1", param_hint="--length")
    if length is not None and length >= max_seconds:
        raise click.BadParameter(
            f"{length:g} s is not under --max-seconds {max_seconds:g}", param_hint="--length"
        )
    if crossfade is not None and not loop:
        raise UsageError("--crossfade is the length of --loop's crossfade; add --loop")
    if len(announce) != len(announce_at):
        raise UsageError(
            f"{len(announce)} --announce and {len(announce_at)} --announce-at: give each "
            "announcement its time (--announce VOICE --announce-at T)"
        )
    settings = fixing.FixSettings(
        length_seconds=length,
        end_seconds=end,
        max_seconds=max_seconds,
        start_seconds=start,
        fade_out_seconds=fade_out,
        fade_in_seconds=fade_in,
        keep_silence=keep_silence,
        loop=loop,
        crossfade_seconds=fixing.DEFAULT_CROSSFADE_SECONDS if crossfade is None else crossfade,
        phone_shaping=not no_phone_shaping,
        announcements=tuple(
            fixing.Announcement(p, t) for p, t in zip(announce, announce_at, strict=True)
        ),
        loudness_lufs=loudness,
        sample_rate=int(sample_rate),
        bitrate_kbps=int(bitrate),
        channels=2 if stereo else 1,
    )
    fixing.check_settings(settings)
    jobs = _outputs(list(paths), output)
    limits = rules.Limits(max_bytes=max_bytes, max_seconds=max_seconds)

    if len(jobs) == 1:
        path, out = jobs[0]
        result = fixing.fix(path, out, settings, limits, force=force)
        if as_json:
            click.echo(json.dumps(_report(path, out, result), indent=2))
        else:
            _print(path, result)
        raise SystemExit(0 if result.verdict.ok else 1)

    status = 0
    reports: list[dict[str, Any]] = []
    fixed = 0
    for path, out in jobs:
        try:
            result = fixing.fix(path, out, settings, limits, force=force)
        except HoldmusicError as exc:
            status = max(status, exc.exit_code)
            reports.append({"input": path, "output": out, "error": str(exc)})
            click.echo(f"error: {printable(str(exc))}", err=True)
            continue
        fixed += result.verdict.ok
        status = max(status, 0 if result.verdict.ok else 1)
        reports.append(_report(path, out, result))
        if not as_json:
            _print(path, result)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    else:
        click.echo(f"{len(jobs)} files: {fixed} fixed, {len(jobs) - fixed} failed")
    raise SystemExit(status)


def _outputs(paths: list[str], output: str | None) -> list[tuple[str, str]]:
    """Where each input's MP3 goes, refusing before any work what could not be right."""
    from holdmusic.studio import fixing

    folder: str | None = None
    if output is not None:
        if os.path.isdir(output) or output.endswith(("/", os.sep)):
            if not os.path.isdir(output):
                raise UsageError(f"-o {output}: no such folder (create it first)")
            folder = output
        elif len(paths) > 1:
            raise UsageError(f"-o {output}: with several inputs, -o names a folder to write into")
        elif not output.lower().endswith(".mp3"):
            raise UsageError(
                f"-o {output}: fix writes an MP3; give the output a .mp3 name (or a folder)"
            )
    jobs = []
    for p in paths:
        if output is not None and folder is None:
            jobs.append((p, output))
        else:
            name = fixing.default_output(p)
            if folder is not None:
                name = os.path.join(folder, os.path.basename(name))
            jobs.append((p, name))
    seen: dict[str, str] = {}
    inputs = {os.path.abspath(p): p for p in paths}
    for p, out in jobs:
        key = os.path.abspath(out)
        if key in seen:
            raise UsageError(f"{seen[key]} and {p} would both be written to {out}")
        if key in inputs and inputs[key] != p:
            raise UsageError(f"{p}'s output {out} is another input; it is never replaced")
        seen[key] = p
    return jobs


def _report(path: str, out: str, result: Any) -> dict[str, Any]:
    return {
        "input": path,
        "output": out,
        "changes": result.changes(),
        "warnings": [w.to_dict() for w in result.warnings],
        "validate": result.verdict.to_dict(),
    }


def _print(path: str, result: Any) -> None:
    note = f"fixed {os.path.basename(path)}: {result.summary()}"
    for line in verdict_lines(result.verdict, strict=False, note=note):
        click.echo(line)
    for w in result.warnings:
        label = click.style("warning", fg="yellow")
        click.echo(f"  {label} [{w.code}]: {printable(w.message)}")
