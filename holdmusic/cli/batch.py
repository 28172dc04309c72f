"""``holdmusic batch MANIFEST`` and ``holdmusic rollback REPORT``."""

from __future__ import annotations

from typing import Any

import click

from holdmusic import app
from holdmusic.cli._common import (
    DAILY_ENV,
    PRIVATE_ENV,
    concurrency_option,
    ctrl_c_cancels,
    env_help,
    environment,
    finish,
    limit_options,
    limits_from,
    plural,
    report_option,
    storage_options,
    storage_settings,
    to_stderr,
)
from holdmusic.cli._render import Bar, show, status_counts

_report_option = report_option(
    "Where to write the JSON report (default: holdmusic-COMMAND-TIME-RANDOM.json here; "
    "none for a dry run unless given)."
)


def _finish(result: app.RunReport, as_json: bool, *, uploads: bool) -> None:
    """The summary on stderr, one line per config that needs a look, then the ending."""
    summary = result.summary
    items = result.items
    if result.report.get("dry_run"):  # the plan: what would change, from what to what
        for item in items:
            if item["status"] == app.Status.WOULD_UPDATE:
                was = show(item["previous_url"]) if item["previous_url"] else "(none)"
                to_stderr(f"  {show(item['config_id'])}: {was} → {show(item['url'])}")
    line = f"{plural(len(items), 'config')}: {status_counts(result.counts)}"
    if uploads:
        line += f"; {plural(result.uploads, 'file')} uploaded"
    if summary.interrupted:
        where = f"; {show(summary.report)} records what was done" if summary.report else ""
        to_stderr(f"interrupted ({status_counts(result.counts)}){where}")
        finish(result, as_json=as_json, interrupted=True)
    if summary.error is not None:
        to_stderr(click.style("Stopped: ", fg="red") + show(summary.error.message))
    elif result.stopped:
        to_stderr(click.style("Stopped: ", fg="red") + show(result.stopped))
    to_stderr(line)
    for item in items:
        status = app.Status(item["status"])
        # pending and mismatched configs may have changed: as loud as failures
        if status.alarming or item["changed_fields"]:
            styled = click.style(status.value, fg="red")
            to_stderr(f"  {show(item['config_id'])}: {styled}: {show(item['error'])}")
    if summary.report:
        to_stderr(f"Report: {show(summary.report)}")
    finish(result, as_json=as_json)


@click.command("batch", epilog=env_help(*DAILY_ENV, *PRIVATE_ENV))
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
    An unusable manifest exits 1 before anything happens, whatever is wrong with it.
    """
    env = environment()
    settings = storage_settings(params)
    with ctrl_c_cancels() as cancel, Bar() as bar:
        result = app.batch(
            manifest,
            settings,
            env=env,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            report=report_path,
            limits=limits_from(max_bytes, max_seconds),
            concurrency=concurrency,
            observer=bar,
            cancel=cancel,
        )
    _finish(result, as_json, uploads=True)


@click.command("rollback", epilog=env_help(*DAILY_ENV, *PRIVATE_ENV))
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
    """Put every config a batch or publish REPORT updated back to its previous URL.

    REPORT is the JSON report the run wrote (holdmusic-batch-....json,
    holdmusic-publish-....json, or its --report), not the manifest. Configs changed since
    (holding neither the run's URL nor the previous one) are skipped with a warning unless
    --force. Writes a report of its own.
    """
    env = environment()
    try:
        app.check_report_target(report, report_path)
    except app.UsageError as exc:
        raise click.UsageError(f"--report {exc}") from None
    with ctrl_c_cancels() as cancel, Bar() as bar:
        result = app.rollback(
            report,
            env=env,
            force=force,
            verify=not no_verify,
            dry_run=dry_run,
            report=report_path,
            concurrency=concurrency,
            observer=bar,
            cancel=cancel,
        )
    _finish(result, as_json, uploads=False)
