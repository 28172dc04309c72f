"""The runs that change configs: publish, batch, rollback; and the frame around each.

The frame (client → report → progress → cancel → result) is written once, here: both
the CLI and a web page get the same report on disk, the same events and the same result.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from holdmusic import rules
from holdmusic.app.env import Environment
from holdmusic.app.errors import problem_for
from holdmusic.app.results import PublishResult, RunReport, RunSummary
from holdmusic.errors import HoldmusicError, UsageError
from holdmusic.progress import Cancel, Cancelled, Observer, Reporter
from holdmusic.record import Recorder

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient
    from holdmusic.pipeline import Prepared, RunResult
    from holdmusic.storesettings import StorageSettings, Store, StoredObject

DEFAULT_CONCURRENCY = 8


class SelectionError(UsageError):
    """The configs were named wrongly (none, or two ways at once). ``given`` names the
    ways that were used: ``config_ids``, ``all_pinless``, ``name_prefix``."""

    def __init__(self, message: str, given: tuple[str, ...]) -> None:
        super().__init__(message)
        self.given = given


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which configs a publish points at: exactly one of named ids, every pinless
    config, or the pinless configs whose name_prefix starts with a string."""

    config_ids: tuple[str, ...] = ()
    all_pinless: bool = False
    name_prefix: str | None = None

    @property
    def given(self) -> tuple[str, ...]:
        return tuple(
            name
            for name, used in (
                ("config_ids", bool(self.config_ids)),
                ("all_pinless", self.all_pinless),
                ("name_prefix", self.name_prefix is not None),
            )
            if used
        )

    def check(self) -> Selection:
        """The selection itself, or :class:`SelectionError`; config ids are checked too
        (before any request)."""
        from holdmusic import configid

        given = self.given
        if not given:
            raise SelectionError(
                "no configs named: name config ids, all pinless configs, or a name prefix", given
            )
        if len(given) > 1:
            words = {
                "config_ids": "config ids",
                "all_pinless": "all pinless configs",
                "name_prefix": "a name prefix",
            }
            raise SelectionError(
                " and ".join(words[g] for g in given)
                + " were combined: choose one way to name the configs",
                given,
            )
        for cid in self.config_ids:
            configid.check(cid)
        return self

    def resolve(self, client: DailyClient) -> list[str]:
        """The config ids, in order and once each (a listing for the pinless ways)."""
        if self.config_ids:
            return list(dict.fromkeys(self.config_ids))
        prefix = self.name_prefix
        ids = [
            c.id
            for c in client.list_configs(type="pinless_dialin")
            if prefix is None or (c.name_prefix or "").startswith(prefix)
        ]
        if not ids:
            raise SelectionError("no pinless_dialin config matches", self.given)
        return ids


@dataclass(frozen=True)
class _Ended:
    """How the frame's body ended."""

    run: RunResult | None
    recorder: Recorder
    summary: RunSummary


def _run_frame(
    command: str,
    source: str,
    *,
    env: Environment,
    report: str | None,
    report_dir: str | None,
    dry_run: bool,
    observer: Observer | None,
    cancel: Cancel | None,
    client: DailyClient | None,
    body: Callable[[DailyClient, Recorder, Reporter], RunResult],
    before: Callable[[DailyClient], object] | None = None,
) -> _Ended:
    """Client, report, progress, cancel: the frame of publish, batch and rollback.

    Errors before the report exists (no key, a report name taken) raise; after it, the
    run's end (an error, Ctrl-C, a cancel) is part of the result, and the report says
    the same (``complete: false`` when it did not end by itself). ``before`` runs first,
    with the client, before the report is claimed (publish resolves its selection there:
    a prefix that matches nothing leaves no report behind).
    """
    cancel = cancel or Cancel()
    # The client before the report: a missing key must not leave an empty report behind
    # whose name the next run could not use. Neither sends a request.
    own = client is None
    daily = client if client is not None else env.daily_client()
    try:
        if before is not None:
            before(daily)
        recorder = Recorder.new(report, command, source, dry_run=dry_run, folder=report_dir)
        cancel.on_cancel(daily.interrupt)
        reporter = Reporter(observer, cancel)
        try:
            run = body(daily, recorder, reporter)
        except (KeyboardInterrupt, Cancelled):
            cancel.cancel()
            return _Ended(None, recorder, RunSummary(recorder.path, interrupted=True))
        except HoldmusicError as exc:
            return _Ended(None, recorder, RunSummary(recorder.path, error=problem_for(exc)))
        return _Ended(run, recorder, RunSummary(recorder.path))
    finally:
        if own:
            daily.close()


def publish(
    source: str | Prepared,
    selection: Selection,
    storage: StorageSettings | Store,
    *,
    env: Environment,
    dry_run: bool = False,
    report: str | None = None,
    report_dir: str | None = None,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    concurrency: int = DEFAULT_CONCURRENCY,
    observer: Observer | None = None,
    cancel: Cancel | None = None,
    client: DailyClient | None = None,
) -> PublishResult:
    """Validate one file, read the selected configs (each must be pinless), upload, prove
    the URL public, then point each config at it: all or nothing before any change.

    ``source``: a path, or a :class:`holdmusic.pipeline.Prepared` (``prepare_bytes`` for
    an upload to a page). Unless a dry run, a report is always written: at ``report``,
    else a fresh ``holdmusic-publish-….json`` in ``report_dir`` (default: the working
    folder); the result names it, and ``rollback`` undoes it.
    """
    from holdmusic import pipeline

    selection.check()
    prepared = source if not isinstance(source, str) else None
    path = source if isinstance(source, str) else source.path
    store = _store(storage, dry_run)

    ids: list[str] = []

    def body(daily: DailyClient, recorder: Recorder, reporter: Reporter) -> RunResult:
        assigned = [pipeline.Assigned(config_id=cid, file=path, name=path) for cid in ids]
        return pipeline.batch(
            assigned,
            store,
            daily,
            recorder,
            limits=limits,
            dry_run=dry_run,
            all_or_nothing=True,
            concurrency=concurrency,
            reporter=reporter,
            allow_private=env.allow_private_urls,
            prepared={path: prepared} if prepared is not None else None,
        )

    ended = _run_frame(
        "publish",
        path,
        env=env,
        report=None if dry_run else report,
        report_dir=report_dir,
        dry_run=dry_run,
        observer=observer,
        cancel=cancel,
        client=client,
        body=body,
        before=lambda daily: ids.extend(selection.resolve(daily)),
    )
    run = ended.run
    return PublishResult(
        path=path,
        prepared=run.prepared.get(path) if run is not None else prepared,
        run=run,
        items=tuple(ended.recorder.snapshot()),
        summary=ended.summary,
        dry_run=dry_run,
    )


def batch(
    manifest: str,
    storage: StorageSettings | Store,
    *,
    env: Environment,
    dry_run: bool = False,
    skip_invalid: bool = False,
    report: str | None = None,
    report_dir: str | None = None,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    concurrency: int = DEFAULT_CONCURRENCY,
    observer: Observer | None = None,
    cancel: Cancel | None = None,
    client: DailyClient | None = None,
) -> RunReport:
    """Point many configs at their files, from a CSV or TOML manifest (checked whole
    first: an unusable manifest raises ``ManifestError`` before anything happens)."""
    from holdmusic import manifest as manifest_
    from holdmusic import pipeline

    assigned = [
        pipeline.Assigned(config_id=a.config_id, file=a.file, name=a.given)
        for a in manifest_.read(manifest)
    ]
    store = _store(storage, dry_run)
    ended = _run_frame(
        "batch",
        manifest,
        env=env,
        report=report,
        report_dir=report_dir,
        dry_run=dry_run,
        observer=observer,
        cancel=cancel,
        client=client,
        body=lambda daily, recorder, reporter: pipeline.batch(
            assigned,
            store,
            daily,
            recorder,
            limits=limits,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            concurrency=concurrency,
            reporter=reporter,
            allow_private=env.allow_private_urls,
        ),
    )
    uploads = ended.run.uploads if ended.run is not None else 0
    return RunReport.of(ended.recorder, ended.run, ended.summary, uploads)


def check_report_target(report: str, target: str | None) -> None:
    """Rollback never writes over the report it reads (a usage error, before anything)."""
    if target is not None and (
        os.path.abspath(target) == os.path.abspath(report)
        or (os.path.exists(target) and os.path.samefile(target, report))
    ):
        raise UsageError(
            f"{target} is the report being rolled back: rollback never writes over the report "
            "it reads; choose another name for its own report"
        )


def rollback(
    report_path: str,
    *,
    env: Environment,
    force: bool = False,
    verify: bool = True,
    dry_run: bool = False,
    report: str | None = None,
    report_dir: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    observer: Observer | None = None,
    cancel: Cancel | None = None,
    client: DailyClient | None = None,
) -> RunReport:
    """Put every config a run (a batch's or a publish's report) changed back to its
    ``previous_url``; writes a report of its own. A bad report raises ``ReportError``."""
    from holdmusic import pipeline, record

    check_report_target(report_path, report)
    _, items = record.load(report_path)
    ended = _run_frame(
        "rollback",
        report_path,
        env=env,
        report=report,
        report_dir=report_dir,
        dry_run=dry_run,
        observer=observer,
        cancel=cancel,
        client=client,
        body=lambda daily, recorder, reporter: pipeline.rollback(
            items,
            daily,
            recorder,
            force=force,
            verify=verify,
            dry_run=dry_run,
            concurrency=concurrency,
            reporter=reporter,
            allow_private=env.allow_private_urls,
        ),
    )
    return RunReport.of(ended.recorder, ended.run, ended.summary)


def _store(storage: StorageSettings | Store, dry_run: bool) -> Store:
    """The store a run uses: one per run, so one boto3 client; a dry run's plans URLs
    and never imports boto3."""
    from holdmusic.storesettings import StorageSettings

    if not isinstance(storage, StorageSettings):
        return storage
    if dry_run:
        return PlanningStore(storage)
    from holdmusic.storage import S3Store

    return S3Store(storage)


class PlanningStore:
    """The store of a dry run: it plans URLs and refuses to write (no boto3 at all)."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings

    def plan_url(self, filename: str, sha256: str) -> str:
        from holdmusic.storesettings import plan_url

        return plan_url(self.settings, filename, sha256)

    def public_url(self, key: str) -> str:
        from holdmusic.storesettings import public_url

        return public_url(self.settings, key)

    def direct_url(self, key: str) -> str:
        from holdmusic.storesettings import direct_url

        return direct_url(self.settings, key)

    def put_if_absent(self, data: bytes, sha256: str, filename: str) -> StoredObject:
        raise AssertionError("a dry run never uploads")
