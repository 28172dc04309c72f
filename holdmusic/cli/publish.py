"""``holdmusic publish FILE --config ID``: the whole pipeline in one command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from holdmusic.cli._common import (
    UNCHANGED,
    UPDATED,
    WOULD_UPDATE,
    concurrency_option,
    daily_client,
    limit_options,
    limits_from,
    print_json,
    published_dict,
    report_option,
    report_published,
    report_verdict,
    status_counts,
    storage_options,
    storage_settings,
    styled_status,
    to_stderr,
)
from holdmusic.update import Progress

if TYPE_CHECKING:
    from holdmusic.daily import DailyError, DialinConfig
    from holdmusic.pipeline import Prepared, Published, RunResult
    from holdmusic.record import Item


class _Steps(Progress):
    """Prints each step of a publish to stderr as it happens (no bar: a few configs)."""

    def verdict(self, prepared: Prepared) -> None:
        report_verdict(prepared)

    def configs(self, found: dict[str, DialinConfig | DailyError]) -> None:
        from holdmusic.daily import DailyError, target_problem

        to_stderr(f"Reading {len(found)} dial-in config{'s' if len(found) != 1 else ''}:")
        for cid, got in found.items():
            if isinstance(got, DailyError):
                to_stderr(f"  {cid}: " + click.style("FAILED", fg="red") + f" {got}")
                continue
            problem = target_problem(got)
            where = got.phone_number or got.name_prefix or got.type
            current = got.hold_music_url or "(no hold music set)"
            if problem:
                to_stderr(f"  {cid} ({where}): " + click.style("FAILED", fg="red") + f" {problem}")
            else:
                to_stderr(f"  {cid} ({where}): hold_music_url = {current}")

    def published(self, published: Published) -> None:
        report_published(published)

    def outcome(self, item: Item, *, sent: bool) -> None:
        to_stderr("  " + describe_outcome(item))


def describe_outcome(o: Item) -> str:
    status = styled_status(o.status)
    was = o.previous_url or "(none)"
    if o.status == UNCHANGED:
        text = f"{o.config_id}: {status} (already {was})"
    elif o.status in (UPDATED, WOULD_UPDATE):
        text = f"{o.config_id}: {status} (was {was})"
    else:
        text = f"{o.config_id}: {status}"
    if o.error:
        text += f": {o.error}"
    if o.note:
        text += f" [{o.note}]"
    return text


def outcome_dict(o: Item) -> dict[str, Any]:
    """One config in publish --json (the README's shape: optional keys only when set)."""
    d: dict[str, Any] = {
        "config_id": o.config_id,
        "previous_url": o.previous_url,
        "status": o.status,
        "error": o.error,
    }
    if o.changed_fields:
        d["changed_fields"] = list(o.changed_fields)
    if o.note:
        d["note"] = o.note
    if o.stored_url is not None:
        d["stored_url"] = o.stored_url
    return d


def result_dict(result: RunResult, path: str) -> dict[str, Any]:
    prepared = result.prepared[path]
    published = result.published.get(path)
    planned = result.planned.get(path)
    d = published_dict(prepared, published)
    d.update(
        ok=result.ok,
        url=published.stored.url if published else planned,
        dry_run=published is None and planned is not None,
        stopped=result.stopped,
        configs=[outcome_dict(c) for c in result.items],
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
@concurrency_option
@report_option("Write a JSON report that 'holdmusic rollback' can undo (kept true as PUTs finish).")
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
    from holdmusic import configid, pipeline
    from holdmusic.manifest import Assignment
    from holdmusic.record import Recorder

    chosen = sum(bool(x) for x in (config_ids, all_pinless, name_prefix is not None))
    if chosen != 1:
        raise click.UsageError(
            "name the configs: --config ID (repeatable), --all-pinless, or --name-prefix P"
        )
    for cid in config_ids:
        configid.check(cid)  # before any request
    settings = storage_settings(params)
    with daily_client() as client:
        # Claimed before any request, after the key check; without --report (or on a dry
        # run) the record is kept in memory only.
        path = None if dry_run else report_path
        recorder = Recorder(path, "publish", file, dry_run=dry_run)
        ids = list(config_ids)
        if not ids:
            ids = [
                c.id
                for c in client.list_configs(type="pinless_dialin")
                if name_prefix is None or (c.name_prefix or "").startswith(name_prefix)
            ]
            if not ids:
                raise click.UsageError("no pinless_dialin config matches")
        # A batch of one file: the same path as `batch`, with all-or-nothing preflight.
        assignments = [Assignment(cid, file, file, "--config") for cid in dict.fromkeys(ids)]
        result = pipeline.batch(
            assignments,
            settings,
            client,
            recorder,
            limits=limits_from(max_bytes, max_seconds),
            dry_run=dry_run,
            all_or_nothing=True,
            concurrency=concurrency,
            reporter=_Steps(),
        )
    summarize(result, file)
    if recorder.path is not None and recorder.items:
        to_stderr(f"Report: {recorder.path}")
    url = result_dict(result, file)["url"]
    if as_json:
        print_json(result_dict(result, file))
    elif result.ok and url and not dry_run:  # stdout: only a URL that is live
        click.echo(url)
    raise click.exceptions.Exit(0 if result.ok else 1)


def summarize(result: RunResult, path: str) -> None:
    planned = result.planned.get(path)
    published = result.published.get(path)
    url = published.stored.url if published else planned
    if planned:
        to_stderr(f"Dry run: would upload to {planned}")
        for o in result.items:
            to_stderr("  " + describe_outcome(o))
    if result.stopped:  # the step that stopped it has printed why
        to_stderr(click.style("Stopped: ", fg="red") + result.stopped)
        return
    counts: dict[str, int] = {}
    for o in result.items:
        counts[o.status] = counts.get(o.status, 0) + 1
    summary = status_counts(counts) or "no configs"
    to_stderr(f"Summary: {summary}" + (f" → {url}" if url else ""))
    for o in result.items:
        if o.changed_fields:
            to_stderr(click.style(f"WARNING: {o.config_id}: {o.error}", fg="red", bold=True))
