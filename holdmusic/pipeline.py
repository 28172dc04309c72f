"""The stages joined: validate → upload → prove public → update configs → record.

``batch`` is the one update path: a manifest's batch and ``publish`` (one file, named
configs: a batch of one file, with all-or-nothing preflight) both run it. ``rollback``
puts a report's configs back. Each stops at the first stage that fails for a file, so no
config ever points at an unverified URL. The config updates themselves are in
:mod:`holdmusic.update`; the audit behind ``configs check`` is in :mod:`holdmusic.audit`;
the frame around a run (client, report, progress, cancel) is :mod:`holdmusic.app`'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from holdmusic import rules
from holdmusic.progress import Cancelled, FileJudged, FilePublished, Phase, Reporter
from holdmusic.record import Change, FileRecord, Item, Recorder, Status
from holdmusic.update import Found, preflight, put_phase

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient, DialinConfig
    from holdmusic.publicurl import PublicCheck
    from holdmusic.storesettings import Store, StoredObject


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A file that was read once and judged: these exact bytes are what gets uploaded.

    ``path`` names it in output (a path, or the name given with uploaded bytes);
    ``filename`` is what its storage key is made from.
    """

    path: str
    verdict: rules.Verdict
    data: bytes | None
    sha256: str | None
    filename: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.data is not None


def prepare(path: str, limits: rules.Limits = rules.DEFAULT_LIMITS) -> Prepared:
    """Read and judge a file on disk."""
    verdict, data = rules.load(path, limits)
    return _prepared(path, os.path.basename(path), verdict, data)


def prepare_bytes(data: bytes, name: str, limits: rules.Limits = rules.DEFAULT_LIMITS) -> Prepared:
    """Judge bytes already in memory (an upload to a web page): ``name`` is the file's
    name as given, used in output and for the storage key."""
    verdict = rules.check_bytes(data, name, limits)
    return _prepared(name, os.path.basename(name.replace("\\", "/")), verdict, data)


def _prepared(path: str, filename: str, verdict: rules.Verdict, data: bytes | None) -> Prepared:
    if not verdict.ok or data is None:
        return Prepared(path=path, verdict=verdict, data=None, sha256=None, filename=filename)
    sha = hashlib.sha256(data).hexdigest()
    return Prepared(path=path, verdict=verdict, data=data, sha256=sha, filename=filename)


@dataclass(frozen=True)
class Published:
    """An object in storage and the proof (or disproof) that anonymous clients get it."""

    stored: StoredObject
    public: PublicCheck

    @property
    def ok(self) -> bool:
        return self.public.ok


def store_and_verify(
    prepared: Prepared, store: Store, *, allow_private: bool | None = None
) -> Published:
    """Upload (idempotently), then fetch the public URL anonymously and compare bytes."""
    assert prepared.data is not None and prepared.sha256 is not None, "prepare() failed"
    stored = store.put_if_absent(prepared.data, prepared.sha256, prepared.filename)
    check = verify_public(store, stored.key, stored.sha256, stored.size_bytes, allow_private)
    return Published(stored, check)


def verify_public(
    store: Store, key: str, sha256: str, size: int, allow_private: bool | None = None
) -> PublicCheck:
    """Prove ``key``'s public URL serves these bytes. When it does not (refused, not
    found) and a public base URL is set, the object is fetched on the storage service
    itself too: if it is public there, the base URL is what is wrong, and the problem
    says so (``public_base_url``) instead of blaming the bucket's policy. ``doctor``
    makes the same diagnosis."""
    from holdmusic.codes import problem
    from holdmusic.publicurl import check_public
    from holdmusic.storesettings import public_hint

    settings = store.settings
    url = store.public_url(key)
    hint = public_hint(settings)
    check = check_public(url, sha256, size, hint=hint, allow_private=allow_private)
    if check.ok or not settings.public_base_url or check.status not in (401, 403, 404):
        return check
    direct = store.direct_url(key)
    if direct == url:
        return check
    via_bucket = check_public(direct, sha256, size, hint=hint, allow_private=allow_private)
    if not via_bucket.ok:
        return check
    root = direct.rsplit("/" + key, 1)[0] if direct.endswith("/" + key) else direct
    wrong = problem(
        "public_base_url",
        f"{url} answered {check.status}, but the object is public at {direct}: the public base "
        f"URL does not serve the bucket's objects; point it at the bucket root ({root}) or fix "
        "the CDN's origin",
    )
    return replace(check, problems=(wrong,))


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
        return self.stopped is None and all(i.ok for i in self.items)


@contextlib.contextmanager
def _closing(recorder: Recorder, reporter: Reporter) -> Iterator[list[str | None]]:
    """Whatever ends a run (an error, Ctrl-C, a cancel), every item nothing was sent for
    says so, and the report is finished: ``complete`` only when the run ended by itself.
    The body may set ``stopped[0]``: why it stopped before changing anything."""
    stopped: list[str | None] = [None]
    try:
        yield stopped
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt | Cancelled)
        if interrupted:
            reporter.cancel.cancel()
        recorder.close_queued(reporter.cancel.reason if interrupted else str(exc))
        recorder.finish(complete=False, stopped=str(exc) if not interrupted else None)
        raise
    recorder.finish(complete=True, stopped=stopped[0])


@dataclass(frozen=True, kw_only=True)
class Assigned:
    """One config to point at one file: ``file`` is the path read, ``name`` how the
    report names it (as the manifest wrote it)."""

    config_id: str
    file: str
    name: str


def batch(
    assignments: list[Assigned],
    store: Store,
    client: DailyClient,
    recorder: Recorder,
    *,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    dry_run: bool = False,
    skip_invalid: bool = False,
    all_or_nothing: bool = False,
    concurrency: int = 8,
    reporter: Reporter | None = None,
    allow_private: bool | None = None,
    prepared: dict[str, Prepared] | None = None,
) -> RunResult:
    """Each config to its file: validate all → read all → upload each file once and prove
    it public → PUT only where the URL differs. The recorder's report stays true throughout.

    ``all_or_nothing`` (publish): a config that cannot take hold music, or a file whose
    URL fails the public check, stops the run before any config changes. ``prepared``:
    files already judged (by path), e.g. bytes uploaded to a page.
    """
    reporter = reporter or Reporter()
    recorder.add_all([Item(a.config_id, file=a.name, status=Status.QUEUED) for a in assignments])
    with _closing(recorder, reporter) as stopped:
        result = _Run(
            assignments,
            store,
            client,
            recorder,
            limits=limits,
            dry_run=dry_run,
            all_or_nothing=all_or_nothing,
            concurrency=concurrency,
            reporter=reporter,
            allow_private=allow_private,
            prepared=dict(prepared or {}),
        ).go(skip_invalid)
        if result.stopped is None and client.stopped:  # the circuit breaker opened
            result = replace(result, stopped=client.stopped)
        stopped[0] = result.stopped
        return result


@dataclass
class _Run:
    """One run's state, so that each stage reads as one short method."""

    assignments: list[Assigned]
    store: Store
    client: DailyClient
    recorder: Recorder
    limits: rules.Limits
    dry_run: bool
    all_or_nothing: bool
    concurrency: int
    reporter: Reporter
    allow_private: bool | None
    prepared: dict[str, Prepared] = field(default_factory=dict)
    published: dict[str, Published] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # file -> its proved (or planned) URL
    uploads: int = 0

    def result(self, stopped: str | None = None) -> RunResult:
        return RunResult(
            tuple(self.recorder.snapshot()),
            self.uploads,
            stopped,
            self.prepared,
            self.published,
            self.urls if self.dry_run else {},
        )

    def stop(self, reason: str, stopped: str) -> RunResult:
        self.recorder.close_queued(reason)
        return self.result(stopped)

    def go(self, skip_invalid: bool) -> RunResult:
        live = self.validate()
        bad = len(live) < len(self.assignments)
        if bad and not skip_invalid:
            one = len(self.prepared) == 1
            return self.stop(
                "another file failed validation (skip invalid files to go on)",
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
        self.reporter.cancel.check()
        put_phase(
            self.client,
            usable,
            targets,
            self.recorder,
            self.reporter,
            concurrency=self.concurrency,
            dry_run=self.dry_run,
        )
        return self.result()

    def validate(self) -> list[Assigned]:
        """Judge every file once; the assignments whose file passed."""
        reporter = self.reporter
        files = list(dict.fromkeys(a.file for a in self.assignments))
        reporter.phase(Phase.VALIDATE, len(files))
        for path in files:
            reporter.cancel.check()
            p = self.prepared.get(path)
            if p is None:
                self.prepared[path] = p = prepare(path, self.limits)
            reporter.emit(FileJudged(path=p.path, verdict=p.verdict))
            reporter.step(path, failed=not p.ok, text=None if p.ok else "FAILED validation")
        bad = {path for path, p in self.prepared.items() if not p.ok}
        live = [a for a in self.assignments if a.file not in bad]
        self.recorder.change_many(
            {
                a.config_id: Change(status=Status.FAILED, error="the file failed validation")
                for a in self.assignments
                if a.file in bad
            }
            | {a.config_id: Change(sha256=self.prepared[a.file].sha256) for a in live}
        )
        return live

    def read_configs(
        self, live: list[Assigned]
    ) -> tuple[Found, dict[str, DialinConfig], dict[str, Item]]:
        self.reporter.phase(Phase.READ_CONFIGS, len(live))
        found, usable, failed = preflight(
            self.client,
            [a.config_id for a in live],
            concurrency=self.concurrency,
            reporter=self.reporter,
        )
        self.recorder.change_many(
            {
                cid: Change(status=o.status, error=o.error, previous_url=o.previous_url)
                for cid, o in failed.items()
            }
            | {cid: Change(previous_url=c.hold_music_url) for cid, c in usable.items()}
        )
        return found, usable, failed

    def upload(self, live: list[Assigned]) -> int:
        """Upload each needed file once and prove it public; how many passed."""
        reporter = self.reporter
        needed = list(dict.fromkeys(a.file for a in live))
        name = {a.file: a.name for a in live}
        reporter.phase(Phase.PLAN_UPLOADS if self.dry_run else Phase.UPLOAD, len(needed))
        for path in needed:
            reporter.cancel.check()
            p = self.prepared[path]
            assert p.data is not None and p.sha256 is not None
            if self.dry_run:
                self.urls[path] = self.store.plan_url(p.filename, p.sha256)
                reporter.step(path)
                continue
            self.published[path] = published = store_and_verify(
                p, self.store, allow_private=self.allow_private
            )
            stored = published.stored
            reporter.emit(FilePublished(path=path, stored=stored, check=published.public))
            self.uploads += stored.uploaded
            self.recorder.add_file(
                name[path],
                FileRecord(
                    sha256=p.sha256,
                    url=stored.url,
                    key=stored.key,
                    uploaded=stored.uploaded,
                    public=published.ok,
                ),
            )
            if published.ok:
                self.urls[path] = stored.url
                reporter.step(path)
                continue
            why = "; ".join(p.message for p in published.public.problems)
            reporter.step(path, failed=True, text="public check FAILED")
            reporter.notice(f"{stored.url} failed the public check: {why}", level="error")
            if self.all_or_nothing:
                continue  # every config is closed as not attempted
            self.recorder.change_many(
                {
                    a.config_id: Change(
                        status=Status.FAILED,
                        url=stored.url,
                        error=f"the URL failed the public check: {why}",
                    )
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


def rollback_decision(item: Item, now_url: str | None, *, force: bool) -> Change | str:
    """What rollback does with one config that now holds ``now_url``: a :class:`Change`
    that closes the item, or the URL to put back (a pure decision, tested on its own)."""
    if now_url == item.previous_url:
        return Change(previous_url=now_url, status=Status.UNCHANGED)
    if now_url not in {item.url, item.stored_url} - {None} and not force:
        return Change(
            previous_url=now_url,
            status=Status.SKIPPED,
            error=f"changed since the run: it now holds {now_url!r}, not the run's URL "
            "(a forced rollback restores it anyway)",
        )
    if item.previous_url is None:
        return Change(
            previous_url=now_url,
            status=Status.FAILED,
            error="it had no hold music before the run, and Daily documents no way "
            "to clear hold_music_url; publish a file to it instead",
        )
    return item.previous_url


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
    reporter: Reporter | None = None,
    allow_private: bool | None = None,
) -> RunResult:
    """Put every config a run changed back to its ``previous_url``.

    A config someone changed since (it holds neither the run's URL nor the previous
    one) is skipped unless ``force``. The previous URL is validated like any URL before
    a phone line points at it again, unless ``verify`` is off.
    """
    reporter = reporter or Reporter()
    chosen = [i for i in items if i.status.rolled_back]
    recorder.add_all(
        [Item(i.config_id, file=i.file, url=i.previous_url, status=Status.QUEUED) for i in chosen]
    )
    with _closing(recorder, reporter):
        reporter.phase(Phase.READ_CONFIGS, len(chosen))
        _, usable, failed = preflight(
            client, [i.config_id for i in chosen], concurrency=concurrency, reporter=reporter
        )
        changes: dict[str, Change] = {
            cid: Change(status=o.status, error=o.error) for cid, o in failed.items()
        }
        targets: dict[str, str] = {}
        for item in chosen:
            current = usable.get(item.config_id)
            if current is None:
                continue
            decided = rollback_decision(item, current.hold_music_url, force=force)
            if isinstance(decided, str):
                targets[item.config_id] = decided
                changes[item.config_id] = Change(previous_url=current.hold_music_url)
            else:
                changes[item.config_id] = decided
        recorder.change_many(changes)
        for cid, change in changes.items():
            if change.status == Status.SKIPPED and isinstance(change.error, str):
                reporter.notice(f"{cid}: {change.error}", subject=cid)
        if verify and targets:
            reporter.phase(Phase.CHECK_URLS, len(set(targets.values())))
            broken = _broken_urls(set(targets.values()), limits, reporter, allow_private)
            for cid, url in list(targets.items()):
                if url in broken:
                    del targets[cid]
                    recorder.change(
                        cid,
                        Change(
                            status=Status.FAILED,
                            error="the previous URL no longer serves valid hold music: "
                            + broken[url],
                        ),
                    )
        reporter.cancel.check()
        put_phase(
            client, usable, targets, recorder, reporter, concurrency=concurrency, dry_run=dry_run
        )
        return RunResult(tuple(recorder.snapshot()))


def _broken_urls(
    urls: set[str], limits: rules.Limits, reporter: Reporter, allow_private: bool | None
) -> dict[str, str]:
    from holdmusic.publicurl import validate_url

    broken = {}
    for url in sorted(urls):
        reporter.cancel.check()
        verdict = validate_url(url, limits, allow_private=allow_private)
        if not verdict.ok:
            broken[url] = "; ".join(f"{p.code}: {p.message}" for p in verdict.errors)
        why = None if verdict.ok else "no longer serves valid hold music"
        reporter.step(url, failed=not verdict.ok, text=why)
    return broken
