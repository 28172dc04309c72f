"""The record of a batch (or rollback): what each config held before, and what happened.

The report is rewritten atomically (temp file, fsync, rename), so a crash or Ctrl-C
leaves a file that is true about everything done so far. Before any PUT is sent, its item
is written as ``pending`` with the value the config held: a report read after a crash says
which configs *may* have changed, and from what. Outcomes are written within
``FLUSH_SECONDS`` of each other (and always at the end): until then the item still reads
``pending``, which stays true, and a batch of thousands does not rewrite its report per item.

Item statuses: ``updated``, ``unchanged``, ``failed``, ``skipped``, ``would_update``
(dry run), ``not_attempted`` (nothing was sent: the run stopped before it), ``pending``
(sent, and nobody knows whether it was applied; or about to be sent when the run stopped)
and ``mismatched`` (Daily accepted the PUT but stored a different URL, ``stored_url``).

A report is created exclusively: an existing file is never written over (a second run
with the same ``--report`` would have replaced the first run's record of what it
changed), and default names carry a random part, so two runs started in the same second
get two reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any
from urllib.parse import urlsplit

from holdmusic import __version__, configid, nesting, runlock
from holdmusic.errors import HoldmusicError, UsageError
from holdmusic.tempfiles import write_atomic


class Status(StrEnum):
    """A config's outcome in a run: the report, publish's outcomes and rollback speak these.

    What each one means for the run lives here, as properties, and nowhere else.
    """

    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"  # deliberately left alone (e.g. changed by someone since)
    WOULD_UPDATE = "would_update"  # dry run
    QUEUED = "queued"  # nothing sent yet
    NOT_ATTEMPTED = "not_attempted"  # never tried: the run stopped first (not a failure itself)
    PENDING = "pending"  # a PUT was sent (or about to be): it may have been applied
    MISMATCHED = "mismatched"  # Daily accepted the PUT but holds another URL (stored_url)

    @property
    def ok(self) -> bool:
        """Counts as success: the config is where the run wanted it, or was left alone on
        purpose. A run is ok only when every item's status is."""
        return self in _OK

    @property
    def rolled_back(self) -> bool:
        """Rollback looks at configs with this status: they may hold the run's URL."""
        return self in _ROLLED_BACK

    @property
    def alarming(self) -> bool:
        """May mean a config changed unasked, or did not change as asked: as loud as a
        failure in every summary."""
        return self in _ALARMING

    @property
    def label(self) -> str:
        """As a person reads it: ``not attempted``."""
        return self.value.replace("_", " ")


_OK = frozenset({Status.UPDATED, Status.UNCHANGED, Status.WOULD_UPDATE, Status.SKIPPED})
_ROLLED_BACK = frozenset({Status.UPDATED, Status.PENDING, Status.MISMATCHED})
_ALARMING = frozenset({Status.FAILED, Status.PENDING, Status.MISMATCHED})

STATUSES = tuple(s.value for s in Status)
FORMAT = 1
# A report of 10,000 configs is ~4 MB and nests 4 levels (report, items, item,
# changed_fields); these bounds are checked before parsing.
MAX_REPORT_BYTES = 64_000_000
MAX_REPORT_DEPTH = 16
FLUSH_SECONDS = 0.25  # how stale a "pending" item that has in fact finished may be on disk


class ReportError(HoldmusicError):
    """A report file that cannot be read or is not a holdmusic report."""


class ReportExists(UsageError):
    """A report would be written over (exit 2): holdmusic never does that."""


@dataclass
class Item:
    """One config's record in a run (a report item, a publish outcome, a rollback item)."""

    config_id: str
    file: str | None = None
    sha256: str | None = None
    url: str | None = None  # what this run pointed (or meant to point) the config at
    previous_url: str | None = None  # what it held before this run touched it
    status: Status = Status.PENDING
    error: str | None = None
    stored_url: str | None = None  # mismatched: what Daily stored instead of ``url``
    changed_fields: list[str] = field(default_factory=list)  # other fields Daily changed
    # E.g. "the PUT reported an error but a GET shows it was applied".
    note: str | None = None

    @property
    def ok(self) -> bool:
        """The config ended where the run wanted it (or was left alone on purpose), and
        Daily changed nothing else."""
        return self.status.ok and not self.changed_fields

    def to_dict(self) -> dict[str, Any]:
        """The item as a report, ``publish --json`` and ``batch --json`` all show it."""
        d = asdict(self)
        d["status"] = self.status.value
        d["ok"] = self.ok
        return d


class _Unset(Enum):
    UNSET = 0


UNSET = _Unset.UNSET


@dataclass(frozen=True, kw_only=True)
class Change:
    """What to change in an item: each field left :data:`UNSET` stays as it is.

    Typed and keyword-only, so a misspelt field is an error where it is written, not a
    value silently dropped.
    """

    status: Status | _Unset = UNSET
    error: str | _Unset | None = UNSET
    url: str | _Unset | None = UNSET
    previous_url: str | _Unset | None = UNSET
    sha256: str | _Unset | None = UNSET
    stored_url: str | _Unset | None = UNSET
    changed_fields: tuple[str, ...] | _Unset = UNSET
    note: str | _Unset | None = UNSET

    def apply(self, item: Item) -> None:
        if not isinstance(self.status, _Unset):
            item.status = Status(self.status)
        if not isinstance(self.error, _Unset):
            item.error = self.error
        if not isinstance(self.url, _Unset):
            item.url = self.url
        if not isinstance(self.previous_url, _Unset):
            item.previous_url = self.previous_url
        if not isinstance(self.sha256, _Unset):
            item.sha256 = self.sha256
        if not isinstance(self.stored_url, _Unset):
            item.stored_url = self.stored_url
        if not isinstance(self.changed_fields, _Unset):
            item.changed_fields = list(self.changed_fields)
        if not isinstance(self.note, _Unset):
            item.note = self.note

    @classmethod
    def outcome(cls, item: Item) -> Change:
        """Everything a finished update says about a config (``update.point_config``)."""
        return cls(
            status=item.status,
            error=item.error,
            stored_url=item.stored_url,
            changed_fields=tuple(item.changed_fields),
            note=item.note,
        )


@dataclass(frozen=True, kw_only=True)
class FileRecord:
    """A file a run uploaded, as the report's ``files`` holds it (keyed like items' ``file``)."""

    sha256: str
    url: str
    key: str
    uploaded: bool  # False: the same bytes were already there
    public: bool  # the anonymous check passed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_path(command: str, folder: str | None = None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"holdmusic-{command}-{stamp}-{secrets.token_hex(3)}.json"
    return name if folder is None else os.path.join(folder, name)


@dataclass
class Recorder:
    """Holds the items of one run and keeps the report file true as they change.

    Thread-safe: every method takes the recorder's lock (PUTs finish on worker threads).
    """

    path: str | None  # None: keep the record in memory only
    command: str
    source: str
    dry_run: bool = False
    items: dict[str, Item] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)  # uploads, keyed as items' file
    started_at: str = field(default_factory=now)
    finished_at: str | None = None
    complete: bool = False  # the run ended on its own (not interrupted, no unexpected error)
    stopped: str | None = None  # why the run stopped before changing anything, if it did
    writes: int = 0
    _written_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _run_lock: runlock.RunLock | None = field(default=None, repr=False)  # while the run lives

    def __post_init__(self) -> None:
        if self.path is not None:
            self._create()

    @classmethod
    def new(
        cls,
        path: str | None,
        command: str,
        source: str,
        *,
        dry_run: bool = False,
        folder: str | None = None,
    ) -> Recorder:
        """A recorder at ``path``, or at a fresh default name in ``folder`` (default: the
        working folder) when ``path`` is None (unless a dry run, which keeps its record in
        memory)."""
        if path is not None or dry_run:
            return cls(path, command, source, dry_run=dry_run)
        for _ in range(20):
            with contextlib.suppress(ReportExists):
                return cls(default_path(command, folder), command, source)
        raise ReportExists(f"could not find a free report name for {command} here")

    def _create(self) -> None:
        """Claim the path before anything happens; an existing file is a usage error."""
        assert self.path is not None
        try:
            # Held until finish(): rollback refuses a report whose run is live.
            self._run_lock = runlock.hold(self.path)
            write_atomic(self.path, json.dumps(self.to_dict(), indent=2) + "\n", exclusive=True)
        except (FileExistsError, runlock.RunInProgress):
            self.close()
            raise ReportExists(
                f"report {self.path} already exists: holdmusic never writes over a report "
                "(it may be the only record of what a run changed); choose another name"
            ) from None
        except OSError as exc:
            self.close()
            raise UsageError(f"cannot create report {self.path}: {exc.strerror or exc}") from None

    def add_all(self, items: list[Item]) -> None:
        with self._lock:
            for item in items:
                self.items[item.config_id] = item
            self._write()

    def add_file(self, name: str, record: FileRecord) -> None:
        with self._lock:
            self.files[name] = record
            self._write()

    def change(self, config_id: str, change: Change, *, durable: bool = True) -> Item:
        """Change one item; returns it. ``durable=False``: written with the next write, or
        within ``FLUSH_SECONDS``, so that a big batch does not rewrite its report per item."""
        with self._lock:
            item = self.items[config_id]
            change.apply(item)
            if durable or time.monotonic() - self._written_at >= FLUSH_SECONDS:
                self._write()
            return item

    def change_many(self, changes: Mapping[str, Change]) -> None:
        """Several items at once, in one write."""
        with self._lock:
            for cid, change in changes.items():
                change.apply(self.items[cid])
            self._write()

    def close_queued(self, reason: str) -> None:
        """Every item nothing was sent for is ``not_attempted``, with the reason."""
        with self._lock:
            for item in self.items.values():
                if item.status == Status.QUEUED:
                    item.status = Status.NOT_ATTEMPTED
                    item.error = f"not attempted: {reason}"
            self._write()

    def finish(self, *, complete: bool = True, stopped: str | None = None) -> None:
        """The run is over: ``complete`` False when it was interrupted or broke."""
        with self._lock:
            self.finished_at = now()
            self.complete = complete
            self.stopped = stopped
            self._write()
        self.close()

    def close(self) -> None:
        """The run is over: let go of the report's run lock (the OS would at exit)."""
        if self._run_lock is not None:
            self._run_lock.release()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items.values():
            out[item.status.value] = out.get(item.status.value, 0) + 1
        return out

    def snapshot(self) -> list[Item]:
        """The items as they stand, copied under the lock (safe to read on any thread)."""
        with self._lock:
            return [replace(i, changed_fields=list(i.changed_fields)) for i in self.items.values()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "holdmusic",
            "format": FORMAT,
            "version": __version__,
            "command": self.command,
            "source": self.source,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "complete": self.complete,
            "stopped": self.stopped,
            "counts": self.counts(),
            "files": {name: f.to_dict() for name, f in self.files.items()},
            "items": [i.to_dict() for i in self.items.values()],
        }

    def _write(self) -> None:
        if self.path is None:
            return
        write_atomic(self.path, json.dumps(self.to_dict(), indent=2) + "\n")
        self.writes += 1
        self._written_at = time.monotonic()


def load(path: str) -> tuple[dict[str, Any], list[Item]]:
    """Read a report written by ``batch`` (or ``rollback``, or ``publish --report``).

    Its shape is checked before anything acts on it: a known status, http(s) URLs and
    config ids in the allowed form, each field of its type. A bad report is refused with
    one line naming the item and the field.
    """
    try:
        with open(path, "rb") as fh:
            data = nesting.load_json(fh, MAX_REPORT_BYTES, MAX_REPORT_DEPTH)
    except OSError as exc:
        raise ReportError(f"cannot read report {path}: {exc.strerror or exc}") from None
    except (nesting.TooLarge, nesting.TooDeep) as exc:
        raise ReportError(f"report {path} is {exc}: not a holdmusic report") from None
    except ValueError as exc:
        raise ReportError(f"{path} is not JSON ({exc}): {_WANTED}") from None
    except RecursionError:
        raise ReportError(f"{path} is nested too deeply to be a holdmusic report") from None
    if not isinstance(data, dict) or data.get("tool") != "holdmusic":
        raise ReportError(f"{path} is not a holdmusic report: {_WANTED}")
    raw = data.get("items")
    if not isinstance(raw, list):
        raise ReportError(f"report {path} has no items")
    items = []
    seen: set[str] = set()
    for n, entry in enumerate(raw, start=1):
        where = f"report {path}: item {n}"
        if not isinstance(entry, dict):
            raise ReportError(f"{where} is not an object")
        cid = entry.get("config_id")
        if (why := configid.problem(cid)) is not None:
            raise ReportError(f"{where}: field 'config_id': {why}")
        where += f" (config {cid})"
        if cid in seen:
            raise ReportError(f"{where}: the config appears twice")
        seen.add(str(cid))
        if (why := _item_problem(entry)) is not None:
            raise ReportError(f"{where}: {why}")
        known = {k: v for k, v in entry.items() if k in Item.__dataclass_fields__}
        known["status"] = Status(known["status"])
        items.append(Item(**known))
    return data, items


# What a user who gave rollback a manifest (or anything else) needs to hear.
_WANTED = (
    "rollback takes the JSON report a batch or publish wrote (holdmusic-batch-....json, "
    "holdmusic-publish-....json, or the file named by --report), not a manifest"
)


def _item_problem(entry: dict[str, Any]) -> str | None:
    if "status" not in entry:
        return "field 'status' is missing: every item needs one"
    status = entry.get("status")
    if status not in STATUSES:
        return f"field 'status' is {_shown(status)}, not one of {', '.join(STATUSES)}"
    for name in ("url", "previous_url", "stored_url"):
        value = entry.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"field {name!r} is {_shown(value)}, not a URL or null"
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            host = None
        if host is None or parts.scheme not in ("http", "https") or value != value.strip():
            return f"field {name!r} is {_shown(value)}, not an http(s) URL"
    for name in ("file", "sha256", "error"):
        value = entry.get(name)
        if value is not None and not isinstance(value, str):
            return f"field {name!r} is {_shown(value)}, not a string or null"
    changed = entry.get("changed_fields", [])
    if not isinstance(changed, list) or not all(isinstance(x, str) for x in changed):
        return f"field 'changed_fields' is {_shown(changed)}, not a list of names"
    return None


def _shown(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
