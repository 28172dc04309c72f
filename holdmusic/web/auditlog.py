"""``--audit-log FILE``: one JSON object per line for everything someone did.

Keys: ``time`` (UTC, ISO 8601), ``user``, ``action`` (login, login_failed, logout,
validate, fix, dry_run, publish, rollback, audit), then what applies: ``file`` (the name
the browser sent), ``sha256``, ``configs``, ``urls`` (config id → the URL it was pointed
at), ``report``, ``ok``, ``error``, ``via`` (page or api). Never a token, a key or a
cookie: every value written is named here, none is copied wholesale from a request.

The file is opened with O_APPEND and each line is one ``write``, so lines never
interleave and nothing already written is ever changed.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from typing import Any

_KEYS = ("file", "sha256", "configs", "urls", "report", "ok", "error", "via", "dry_run")


class AuditLog:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        if path is not None:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, user: str | None, action: str, **details: Any) -> None:
        if self._fd is None:
            return
        unknown = set(details) - set(_KEYS)
        assert not unknown, f"not an audit log key: {unknown}"
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "user": user,
            "action": action,
        }
        entry.update({k: v for k, v in details.items() if v is not None})
        line = (json.dumps(entry, ensure_ascii=True, sort_keys=False) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
