"""The ``holdmusic`` command: parse, call :mod:`holdmusic.app`, print. Only this package
knows click.

One module per command, in the manner of twine. A command module is imported only when
that command runs (or help lists it), so ``holdmusic validate`` never pays for boto3 or
httpx. This module decides what the app layer leaves to interfaces: the wording of a
failure (one line), the exit status (0 ok, 1 failed, 2 usage, 130 interrupted), and that
``--json`` prints exactly one JSON document whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, TextIO

import click

from holdmusic import __version__, app
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

# Where each storage setting comes from on the command line (library messages name the
# setting and its variable, not this interface's options).
SETTINGS = {
    "bucket": "--bucket or HOLDMUSIC_BUCKET",
    "prefix": "--prefix or HOLDMUSIC_PREFIX",
    "acl": "--acl or HOLDMUSIC_ACL",
    "endpoint_url": "--endpoint-url or HOLDMUSIC_ENDPOINT_URL",
    "public_base_url": "--public-base-url or HOLDMUSIC_PUBLIC_BASE_URL",
}

VERBOSE_HELP = "Show request details, and a traceback when holdmusic hits a bug."


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """--verbose, before or after the subcommand: both switch the same thing on."""
    if value:
        ctx.find_root().meta["holdmusic.verbose"] = True
        import logging

        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        logging.getLogger().setLevel(logging.INFO)
    return value


def verbose_option() -> click.Option:
    return click.Option(
        ["-v", "--verbose"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_verbose,
        help=VERBOSE_HELP,
    )


def _prepared(command: click.Command) -> click.Command:
    """Every command (and subcommand) takes --verbose too, and says whether --json was
    asked (a failure must then print its JSON document too)."""
    if getattr(command, "_holdmusic_prepared", False):
        return command
    command._holdmusic_prepared = True  # type: ignore[attr-defined]
    if not any("--verbose" in p.opts for p in command.params if isinstance(p, click.Option)):
        command.params.append(verbose_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _prepared(sub)
    elif command.callback is not None:
        original = command.callback

        @functools.wraps(original)
        def callback(*args: Any, **kwargs: Any) -> Any:
            click.get_current_context().meta["holdmusic.json"] = bool(kwargs.get("as_json"))
            return original(*args, **kwargs)

        command.callback = callback
    return command


class Group(click.Group):
    """Suggests the command meant (``valdate`` → ``validate``)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib  # only for a mistyped command: not at every start-up

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"no such command '{printable(name)}'{hint}")
        return super().resolve_command(ctx, args)


class _Root(Group):
    """Loads commands lazily; turns every failure into one line and an exit status."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(f"holdmusic.cli.{module}"), attr)
        assert isinstance(command, click.Command)
        return _prepared(command)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as exc:
            _usage_failure(exc, argv)
        except click.exceptions.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except click.exceptions.Exit as exc:  # raised outside a command's invoke
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)

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
        except KeyboardInterrupt as exc:
            # Ctrl-C, and SIGTERM/SIGHUP (main() turns them into this exception): the same
            # clean-up on the way out; the exit status is 128 + the signal, as a shell says.
            _fail(ctx, exc, 128 + getattr(exc, "signum", signal.SIGINT))
        except Exception as exc:
            code = 2 if app.is_usage(exc) else 1
            _fail(ctx, exc, code)


def _wants_json(argv: Sequence[str]) -> bool:
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


def _usage_failure(exc: click.exceptions.UsageError, argv: Sequence[str]) -> NoReturn:
    """A usage error is one line, like every failure: what is wrong and where help is."""
    ctx = exc.ctx
    where = ctx.command_path if ctx is not None else "holdmusic"
    message = f"{exc.format_message()} (see '{where} --help')"
    if _wants_json(argv):
        import json  # only for --json: a text run does not load it

        problem = app.Problem("usage", "error", message)
        click.echo(json.dumps(app.Failure(problem).to_dict(), indent=2))
    click.secho(f"error: {printable(message)}", fg="red", err=True)
    sys.exit(2)


def _fail(ctx: click.Context, exc: BaseException, code: int) -> NoReturn:
    """One line on stderr; under --json also the failure document on stdout.

    Tracebacks are for bugs: a HoldmusicError (a 404, a refused key, a bad file) is an
    ordinary outcome whose one line says all there is, --verbose or not.
    """
    problem = app.problem_for(exc)
    bug = problem.code == "internal_error"
    if bug and ctx.find_root().meta.get("holdmusic.verbose"):
        import traceback  # only for a bug, with --verbose

        traceback.print_exc()
    if ctx.meta.get("holdmusic.json"):
        import json  # only for --json: a text run does not load it

        click.echo(json.dumps(app.Failure(problem).to_dict(), indent=2))
    if isinstance(exc, KeyboardInterrupt):
        signum = getattr(exc, "signum", signal.SIGINT)
        name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
        click.echo(f"interrupted{name}", err=True)
        sys.exit(code)
    message = problem.message
    where = SETTINGS.get(getattr(exc, "setting", ""))
    if where:
        message += f" (set with {where})"
    if bug:
        message += " (run with --verbose for details)"
    click.secho(f"error: {printable(message)}", fg="red", err=True)
    sys.exit(code)


class _SafeStream(io.TextIOBase):
    """stdout/stderr behind :func:`holdmusic.text.terminal_safe`: the last guard against
    escape sequences from file names, file contents and server replies.

    No ``buffer`` attribute on purpose: click would write around the guard through it.
    ``inner`` is the stream itself, for rich, which is only ever given escaped text.
    """

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, s: str) -> int:
        if not isinstance(s, str):  # click probes streams with b"" to tell text from binary
            raise TypeError("write() argument must be str")
        self.inner.write(terminal_safe(s, tty=self.isatty()))
        return len(s)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        try:
            return self.inner.isatty()
        except ValueError:  # closed
            return False

    def fileno(self) -> int:
        return self.inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)


@contextlib.contextmanager
def _guarded_output() -> Iterator[None]:
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _SafeStream(out), _SafeStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="holdmusic")
@click.option(
    "-v", "--verbose", is_flag=True, expose_value=False, callback=_verbose, help=VERBOSE_HELP
)
def cli() -> None:
    """Validate, upload, verify and publish hold music for Daily dial-in numbers."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so that every ``finally`` and
    temporary-file clean-up that handles Ctrl-C handles these too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


def main() -> None:
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # nohup: keep it
            signal.signal(sig, _terminate)
    cli(prog_name="holdmusic")


__all__ = ["Group", "cli", "main", "verbose_option"]
