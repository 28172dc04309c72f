"""Pointing dial-in configs at a URL: read them, keep those that can take hold music,
PUT where the URL differs, and record each outcome before and after.

The one update path: ``publish`` (one file, named configs), ``batch`` (a manifest) and
``rollback`` (a report) all end here, so a fix to it is made once. Each config's outcome
is a :class:`holdmusic.record.Item`, the same object the report holds. Daily's own rules
(pin vs pinless, its error kinds) stay in :mod:`holdmusic.daily`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from holdmusic.record import (
    FAILED,
    MISMATCHED,
    NOT_ATTEMPTED,
    PENDING,
    QUEUED,
    UNCHANGED,
    UPDATED,
    WOULD_UPDATE,
    Item,
    Recorder,
)

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient, DailyError, DialinConfig
    from holdmusic.pipeline import Prepared, Published

T = TypeVar("T")
R = TypeVar("R")

Found = dict[str, "DialinConfig | DailyError"]


class Progress:
    """What a run tells its watcher as it goes; silent by default.

    ``phase``/``advance``/``message`` are the steps of a long run (batch draws a bar from
    them); the other hooks carry the objects themselves (publish prints each). A watcher
    overrides what it shows and ignores the rest.
    """

    def phase(self, name: str, total: int) -> None:
        """A phase of ``total`` steps starts."""

    def advance(self, text: str | None = None) -> None:
        """One step of the phase is done; ``text`` is worth showing when given."""

    def message(self, text: str) -> None:
        """A line worth showing on its own (a warning, why a file failed)."""

    def verdict(self, prepared: Prepared) -> None:
        """A file was read and judged."""

    def configs(self, found: Found) -> None:
        """Every config was read (or failed to be)."""

    def published(self, published: Published) -> None:
        """A file was uploaded and its public URL checked."""

    def putting(self, config_ids: list[str]) -> None:
        """PUTs are about to be sent to these configs."""

    def outcome(self, item: Item, *, sent: bool) -> None:
        """A config's outcome in the update phase: ``sent`` when a PUT was tried for it
        (one step of the "updating configs" phase), else it already held the URL."""


def fan_out(
    fn: Callable[[T], R],
    items: list[T],
    concurrency: int,
    on_interrupt: Callable[[], object] | None = None,
) -> list[R]:
    """``[fn(i) for i in items]`` on up to ``concurrency`` threads, in order."""
    if concurrency <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        try:
            return list(pool.map(fn, items))
        except BaseException:
            # Before the pool waits for its threads: wake them, or one Ctrl-C is not enough.
            if on_interrupt is not None:
                on_interrupt()
            raise


def read_configs(
    client: DailyClient,
    config_ids: list[str],
    *,
    concurrency: int = 8,
    on_each: Callable[[], object] | None = None,
) -> Found:
    """GET every config (in parallel, under the client's rate limit); errors as values."""
    from holdmusic.daily import DailyError

    def one(cid: str) -> DialinConfig | DailyError:
        try:
            return client.get_config(cid)
        except DailyError as exc:
            return exc
        finally:
            if on_each is not None:
                on_each()

    results = fan_out(one, config_ids, concurrency, on_interrupt=client.interrupt)
    return dict(zip(config_ids, results, strict=True))


def preflight(
    client: DailyClient,
    config_ids: list[str],
    *,
    concurrency: int = 8,
    on_each: Callable[[], object] | None = None,
) -> tuple[Found, dict[str, DialinConfig], dict[str, Item]]:
    """GET every config and keep those hold music can be set on.

    Returns everything read, the usable configs by id, and a failed item for each of
    the others. A key Daily rejects fails every GET alike, so it is raised once instead.
    """
    from holdmusic.daily import DailyAuthError, DailyError, target_problem

    found = read_configs(client, config_ids, concurrency=concurrency, on_each=on_each)
    errors = [r for r in found.values() if isinstance(r, DailyError)]
    if errors and all(isinstance(e, DailyAuthError) for e in errors):
        raise errors[0]
    usable: dict[str, DialinConfig] = {}
    failed: dict[str, Item] = {}
    for cid, got in found.items():
        if isinstance(got, DailyError):
            status = NOT_ATTEMPTED if got.not_attempted else FAILED  # e.g. the breaker opened
            failed[cid] = Item(cid, status=status, error=str(got))
        elif problem := target_problem(got):
            failed[cid] = Item(cid, previous_url=got.hold_music_url, status=FAILED, error=problem)
        else:
            usable[cid] = got
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

    def outcome(status: str, error: str | None = None, **more: Any) -> Item:
        return Item(
            before.id,
            url=url,
            previous_url=before.hold_music_url,
            status=status,
            error=error,
            **more,
        )

    if before.hold_music_url == url:
        return outcome(UNCHANGED)
    note = None
    try:
        after = client.set_hold_music(before.id, url)
    except DailyError as exc:
        unknown = exc.outcome_unknown
        if isinstance(exc, DailyInterrupted) and not unknown:  # Ctrl-C before it was sent
            return outcome(NOT_ATTEMPTED, str(exc))
        try:
            after = client.get_config(before.id)
        except DailyError:
            if unknown:
                return outcome(
                    PENDING,
                    f"{exc}; it may have been applied, and a GET could not confirm either way",
                )
            return outcome(FAILED, str(exc))
        if after.hold_music_url != url:
            if unknown:
                return outcome(
                    PENDING,
                    f"{exc}; a GET shows {after.hold_music_url!r}, but a PUT whose answer "
                    "never came may still land ('holdmusic rollback' checks it)",
                )
            return outcome(FAILED, str(exc))
        note = f"the PUT reported an error ({exc}) but a GET shows it was applied"
    changed = list(changed_fields(before, after))
    if after.hold_music_url != url:
        # The config changed, though not to what was asked: the record must say so,
        # so that rollback restores it.
        return outcome(
            MISMATCHED,
            f"Daily accepted the PUT but the config now holds {after.hold_music_url!r}",
            changed_fields=changed,
            stored_url=after.hold_music_url,
        )
    error = None
    if changed:
        error = (
            "Daily changed other fields of this config too: "
            + ", ".join(changed)
            + " (check them in the dashboard)"
        )
    return outcome(UPDATED, error, changed_fields=changed, note=note)


def changed_fields(before: DialinConfig, after: DialinConfig) -> tuple[str, ...]:
    """Fields other than hold_music_url whose value differs (or appeared, or vanished)."""
    keys = (set(before.config) | set(after.config)) - {"hold_music_url"}
    changed = [k for k in sorted(keys) if before.config.get(k) != after.config.get(k)]
    if before.type != after.type:
        changed.insert(0, "type")
    return tuple(changed)


def not_attempted(recorder: Recorder, reason: str) -> None:
    """Close every item nothing was sent for, so the report says so."""
    recorder.update_many(
        {
            cid: {"status": NOT_ATTEMPTED, "error": f"not attempted: {reason}"}
            for cid, item in recorder.items.items()
            if item.status == QUEUED
        }
    )


def put_phase(
    client: DailyClient,
    current: dict[str, DialinConfig],
    targets: dict[str, str],
    recorder: Recorder,
    progress: Progress,
    *,
    concurrency: int,
    dry_run: bool,
) -> None:
    """Point each config at its target URL, in parallel under the shared rate limit.

    ``current`` is what each config holds now (read by the preflight). Write-ahead: every
    item about to be PUT is recorded ``pending`` first. On Ctrl-C, PUTs not yet started
    are cancelled and recorded as not attempted; those in flight finish and are recorded
    as they end. A dry run records ``would_update`` and sends nothing.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    unchanged = [cid for cid, url in targets.items() if current[cid].hold_music_url == url]
    todo = [cid for cid in targets if cid not in unchanged]
    recorder.update_many(
        {cid: {"status": UNCHANGED, "url": targets[cid], "error": None} for cid in unchanged}
        | {
            cid: {"status": WOULD_UPDATE if dry_run else PENDING, "url": targets[cid]}
            for cid in todo
        }
    )
    if dry_run:
        return
    for cid in unchanged:
        progress.outcome(recorder.items[cid], sent=False)
    if not todo:
        return
    progress.phase("updating configs", len(todo))
    progress.putting(todo)
    started: set[str] = set()

    def apply(cid: str) -> None:
        started.add(cid)
        got = point_config(client, current[cid], targets[cid])
        # Not forced to disk at once: the item was written "pending" (may have changed)
        # before its PUT, so a crash before the next write still leaves a true record.
        recorder.update(
            cid,
            durable=False,
            status=got.status,
            error=got.error,
            stored_url=got.stored_url,
            changed_fields=got.changed_fields,
            note=got.note,
        )
        progress.outcome(recorder.items[cid], sent=True)

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo))))
    try:
        for future in as_completed([pool.submit(apply, cid) for cid in todo]):
            future.result()
    except BaseException:
        client.interrupt()  # wake waiting threads and cut open connections first
        pool.shutdown(wait=True, cancel_futures=True)
        recorder.update_many(
            {
                cid: {"status": NOT_ATTEMPTED, "error": "not attempted: interrupted"}
                for cid in todo
                if cid not in started
            }
        )
        raise
    pool.shutdown()
