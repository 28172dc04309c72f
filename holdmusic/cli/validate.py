"""``holdmusic validate PATH...``: the check every later stage relies on."""

from __future__ import annotations

from collections.abc import Iterable

import click

from holdmusic import app
from holdmusic.cli._common import (
    PRIVATE_ENV,
    env_help,
    environment,
    limit_options,
    limits_from,
    listen_option,
    print_json,
    verdict_options,
    write_junit,
)
from holdmusic.cli._render import print_verdict, verdict_status


@click.command("validate", epilog=env_help(*PRIVATE_ENV))
@click.argument("paths", nargs=-1, required=True)
@limit_options
@verdict_options("file")
@listen_option
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: from the amount of work, up to one per CPU; "
    "a few small files are checked in this process).",
)
def validate(
    paths: tuple[str, ...],
    max_bytes: int,
    max_seconds: float,
    strict: bool,
    as_json: bool,
    junit_path: str | None,
    jobs: int | None,
    listen: bool,
) -> None:
    """Check MP3 files, folders of them, or URLs against Daily's hold-music rules.

    Walks every frame: the duration is exact, whatever the headers claim. A URL is
    fetched anonymously, as Daily will (200, audio type, size cap, few redirects).
    --listen also decodes the audio: loudness, clipping, phone band and silences.
    Exit status: 0 when every file passes, 1 when any fails, 2 on a usage error.
    """
    env = environment()
    targets = app.expand(paths)
    limits = limits_from(max_bytes, max_seconds)
    inspect = app.listener("validate --listen") if listen else None
    verdicts: Iterable[app.Verdict] = app.validate(
        targets, env=env, limits=limits, jobs=jobs, inspect=inspect
    )
    if as_json:
        result = app.ValidateResult(tuple(verdicts), strict)
        print_json(result.to_dict())
        failed = result.failed
        verdicts = result.verdicts
    elif junit_path:
        verdicts = list(verdicts)
        failed = _print_text(verdicts, strict)
    else:
        failed = _print_text(verdicts, strict)
    if junit_path:
        write_junit(junit_path, list(verdicts), strict, "holdmusic validate")
    raise click.exceptions.Exit(1 if failed else 0)


def _print_text(verdicts: Iterable[app.Verdict], strict: bool) -> int:
    counts = {"PASSED": 0, "PASSED, with warnings": 0, "FAILED": 0}
    for v in verdicts:
        counts[verdict_status(v, strict)] += 1
        print_verdict(v, strict)
    total = sum(counts.values())
    passed = counts["PASSED"] + counts["PASSED, with warnings"]
    summary = f"{total} file{'s' if total != 1 else ''} checked: {passed} passed"
    if counts["PASSED, with warnings"]:
        summary += f" ({counts['PASSED, with warnings']} with warnings)"
    summary += f", {counts['FAILED']} failed"
    click.echo(summary)
    return counts["FAILED"]
