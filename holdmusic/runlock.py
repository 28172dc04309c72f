"""Is the run that writes a report still going? An OS lock its process holds says so.

A report is rewritten by atomic replacement, so a lock on the report file itself would be
lost at the first write; the lock lives on a sibling file instead,
``.<report name>.lock``, created before the report and locked (``flock``, exclusive) for
as long as the run lasts. The OS releases it when the process ends however it ends (kill
-9, a crash, a power cut), so a report whose lock can be taken belongs to no live run.
The lock file holds the run's process id, for the message. It is removed when the run
finishes; a dead run leaves it behind, unlocked, which means the same as no file.

``rollback`` refuses a report whose run is live: it would race the run's own PUTs (a
rollback of a running batch once left 18 of 20 configs on the batch's URL and said it
had restored them). Where ``fcntl`` does not exist (Windows), nothing is locked and no
run is ever seen as live.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from holdmusic.errors import HoldmusicError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunInProgress(HoldmusicError):
    """The report belongs to a run that is still going (exit 1)."""


def lock_path(report: str) -> str:
    folder, name = os.path.split(report)
    return os.path.join(folder, f".{name}.lock")


@dataclass
class RunLock:
    """The lock a live run holds on its report; :meth:`release` when the run is over."""

    path: str
    fd: int | None

    def release(self) -> None:
        """Remove the lock file and let go (the OS would on exit anyway). Idempotent."""
        fd, self.fd = self.fd, None
        if fd is None:
            return
        # Unlink while still holding the lock: nobody else can hold it at this moment.
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(fd)


def hold(report: str) -> RunLock:
    """Lock ``report``'s sibling lock file for this process, before the report exists.

    :class:`RunInProgress` if a live run holds it already (its report is the one being
    asked for: the caller says "already exists").
    """
    path = lock_path(report)
    if fcntl is None:  # pragma: no cover - Windows
        return RunLock(path, None)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunInProgress(f"a running holdmusic process holds {report}") from None
        except BaseException:
            os.close(fd)
            raise
        # A run that finished between our open and our flock unlinked the file we hold:
        # a lock on a file nobody can find proves nothing, so take the one at the path.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return RunLock(path, fd)


def live_pid(report: str) -> int | None:
    """The process id of the live run that writes ``report`` (0 if it did not say), or
    None when no live run holds it. Takes no lock that outlasts the call."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    path = lock_path(report)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def refuse_if_live(report: str) -> None:
    """One line, exit 1, when the run that writes ``report`` is still going."""
    pid = live_pid(report)
    if pid is None:
        return
    who = f"process {pid}" if pid else "another process"
    raise RunInProgress(
        f"{report} belongs to a run that is still going ({who}): rolling it back now would "
        "race its PUTs; wait for it to end (or stop it with Ctrl-C), then roll back"
    )
