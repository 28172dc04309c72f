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
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from holdmusic import __version__, configid, nesting, runlock, statuses
from holdmusic.errors import HoldmusicError, UsageError
from holdmusic.tempfiles import write_atomic

# Item statuses, here once: the report, publish's outcomes and rollback all speak them. They
# are defined in holdmusic.statuses (which imports nothing, for the CLI) and named here too.
UPDATED = statuses.UPDATED
UNCHANGED = statuses.UNCHANGED
FAILED = statuses.FAILED
SKIPPED = statuses.SKIPPED
WOULD_UPDATE = statuses.WOULD_UPDATE
QUEUED = statuses.QUEUED
NOT_ATTEMPTED = statuses.NOT_ATTEMPTED
PENDING = statuses.PENDING
MISMATCHED = statuses.MISMATCHED
STATUSES = statuses.STATUSES
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
    config_id: str
    file: str | None = None
    sha256: str | None = None
    url: str | None = None  # what this run pointed (or meant to point) the config at
    previous_url: str | None = None  # what it held before this run touched it
    status: str = PENDING
    error: str | None = None
    stored_url: str | None = None  # mismatched: what Daily stored instead of ``url``
    changed_fields: list[str] = field(default_factory=list)  # other fields Daily changed
    # Shown by publish (text and --json), not written to reports: their item shape is
    # documented and fixed. E.g. "the PUT reported an error but a GET shows it was applied".
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The item as a report holds it."""
        d = asdict(self)
        del d["note"]
        return d


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_path(command: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"holdmusic-{command}-{stamp}-{secrets.token_hex(3)}.json"


@dataclass
class Recorder:
    """Holds the items of one run and keeps the report file true as they change."""

    path: str | None  # None: keep the record in memory only
    command: str
    source: str
    dry_run: bool = False
    items: dict[str, Item] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # uploads, by file
    started_at: str = field(default_factory=now)
    finished_at: str | None = None
    writes: int = 0
    _written_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _run_lock: runlock.RunLock | None = field(default=None, repr=False)  # while the run lives

    def __post_init__(self) -> None:
        if self.path is not None:
            self._create()

    @classmethod
    def new(cls, path: str | None, command: str, source: str, *, dry_run: bool = False) -> Recorder:
        """A recorder at ``path``, or at a fresh default name when ``path`` is None
        (unless a dry run, which keeps its record in memory)."""
        if path is not None or dry_run:
            return cls(path, command, source, dry_run=dry_run)
        for _ in range(20):
            with contextlib.suppress(ReportExists):
                return cls(default_path(command), command, source)
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
                "(it may be the only record of what a run changed); choose another --report"
            ) from None
        except OSError as exc:
            self.close()
            raise UsageError(f"cannot create report {self.path}: {exc.strerror or exc}") from None

    def add_all(self, items: list[Item]) -> None:
        with self._lock:
            for item in items:
                self.items[item.config_id] = item
            self._write()

    def update(self, config_id: str, *, durable: bool = True, **changes: Any) -> None:
        """Change one item. ``durable=False``: written with the next write, or within
        ``FLUSH_SECONDS``, so that a big batch does not rewrite its report per item."""
        with self._lock:
            item = self.items[config_id]
            for k, v in changes.items():
                setattr(item, k, v)
            if durable or time.monotonic() - self._written_at >= FLUSH_SECONDS:
                self._write()

    def update_many(self, changes: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            for cid, fields_ in changes.items():
                for k, v in fields_.items():
                    setattr(self.items[cid], k, v)
            self._write()

    def finish(self) -> None:
        with self._lock:
            self.finished_at = now()
            self._write()
        self.close()

    def close(self) -> None:
        """The run is over: let go of the report's run lock (the OS would at exit)."""
        if self._run_lock is not None:
            self._run_lock.release()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items.values():
            out[item.status] = out.get(item.status, 0) + 1
        return out

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
            "complete": self.finished_at is not None,
            "counts": self.counts(),
            "files": self.files,
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
        raise ReportError(f"report {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("tool") != "holdmusic":
        raise ReportError(f"{path} is not a holdmusic report")
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
        items.append(Item(**known))
    return data, items


def _item_problem(entry: dict[str, Any]) -> str | None:
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
