"""``holdmusic validate PATH...``: the check every later stage relies on."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator

import click

from holdmusic import rules
from holdmusic.text import printable

_STATUS_COLOURS = {"PASSED": "green", "PASSED, with warnings": "yellow", "FAILED": "red"}


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

    studio.load_av(command)
    return studio.hear


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
    targets = rules.expand_paths(list(paths))
    if not targets:
        where = ", ".join(printable(p) for p in paths)
        raise click.UsageError(f"no *.mp3 files found under {where}")
    limits = rules.Limits(max_bytes=max_bytes, max_seconds=max_seconds)
    inspect = listener("validate --listen") if listen else None
    verdicts: Iterable[rules.Verdict] = judge(targets, limits, jobs=jobs, inspect=inspect)
    if junit_path or as_json:
        verdicts = list(verdicts)
    if as_json:
        click.echo(json.dumps([v.to_dict(strict) for v in verdicts], indent=2))
        failed = sum(not v.passed(strict) for v in verdicts)
    else:
        failed = _print_text(verdicts, strict)
    if junit_path:
        from holdmusic import junit

        xml = junit.render(list(verdicts), strict=strict, suite="holdmusic validate")
        with open(junit_path, "w", encoding="utf-8") as fh:
            fh.write(xml)
    raise SystemExit(1 if failed else 0)


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
    files = [t for t in targets if not is_url(t)]
    by_file = rules.check_many(files, limits, jobs=jobs)
    for target in targets:
        if is_url(target):
            from holdmusic.publicurl import validate_url  # httpx only when a URL is given

            yield validate_url(target, limits, inspect=inspect)
        else:
            verdict = next(by_file)
            if inspect is not None and verdict.info is not None:
                verdict = inspect(verdict, target)
            yield verdict


def status(verdict: rules.Verdict, strict: bool) -> str:
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
    s = status(verdict, strict)
    lines = [
        f"Checking {printable(verdict.path)}: "
        + click.style(s, fg=_STATUS_COLOURS[s])
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


def _print_text(verdicts: Iterable[rules.Verdict], strict: bool) -> int:
    counts = {"PASSED": 0, "PASSED, with warnings": 0, "FAILED": 0}
    for v in verdicts:
        counts[status(v, strict)] += 1
        print_verdict(v, strict)
    total = sum(counts.values())
    passed = counts["PASSED"] + counts["PASSED, with warnings"]
    summary = f"{total} file{'s' if total != 1 else ''} checked: {passed} passed"
    if counts["PASSED, with warnings"]:
        summary += f" ({counts['PASSED, with warnings']} with warnings)"
    summary += f", {counts['FAILED']} failed"
    click.echo(summary)
    return counts["FAILED"]
