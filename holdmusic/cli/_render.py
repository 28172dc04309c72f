"""How the CLI shows things: verdicts, statuses, tables, progress.

Data (file names, config ids, URLs and names from Daily, server messages) is escaped
**where it is put into a line** (:func:`show`, :func:`cell`): control characters become
visible escapes, and rich never parses data as markup (it gets ``Text``, never a markup
string). The output streams' guard (:mod:`holdmusic.cli`) is only the last line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import click

from holdmusic import app
from holdmusic.text import printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

# By the statuses' values (app.Status is a StrEnum), so that `holdmusic validate`, which
# prints no status, does not load the run's vocabulary.
STATUS_COLOURS = {
    "updated": "green",
    "unchanged": "green",
    "would_update": "cyan",
    "failed": "red",
    "skipped": "yellow",
    "not_attempted": "yellow",
    "queued": "yellow",
    "pending": "red",
    "mismatched": "red",
}
_VERDICT_COLOURS = {"PASSED": "green", "PASSED, with warnings": "yellow", "FAILED": "red"}


def show(value: object) -> str:
    """A value from outside, made safe to put into a line."""
    return printable(str(value))


def cell(value: object) -> str:
    """A value made safe for a table cell: one line, and no tab (a tab is a column when
    piped)."""
    return printable(str(value)).replace("\t", "\\x09")


def styled_status(status: app.Status) -> str:
    return click.style(status.value, fg=STATUS_COLOURS.get(status, "red"))


def status_counts(counts: dict[str, int]) -> str:
    """``2 updated, 1 not attempted``: item statuses as a person reads them."""
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))


# --- verdicts ----------------------------------------------------------------------------------


def verdict_status(verdict: app.Verdict, strict: bool) -> str:
    return verdict.status(strict)


def verdict_lines(verdict: app.Verdict, strict: bool, *, note: str | None = None) -> list[str]:
    """``Checking PATH: STATUS (details)``, an optional note line, then the problems."""
    s = verdict_status(verdict, strict)
    lines = [
        f"Checking {show(verdict.path)}: "
        + click.style(s, fg=_VERDICT_COLOURS[s])
        + verdict.describe()
    ]
    if note:
        lines.append(f"  {show(note)}")
    for p in verdict.problems:
        colour = "red" if p.severity == "error" else "yellow"
        label = click.style(p.severity, fg=colour)
        lines.append(f"  {label} [{p.code}]: {show(p.message)}")
    if verdict.passed() and not verdict.passed(strict):
        # Without this a FAILED file shows only warning lines, which reads like a bug.
        lines.append("  FAILED because of --strict: its warnings count as errors")
    return lines


def print_verdict(
    verdict: app.Verdict, strict: bool, *, err: bool = False, note: str | None = None
) -> None:
    for line in verdict_lines(verdict, strict, note=note):
        click.echo(line, err=err)


def published_lines(event: app.FilePublished) -> list[str]:
    """Where a file went, and what an anonymous GET of its URL got."""
    stored, check = event.stored, event.check
    action = "uploaded" if stored.uploaded else "already there with the same sha256, not uploaded"
    lines = [f"Uploading to s3://{show(stored.bucket)}/{show(stored.key)}: {action}"]
    if check.ok:
        lines.append(
            f"Checking {show(check.url)} anonymously: PASSED "
            f"({check.status}, {show(check.content_type)}, {check.size_bytes:,} bytes, "
            "sha256 matches)"
        )
    else:
        lines.append(f"Checking {show(check.url)} anonymously: FAILED")
        for p in check.problems:
            lines.append(f"  error [{p.code}]: {show(p.message)}")
        where = f"s3://{show(stored.bucket)}/{show(stored.key)}"
        lines.append(f"  (the object stays at {where}, unused; run again after the fix)")
    for w in check.warnings:
        lines.append(f"  warning [{w.code}]: {show(w.message)}")
    return lines


# --- configs and outcomes ----------------------------------------------------------------------


def outcome_line(item: app.Item) -> str:
    """``ID: updated (was URL)`` and the error or note, escaped."""
    status = styled_status(item.status)
    was = show(item.previous_url) if item.previous_url else "(none)"
    cid = show(item.config_id)
    if item.status == app.Status.UNCHANGED:
        text = f"{cid}: {status} (already {was})"
    elif item.status in (app.Status.UPDATED, app.Status.WOULD_UPDATE):
        text = f"{cid}: {status} (was {was})"
    else:
        text = f"{cid}: {status}"
    if item.error:
        text += f": {show(item.error)}"
    if item.note:
        text += f" [{show(item.note)}]"
    return text


def config_read_line(read: app.ConfigRead) -> str:
    cid = show(read.config_id)
    c = read.config
    if c is None:
        return f"  {cid}: " + click.style("FAILED", fg="red") + f" {show(read.problem)}"
    where = show(c.phone_number or c.name_prefix or c.type)
    if read.problem:
        return f"  {cid} ({where}): " + click.style("FAILED", fg="red") + f" {show(read.problem)}"
    current = show(c.hold_music_url) if c.hold_music_url else "(no hold music set)"
    return f"  {cid} ({where}): hold_music_url = {current}"


# --- tables ------------------------------------------------------------------------------------


def print_table(columns: list[str], rows: Sequence[Sequence[object]]) -> None:
    """A table on a terminal; tab-separated lines, never cut, when piped. Every cell is
    escaped: one line, no tab, no markup."""
    cells = [[cell(v) for v in row] for row in rows]
    if not sys.stdout.isatty():
        for row in [columns, *cells]:
            click.echo("\t".join(row))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for column in table.columns:
        column.overflow = "fold"  # a URL cut with "…" is a broken URL
    for row in cells:
        table.add_row(*[Text(v) for v in row])
    console(sys.stdout, soft_wrap=True).print(table)


def raw(stream: TextIO) -> TextIO:
    """The stream under the CLI's guard: rich writes there itself, since everything it
    is given is escaped ``Text`` and only its own control sequences remain."""
    inner = getattr(stream, "inner", None)
    return inner if inner is not None else stream


def console(stream: TextIO, **kwargs: Any) -> Console:
    from rich.console import Console

    return Console(file=raw(stream), markup=False, highlight=False, emoji=False, **kwargs)


# --- progress observers -----------------------------------------------------------------------


class Steps:
    """publish's observer: each step printed to stderr as it happens (a few configs)."""

    def __call__(self, event: app.Event) -> None:
        if isinstance(event, app.FileJudged):
            print_verdict(event.verdict, strict=False, err=True)
        elif isinstance(event, app.ConfigsRead):
            n = len(event.configs)
            click.echo(f"Reading {n} dial-in config{'s' if n != 1 else ''}:", err=True)
            for read in event.configs:
                click.echo(config_read_line(read), err=True)
        elif isinstance(event, app.FilePublished):
            for line in published_lines(event):
                click.echo(line, err=True)
        elif (
            isinstance(event, app.ConfigOutcome)
            and event.item.status != app.Status.NOT_ATTEMPTED  # the summary counts those
        ):
            click.echo("  " + outcome_line(event.item), err=True)
        # Notices repeat what a step above has shown in full (a failed public check).


class Bar:
    """batch's and rollback's observer: a rich progress bar on a terminal; numbered lines
    on stderr otherwise (CI logs). Only what needs a look gets a line of its own."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description:<22}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console(sys.stderr, stderr=True),
                transient=False,
            )

    def __enter__(self) -> Bar:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, event: app.Event) -> None:
        if isinstance(event, app.PhaseStarted):
            if self.bar is not None:
                self.task = self.bar.add_task(event.phase.label, total=event.total)
            else:
                self.line(f"{event.phase.label}: {event.total}")
        elif isinstance(event, app.Step):
            if self.bar is not None and self.task is not None:
                self.bar.advance(self.task)
            if event.phase == app.Phase.UPDATE:
                return  # the outcome has its line
            if event.failed and event.subject is not None:
                self.counted(event, f"{show(event.subject)}: {show(event.text or 'failed')}")
        elif isinstance(event, app.FileJudged):
            # A file that passes cleanly is not worth a line; one with warnings is, so
            # that a stereo 192 kbit/s file does not go out without a word.
            if event.verdict.problems:
                for line in verdict_lines(event.verdict, strict=False):
                    self.line(line)
        elif isinstance(event, app.ConfigOutcome):
            item = event.item
            if not event.sent or item.status == app.Status.NOT_ATTEMPTED:
                return  # already right, or never sent: the summary counts them
            if self.bar is not None and item.ok and not item.error:
                return  # under a bar only what needs a look
            text = f"{show(item.config_id)}: {item.status.value}"
            if item.error:
                text += f": {show(item.error)}"
            self.line(text)
        elif isinstance(event, app.Notice):
            self.line(f"{event.level}: {show(event.text)}")

    def counted(self, event: app.Step, text: str) -> None:
        width = len(str(event.total))
        self.line(
            text if self.bar is not None else f"  [{event.done:>{width}}/{event.total}] {text}"
        )

    def line(self, text: str) -> None:
        """``text`` is already escaped (and may carry click's colours)."""
        if self.bar is not None:
            from rich.text import Text

            self.bar.console.print(Text.from_ansi(text))
        else:
            click.echo(text, err=True)
