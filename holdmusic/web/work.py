"""The private work area: uploads and what is made from them, for as long as the page
needs them.

One folder per server (``mkdtemp``: mode 0700, removed at shutdown), one folder per upload
inside it named by a random id. An upload belongs to the user who sent it; another user
asking for its id gets "not found". Uploads older than ``KEEP_SECONDS`` are removed, and
each user keeps at most ``PER_USER`` of them (the oldest goes first), so the area stays
bounded however long the server runs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

KEEP_SECONDS = 6 * 3600
PER_USER = 10
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass
class Upload:
    """A file someone sent, and what the page made from it (set as it is made)."""

    id: str
    owner: str  # user id
    folder: str
    name: str  # the browser's file name, cleaned (shown, and the storage key's slug)
    filename: str  # the browser's file name as sent (shown escaped only)
    created: float
    path: str = ""  # the file as received
    size: int = 0
    sha256: str = ""
    audio_type: str | None = None  # Content-Type to serve it with; None: not audio
    checked: Any = None  # _uses.Checked
    envelope: Any = None  # _uses.Envelope | None
    fixed: Any = None  # _uses.Fixed
    fix_options: Any = None  # _uses.FixOptions of the last fix
    fix_error: str | None = None  # why the last fix was refused
    fixed_envelope: Any = None
    previews: dict[str, float] = field(default_factory=dict)  # which -> seconds of one pass
    dry_run: Any = None  # the last dry run's publish --json
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def fixed_path(self) -> str:
        # Named after the upload: the storage key's slug comes from the file's name.
        return os.path.join(self.folder, "out", self.publish_name("fixed"))

    def preview_path(self, which: str) -> str:
        return os.path.join(self.folder, f"preview-{which}.wav")

    def publish_path(self, which: str) -> str | None:
        """The file a publish of ``which`` ("original" or "fixed") sends, if there is one."""
        if which == "fixed":
            return self.fixed_path if self.fixed is not None else None
        return self.path if which == "original" else None

    def publish_name(self, which: str) -> str:
        if which == "fixed":
            stem = self.name.rsplit(".", 1)[0] if "." in self.name else self.name
            return f"{stem}.hold.mp3"
        return self.name


class WorkArea:
    def __init__(self, parent: str | None = None) -> None:
        self.parent = parent
        self.root = ""  # made by open(), when the server starts
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def open(self) -> None:
        self.root = tempfile.mkdtemp(prefix="holdmusic-serve-", dir=self.parent)
        os.chmod(self.root, 0o700)

    def new(self, owner: str, filename: str, name: str) -> Upload:
        self.expire()
        uid = secrets.token_urlsafe(12)
        folder = os.path.join(self.root, uid)
        os.mkdir(folder, 0o700)
        os.mkdir(os.path.join(folder, "in"), 0o700)
        os.mkdir(os.path.join(folder, "out"), 0o700)
        up = Upload(uid, owner, folder, name, filename, time.time())
        with self._lock:
            self._uploads[uid] = up
            mine = sorted(
                (u for u in self._uploads.values() if u.owner == owner), key=lambda u: u.created
            )
            for old in mine[:-PER_USER]:
                self._drop(old.id)
        return up

    def incoming(self, up: Upload) -> str:
        return os.path.join(up.folder, "in")

    def get(self, uid: str | None, owner: str) -> Upload | None:
        if not uid or len(uid) > 40 or not set(uid) <= _ID_CHARS:
            return None
        with self._lock:
            up = self._uploads.get(uid)
        if up is None or up.owner != owner:
            return None
        return up

    def discard(self, up: Upload) -> None:
        with self._lock:
            self._drop(up.id)

    def _drop(self, uid: str) -> None:
        up = self._uploads.pop(uid, None)
        if up is not None:
            shutil.rmtree(up.folder, ignore_errors=True)

    def expire(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        with self._lock:
            for uid in [u.id for u in self._uploads.values() if u.created < cutoff]:
                self._drop(uid)

    def close(self) -> None:
        with self._lock:
            self._uploads.clear()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
