"""The CLI's one toolbox: options, output helpers, status colours and the common endings.

Every command module imports from here and never from another command's module, so a
command can change without moving its neighbours. Imports stay light (click and rules
only); stage modules are imported inside the helpers that need them.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

from holdmusic import rules
from holdmusic.statuses import (
    FAILED,
    MISMATCHED,
    NOT_ATTEMPTED,
    PENDING,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    WOULD_UPDATE,
)
from holdmusic.text import printable

__all__ = [  # the record's statuses are re-exported: commands compare against them
    "FAILED",
    "MISMATCHED",
    "NOT_ATTEMPTED",
    "PENDING",
    "SKIPPED",
    "UNCHANGED",
    "UPDATED",
    "WOULD_UPDATE",
]

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient
    from holdmusic.pipeline import Prepared, Published
    from holdmusic.storage import StorageSettings

# Colours of config statuses, keyed by the record's constants (the report speaks them).
STATUS_COLOURS = {
    UPDATED: "green",
    UNCHANGED: "green",
    WOULD_UPDATE: "cyan",
    FAILED: "red",
    SKIPPED: "yellow",
    NOT_ATTEMPTED: "yellow",
    PENDING: "red",
    MISMATCHED: "red",
}
# Statuses that may mean a config changed unasked, or did not change as asked: as loud as
# failures in every summary.
ALARMING = (FAILED, PENDING, MISMATCHED)

_VERDICT_COLOURS = {"PASSED": "green", "PASSED, with warnings": "yellow", "FAILED": "red"}


def to_stderr(message: str) -> None:
    """Progress goes to stderr, so stdout stays clean for the URL or JSON."""
    click.echo(message, err=True)


def plural(n: int, noun: str) -> str:
    """``1 config``, ``2 configs``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def status_counts(counts: dict[str, int]) -> str:
    """``2 updated, 1 not attempted``: item statuses as a person reads them."""
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))


def styled_status(status: str) -> str:
    return click.style(status, fg=STATUS_COLOURS.get(status, "red"))


# --- options ---------------------------------------------------------------------------------


def limit_options(f: click.decorators.FC) -> click.decorators.FC:
    """--max-bytes / --max-seconds, shared by every command that validates."""
    f = click.option(
        "--max-seconds",
        type=click.FloatRange(min=0, min_open=True),
        callback=_finite,
        default=rules.DEFAULT_MAX_SECONDS,
        show_default=True,
        help="Audio must be shorter than this.",
    )(f)
    f = click.option(
        "--max-bytes",
        type=click.IntRange(min=1),
        default=rules.DEFAULT_MAX_BYTES,
        show_default=True,
        help="Files must be smaller than this many bytes.",
    )(f)
    return f


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """nan passes every comparison and inf none: either would switch the limit off."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", ctx, param)
    return value


def limits_from(max_bytes: int, max_seconds: float) -> rules.Limits:
    return rules.Limits(max_bytes=max_bytes, max_seconds=max_seconds)


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


def listener(command: str) -> Callable[[rules.Verdict, str | bytes], rules.Verdict]:
    """The --listen step, or a usage error naming the install when PyAV is missing."""
    from holdmusic import studio
    from holdmusic.studio import listening

    studio.load_av(command)
    return listening.hear


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
    from holdmusic.storesettings import DEFAULT_PREFIX

    return click.option(
        "--prefix",
        envvar="HOLDMUSIC_PREFIX",
        show_envvar=True,
        default=DEFAULT_PREFIX,
        show_default=True,
        help=help_text,
    )


def storage_option_set(
    bucket_required: bool,
) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """The options of every command that uploads; each also reads an environment variable."""
    from holdmusic.storesettings import DEFAULT_CACHE_CONTROL

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
            default=DEFAULT_CACHE_CONTROL,
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


STORAGE_KEYS = (
    "bucket",
    "prefix",
    "public_base_url",
    "endpoint_url",
    "region",
    "acl",
    "cache_control",
)


def storage_settings(params: dict[str, Any]) -> StorageSettings:
    """Build the settings from a command's parameters, popping the storage ones."""
    from holdmusic.storage import StorageSettings

    return StorageSettings(**{k: params.pop(k) for k in STORAGE_KEYS})


@contextlib.contextmanager
def daily_client(**kwargs: Any) -> Iterator[DailyClient]:
    """The client every Daily command uses: DAILY_API_KEY and DAILY_API_URL from the env.
    If its circuit breaker stopped the run, one line says why (before the summary)."""
    from holdmusic.daily import DailyClient

    with DailyClient.from_env(**kwargs) as client:
        try:
            yield client
        finally:
            if client.stopped:
                to_stderr(click.style("Stopped: ", fg="red") + client.stopped)


# --- verdicts ----------------------------------------------------------------------------------


def verdict_status(verdict: rules.Verdict, strict: bool) -> str:
    if not verdict.passed(strict):
        return "FAILED"
    return "PASSED, with warnings" if verdict.warnings else "PASSED"


def describe(verdict: rules.Verdict) -> str:
    """`` (42.318 s, 341,207 bytes, 44.1 kHz mono VBR ~64 kbit/s)`` or nothing."""
    info = verdict.info
    if info is None:
        return ""
    f = info.format
    channels = "mono" if f.channels == 1 else "stereo"
    return (
        f" ({info.duration_seconds:.3f} s, {verdict.size_bytes:,} bytes, "
        f"MPEG-{f.mpeg_version} {f.sample_rate / 1000:g} kHz {channels} "
        f"{f.bitrate_mode} {f.bitrate_kbps:.0f} kbit/s)"
    )


def verdict_lines(verdict: rules.Verdict, strict: bool, *, note: str | None = None) -> list[str]:
    """``Checking PATH: STATUS (details)``, an optional note line, then the problems."""
    s = verdict_status(verdict, strict)
    lines = [
        f"Checking {printable(verdict.path)}: "
        + click.style(s, fg=_VERDICT_COLOURS[s])
        + describe(verdict)
    ]
    if note:
        lines.append(f"  {printable(note)}")
    for p in verdict.problems:
        colour = "red" if p.severity == "error" else "yellow"
        label = click.style(p.severity, fg=colour)
        lines.append(f"  {label} [{p.code}]: {printable(p.message)}")
    if verdict.passed() and not verdict.passed(strict):
        # Without this a FAILED file shows only warning lines, which reads like a bug.
        lines.append("  FAILED because of --strict: its warnings count as errors")
    return lines


def print_verdict(
    verdict: rules.Verdict, strict: bool, *, err: bool = False, note: str | None = None
) -> None:
    for line in verdict_lines(verdict, strict, note=note):
        click.echo(line, err=err)


def end_verdicts(
    verdicts: Sequence[rules.Verdict],
    strict: bool,
    junit_path: str | None,
    suite: str,
    failed: int,
) -> None:
    """The ending of every command that judges things: JUnit file if asked, then exit 0/1."""
    if junit_path:
        from holdmusic import junit

        with open(junit_path, "w", encoding="utf-8") as fh:
            fh.write(junit.render(list(verdicts), strict=strict, suite=suite))
    raise click.exceptions.Exit(1 if failed else 0)


def print_json(value: Any) -> None:
    import json  # only for --json: a text run does not load it

    click.echo(json.dumps(value, indent=2))


# --- upload steps (upload and publish) ---------------------------------------------------------


def report_verdict(prepared: Prepared) -> None:
    print_verdict(prepared.verdict, strict=False, err=True)


def report_published(published: Published) -> None:
    stored, check = published.stored, published.public
    action = "uploaded" if stored.uploaded else "already there with the same sha256, not uploaded"
    to_stderr(f"Uploading to s3://{stored.bucket}/{stored.key}: {action}")
    if check.ok:
        to_stderr(
            f"Checking {check.url} anonymously: PASSED "
            f"({check.status}, {check.content_type}, {check.size_bytes:,} bytes, sha256 matches)"
        )
    else:
        to_stderr(f"Checking {check.url} anonymously: FAILED")
        for p in check.problems:
            to_stderr(f"  error: {p}")
        where = f"s3://{stored.bucket}/{stored.key}"
        to_stderr(f"  (the object stays at {where}, unused; run again after the fix)")
    for w in check.warnings:
        to_stderr(f"  warning: {w}")


def published_dict(prepared: Prepared, published: Published | None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "path": prepared.path,
        "sha256": prepared.sha256,
        "size_bytes": prepared.verdict.size_bytes,
        "duration_seconds": prepared.verdict.duration_seconds,
        "validation": prepared.verdict.to_dict(),
    }
    if published is not None:
        s, c = published.stored, published.public
        d.update(
            url=s.url,
            bucket=s.bucket,
            key=s.key,
            uploaded=s.uploaded,
            public=c.ok,
            public_check={
                "status": c.status,
                "content_type": c.content_type,
                "sha256": c.sha256,
                "problems": list(c.problems),
                "warnings": list(c.warnings),
                "codes": list(c.codes),
            },
        )
    else:
        d.update(url=None, bucket=None, key=None, uploaded=False, public=False)
    return d
