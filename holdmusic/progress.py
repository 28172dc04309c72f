"""What a run tells whoever watches it, and how the watcher stops it.

A run (publish, batch, rollback, configs check) reports **events**: frozen values, each
with ``to_dict()`` (``{"event": kind, ...}``), so that a terminal, a log or a web page
can show them without parsing English. The watcher is an :data:`Observer`: any callable
that takes an :class:`Event`.

Threading contract (the one rule an observer must know):

- The observer is called from the thread that runs the run **and from its worker
  threads** (configs are read and PUT in parallel).
- Calls never overlap: :class:`Reporter` serialises them under one lock, and counts the
  steps under the same lock, so an observer needs no lock of its own and sees ``done``
  rise by one each step.
- An observer must return quickly (it holds up every worker while it runs), must not
  raise, and must not call back into the run. A web page hands events to its own queue.

:class:`Cancel` is the handle that stops a run: a web request calls ``cancel()`` from any
thread; the CLI calls it from its Ctrl-C handler. Either way the run stops at its next
checkpoint (between files, before each request), open Daily connections are cut, and the
run ends as *interrupted*: PUTs cut in flight are ``pending``, those never sent
``not_attempted``, and the report says ``complete: false``.

Imports stay light (no httpx, boto3, click): every stage may use this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from holdmusic.errors import HoldmusicError
from holdmusic.record import Item

if TYPE_CHECKING:
    from holdmusic.daily import DialinConfig
    from holdmusic.publicurl import PublicCheck
    from holdmusic.rules import Verdict
    from holdmusic.storesettings import StoredObject

__all__ = [
    "Cancel",
    "Cancelled",
    "ConfigOutcome",
    "ConfigRead",
    "ConfigsRead",
    "Event",
    "FileJudged",
    "FilePublished",
    "Notice",
    "Observer",
    "Phase",
    "PhaseStarted",
    "Reporter",
    "Step",
]


class Phase(StrEnum):
    """The phases of a run, in the order they can happen."""

    VALIDATE = "validate"
    READ_CONFIGS = "read_configs"
    PLAN_UPLOADS = "plan_uploads"  # dry run: where each file would go
    UPLOAD = "upload"
    CHECK_URLS = "check_urls"  # rollback: do the previous URLs still serve hold music?
    UPDATE = "update"  # PUTs

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Phase.VALIDATE: "validating files",
    Phase.READ_CONFIGS: "reading configs",
    Phase.PLAN_UPLOADS: "planning uploads",
    Phase.UPLOAD: "uploading",
    Phase.CHECK_URLS: "checking previous URLs",
    Phase.UPDATE: "updating configs",
}


@dataclass(frozen=True, kw_only=True)
class PhaseStarted:
    """A phase of ``total`` steps starts."""

    phase: Phase
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"event": "phase", "phase": self.phase.value, "total": self.total}


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step of the current phase is done (``done`` of ``total``). ``subject``: the file
    or config it was about; ``failed``: it went wrong (``text`` says how)."""

    phase: Phase
    done: int
    total: int
    subject: str | None = None
    failed: bool = False
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "step",
            "phase": self.phase.value,
            "done": self.done,
            "total": self.total,
            "subject": self.subject,
            "failed": self.failed,
            "text": self.text,
        }


@dataclass(frozen=True, kw_only=True)
class FileJudged:
    """A file was read and validated (its verdict, as ``validate --json`` shows it)."""

    path: str
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return {"event": "file_judged", "path": self.path, "verdict": self.verdict.to_dict()}


@dataclass(frozen=True, kw_only=True)
class ConfigRead:
    """One config as read before any change: ``config`` None when it could not be read;
    ``problem`` says why hold music cannot be set on it (or why it could not be read)."""

    config_id: str
    config: DialinConfig | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "config_id": self.config_id,
            "type": c.type if c else None,
            "phone_number": c.phone_number if c else None,
            "name_prefix": c.name_prefix if c else None,
            "hold_music_url": c.hold_music_url if c else None,
            "problem": self.problem,
        }


@dataclass(frozen=True, kw_only=True)
class ConfigsRead:
    """Every config of the run was read (or failed to be)."""

    configs: tuple[ConfigRead, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"event": "configs_read", "configs": [c.to_dict() for c in self.configs]}


@dataclass(frozen=True, kw_only=True)
class FilePublished:
    """A file was uploaded (or found already there) and its public URL checked."""

    path: str
    stored: StoredObject
    check: PublicCheck

    def to_dict(self) -> dict[str, Any]:
        s = self.stored
        return {
            "event": "file_published",
            "path": self.path,
            "url": s.url,
            "bucket": s.bucket,
            "key": s.key,
            "uploaded": s.uploaded,
            "public_check": self.check.to_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class ConfigOutcome:
    """A config's outcome in the update phase. ``sent``: a PUT was tried for it (one step
    of the update phase); else it already held the URL. ``item`` is a copy."""

    item: Item
    sent: bool

    def to_dict(self) -> dict[str, Any]:
        return {"event": "config_outcome", "sent": self.sent, "item": self.item.to_dict()}


@dataclass(frozen=True, kw_only=True)
class Notice:
    """A line worth showing on its own (a config skipped, a URL that failed)."""

    level: Literal["info", "warning", "error"]
    text: str
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"event": "notice", "level": self.level, "text": self.text, "subject": self.subject}


Event = PhaseStarted | Step | FileJudged | ConfigsRead | FilePublished | ConfigOutcome | Notice
Observer = Callable[[Event], None]


class Cancelled(HoldmusicError):
    """The run was cancelled (a web request, Ctrl-C) and stopped at a checkpoint."""


class Cancel:
    """A handle that stops a run from any thread: ``cancel()``; idempotent.

    A run registers what must happen at once (``on_cancel``: the Daily client's
    ``interrupt``, which cuts waits and connections) and checks ``cancelled`` between
    steps (``check()`` raises :class:`Cancelled`).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []
        self.reason = "interrupted"

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "interrupted") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks = list(self._callbacks)
        for fn in callbacks:
            fn()

    def on_cancel(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` when cancelled (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(fn)
                return
        fn()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


class Reporter:
    """What stages hold: sends events to the observer one at a time (see the module's
    threading contract), counts the steps of the current phase, and carries the run's
    :class:`Cancel`."""

    def __init__(self, observer: Observer | None = None, cancel: Cancel | None = None) -> None:
        self._observer = observer
        self.cancel = cancel or Cancel()
        self._lock = threading.Lock()
        self._phase = Phase.VALIDATE
        self._done = 0
        self._total = 0

    def emit(self, event: Event) -> None:
        if self._observer is None:
            return
        with self._lock:
            self._observer(event)

    def phase(self, phase: Phase, total: int) -> None:
        with self._lock:
            self._phase, self._done, self._total = phase, 0, total
            if self._observer is not None:
                self._observer(PhaseStarted(phase=phase, total=total))

    def step(
        self, subject: str | None = None, *, failed: bool = False, text: str | None = None
    ) -> None:
        with self._lock:
            self._done += 1
            if self._observer is not None:
                self._observer(
                    Step(
                        phase=self._phase,
                        done=self._done,
                        total=self._total,
                        subject=subject,
                        failed=failed,
                        text=text,
                    )
                )

    def notice(
        self,
        text: str,
        *,
        level: Literal["info", "warning", "error"] = "warning",
        subject: str | None = None,
    ) -> None:
        self.emit(Notice(level=level, text=text, subject=subject))

    def outcome(self, item: Item, *, sent: bool) -> None:
        """A copy of the item goes out: the observer may keep it while the run changes its own."""
        self.emit(
            ConfigOutcome(item=replace(item, changed_fields=list(item.changed_fields)), sent=sent)
        )
