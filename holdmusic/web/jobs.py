"""Runs that change configs (publish, rollback), in the background, one per config at a time.

A run holds a lock on every config it may change, taken all at once before it starts:
a second run that names any of them is refused at once with a message that says which
config, whose run and since when (it does not queue: someone picking configs on the page
should see the conflict, not a spinner). The locks are this process's; a CLI run at the
same time is not seen (issue 20 makes a live run's report detectable).

A run's progress is a list of structured events (from the use case's observer, called on
worker threads), read by the page while it runs.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_EVENTS = 5000  # a run of thousands of configs: the page shows the last ones
KEEP_FINISHED = 200


class Busy(Exception):
    def __init__(self, config_id: str, holder: str, since: float) -> None:
        when = datetime.fromtimestamp(since, UTC).strftime("%H:%M:%S UTC")
        super().__init__(
            f"config {config_id} is being changed by another run ({holder}, since {when}); "
            "try again when it has finished"
        )
        self.config_id = config_id


class ConfigLocks:
    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, config_ids: list[str], holder: str) -> None:
        """All or none; :class:`Busy` names the first config someone else holds."""
        with self._lock:
            for cid in config_ids:
                if cid in self._held:
                    raise Busy(cid, *self._held[cid])
            now = time.time()
            for cid in config_ids:
                self._held[cid] = (holder, now)

    def release(self, config_ids: list[str]) -> None:
        with self._lock:
            for cid in config_ids:
                self._held.pop(cid, None)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)


@dataclass
class Job:
    id: str
    kind: str  # publish, rollback
    user: str
    config_ids: list[str]
    started: float
    cancel: Callable[[], None] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, event: dict[str, Any]) -> None:
        """The observer handed to the use case: thread-safe, bounded."""
        with self._lock:
            self.events.append({**event, "t": round(time.time() - self.started, 3)})
            if len(self.events) > MAX_EVENTS:
                del self.events[0]
                self.dropped += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            events = list(self.events)
        return {
            "id": self.id,
            "kind": self.kind,
            "user": self.user,
            "configs": self.config_ids,
            "done": self.finished.is_set(),
            "events": events,
            "dropped": self.dropped,
            "error": self.error,
            "report": (self.result or {}).get("report"),
            "ok": (self.result or {}).get("ok"),
        }


class Jobs:
    def __init__(self, locks: ConfigLocks) -> None:
        self.locks = locks
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(
        self,
        kind: str,
        user: str,
        config_ids: list[str],
        run: Callable[[Job], dict[str, Any]],
        *,
        describe_error: Callable[[BaseException], str],
        on_done: Callable[[Job], None] | None = None,
    ) -> Job:
        """Lock the configs (or raise :class:`Busy`), then run ``run(job)`` on a thread."""
        ids = list(dict.fromkeys(config_ids))
        job = Job(secrets.token_urlsafe(12), kind, user, ids, time.time())
        self.locks.acquire(ids, f"{kind} by {user}")

        def go() -> None:
            try:
                job.result = run(job)
            except BaseException as exc:  # the page shows it; the server goes on
                job.error = describe_error(exc)
            finally:
                self.locks.release(ids)
                job.finished.set()
                if on_done is not None:
                    on_done(job)

        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.finished.is_set()]
            for old in sorted(finished, key=lambda j: j.started)[:-KEEP_FINISHED]:
                del self._jobs[old.id]
        threading.Thread(target=go, name=f"holdmusic-{kind}-{job.id}", daemon=True).start()
        return job

    def get(self, jid: str, user: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(jid)
        return job if job is not None and job.user == user else None

    def running(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if not j.finished.is_set()]
