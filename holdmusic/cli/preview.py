"""``holdmusic preview FILE [-o caller.wav]``: hear the file as a caller on a phone line will."""

from __future__ import annotations

import click

from holdmusic import app
from holdmusic.cli._render import show


@click.command("preview")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write the WAV (default: FILE's name with .caller.wav, beside it).",
)
@click.option("--alaw", is_flag=True, help="G.711 A-law (Europe and most of the world) "
              "instead of μ-law (North America, Japan).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
def preview(path: str, output: str | None, alaw: bool, force: bool) -> None:
    """Render FILE the way a narrowband phone call carries it: mono, 300-3400 Hz,
    8 kHz, G.711 in a WAV that plays anywhere. Listen before you publish.

    FILE is never changed. Exit status: 0 when written, 1 when FILE cannot be rendered,
    2 on a usage error (including the audio extra not being installed).
    """
    p = app.preview(path, output, alaw=alaw, force=force).preview
    law = "A-law" if alaw else "μ-law"
    click.echo(
        f"Wrote {show(p.output)}: {p.seconds:.3f} s, 8 kHz mono G.711 {law} WAV, "
        f"{p.size_bytes:,} bytes: what a caller on a narrowband line hears"
    )
