"""The record of a batch (or rollback): what each config held before, and what happened.

The report is rewritten atomically (temp file, fsync, rename), so a crash or Ctrl-C
leaves a file that is true about everything done so far. Before any PUT is sent, its item
is written as ``pending`` with the value the config held: a report read after a crash says
which configs *may* have changed, and from what. Outcomes are written within
``FLUSH_SECONDS`` of each other (and always at the end): until then the item still reads
``pending``, which stays true, and a batch of thousands does not rewrite its report per item.

Item statuses: ``updated``, ``unchanged``, ``failed``, ``skipped``, ``would_update``
(dry run), ``not_attempted`` (nothing was sent: the run stopped before it) and ``pending``
(sent, or about to be, when the run stopped).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from holdmusic import __version__
from holdmusic.errors import HoldmusicError

# Item statuses, here once: the report, publish's outcomes and rollback all speak them.
UPDATED = "updated"
UNCHANGED = "unchanged"
FAILED = "failed"
SKIPPED = "skipped"  # deliberately left alone (e.g. changed by someone since)
WOULD_UPDATE = "would_update"  # dry run
QUEUED = "queued"  # nothing sent yet
NOT_ATTEMPTED = "not_attempted"  # never tried: the run stopped first (not a failure of its own)
PENDING = "pending"  # a PUT was sent (or about to be): it may have been applied
FORMAT = 1
FLUSH_SECONDS = 0.25  # how stale a "pending" item that has in fact finished may be on disk


class ReportError(HoldmusicError):
    """A report file that cannot be read or is not a holdmusic report."""


@dataclass
class Item:
    config_id: str
    file: str | None = None
    sha256: str | None = None
    url: str | None = None  # what this run pointed (or meant to point) the config at
    previous_url: str | None = None  # what it held before this run touched it
    status: str = PENDING
    error: str | None = None


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_path(command: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"holdmusic-{command}-{stamp}.json"


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

    def add(self, item: Item) -> None:
        with self._lock:
            self.items[item.config_id] = item
            self._write()

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
            "items": [asdict(i) for i in self.items.values()],
        }

    def _write(self) -> None:
        if self.path is None:
            return
        write_atomic(self.path, json.dumps(self.to_dict(), indent=2) + "\n")
        self.writes += 1
        self._written_at = time.monotonic()


def write_atomic(path: str, text: str) -> None:
    """Readers see the old file or the new one, never half of either."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".holdmusic-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load(path: str) -> tuple[dict[str, Any], list[Item]]:
    """Read a report written by ``batch`` (or ``rollback``, or ``publish --report``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ReportError(f"cannot read report {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReportError(f"report {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("tool") != "holdmusic":
        raise ReportError(f"{path} is not a holdmusic report")
    raw = data.get("items")
    if not isinstance(raw, list):
        raise ReportError(f"report {path} has no items")
    known = set(Item.__dataclass_fields__)
    items = []
    for n, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("config_id"), str):
            raise ReportError(f"report {path}: item {n} has no config_id")
        items.append(Item(**{k: v for k, v in entry.items() if k in known}))
    return data, items
