"""``holdmusic fix INPUT [-o OUTPUT]``: make any audio file into hold music that passes."""

from __future__ import annotations

import json
import os

import click

from holdmusic import rules
from holdmusic.cli.validate import limit_options, print_verdict

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
    from holdmusic import studio

    if length >= max_seconds:
        raise click.BadParameter(
            f"{length:g} s is not under --max-seconds {max_seconds:g}", param_hint="--length"
        )
    out = output or studio.default_output(path)
    settings = studio.FixSettings(
        length_seconds=length,
        max_seconds=max_seconds,
        start_seconds=start,
        fade_out_seconds=fade_out,
        fade_in_seconds=fade_in,
        loudness_lufs=loudness,
        sample_rate=int(sample_rate),
        bitrate_kbps=int(bitrate),
        channels=2 if stereo else 1,
    )
    limits = rules.Limits(max_bytes=max_bytes, max_seconds=max_seconds)
    result = studio.fix(path, out, settings, limits, force=force)
    verdict = result.verdict
    if as_json:
        click.echo(
            json.dumps(
                {
                    "input": path,
                    "output": out,
                    "changes": result.changes(),
                    "validate": verdict.to_dict(),
                },
                indent=2,
            )
        )
    else:
        print_verdict(verdict, strict=False)
        click.echo(f"  fixed {os.path.basename(path)}: {result.summary()}")
    raise SystemExit(0 if verdict.ok else 1)
