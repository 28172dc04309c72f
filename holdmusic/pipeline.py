"""The stages joined: validate → upload → prove public → update configs → record.

``publish`` (one file, named configs), ``batch`` (a manifest), ``rollback`` (a report)
and ``audit`` (what live configs play). Each calls the stage modules in order and stops
at the first stage that fails, so no config ever points at an unverified URL.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from holdmusic import rules
from holdmusic.record import (
    FAILED,
    MISMATCHED,
    NOT_ATTEMPTED,
    PENDING,
    QUEUED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    WOULD_UPDATE,
    Item,
    Recorder,
)

if TYPE_CHECKING:
    import httpx

    from holdmusic.daily import DailyClient, DailyError, DialinConfig
    from holdmusic.manifest import Assignment
    from holdmusic.publicurl import PublicCheck
    from holdmusic.storage import StorageSettings, StoredObject

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Prepared:
    """A file that was read once and judged: these exact bytes are what gets uploaded."""

    path: str
    verdict: rules.Verdict
    data: bytes | None
    sha256: str | None

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.data is not None


def prepare(path: str, limits: rules.Limits = rules.DEFAULT_LIMITS) -> Prepared:
    verdict, data = rules.load(path, limits)
    if not verdict.ok or data is None:
        return Prepared(path, verdict, None, None)
    return Prepared(path, verdict, data, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Published:
    """An object in storage and the proof (or disproof) that anonymous clients get it."""

    stored: StoredObject
    public: PublicCheck

    @property
    def ok(self) -> bool:
        return self.public.ok


def public_hint(settings: StorageSettings) -> str:
    """What to run when the public check gets a 403."""
    return (
        f"Make the prefix public with 'holdmusic bucket-policy --bucket {settings.bucket} "
        f"--prefix {settings.prefix} --apply' (on AWS, Block Public Access must allow public "
        "bucket policies), or use --acl public-read on a bucket that still uses ACLs"
    )


def store_and_verify(
    prepared: Prepared,
    settings: StorageSettings,
    *,
    transport: httpx.BaseTransport | None = None,
) -> Published:
    """Upload (idempotently), then fetch the public URL anonymously and compare bytes."""
    from holdmusic import publicurl, storage

    assert prepared.data is not None and prepared.sha256 is not None, "prepare() failed"
    stored = storage.upload(
        settings, prepared.data, prepared.sha256, os.path.basename(prepared.path)
    )
    check = publicurl.check_public(
        stored.url,
        stored.sha256,
        stored.size_bytes,
        hint=public_hint(settings),
        transport=transport,
    )
    return Published(stored, check)


# --- dial-in configs ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigOutcome:
    """What happened to one dial-in config. ``previous_url`` is what it held before this run."""

    config_id: str
    previous_url: str | None
    status: str  # updated | unchanged | failed | pending | skipped | not_attempted | would_update
    error: str | None = None
    url: str | None = None  # the URL it was meant to point at
    changed_fields: tuple[str, ...] = ()  # fields other than hold_music_url that changed
    note: str | None = None
    stored_url: str | None = None  # mismatched: what Daily stored instead of ``url``

    @property
    def ok(self) -> bool:
        return self.status in (UPDATED, UNCHANGED, WOULD_UPDATE) and not self.changed_fields

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "config_id": self.config_id,
            "previous_url": self.previous_url,
            "status": self.status,
            "error": self.error,
        }
        if self.changed_fields:
            d["changed_fields"] = list(self.changed_fields)
        if self.note:
            d["note"] = self.note
        if self.stored_url is not None:
            d["stored_url"] = self.stored_url
        return d


def target_problem(config: DialinConfig) -> str | None:
    """Why hold music cannot be set on this config, or None."""
    if config.type == "pin_dialin":
        return (
            f"config {config.id} is pin_dialin: Daily plays hold music only on pinless_dialin "
            "configs, so there is nothing to set"
        )
    if not config.pinless:
        return f"config {config.id} has type {config.type!r}, not pinless_dialin"
    return None


def read_configs(
    client: DailyClient,
    config_ids: list[str],
    *,
    concurrency: int = 8,
    on_each: Callable[[], object] | None = None,
) -> dict[str, DialinConfig | DailyError]:
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

    results = _map(one, config_ids, concurrency, on_interrupt=client.interrupt)
    return dict(zip(config_ids, results, strict=True))


def _map(
    fn: Callable[[T], R],
    items: list[T],
    concurrency: int,
    on_interrupt: Callable[[], object] | None = None,
) -> list[R]:
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


def point_config(client: DailyClient, before: DialinConfig, url: str) -> ConfigOutcome:
    """Set ``hold_music_url`` to a verified ``url``, and check that nothing else moved.

    A PUT answered 5xx may still have been applied (and retried); whatever happens,
    ``previous_url`` is the value read *before* this run touched the config. When the
    PUT fails for good, a GET tells whether it landed. A PUT whose answer never came
    stays ``pending`` even when the GET shows the old value: it may land later, and
    rollback looks at every pending config.
    """
    from holdmusic.daily import DailyError, DailyInterrupted

    previous = before.hold_music_url
    if previous == url:
        return ConfigOutcome(before.id, previous, UNCHANGED, url=url)
    note = None
    try:
        after = client.set_hold_music(before.id, url)
    except DailyError as exc:
        unknown = exc.outcome_unknown
        if isinstance(exc, DailyInterrupted) and not unknown:  # Ctrl-C before it was sent
            return ConfigOutcome(before.id, previous, NOT_ATTEMPTED, str(exc), url)
        try:
            after = client.get_config(before.id)
        except DailyError:
            if unknown:
                return ConfigOutcome(
                    before.id,
                    previous,
                    PENDING,
                    f"{exc}; it may have been applied, and a GET could not confirm either way",
                    url,
                )
            return ConfigOutcome(before.id, previous, FAILED, str(exc), url)
        if after.hold_music_url != url:
            if unknown:
                return ConfigOutcome(
                    before.id,
                    previous,
                    PENDING,
                    f"{exc}; a GET shows {after.hold_music_url!r}, but a PUT whose answer "
                    "never came may still land ('holdmusic rollback' checks it)",
                    url,
                )
            return ConfigOutcome(before.id, previous, FAILED, str(exc), url)
        note = f"the PUT reported an error ({exc}) but a GET shows it was applied"
    if after.hold_music_url != url:
        # The config changed, though not to what was asked: the record must say so,
        # so that rollback restores it.
        return ConfigOutcome(
            before.id,
            previous,
            MISMATCHED,
            f"Daily accepted the PUT but the config now holds {after.hold_music_url!r}",
            url,
            changed_fields(before, after),
            stored_url=after.hold_music_url,
        )
    changed = changed_fields(before, after)
    error = None
    if changed:
        error = (
            "Daily changed other fields of this config too: "
            + ", ".join(changed)
            + " (check them in the dashboard)"
        )
    return ConfigOutcome(before.id, previous, UPDATED, error, url, changed, note)


def changed_fields(before: DialinConfig, after: DialinConfig) -> tuple[str, ...]:
    """Fields other than hold_music_url whose value differs (or appeared, or vanished)."""
    keys = (set(before.config) | set(after.config)) - {"hold_music_url"}
    changed = [k for k in sorted(keys) if before.config.get(k) != after.config.get(k)]
    if before.type != after.type:
        changed.insert(0, "type")
    return tuple(changed)


@dataclass(frozen=True)
class PublishResult:
    prepared: Prepared
    configs: tuple[ConfigOutcome, ...]
    published: Published | None = None
    planned_url: str | None = None  # dry run: where it would go
    stopped: str | None = None  # why the run stopped before changing anything

    @property
    def url(self) -> str | None:
        return self.published.stored.url if self.published else self.planned_url

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(c.ok for c in self.configs)


class Reporter:
    """Hooks the CLI overrides to show each step as it happens; silent by default."""

    def verdict(self, prepared: Prepared) -> None:
        pass

    def configs(self, found: dict[str, DialinConfig | DailyError]) -> None:
        pass

    def published(self, published: Published) -> None:
        pass

    def outcome(self, outcome: ConfigOutcome) -> None:
        pass


def preflight(
    client: DailyClient,
    config_ids: list[str],
    *,
    concurrency: int = 8,
    on_each: Callable[[], object] | None = None,
) -> tuple[dict[str, DialinConfig | DailyError], dict[str, DialinConfig], list[ConfigOutcome]]:
    """GET every config and keep those hold music can be set on.

    Returns everything read, the usable configs by id, and a failed outcome for each of
    the others. A key Daily rejects fails every GET alike, so it is raised once instead.
    """
    from holdmusic.daily import DailyAuthError, DailyError

    found = read_configs(client, config_ids, concurrency=concurrency, on_each=on_each)
    errors = [r for r in found.values() if isinstance(r, DailyError)]
    if errors and all(isinstance(e, DailyAuthError) for e in errors):
        raise errors[0]
    usable: dict[str, DialinConfig] = {}
    failed: list[ConfigOutcome] = []
    for cid, got in found.items():
        if isinstance(got, DailyError):
            failed.append(ConfigOutcome(cid, None, FAILED, str(got)))
        elif problem := target_problem(got):
            failed.append(ConfigOutcome(cid, got.hold_music_url, FAILED, problem))
        else:
            usable[cid] = got
    return found, usable, failed


def publish(
    path: str,
    config_ids: list[str],
    settings: StorageSettings,
    client: DailyClient,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    dry_run: bool = False,
    concurrency: int = 8,
    reporter: Reporter | None = None,
    recorder: Recorder | None = None,
    transport: httpx.BaseTransport | None = None,
) -> PublishResult:
    """validate → read configs → upload → prove public → PUT where the URL differs.

    All-or-nothing up to the PUTs: a bad file, a config that is missing or not
    pinless, or a URL that fails the public check stops the run before any config
    changes. After that, each config succeeds or fails on its own.
    """
    from holdmusic import storage

    on = reporter or Reporter()
    ids = list(dict.fromkeys(config_ids))  # the same id twice is one config
    prepared = prepare(path, limits)
    on.verdict(prepared)
    if not prepared.ok:
        return PublishResult(
            prepared, (), stopped="the file failed validation: nothing uploaded, no config changed"
        )
    found, usable, failed = preflight(client, ids, concurrency=concurrency)
    on.configs(found)
    if failed:
        skipped = [
            ConfigOutcome(
                cid, c.hold_music_url, NOT_ATTEMPTED, "not attempted: see the failed configs"
            )
            for cid, c in usable.items()
        ]
        return PublishResult(
            prepared,
            _in_order(ids, failed + skipped),
            stopped=_preflight_stop(found, failed),
        )
    assert prepared.data is not None and prepared.sha256 is not None
    if dry_run:
        planned = storage.upload(
            settings, prepared.data, prepared.sha256, os.path.basename(path), dry_run=True
        )
        outcomes = tuple(
            ConfigOutcome(
                cid,
                c.hold_music_url,
                UNCHANGED if c.hold_music_url == planned.url else WOULD_UPDATE,
                url=planned.url,
            )
            for cid, c in usable.items()
        )
        return PublishResult(prepared, outcomes, planned_url=planned.url)
    published = store_and_verify(prepared, settings, transport=transport)
    on.published(published)
    if not published.ok:
        skipped = [
            ConfigOutcome(
                cid, c.hold_music_url, NOT_ATTEMPTED, "not attempted: the URL is not public"
            )
            for cid, c in usable.items()
        ]
        return PublishResult(
            prepared,
            tuple(skipped),
            published,
            stopped="the public check failed: no config was pointed at the URL",
        )
    url = published.stored.url
    # The same PUT phase as batch: write-ahead "pending" marks, Ctrl-C handling. Without
    # --report the record is kept in memory only.
    record = recorder or Recorder(None, "publish", path)
    record.add_all(
        [
            Item(
                cid, file=path, sha256=prepared.sha256, previous_url=c.hold_music_url, status=QUEUED
            )
            for cid, c in usable.items()
        ]
    )
    try:
        by_id = put_phase(
            client,
            usable,
            dict.fromkeys(usable, url),
            record,
            BatchReporter(),
            concurrency=concurrency,
            dry_run=False,
            on_outcome=on.outcome,
        )
    finally:
        record.finish()
    return PublishResult(prepared, tuple(by_id[cid] for cid in ids), published)


def _preflight_stop(
    found: dict[str, DialinConfig | DailyError], failed: list[ConfigOutcome]
) -> str:
    """Why publish stopped before uploading: Daily out of reach is not a bad config."""
    from holdmusic.daily import DailyUnavailable

    unreachable = [e for e in found.values() if isinstance(e, DailyUnavailable)]
    if len(unreachable) == len(failed):
        return f"Daily could not be reached: {unreachable[0]}; nothing uploaded, no config changed"
    return "a config cannot take hold music: nothing uploaded, no config changed"


def _in_order(ids: list[str], outcomes: list[ConfigOutcome]) -> tuple[ConfigOutcome, ...]:
    by_id = {o.config_id: o for o in outcomes}
    return tuple(by_id[i] for i in ids if i in by_id)


# --- batch and rollback ---------------------------------------------------------------------


class BatchReporter:
    """Progress hooks for batch and rollback; the CLI draws a bar or prints lines."""

    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, text: str | None = None) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def verdict(self, verdict: rules.Verdict) -> None:
        """A file's verdict, once every file is validated and before any upload."""


@dataclass(frozen=True)
class BatchResult:
    items: tuple[Item, ...]
    uploads: int = 0  # objects actually uploaded (not already there)
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        good = (UPDATED, UNCHANGED, WOULD_UPDATE, SKIPPED)
        return self.stopped is None and all(
            i.status in good and not i.changed_fields for i in self.items
        )


def _not_attempted(recorder: Recorder, reason: str) -> None:
    """Close every item nothing was sent for, so the report says so."""
    recorder.update_many(
        {
            cid: {"status": NOT_ATTEMPTED, "error": f"not attempted: {reason}"}
            for cid, item in recorder.items.items()
            if item.status == QUEUED
        }
    )


def batch(
    assignments: list[Assignment],
    settings: StorageSettings,
    client: DailyClient,
    recorder: Recorder,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    dry_run: bool = False,
    skip_invalid: bool = False,
    concurrency: int = 8,
    reporter: BatchReporter | None = None,
    transport: httpx.BaseTransport | None = None,
) -> BatchResult:
    """Many configs, each to its own file: validate all → read all → upload each file once
    → PUT only where the URL differs. The recorder's report stays true throughout."""

    on = reporter or BatchReporter()
    recorder.add_all([Item(a.config_id, file=a.given, status=QUEUED) for a in assignments])
    try:
        return _batch(
            assignments,
            settings,
            client,
            recorder,
            limits=limits,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            concurrency=concurrency,
            on=on,
            transport=transport,
        )
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        _not_attempted(recorder, reason)
        raise
    finally:
        recorder.finish()


def _batch(
    assignments: list[Assignment],
    settings: StorageSettings,
    client: DailyClient,
    recorder: Recorder,
    *,
    limits: rules.Limits,
    dry_run: bool,
    skip_invalid: bool,
    concurrency: int,
    on: BatchReporter,
    transport: httpx.BaseTransport | None,
) -> BatchResult:
    from holdmusic import storage

    files = list(dict.fromkeys(a.file for a in assignments))
    on.phase("validating files", len(files))
    prepared: dict[str, Prepared] = {}
    for path in files:
        prepared[path] = p = prepare(path, limits)
        on.advance(None if p.ok else f"{path}: FAILED validation")
    for p in prepared.values():  # every warning is shown before anything is uploaded
        on.verdict(p.verdict)
    bad = {path for path, p in prepared.items() if not p.ok}
    if bad:
        recorder.update_many(
            {
                a.config_id: {"status": FAILED, "error": "the file failed validation"}
                for a in assignments
                if a.file in bad
            }
        )
        if not skip_invalid:
            _not_attempted(recorder, "another file failed validation (--skip-invalid goes on)")
            return BatchResult(
                tuple(recorder.items.values()),
                stopped="a file failed validation: nothing uploaded, no config changed",
            )
    live = [a for a in assignments if a.file not in bad]
    recorder.update_many({a.config_id: {"sha256": prepared[a.file].sha256} for a in live})

    on.phase("reading configs", len(live))
    _, usable, failed = preflight(
        client, [a.config_id for a in live], concurrency=concurrency, on_each=on.advance
    )
    recorder.update_many(
        {o.config_id: {"status": FAILED, "error": o.error} for o in failed}
        | {cid: {"previous_url": c.hold_music_url} for cid, c in usable.items()}
    )
    live = [a for a in live if a.config_id in usable]
    needed = list(dict.fromkeys(a.file for a in live))

    urls: dict[str, str] = {}
    uploads = 0
    on.phase("uploading" if not dry_run else "planning uploads", len(needed))
    for path in needed:
        p = prepared[path]
        assert p.data is not None and p.sha256 is not None
        if dry_run:
            urls[path] = storage.upload(
                settings, p.data, p.sha256, os.path.basename(path), dry_run=True
            ).url
            on.advance()
            continue
        published = store_and_verify(p, settings, transport=transport)
        uploads += published.stored.uploaded
        recorder.files[path] = {
            "sha256": p.sha256,
            "url": published.stored.url,
            "key": published.stored.key,
            "uploaded": published.stored.uploaded,
            "public": published.ok,
        }
        if published.ok:
            urls[path] = published.stored.url
            on.advance()
        else:
            why = "; ".join(published.public.problems)
            on.advance(f"{path}: public check FAILED")
            on.message(f"{published.stored.url} failed the public check: {why}")
            recorder.update_many(
                {
                    a.config_id: {
                        "status": FAILED,
                        "url": published.stored.url,
                        "error": f"the URL failed the public check: {why}",
                    }
                    for a in live
                    if a.file == path
                }
            )
    targets = {a.config_id: urls[a.file] for a in live if a.file in urls}
    put_phase(client, usable, targets, recorder, on, concurrency=concurrency, dry_run=dry_run)
    return BatchResult(tuple(recorder.items.values()), uploads)


def put_phase(
    client: DailyClient,
    befores: dict[str, DialinConfig],
    targets: dict[str, str],
    recorder: Recorder,
    on: BatchReporter,
    *,
    concurrency: int,
    dry_run: bool,
    on_outcome: Callable[[ConfigOutcome], object] | None = None,
) -> dict[str, ConfigOutcome]:
    """Point each config at its target URL, in parallel under the shared rate limit.

    Write-ahead: every item about to be PUT is recorded ``pending`` first. On Ctrl-C,
    PUTs not yet started are cancelled and recorded as not attempted; those in flight
    finish and are recorded as they end. Returns the outcome of every config that was
    already right or was PUT (none on a dry run).
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    unchanged = {cid for cid, url in targets.items() if befores[cid].hold_music_url == url}
    todo = [cid for cid in targets if cid not in unchanged]
    outcomes = {
        cid: ConfigOutcome(cid, befores[cid].hold_music_url, UNCHANGED, url=targets[cid])
        for cid in unchanged
    }
    if on_outcome is not None and not dry_run:
        for outcome in outcomes.values():
            on_outcome(outcome)
    recorder.update_many(
        {cid: {"status": UNCHANGED, "url": targets[cid], "error": None} for cid in unchanged}
        | {
            cid: {"status": WOULD_UPDATE if dry_run else PENDING, "url": targets[cid]}
            for cid in todo
        }
    )
    if dry_run or not todo:
        return outcomes
    on.phase("updating configs", len(todo))
    started: set[str] = set()

    def apply(cid: str) -> ConfigOutcome:
        started.add(cid)
        outcome = point_config(client, befores[cid], targets[cid])
        # Not forced to disk at once: the item was written "pending" (may have changed)
        # before its PUT, so a crash before the next write still leaves a true record.
        recorder.update(
            cid,
            durable=False,
            status=outcome.status,
            error=outcome.error,
            stored_url=outcome.stored_url,
            changed_fields=list(outcome.changed_fields),
        )
        on.advance(f"{cid}: {outcome.status}" + (f": {outcome.error}" if outcome.error else ""))
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo))))
    try:
        futures = [pool.submit(apply, cid) for cid in todo]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.config_id] = outcome
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
    return outcomes


def rollback(
    items: list[Item],
    client: DailyClient,
    recorder: Recorder,
    *,
    force: bool = False,
    verify: bool = True,
    dry_run: bool = False,
    concurrency: int = 8,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    reporter: BatchReporter | None = None,
    transport: httpx.BaseTransport | None = None,
) -> BatchResult:
    """Put every config a run changed back to its ``previous_url``.

    A config someone changed since (it holds neither the run's URL nor the previous
    one) is skipped unless ``force``. The previous URL is validated like any URL before
    a phone line points at it again, unless ``verify`` is off.
    """

    on = reporter or BatchReporter()
    chosen = [i for i in items if i.status in (UPDATED, PENDING, MISMATCHED)]
    recorder.add_all(
        [Item(i.config_id, file=i.file, url=i.previous_url, status=QUEUED) for i in chosen]
    )
    try:
        on.phase("reading configs", len(chosen))
        _, usable, failed = preflight(
            client, [i.config_id for i in chosen], concurrency=concurrency, on_each=on.advance
        )
        changes: dict[str, dict[str, Any]] = {
            o.config_id: {"status": FAILED, "error": o.error} for o in failed
        }
        targets: dict[str, str] = {}
        for item in chosen:
            current = usable.get(item.config_id)
            if current is None:
                continue
            now_url = current.hold_music_url
            change: dict[str, Any] = {"previous_url": now_url}
            if now_url == item.previous_url:
                change.update(status=UNCHANGED)
            elif now_url not in {item.url, item.stored_url} - {None} and not force:
                change.update(
                    status=SKIPPED,
                    error=f"changed since the run: it now holds {now_url!r}, not the run's URL "
                    "(--force restores it anyway)",
                )
            elif item.previous_url is None:
                change.update(
                    status=FAILED,
                    error="it had no hold music before the run, and Daily documents no way "
                    "to clear hold_music_url; publish a file to it instead",
                )
            else:
                targets[item.config_id] = item.previous_url
            changes[item.config_id] = change
        recorder.update_many(changes)
        for cid, change in changes.items():
            if change.get("status") == SKIPPED:
                on.message(f"warning: {cid}: {change['error']}")
        if verify and targets:
            on.phase("checking previous URLs", len(set(targets.values())))
            broken = _broken_urls(set(targets.values()), limits, transport, on)
            for cid, url in list(targets.items()):
                if url in broken:
                    del targets[cid]
                    recorder.update(
                        cid,
                        status=FAILED,
                        error=f"the previous URL no longer serves valid hold music: {broken[url]}",
                    )
        put_phase(client, usable, targets, recorder, on, concurrency=concurrency, dry_run=dry_run)
        return BatchResult(tuple(recorder.items.values()))
    except BaseException as exc:
        _not_attempted(recorder, "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc))
        raise
    finally:
        recorder.finish()


def _broken_urls(
    urls: set[str],
    limits: rules.Limits,
    transport: httpx.BaseTransport | None,
    on: BatchReporter,
) -> dict[str, str]:
    from holdmusic.publicurl import validate_url

    broken = {}
    for url in sorted(urls):
        verdict = validate_url(url, limits, transport=transport)
        if not verdict.ok:
            broken[url] = "; ".join(f"{p.code}: {p.message}" for p in verdict.errors)
        on.advance()
    return broken


# --- audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audited:
    """One config and what its current hold_music_url serves (None: no URL, or unreadable)."""

    config_id: str
    config: DialinConfig | None
    verdict: rules.Verdict | None
    error: str | None = None


def audit(
    client: DailyClient,
    config_ids: list[str] | None = None,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    concurrency: int = 8,
    transport: httpx.BaseTransport | None = None,
    inspect: Callable[[rules.Verdict, bytes], rules.Verdict] | None = None,
) -> list[Audited]:
    """Fetch every pinless config's hold_music_url (or the named configs') and judge it
    as Daily will fetch it. Each distinct URL is downloaded once. ``inspect`` as in
    :func:`holdmusic.publicurl.validate_url` (``configs check --listen``)."""
    from holdmusic.daily import DailyError
    from holdmusic.publicurl import validate_url

    if config_ids is None:
        config_ids = [c.id for c in client.list_configs(type="pinless_dialin")]
    found, _, _ = preflight(client, config_ids, concurrency=concurrency)
    urls = sorted(
        {
            c.hold_music_url
            for c in found.values()
            if not isinstance(c, DailyError) and c.hold_music_url is not None
        }
    )
    verdicts = dict(
        zip(
            urls,
            _map(
                lambda u: validate_url(u, limits, transport=transport, inspect=inspect),
                urls,
                concurrency,
            ),
            strict=True,
        )
    )
    out = []
    for cid in config_ids:
        got = found[cid]
        if isinstance(got, DailyError):
            out.append(Audited(cid, None, None, str(got)))
        elif problem := target_problem(got):
            out.append(Audited(cid, got, None, problem))
        elif got.hold_music_url is None:
            out.append(Audited(cid, got, None, "no hold_music_url is set"))
        else:
            out.append(Audited(cid, got, verdicts[got.hold_music_url]))
    return out
