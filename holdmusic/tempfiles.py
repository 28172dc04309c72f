"""Temporary files that an interrupt can never leave behind.

``tempfile.mkstemp`` followed by ``try:`` has a window: a Ctrl-C (or a SIGTERM/SIGHUP that
the CLI turns into the same exception) that lands after the file is created but before the
``try`` is entered leaves the file behind. Here the creation runs with those signals
deferred, and the name is bound before any deferred signal is delivered, inside the block
that removes the file.

Signals reach Python handlers only in the main thread, so a worker thread (a web request)
needs no deferral: nothing can interrupt it between two bytecodes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["deferred_signals", "partial_file", "remove_quietly", "write_atomic"]

_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP (those with a Python handler) until the block ends, then
    deliver the first one received through its own handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def note(signum: int, _frame: Any) -> None:
        received.append(signum)

    saved: dict[int, Any] = {}
    try:
        for sig in _SIGNALS:
            handler = signal.getsignal(sig)
            if callable(handler):  # SIG_DFL/SIG_IGN: nothing of ours runs, nothing to defer
                saved[sig] = signal.signal(sig, note)
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if received:
            saved[received[0]](received[0], None)


def remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def partial_file(final_path: str, suffix: str = ".part") -> Iterator[str]:
    """A hidden, empty temporary file beside ``final_path`` (same folder, so a rename into
    place is atomic). It is removed when the block ends by an exception, interrupts
    included; on success the caller has moved it into place (removing what is left is
    harmless)."""
    folder, name = os.path.split(os.path.abspath(final_path))
    tmp: str | None = None
    try:
        with deferred_signals():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
            os.close(fd)
        yield tmp
    except BaseException:
        if tmp is not None:
            remove_quietly(tmp)
        raise


def write_atomic(path: str, text: str, *, exclusive: bool = False) -> None:
    """Readers see the old file or the new one, never half of either. ``exclusive``: the
    file must not exist yet (FileExistsError otherwise), and it appears whole or not at all,
    so an interrupted run never leaves an empty report that blocks or misleads the next."""
    with partial_file(path, suffix=".tmp") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            try:
                os.link(tmp, path)  # fails if path exists: no window for a race
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links: check, then rename
                if os.path.lexists(path):
                    raise FileExistsError(path) from None
                os.replace(tmp, path)
            remove_quietly(tmp)
        else:
            os.replace(tmp, path)
