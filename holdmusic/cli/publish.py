"""``holdmusic publish FILE --config ID``: the whole pipeline in one command."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from holdmusic import rules
from holdmusic.cli.configs import daily_client
from holdmusic.cli.upload import (
    published_dict,
    report_published,
    report_verdict,
    say,
    status_counts,
    storage_options,
    storage_settings,
)
from holdmusic.cli.validate import limit_options, output_file
from holdmusic.pipeline import Reporter

if TYPE_CHECKING:
    from holdmusic.daily import DailyError, DialinConfig
    from holdmusic.pipeline import ConfigOutcome, Prepared, Published, PublishResult

_COLOURS = {
    "updated": "green",
    "unchanged": "green",
    "would_update": "cyan",
    "failed": "red",
    "skipped": "yellow",
    "not_attempted": "yellow",
}


class _CliReporter(Reporter):
    """Prints each pipeline step to stderr as it happens."""

    def verdict(self, prepared: Prepared) -> None:
        report_verdict(prepared)

    def configs(self, found: dict[str, DialinConfig | DailyError]) -> None:
        from holdmusic.daily import DailyError
        from holdmusic.pipeline import target_problem

        say(f"Reading {len(found)} dial-in config{'s' if len(found) != 1 else ''}:")
        for cid, got in found.items():
            if isinstance(got, DailyError):
                say(f"  {cid}: " + click.style("FAILED", fg="red") + f" {got}")
                continue
            problem = target_problem(got)
            where = got.phone_number or got.name_prefix or got.type
            current = got.hold_music_url or "(no hold music set)"
            if problem:
                say(f"  {cid} ({where}): " + click.style("FAILED", fg="red") + f" {problem}")
            else:
                say(f"  {cid} ({where}): hold_music_url = {current}")

    def published(self, published: Published) -> None:
        report_published(published)

    def outcome(self, outcome: ConfigOutcome) -> None:
        say("  " + describe_outcome(outcome))


def describe_outcome(o: ConfigOutcome) -> str:
    status = click.style(o.status, fg=_COLOURS.get(o.status, "red"))
    was = o.previous_url or "(none)"
    if o.status == "unchanged":
        text = f"{o.config_id}: {status} (already {was})"
    elif o.status in ("updated", "would_update"):
        text = f"{o.config_id}: {status} (was {was})"
    else:
        text = f"{o.config_id}: {status}"
    if o.error:
        text += f": {o.error}"
    if o.note:
        text += f" [{o.note}]"
    return text


def result_dict(result: PublishResult) -> dict[str, Any]:
    d = published_dict(result.prepared, result.published)
    d.update(
        ok=result.ok,
        url=result.url,
        dry_run=result.published is None and result.planned_url is not None,
        stopped=result.stopped,
        configs=[c.to_dict() for c in result.configs],
    )
    return d


@click.command("publish")
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
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Parallel requests to Daily (all under one shared rate limit).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    callback=output_file,
    help="Write a JSON report that 'holdmusic rollback' can undo (kept true as PUTs finish).",
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
    from holdmusic import pipeline

    chosen = sum(bool(x) for x in (config_ids, all_pinless, name_prefix is not None))
    if chosen != 1:
        raise click.UsageError(
            "name the configs: --config ID (repeatable), --all-pinless, or --name-prefix P"
        )
    from holdmusic import configid

    for cid in config_ids:
        configid.check(cid)  # before any request
    settings = storage_settings(params)
    recorder = None
    with daily_client() as client:
        if report_path and not dry_run:  # claimed before any request, after the key check
            from holdmusic.record import Recorder

            recorder = Recorder(report_path, "publish", file)
        ids = list(config_ids)
        if not ids:
            ids = [
                c.id
                for c in client.list_configs(type="pinless_dialin")
                if name_prefix is None or (c.name_prefix or "").startswith(name_prefix)
            ]
            if not ids:
                raise click.UsageError("no pinless_dialin config matches")
        result = pipeline.publish(
            file,
            ids,
            settings,
            client,
            limits=rules.Limits(max_bytes, max_seconds),
            dry_run=dry_run,
            concurrency=concurrency,
            reporter=_CliReporter(),
            recorder=recorder,
        )
    summarize(result)
    if recorder is not None and recorder.items:
        say(f"Report: {recorder.path}")
    if as_json:
        click.echo(json.dumps(result_dict(result), indent=2))
    elif result.ok and result.url and not dry_run:  # stdout: only a URL that is live
        click.echo(result.url)
    raise click.exceptions.Exit(0 if result.ok else 1)


def summarize(result: PublishResult) -> None:
    if result.planned_url:
        say(f"Dry run: would upload to {result.planned_url}")
        for o in result.configs:
            say("  " + describe_outcome(o))
    if result.stopped:  # the step that stopped it has printed why
        say(click.style("Stopped: ", fg="red") + result.stopped)
        return
    counts: dict[str, int] = {}
    for o in result.configs:
        counts[o.status] = counts.get(o.status, 0) + 1
    say(
        f"Summary: {status_counts(counts) or 'no configs'}"
        + (f" → {result.url}" if result.url else "")
    )
    for o in result.configs:
        if o.changed_fields:
            say(click.style(f"WARNING: {o.config_id}: {o.error}", fg="red", bold=True))
