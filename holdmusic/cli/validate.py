"""``holdmusic validate PATH...``: the check every later stage relies on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

import click

from holdmusic import files, rules
from holdmusic.cli._common import (
    end_verdicts,
    limit_options,
    limits_from,
    listen_option,
    listener,
    print_json,
    print_verdict,
    verdict_options,
    verdict_status,
)
from holdmusic.text import printable


@click.command("validate")
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
    targets = files.expand_paths(list(paths))
    if not targets:
        where = ", ".join(printable(p) for p in paths)
        raise click.UsageError(f"no *.mp3 files found under {where}")
    limits = limits_from(max_bytes, max_seconds)
    inspect = listener("validate --listen") if listen else None
    verdicts: Iterable[rules.Verdict] = judge(targets, limits, jobs=jobs, inspect=inspect)
    if junit_path or as_json:
        verdicts = list(verdicts)
    if as_json:
        print_json([v.to_dict(strict) for v in verdicts])
        failed = sum(not v.passed(strict) for v in verdicts)
    else:
        failed = _print_text(verdicts, strict)
    end_verdicts(list(verdicts), strict, junit_path, "holdmusic validate", failed)


def is_url(target: str) -> bool:
    """http(s) URLs are fetched; other schemes (ftp://…) are refused as URLs, not files."""
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.isalpha() and not os.path.exists(target)


def judge(
    targets: list[str],
    limits: rules.Limits,
    *,
    jobs: int | None = None,
    inspect: Callable[[rules.Verdict, str | bytes], rules.Verdict] | None = None,
) -> Iterator[rules.Verdict]:
    """Verdicts in order: files through the (parallel) file checker, URLs fetched.
    ``inspect`` (--listen) gets each verdict of an MP3 with its path or downloaded bytes."""
    local = [t for t in targets if not is_url(t)]
    by_file = files.check_many(local, limits, jobs=jobs)
    for target in targets:
        if is_url(target):
            from holdmusic.publicurl import validate_url  # httpx only when a URL is given

            yield validate_url(target, limits, inspect=inspect)
        else:
            verdict = next(by_file)
            if inspect is not None and verdict.info is not None:
                verdict = inspect(verdict, target)
            yield verdict


def _print_text(verdicts: Iterable[rules.Verdict], strict: bool) -> int:
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
