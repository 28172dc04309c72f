"""The stages joined: validate → upload → prove public → update configs → record.

``run`` is the one update path: ``batch`` (a manifest) and ``publish`` (one file, named
configs: a batch of one file, with all-or-nothing preflight) both call it. ``rollback``
puts a report's configs back. Each stops at the first stage that fails for a file, so no
config ever points at an unverified URL. The config updates themselves are in
:mod:`holdmusic.update`; the audit behind ``configs check`` is in :mod:`holdmusic.audit`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from holdmusic import rules
from holdmusic.record import (
    FAILED,
    MISMATCHED,
    PENDING,
    QUEUED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    WOULD_UPDATE,
    Item,
    Recorder,
)
from holdmusic.update import Found, Progress, not_attempted, preflight, put_phase

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient, DialinConfig
    from holdmusic.manifest import Assignment
    from holdmusic.publicurl import PublicCheck
    from holdmusic.storage import StorageSettings, StoredObject


@dataclass(frozen=True, kw_only=True)
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
        return Prepared(path=path, verdict=verdict, data=None, sha256=None)
    return Prepared(path=path, verdict=verdict, data=data, sha256=hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Published:
    """An object in storage and the proof (or disproof) that anonymous clients get it."""

    stored: StoredObject
    public: PublicCheck

    @property
    def ok(self) -> bool:
        return self.public.ok


def store_and_verify(prepared: Prepared, settings: StorageSettings) -> Published:
    """Upload (idempotently), then fetch the public URL anonymously and compare bytes."""
    from holdmusic import publicurl, storage

    assert prepared.data is not None and prepared.sha256 is not None, "prepare() failed"
    stored = storage.upload(
        settings, prepared.data, prepared.sha256, os.path.basename(prepared.path)
    )
    check = publicurl.check_public(
        stored.url, stored.sha256, stored.size_bytes, hint=storage.public_hint(settings)
    )
    return Published(stored, check)


@dataclass(frozen=True)
class RunResult:
    """What a batch, publish or rollback did: every config's item, as the report holds it."""

    items: tuple[Item, ...]
    uploads: int = 0  # objects actually uploaded (not already there)
    stopped: str | None = None  # why the run stopped before changing anything
    prepared: dict[str, Prepared] = field(default_factory=dict)  # by file
    published: dict[str, Published] = field(default_factory=dict)  # by file
    planned: dict[str, str] = field(default_factory=dict)  # dry run: file -> URL

    @property
    def ok(self) -> bool:
        good = (UPDATED, UNCHANGED, WOULD_UPDATE, SKIPPED)
        return self.stopped is None and all(
            i.status in good and not i.changed_fields for i in self.items
        )


@contextlib.contextmanager
def _closing(recorder: Recorder) -> Iterator[None]:
    """Whatever ends a run (an error, Ctrl-C), every item nothing was sent for says so,
    and the report is finished."""
    try:
        yield
    except BaseException as exc:
        not_attempted(recorder, "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc))
        raise
    finally:
        recorder.finish()


def batch(
    assignments: list[Assignment],
    settings: StorageSettings,
    client: DailyClient,
    recorder: Recorder,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    dry_run: bool = False,
    skip_invalid: bool = False,
    all_or_nothing: bool = False,
    concurrency: int = 8,
    reporter: Progress | None = None,
) -> RunResult:
    """Each config to its file: validate all → read all → upload each file once and prove
    it public → PUT only where the URL differs. The recorder's report stays true throughout.

    ``all_or_nothing`` (publish): a config that cannot take hold music, or a file whose
    URL fails the public check, stops the run before any config changes.
    """
    recorder.add_all([Item(a.config_id, file=a.given, status=QUEUED) for a in assignments])
    with _closing(recorder):
        return _Run(
            assignments,
            settings,
            client,
            recorder,
            limits=limits,
            dry_run=dry_run,
            all_or_nothing=all_or_nothing,
            concurrency=concurrency,
            progress=reporter or Progress(),
        ).go(skip_invalid)


@dataclass
class _Run:
    """One run's state, so that each stage reads as one short method."""

    assignments: list[Assignment]
    settings: StorageSettings
    client: DailyClient
    recorder: Recorder
    limits: rules.Limits
    dry_run: bool
    all_or_nothing: bool
    concurrency: int
    progress: Progress
    prepared: dict[str, Prepared] = field(default_factory=dict)
    published: dict[str, Published] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # file -> its proved (or planned) URL
    uploads: int = 0

    def result(self, stopped: str | None = None) -> RunResult:
        return RunResult(
            tuple(self.recorder.items.values()),
            self.uploads,
            stopped,
            self.prepared,
            self.published,
            self.urls if self.dry_run else {},
        )

    def stop(self, reason: str, stopped: str) -> RunResult:
        not_attempted(self.recorder, reason)
        return self.result(stopped)

    def go(self, skip_invalid: bool) -> RunResult:
        live = self.validate()
        bad = len(live) < len(self.assignments)
        if bad and not skip_invalid:
            one = len(self.prepared) == 1
            return self.stop(
                "another file failed validation (--skip-invalid goes on)",
                f"{'the' if one else 'a'} file failed validation: nothing uploaded, "
                "no config changed",
            )
        found, usable, failed = self.read_configs(live)
        if failed and self.all_or_nothing:
            return self.stop("see the failed configs", _preflight_stop(found, failed))
        live = [a for a in live if a.config_id in usable]
        public = self.upload(live)
        if public < len({a.file for a in live}) and self.all_or_nothing:
            return self.stop(
                "the URL is not public",
                "the public check failed: no config was pointed at the URL",
            )
        targets = {a.config_id: self.urls[a.file] for a in live if a.file in self.urls}
        put_phase(
            self.client,
            usable,
            targets,
            self.recorder,
            self.progress,
            concurrency=self.concurrency,
            dry_run=self.dry_run,
        )
        return self.result()

    def validate(self) -> list[Assignment]:
        """Judge every file once; the assignments whose file passed."""
        progress = self.progress
        files = list(dict.fromkeys(a.file for a in self.assignments))
        progress.phase("validating files", len(files))
        for path in files:
            self.prepared[path] = p = prepare(path, self.limits)
            progress.verdict(p)
            progress.advance(None if p.ok else f"{path}: FAILED validation")
        bad = {path for path, p in self.prepared.items() if not p.ok}
        self.recorder.update_many(
            {
                a.config_id: {"status": FAILED, "error": "the file failed validation"}
                for a in self.assignments
                if a.file in bad
            }
        )
        live = [a for a in self.assignments if a.file not in bad]
        self.recorder.update_many(
            {a.config_id: {"sha256": self.prepared[a.file].sha256} for a in live}
        )
        return live

    def read_configs(
        self, live: list[Assignment]
    ) -> tuple[Found, dict[str, DialinConfig], dict[str, Item]]:
        self.progress.phase("reading configs", len(live))
        found, usable, failed = preflight(
            self.client,
            [a.config_id for a in live],
            concurrency=self.concurrency,
            on_each=self.progress.advance,
        )
        self.progress.configs(found)
        self.recorder.update_many(
            {
                cid: {"status": o.status, "error": o.error, "previous_url": o.previous_url}
                for cid, o in failed.items()
            }
            | {cid: {"previous_url": c.hold_music_url} for cid, c in usable.items()}
        )
        return found, usable, failed

    def upload(self, live: list[Assignment]) -> int:
        """Upload each needed file once and prove it public; how many passed."""
        from holdmusic import storage

        progress = self.progress
        needed = list(dict.fromkeys(a.file for a in live))
        progress.phase("uploading" if not self.dry_run else "planning uploads", len(needed))
        for path in needed:
            p = self.prepared[path]
            assert p.data is not None and p.sha256 is not None
            if self.dry_run:
                name = os.path.basename(path)
                self.urls[path] = storage.upload(
                    self.settings, p.data, p.sha256, name, dry_run=True
                ).url
                progress.advance()
                continue
            self.published[path] = published = store_and_verify(p, self.settings)
            progress.published(published)
            self.uploads += published.stored.uploaded
            self.recorder.files[path] = {
                "sha256": p.sha256,
                "url": published.stored.url,
                "key": published.stored.key,
                "uploaded": published.stored.uploaded,
                "public": published.ok,
            }
            if published.ok:
                self.urls[path] = published.stored.url
                progress.advance()
                continue
            why = "; ".join(published.public.problems)
            progress.advance(f"{path}: public check FAILED")
            progress.message(f"{published.stored.url} failed the public check: {why}")
            if self.all_or_nothing:
                continue  # every config is closed as not attempted
            self.recorder.update_many(
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
        return len(self.urls)


def _preflight_stop(found: Found, failed: dict[str, Item]) -> str:
    """Why an all-or-nothing run stopped before uploading: Daily out of reach is not a bad
    config."""
    from holdmusic.daily import DailyUnavailable

    unreachable = [e for e in found.values() if isinstance(e, DailyUnavailable)]
    if len(unreachable) == len(failed):
        return f"Daily could not be reached: {unreachable[0]}; nothing uploaded, no config changed"
    return "a config cannot take hold music: nothing uploaded, no config changed"


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
    reporter: Progress | None = None,
) -> RunResult:
    """Put every config a run changed back to its ``previous_url``.

    A config someone changed since (it holds neither the run's URL nor the previous
    one) is skipped unless ``force``. The previous URL is validated like any URL before
    a phone line points at it again, unless ``verify`` is off.
    """
    progress = reporter or Progress()
    chosen = [i for i in items if i.status in (UPDATED, PENDING, MISMATCHED)]
    recorder.add_all(
        [Item(i.config_id, file=i.file, url=i.previous_url, status=QUEUED) for i in chosen]
    )
    with _closing(recorder):
        progress.phase("reading configs", len(chosen))
        _, usable, failed = preflight(
            client, [i.config_id for i in chosen], concurrency=concurrency, on_each=progress.advance
        )
        changes: dict[str, dict[str, Any]] = {
            cid: {"status": o.status, "error": o.error} for cid, o in failed.items()
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
                progress.message(f"warning: {cid}: {change['error']}")
        if verify and targets:
            progress.phase("checking previous URLs", len(set(targets.values())))
            broken = _broken_urls(set(targets.values()), limits, progress)
            for cid, url in list(targets.items()):
                if url in broken:
                    del targets[cid]
                    recorder.update(
                        cid,
                        status=FAILED,
                        error=f"the previous URL no longer serves valid hold music: {broken[url]}",
                    )
        put_phase(
            client, usable, targets, recorder, progress, concurrency=concurrency, dry_run=dry_run
        )
        return RunResult(tuple(recorder.items.values()))


def _broken_urls(urls: set[str], limits: rules.Limits, progress: Progress) -> dict[str, str]:
    from holdmusic.publicurl import validate_url

    broken = {}
    for url in sorted(urls):
        verdict = validate_url(url, limits)
        if not verdict.ok:
            broken[url] = "; ".join(f"{p.code}: {p.message}" for p in verdict.errors)
        progress.advance()
    return broken
