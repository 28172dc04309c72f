"""Pointing dial-in configs at a URL: read them, keep those that can take hold music,
PUT where the URL differs, and record each outcome before and after.

The one update path: ``publish`` (one file, named configs), ``batch`` (a manifest) and
``rollback`` (a report) all end here, so a fix to it is made once. Each config's outcome
is a :class:`holdmusic.record.Item`, the same object the report holds. Daily's own rules
(pin vs pinless, its error kinds) stay in :mod:`holdmusic.daily`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from holdmusic.progress import Cancel, ConfigRead, ConfigsRead, Phase, Reporter
from holdmusic.record import Change, Item, Recorder, Status

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient, DailyError, DialinConfig

T = TypeVar("T")
R = TypeVar("R")

Found = dict[str, "DialinConfig | DailyError"]


def fan_out(
    fn: Callable[[T], R],
    items: list[T],
    concurrency: int,
    cancel: Cancel | None = None,
) -> list[R]:
    """``[fn(i) for i in items]`` on up to ``concurrency`` threads, in order. Whatever
    stops it (Ctrl-C, an error) cancels the run first, so waiting threads wake."""
    if concurrency <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        try:
            return list(pool.map(fn, items))
        except BaseException:
            # Before the pool waits for its threads: wake them, or one Ctrl-C is not enough.
            if cancel is not None:
                cancel.cancel()
            raise


def read_configs(
    client: DailyClient,
    config_ids: list[str],
    *,
    concurrency: int = 8,
    reporter: Reporter | None = None,
) -> Found:
    """GET every config (in parallel, under the client's rate limit); errors as values.
    Each read is a step of the reporter's phase."""
    from holdmusic.daily import DailyError

    def one(cid: str) -> DialinConfig | DailyError:
        try:
            return client.get_config(cid)
        except DailyError as exc:
            return exc
        finally:
            if reporter is not None:
                reporter.step(cid)

    cancel = reporter.cancel if reporter is not None else None
    results = fan_out(one, config_ids, concurrency, cancel)
    if cancel is not None:
        cancel.check()  # the reads it cut short are not answers
    return dict(zip(config_ids, results, strict=True))


def preflight(
    client: DailyClient,
    config_ids: list[str],
    *,
    concurrency: int = 8,
    reporter: Reporter | None = None,
) -> tuple[Found, dict[str, DialinConfig], dict[str, Item]]:
    """GET every config and keep those hold music can be set on.

    Returns everything read, the usable configs by id, and a failed item for each of
    the others. A key Daily rejects fails every GET alike, so it is raised once instead.
    """
    from holdmusic.daily import DailyAuthError, DailyError, target_problem

    found = read_configs(client, config_ids, concurrency=concurrency, reporter=reporter)
    errors = [r for r in found.values() if isinstance(r, DailyError)]
    if errors and all(isinstance(e, DailyAuthError) for e in errors):
        raise errors[0]
    usable: dict[str, DialinConfig] = {}
    failed: dict[str, Item] = {}
    read: list[ConfigRead] = []
    for cid, got in found.items():
        if isinstance(got, DailyError):
            failed[cid] = Item(cid, status=Status.FAILED, error=str(got))
            read.append(ConfigRead(config_id=cid, config=None, problem=str(got)))
        elif problem := target_problem(got):
            failed[cid] = Item(
                cid, previous_url=got.hold_music_url, status=Status.FAILED, error=problem
            )
            read.append(ConfigRead(config_id=cid, config=got, problem=problem))
        else:
            usable[cid] = got
            read.append(ConfigRead(config_id=cid, config=got))
    if reporter is not None:
        reporter.emit(ConfigsRead(configs=tuple(read)))
    return found, usable, failed


def point_config(client: DailyClient, before: DialinConfig, url: str) -> Item:
    """Set ``hold_music_url`` to a verified ``url``, and check that nothing else moved.

    A PUT answered 5xx may still have been applied (and retried); whatever happens,
    ``previous_url`` is the value read *before* this run touched the config. When the
    PUT fails for good, a GET tells whether it landed. A PUT whose answer never came
    stays ``pending`` even when the GET shows the old value: it may land later, and
    rollback looks at every pending config.
    """
    from holdmusic.daily import DailyError, DailyInterrupted

    def outcome(
        status: Status,
        error: str | None = None,
        *,
        changed: tuple[str, ...] = (),
        stored_url: str | None = None,
        note: str | None = None,
    ) -> Item:
        return Item(
            before.id,
            url=url,
            previous_url=before.hold_music_url,
            status=status,
            error=error,
            changed_fields=list(changed),
            stored_url=stored_url,
            note=note,
        )

    if before.hold_music_url == url:
        return outcome(Status.UNCHANGED)
    note = None
    try:
        after = client.set_hold_music(before.id, url)
    except DailyError as exc:
        unknown = exc.outcome_unknown
        if isinstance(exc, DailyInterrupted) and not unknown:  # Ctrl-C before it was sent
            return outcome(Status.NOT_ATTEMPTED, str(exc))
        try:
            after = client.get_config(before.id)
        except DailyError:
            if unknown:
                return outcome(
                    Status.PENDING,
                    f"{exc}; it may have been applied, and a GET could not confirm either way",
                )
            return outcome(Status.FAILED, str(exc))
        if after.hold_music_url != url:
            if unknown:
                return outcome(
                    Status.PENDING,
                    f"{exc}; a GET shows {after.hold_music_url!r}, but a PUT whose answer "
                    "never came may still land ('holdmusic rollback' checks it)",
                )
            return outcome(Status.FAILED, str(exc))
        note = f"the PUT reported an error ({exc}) but a GET shows it was applied"
    changed = changed_fields(before, after)
    if after.hold_music_url != url:
        # The config changed, though not to what was asked: the record must say so,
        # so that rollback restores it.
        return outcome(
            Status.MISMATCHED,
            f"Daily accepted the PUT but the config now holds {after.hold_music_url!r}",
            changed=changed,
            stored_url=after.hold_music_url,
        )
    error = None
    if changed:
        error = (
            "Daily changed other fields of this config too: "
            + ", ".join(changed)
            + " (check them in the dashboard)"
        )
    return outcome(Status.UPDATED, error, changed=changed, note=note)


def changed_fields(before: DialinConfig, after: DialinConfig) -> tuple[str, ...]:
    """Fields other than hold_music_url whose value differs (or appeared, or vanished)."""
    keys = (set(before.config) | set(after.config)) - {"hold_music_url"}
    changed = [k for k in sorted(keys) if before.config.get(k) != after.config.get(k)]
    if before.type != after.type:
        changed.insert(0, "type")
    return tuple(changed)


def put_phase(
    client: DailyClient,
    current: dict[str, DialinConfig],
    targets: dict[str, str],
    recorder: Recorder,
    reporter: Reporter,
    *,
    concurrency: int,
    dry_run: bool,
) -> None:
    """Point each config at its target URL, in parallel under the shared rate limit.

    ``current`` is what each config holds now (read by the preflight). Write-ahead: every
    item about to be PUT is recorded ``pending`` first. When the run is cancelled (or
    Ctrl-C), PUTs not yet started are recorded as not attempted; those in flight are cut
    and recorded as they end (``pending`` when their answer never came). A dry run
    records ``would_update`` and sends nothing.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    cancel = reporter.cancel
    unchanged = [cid for cid, url in targets.items() if current[cid].hold_music_url == url]
    todo = [cid for cid in targets if cid not in unchanged]
    before = Status.WOULD_UPDATE if dry_run else Status.PENDING
    recorder.change_many(
        {cid: Change(status=Status.UNCHANGED, url=targets[cid], error=None) for cid in unchanged}
        | {cid: Change(status=before, url=targets[cid]) for cid in todo}
    )
    if dry_run:
        return
    for cid in unchanged:
        reporter.outcome(recorder.items[cid], sent=False)
    if not todo:
        return
    reporter.phase(Phase.UPDATE, len(todo))
    started: set[str] = set()
    started_lock = threading.Lock()

    def apply(cid: str) -> None:
        with started_lock:
            if cancel.cancelled:
                return  # closed below as not attempted
            started.add(cid)
        got = point_config(client, current[cid], targets[cid])
        # Not forced to disk at once: the item was written "pending" (may have changed)
        # before its PUT, so a crash before the next write still leaves a true record.
        item = recorder.change(cid, Change.outcome(got), durable=False)
        reporter.outcome(item, sent=True)
        reporter.step(cid, failed=not item.ok, text=item.error)

    def close_unstarted() -> None:
        with started_lock:
            never = [cid for cid in todo if cid not in started]
        recorder.change_many(
            {
                cid: Change(status=Status.NOT_ATTEMPTED, error=f"not attempted: {cancel.reason}")
                for cid in never
            }
        )

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo))))
    try:
        for future in as_completed([pool.submit(apply, cid) for cid in todo]):
            future.result()
    except BaseException:
        cancel.cancel()  # wake waiting threads and cut open connections first
        pool.shutdown(wait=True, cancel_futures=True)
        close_unstarted()
        raise
    pool.shutdown()
    if cancel.cancelled:
        close_unstarted()
        cancel.check()
