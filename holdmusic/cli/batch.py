"""``holdmusic batch MANIFEST`` and ``holdmusic rollback REPORT``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from holdmusic import update
from holdmusic.cli._common import (
    ALARMING,
    UNCHANGED,
    UPDATED,
    WOULD_UPDATE,
    concurrency_option,
    daily_client,
    limit_options,
    limits_from,
    plural,
    print_json,
    report_option,
    status_counts,
    storage_options,
    storage_settings,
    to_stderr,
    verdict_lines,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from holdmusic.daily import DailyClient
    from holdmusic.pipeline import Prepared, RunResult
    from holdmusic.record import Item, Recorder


class _Progress(update.Progress):
    """A rich progress bar on a terminal; plain lines on stderr otherwise (CI logs)."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.done = 0
        self.total = 0
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description:<20}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def phase(self, name: str, total: int) -> None:
        self.done, self.total = 0, total
        if self.bar is not None:
            self.task = self.bar.add_task(name, total=total)
        else:
            to_stderr(f"{name}: {total}")

    def advance(self, text: str | None = None) -> None:
        self._step(text, on_bar=True)

    def outcome(self, item: Item, *, sent: bool) -> None:
        if not sent:  # already right: not a step of the update phase
            return
        text = f"{item.config_id}: {item.status}" + (f": {item.error}" if item.error else "")
        # Under a bar only what needs a look; the summary lists changed fields again.
        self._step(text, on_bar=item.status not in (UPDATED, UNCHANGED))

    def verdict(self, prepared: Prepared) -> None:
        # A file that passes cleanly is not worth a line; one with warnings is, so that a
        # stereo 192 kbit/s file does not go out without a word.
        if prepared.verdict.problems:
            for line in verdict_lines(prepared.verdict, strict=False):
                self.message(line)

    def _step(self, text: str | None, *, on_bar: bool) -> None:
        self.done += 1
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task)
            if text and on_bar:
                self.bar.console.print(text)
        elif text:
            width = len(str(self.total))
            to_stderr(f"  [{self.done:>{width}}/{self.total}] {text}")

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text)
        else:
            to_stderr(text)


_report_option = report_option(
    "Where to write the JSON report (default: holdmusic-COMMAND-TIMESTAMP.json here; "
    "none for a dry run unless given)."
)


def _recorder(command: str, source: str, report_path: str | None, dry_run: bool) -> Recorder:
    """Claims the report file before anything happens (never an existing one: exit 2)."""
    from holdmusic.record import Recorder

    return Recorder.new(report_path, command, source, dry_run=dry_run)


def _finish(result: RunResult, recorder: Recorder, as_json: bool, uploads: int | None) -> None:
    if recorder.dry_run:  # the plan: what would change, from what to what
        for item in recorder.items.values():
            if item.status == WOULD_UPDATE:
                to_stderr(f"  {item.config_id}: {item.previous_url or '(none)'} → {item.url}")
    line = f"{plural(len(recorder.items), 'config')}: {status_counts(recorder.counts())}"
    if uploads is not None:
        line += f"; {plural(uploads, 'file')} uploaded"
    if result.stopped:
        to_stderr(click.style("Stopped: ", fg="red") + result.stopped)
    to_stderr(line)
    for item in recorder.items.values():
        # pending and mismatched configs may have changed: as loud as failures
        if item.status in ALARMING or item.changed_fields:
            status = click.style(item.status, fg="red")
            to_stderr(f"  {item.config_id}: {status}: {item.error}")
    if recorder.path:
        to_stderr(f"Report: {recorder.path}")
    if as_json:
        print_json(recorder.to_dict())
    raise click.exceptions.Exit(0 if result.ok else 1)


@click.command("batch")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@storage_options
@limit_options
@_report_option
@click.option("--dry-run", is_flag=True, help="Show the plan; upload and change nothing.")
@click.option("--skip-invalid", is_flag=True, help="Go on without files that fail validation.")
@concurrency_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def batch(
    manifest: str,
    max_bytes: int,
    max_seconds: float,
    report_path: str | None,
    dry_run: bool,
    skip_invalid: bool,
    concurrency: int,
    as_json: bool,
    **params: Any,
) -> None:
    """Point many configs at their files, from a CSV (config_id,file) or TOML manifest.

    Checks the whole manifest, validates every file, reads every config, uploads each
    distinct file once and proves it public, then PUTs only where the URL differs.
    The report (kept true as items finish) is what 'holdmusic rollback' undoes.
    """
    from holdmusic import manifest as manifest_
    from holdmusic import pipeline

    assignments = manifest_.read(manifest)
    settings = storage_settings(params)
    limits = limits_from(max_bytes, max_seconds)
    _recorded_run(
        "batch",
        manifest,
        report_path,
        dry_run,
        as_json,
        lambda client, recorder, progress: pipeline.batch(
            assignments,
            settings,
            client,
            recorder,
            limits=limits,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            concurrency=concurrency,
            reporter=progress,
        ),
    )


def _recorded_run(
    command: str,
    source: str,
    report_path: str | None,
    dry_run: bool,
    as_json: bool,
    go: Callable[[DailyClient, Recorder, _Progress], RunResult],
) -> None:
    """Client, report, progress, Ctrl-C and the summary: the frame of batch and rollback."""
    # The client before the report: a missing key must not leave an empty report behind
    # whose name the next run could not use. Neither sends a request.
    with daily_client() as client, _Progress() as progress:
        recorder = _recorder(command, source, report_path, dry_run)
        try:
            result = go(client, recorder, progress)
        except KeyboardInterrupt:
            counts = status_counts(recorder.counts())
            where = f"; {recorder.path} records what was done" if recorder.path else ""
            to_stderr(f"interrupted ({counts}){where}")
            raise click.exceptions.Exit(130) from None
    _finish(result, recorder, as_json, result.uploads if command == "batch" else None)


@click.command("rollback")
@click.argument("report", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Also restore configs someone changed since.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not check that the previous URLs still serve valid hold music.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be restored; change nothing.")
@_report_option
@concurrency_option
@click.option("--json", "as_json", is_flag=True, help="Print this rollback's report as JSON.")
def rollback(
    report: str,
    force: bool,
    no_verify: bool,
    dry_run: bool,
    report_path: str | None,
    concurrency: int,
    as_json: bool,
) -> None:
    """Put every config a batch REPORT updated back to its previous URL.

    Configs changed since (holding neither the batch's URL nor the previous one) are
    skipped with a warning unless --force. Writes a report of its own.
    """
    import os

    from holdmusic import pipeline, record, runlock
    from holdmusic.errors import UsageError

    if report_path is not None and (
        os.path.abspath(report_path) == os.path.abspath(report)
        or (os.path.exists(report_path) and os.path.samefile(report_path, report))
    ):
        raise UsageError(
            f"--report {report_path} is the report being rolled back: rollback never writes "
            "over the report it reads"
        )
    runlock.refuse_if_live(report)  # a live run's PUTs would race ours
    _, items = record.load(report)
    _recorded_run(
        "rollback",
        report,
        report_path,
        dry_run,
        as_json,
        lambda client, recorder, progress: pipeline.rollback(
            items,
            client,
            recorder,
            force=force,
            verify=not no_verify,
            dry_run=dry_run,
            concurrency=concurrency,
            reporter=progress,
        ),
    )
