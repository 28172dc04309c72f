"""``holdmusic publish FILE --config ID``: the whole pipeline in one command."""

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
    report_option,
    storage_options,
    storage_settings,
    to_stderr,
)
from holdmusic.cli._render import Steps, outcome_line, show, status_counts

_SELECTORS = {
    "config_ids": "--config",
    "all_pinless": "--all-pinless",
    "name_prefix": "--name-prefix",
}


def _selection(
    config_ids: tuple[str, ...], all_pinless: bool, name_prefix: str | None
) -> app.Selection:
    selection = app.Selection(
        config_ids=config_ids, all_pinless=all_pinless, name_prefix=name_prefix
    )
    given = selection.given
    if not given:
        raise click.UsageError(
            "name the configs: --config ID (repeatable), --all-pinless, or --name-prefix P"
        )
    if len(given) > 1:
        flags = " and ".join(_SELECTORS[g] for g in given)
        raise click.UsageError(
            f"{flags} were combined: name the configs one way (--config ID, --all-pinless "
            "or --name-prefix P)"
        )
    return selection.check()


@click.command("publish", epilog=env_help(*DAILY_ENV, *PRIVATE_ENV))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--config",
    "config_ids",
    multiple=True,
    metavar="ID",
    help="Dial-in config to point at the file (repeatable).",
)
@click.option("--all-pinless", is_flag=True, help="Every pinless_dialin config of the domain.")
@click.option(
    "--name-prefix",
    metavar="P",
    help="Every pinless_dialin config whose name_prefix starts with P.",
)
@storage_options
@limit_options
@click.option(
    "--dry-run", is_flag=True, help="Validate and read configs; upload and change nothing."
)
@concurrency_option
@report_option(
    "Where to write the report 'holdmusic rollback' undoes (default: "
    "holdmusic-publish-TIME-RANDOM.json here; none for a dry run)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def publish(
    file: str,
    config_ids: tuple[str, ...],
    all_pinless: bool,
    name_prefix: str | None,
    max_bytes: int,
    max_seconds: float,
    dry_run: bool,
    concurrency: int,
    report_path: str | None,
    as_json: bool,
    **params: Any,
) -> None:
    """Validate FILE, upload it, prove the URL is public, then set hold_music_url.

    Steps: validate; read every config (each must exist and be pinless_dialin);
    upload and check the URL anonymously; PUT only where the URL differs; summary.
    Nothing is uploaded or changed when the file, a config or the public check fails.
    Exit 0 only when every named config now points at the verified URL.
    """
    selection = _selection(config_ids, all_pinless, name_prefix)
    env = environment()
    settings = storage_settings(params)
    with ctrl_c_cancels() as cancel:
        result = app.publish(
            file,
            selection,
            settings,
            env=env,
            dry_run=dry_run,
            report=report_path,
            limits=limits_from(max_bytes, max_seconds),
            concurrency=concurrency,
            observer=Steps(),
            cancel=cancel,
        )
    summarize(result)
    if not as_json and result.ok and result.url and not dry_run:  # stdout: only a live URL
        click.echo(result.url)
    finish(result, as_json=as_json, interrupted=result.summary.interrupted)


def summarize(result: app.PublishResult) -> None:
    planned = result.planned
    if planned:
        to_stderr(f"Dry run: would upload to {show(planned)}")
        for item in result.items:
            to_stderr("  " + outcome_line(item))
    summary = result.summary
    counts: dict[str, int] = {}
    for item in result.items:
        counts[item.status.value] = counts.get(item.status.value, 0) + 1
    if summary.interrupted:
        to_stderr(click.style("Interrupted: ", fg="red") + (status_counts(counts) or "no configs"))
    elif summary.error is not None:
        to_stderr(click.style("Stopped: ", fg="red") + show(summary.error.message))
    elif result.stopped:  # the step that stopped it has printed why
        to_stderr(click.style("Stopped: ", fg="red") + show(result.stopped))
    else:
        line = status_counts(counts) or "no configs"
        to_stderr(f"Summary: {line}" + (f" → {show(result.url)}" if result.url else ""))
        for item in result.items:
            if item.changed_fields:
                to_stderr(
                    click.style(
                        f"WARNING: {show(item.config_id)}: {show(item.error)}", fg="red", bold=True
                    )
                )
    if summary.report is not None:
        to_stderr(f"Report: {show(summary.report)}")
