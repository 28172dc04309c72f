"""The CLI's one toolbox: options, the environment, output helpers and the endings.

Every command module imports from here (and :mod:`holdmusic.cli._render`) and never from
another command's module, so a command can change without moving its neighbours. The CLI
calls :mod:`holdmusic.app`, never a stage; imports stay light (click and the app layer,
which loads nothing heavy).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import click

from holdmusic import app

# --- the environment: read once per command, here ------------------------------------------


def environment() -> app.Environment:
    """The environment, as the app layer takes it (a refused value is a usage error)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    cached = root.meta.get("holdmusic.env") if root is not None else None
    if isinstance(cached, app.Environment):
        return cached
    env = app.Environment.from_env(os.environ)
    if root is not None:
        root.meta["holdmusic.env"] = env
    return env


def env_help(*names: str) -> str:
    """An epilog naming the environment variables a command reads, and what for."""
    lines = [f"  {n}: {app.VARIABLES[n]}" for n in names]
    return "\b\nEnvironment:\n" + "\n".join(lines)


DAILY_ENV = ("DAILY_API_KEY", "DAILY_API_URL")
PRIVATE_ENV = ("HOLDMUSIC_ALLOW_PRIVATE_URLS",)


def to_stderr(message: str) -> None:
    """Progress goes to stderr, so stdout stays clean for the URL or JSON."""
    click.echo(message, err=True)


def plural(n: int, noun: str) -> str:
    """``1 config``, ``2 configs``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def print_json(value: Any) -> None:
    import json  # only for --json: a text run does not load it

    click.echo(json.dumps(value, indent=2))


def finish(result: Any, *, as_json: bool, interrupted: bool = False) -> NoReturn:
    """The ending of every command: its JSON if asked, then the exit status that agrees
    with ``ok`` (0 ok, 1 not ok, 130 interrupted)."""
    if as_json:
        print_json(result.to_dict())
    if interrupted:
        raise click.exceptions.Exit(130)
    raise click.exceptions.Exit(0 if result.ok else 1)


def storage_settings(params: dict[str, Any]) -> app.StorageSettings:
    """Build the settings from a command's parameters, popping the storage ones."""
    given = {k: params.pop(k) for k in STORAGE_KEYS}
    return environment().storage_settings(**given)


STORAGE_KEYS = (
    "bucket",
    "prefix",
    "public_base_url",
    "endpoint_url",
    "region",
    "acl",
    "cache_control",
)


def write_junit(path: str, verdicts: list[app.Verdict], strict: bool, suite: str) -> None:
    from holdmusic import junit

    with open(path, "w", encoding="utf-8") as fh:
        fh.write(junit.render(verdicts, strict=strict, suite=suite))


# --- options ---------------------------------------------------------------------------------


def limit_options(f: click.decorators.FC) -> click.decorators.FC:
    """--max-bytes / --max-seconds, shared by every command that validates."""
    f = click.option(
        "--max-seconds",
        type=click.FloatRange(min=0, min_open=True),
        callback=_finite,
        default=app.DEFAULT_MAX_SECONDS,
        show_default=True,
        help="Audio must be shorter than this.",
    )(f)
    f = click.option(
        "--max-bytes",
        type=click.IntRange(min=1),
        default=app.DEFAULT_MAX_BYTES,
        show_default=True,
        help="Files must be smaller than this many bytes.",
    )(f)
    return f


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """nan passes every comparison and inf none: either would switch the limit off."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", ctx, param)
    return value


def limits_from(max_bytes: int, max_seconds: float) -> app.Limits:
    return app.Limits(max_bytes=max_bytes, max_seconds=max_seconds)


def output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A report path must be writable before any work starts, not after."""
    if value is not None:
        folder = os.path.dirname(os.path.abspath(value))
        if not os.path.isdir(folder):
            raise click.BadParameter(f"folder {folder} does not exist", ctx, param)
        if not os.access(folder, os.W_OK):
            raise click.BadParameter(f"folder {folder} is not writable", ctx, param)
    return value


def verdict_options(noun: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """--strict, --json and --junit: how a command that judges things reports them."""

    def decorate(f: click.decorators.FC) -> click.decorators.FC:
        f = click.option(
            "--junit",
            "junit_path",
            type=click.Path(dir_okay=False, writable=True),
            callback=output_file,
            help=f"Also write JUnit XML here (one testcase per {noun}) for CI test reporters.",
        )(f)
        f = click.option(
            "--json", "as_json", is_flag=True, help=f"Print one JSON array, an object per {noun}."
        )(f)
        return click.option("--strict", is_flag=True, help="Fail on warnings too.")(f)

    return decorate


def listen_option(f: click.decorators.FC) -> click.decorators.FC:
    """--listen, shared by validate and configs check."""
    return click.option(
        "--listen",
        is_flag=True,
        help="Also decode the audio and measure loudness, true peak, phone band and "
        "silences (needs holdmusic[fix]).",
    )(f)


def report_option(help_text: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """--report PATH, checked writable before any work starts."""
    return click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False, writable=True),
        callback=output_file,
        help=help_text,
    )


def concurrency_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--concurrency",
        type=click.IntRange(1, 64),
        default=8,
        show_default=True,
        help="Parallel requests to Daily, all under one shared rate limit.",
    )(f)


def prefix_option(help_text: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    # The storage module's own defaults, not copies, so `--help` and StorageSettings agree by
    # construction; imported here, when a command that stores declares its options, so
    # `holdmusic validate` does not load them.

    return click.option(
        "--prefix",
        envvar="HOLDMUSIC_PREFIX",
        show_envvar=True,
        default=app.DEFAULT_PREFIX,
        show_default=True,
        help=help_text,
    )


def storage_option_set(
    bucket_required: bool,
) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """The options of every command that uploads; each also reads an environment variable."""

    options = [
        click.option(
            "--bucket",
            envvar="HOLDMUSIC_BUCKET",
            show_envvar=True,
            required=bucket_required,
            help="Bucket to upload to.",
        ),
        prefix_option("Key prefix (folder) for uploads."),
        click.option(
            "--public-base-url",
            envvar="HOLDMUSIC_PUBLIC_BASE_URL",
            show_envvar=True,
            help="Public URL of the bucket root (a CDN, or https://BUCKET.s3.REGION.amazonaws.com);"
            " the file's URL is this + '/' + key.",
        ),
        click.option(
            "--endpoint-url",
            envvar="HOLDMUSIC_ENDPOINT_URL",
            show_envvar=True,
            help="S3-compatible endpoint (R2, MinIO, Spaces, SeaweedFS). boto3's own "
            "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL work too.",
        ),
        click.option(
            "--region",
            envvar="HOLDMUSIC_REGION",
            show_envvar=True,
            help="Storage region (default: boto3's, e.g. AWS_REGION).",
        ),
        click.option(
            "--acl",
            envvar="HOLDMUSIC_ACL",
            show_envvar=True,
            type=click.Choice(["none", "public-read"]),
            default="none",
            show_default=True,
            help="Object ACL: public-read only for buckets that still use ACLs.",
        ),
        click.option(
            "--cache-control",
            envvar="HOLDMUSIC_CACHE_CONTROL",
            show_envvar=True,
            default=app.DEFAULT_CACHE_CONTROL,
            show_default=True,
            help="Cache-Control of uploaded objects (keys are content-addressed, so immutable is "
            "safe).",
        ),
    ]

    def decorate(f: click.decorators.FC) -> click.decorators.FC:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def storage_options(f: click.decorators.FC) -> click.decorators.FC:
    """The storage options with --bucket required (built when a command uses them)."""
    return storage_option_set(bucket_required=True)(f)


@contextlib.contextmanager
def ctrl_c_cancels() -> Iterator[app.Cancel]:
    """A cancel handle that Ctrl-C pulls, as a web request would: the run stops at its
    next checkpoint, and the KeyboardInterrupt still wakes whatever the main thread was
    blocked in."""
    cancel = app.Cancel()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        cancel.cancel()
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
