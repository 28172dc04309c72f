"""``holdmusic fix INPUT [-o OUTPUT]``: make any audio file into hold music that passes."""

from __future__ import annotations

import os

import click

from holdmusic import app
from holdmusic.cli._common import finish, limit_options, limits_from
from holdmusic.cli._render import print_verdict, show

# MP3 sample rates a phone path carries well without the low_sample_rate warning.
_RATES = ("16000", "22050", "24000", "32000", "44100", "48000")
# CBR bitrates every one of those rates allows, up to the high_bitrate warning's 128.
_BITRATES = ("32", "40", "48", "56", "64", "80", "96", "112", "128")


@click.command("fix")
@click.argument("path", metavar="INPUT", type=click.Path(dir_okay=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write the MP3 (default: INPUT's name with .hold.mp3, beside it).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option(
    "--start",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds into INPUT where the hold music begins.",
)
@click.option(
    "--length",
    type=click.FloatRange(min=1, min_open=False),
    default=59.5,
    show_default=True,
    help="Cut audio that is too long to this many seconds (a margin under the limit).",
)
@click.option(
    "--fade-out",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds of fade-out at the cut, so the loop doesn't click.",
)
@click.option(
    "--fade-in",
    type=click.FloatRange(min=0),
    default=0.3,
    show_default=True,
    help="Seconds of fade-in, only when --start cuts into sound.",
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def fix(
    path: str,
    output: str | None,
    force: bool,
    start: float,
    length: float,
    fade_out: float,
    fade_in: float,
    loudness: float,
    sample_rate: str,
    bitrate: str,
    stereo: bool,
    max_bytes: int,
    max_seconds: float,
    as_json: bool,
) -> None:
    """Decode INPUT (WAV, FLAC, Ogg, M4A, MP3, MP2, a video's audio...) and write an MP3
    that passes `holdmusic validate`: cut to fit with a fade, mono, 22.05 kHz, 64 kbit/s
    CBR, -19 LUFS with the true peak at or below -1 dBTP. INPUT is never changed.

    Exit status: 0 when the new file passes, 1 when INPUT cannot be fixed, 2 on a usage
    error (including the audio extra not being installed).
    """
    if length >= max_seconds:
        raise click.BadParameter(
            f"{length:g} s is not under --max-seconds {max_seconds:g}", param_hint="--length"
        )
    result = app.fix(
        path,
        output,
        limits=limits_from(max_bytes, max_seconds),
        force=force,
        length_seconds=length,
        start_seconds=start,
        fade_out_seconds=fade_out,
        fade_in_seconds=fade_in,
        loudness_lufs=loudness,
        sample_rate=int(sample_rate),
        bitrate_kbps=int(bitrate),
        channels=2 if stereo else 1,
    )
    if not as_json:
        print_verdict(result.verdict, strict=False)
        click.echo(f"  fixed {show(os.path.basename(path))}: {show(result.summary())}")
    finish(result, as_json=as_json)
