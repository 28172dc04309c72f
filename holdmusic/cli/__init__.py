"""The ``holdmusic`` command: parse, call a stage, print. Only this package knows click.

One module per command, in the manner of twine. Command modules import their stage
lazily, inside the command, so ``holdmusic validate`` never pays for boto3 or httpx.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from holdmusic import __version__
from holdmusic.cli import batch, configs, doctor, publish, upload, validate
from holdmusic.errors import HoldmusicError


class _Group(click.Group):
    """Turns HoldmusicError into one line and an exit code; hides tracebacks of bugs."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except HoldmusicError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            what = f"unexpected {type(exc).__name__}: {exc}"
            _fail(ctx, f"{what} (run with --verbose for details)", 1)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    if ctx.find_root().params.get("verbose"):
        traceback.print_exc()
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="holdmusic")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and request details.")
def cli(verbose: bool) -> None:
    """Validate, upload, verify and publish hold music for Daily dial-in numbers."""
    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


cli.add_command(validate.validate)
cli.add_command(upload.upload)
cli.add_command(upload.bucket_policy)
cli.add_command(publish.publish)
cli.add_command(configs.configs)
cli.add_command(batch.batch)
cli.add_command(batch.rollback)
cli.add_command(doctor.doctor)


def main() -> None:
    cli(prog_name="holdmusic")


__all__ = ["cli", "main"]
