"""The ``holdmusic`` command: parse, call a stage, print. Only this package knows click.

One module per command, in the manner of twine. Command modules import their stage
lazily, inside the command, so ``holdmusic validate`` never pays for boto3 or httpx.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Any, TextIO

import click

from holdmusic import __version__
from holdmusic.errors import HoldmusicError
from holdmusic.text import printable, terminal_safe

# Command name -> "module:attribute". A command's module is imported only when that
# command runs (or help lists it), so `holdmusic validate` loads nothing it doesn't use.
COMMANDS = {
    "validate": "validate:validate",
    "fix": "fix:fix",
    "preview": "preview:preview",
    "upload": "upload:upload",
    "bucket-policy": "upload:bucket_policy",
    "publish": "publish:publish",
    "configs": "configs:configs",
    "batch": "batch:batch",
    "rollback": "batch:rollback",
    "doctor": "doctor:doctor",
    "serve": "serve:serve",
    "serve-user": "serve:serve_user",
}


class _Group(click.Group):
    """Loads commands lazily; turns HoldmusicError into one line and an exit code; hides
    tracebacks of bugs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(f"holdmusic.cli.{module}"), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        with _guarded_output():
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            # `holdmusic validate dir | head`: the reader left; no message, like other tools.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except HoldmusicError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            what = f"unexpected {type(exc).__name__}: {exc}"
            _fail(ctx, f"{what} (run with --verbose for details)", 1, bug=True)


def _fail(ctx: click.Context, message: str, code: int, *, bug: bool = False) -> None:
    # Tracebacks are for bugs: a HoldmusicError (a 404, a refused key, a bad file) is an
    # ordinary outcome whose one line says all there is, --verbose or not.
    if bug and ctx.find_root().params.get("verbose"):
        traceback.print_exc()
    click.secho(f"error: {printable(message)}", fg="red", err=True)
    sys.exit(code)


class _SafeStream(io.TextIOBase):
    """stdout/stderr behind :func:`holdmusic.text.terminal_safe`: the last guard against
    escape sequences from file names, file contents and server replies.

    No ``buffer`` attribute on purpose: click would write around the guard through it.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, s: str) -> int:
        if not isinstance(s, str):  # click probes streams with b"" to tell text from binary
            raise TypeError("write() argument must be str")
        self._inner.write(terminal_safe(s, tty=self.isatty()))
        return len(s)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        try:
            return self._inner.isatty()
        except ValueError:  # closed
            return False

    def fileno(self) -> int:
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._inner, "errors", None)


@contextlib.contextmanager
def _guarded_output() -> Iterator[None]:
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _SafeStream(out), _SafeStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="holdmusic")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show request details, and a traceback when holdmusic hits a bug.",
)
def cli(verbose: bool) -> None:
    """Validate, upload, verify and publish hold music for Daily dial-in numbers."""
    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


def main() -> None:
    cli(prog_name="holdmusic")


__all__ = ["cli", "main"]
