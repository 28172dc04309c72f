"""Who may use the page: named users with hashed tokens, login sessions, CSRF tokens.

Standard library only, so ``holdmusic serve-user add`` works on a machine without the
``serve`` extra.

A token is ``hm.<id>.<secret>``: ``id`` names the user's entry in the users file (so one
hash is computed per attempt, not one per user), ``secret`` is 256 random bits. The file
keeps ``scrypt(secret, salt)`` per user, never the token; a check recomputes the hash and
compares in constant time. A token's hash is slow on purpose (tens of ms), so at most
``VERIFY_CONCURRENCY`` checks run at once and a good token is remembered in memory (keyed
by an HMAC under a key that lives only in this process), so API clients pay once.

Sessions live in memory only: restarting ``serve`` logs everyone out. A session names its
user by id, and the user is looked up on every request, so a user removed from the file
(which is re-read when it changes) is locked out at once, sessions and all.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from holdmusic.app import HoldmusicError, UsageError

FORMAT = 1
# scrypt at N=2^14, r=8 (16 MiB, ~40 ms): the tokens are random, so this guards the file
# against offline guessing far beyond need; the cost is paid once per token per process.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
VERIFY_CONCURRENCY = 2
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 1000
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_TOKEN_RE = re.compile(r"hm\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")


class UsersFileError(HoldmusicError):
    """The users file cannot be read or is not a holdmusic users file."""


@dataclass(frozen=True)
class User:
    name: str
    id: str
    salt: str  # hex
    hash: str  # hex scrypt(secret, salt)
    params: dict[str, int] = field(default_factory=lambda: dict(SCRYPT))
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "salt": self.salt,
            "scrypt": self.params,
            "hash": self.hash,
            "created": self.created,
        }


def _hash(secret: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hashlib.scrypt(
        secret.encode(),
        salt=salt,
        n=params["n"],
        r=params["r"],
        p=params["p"],
        maxmem=128 * params["n"] * params["r"] * params["p"] + (1 << 20),
        dklen=32,
    )


def new_user(name: str) -> tuple[User, str]:
    """A user with a fresh token; the token is returned once and kept nowhere."""
    check_name(name)
    uid = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    user = User(
        name=name,
        id=uid,
        salt=salt.hex(),
        hash=_hash(secret, salt, SCRYPT).hex(),
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return user, f"hm.{uid}.{secret}"


def check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"user name {name!r} is not allowed: 1-64 letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )


# --- the users file ---------------------------------------------------------------------


def read_users(path: str) -> list[User]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise UsersFileError(f"users file {path} does not exist") from None
    except OSError as exc:
        raise UsersFileError(f"cannot read users file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsersFileError(f"users file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("tool") != "holdmusic-serve-users":
        raise UsersFileError(f"{path} is not a holdmusic users file")
    users = []
    for n, entry in enumerate(data.get("users") or [], start=1):
        try:
            params = {k: int(entry["scrypt"][k]) for k in ("n", "r", "p")}
            user = User(
                name=str(entry["name"]),
                id=str(entry["id"]),
                salt=str(entry["salt"]),
                hash=str(entry["hash"]),
                params=params,
                created=str(entry.get("created", "")),
            )
            bytes.fromhex(user.salt)
            bytes.fromhex(user.hash)
        except (KeyError, TypeError, ValueError):
            raise UsersFileError(f"users file {path}: entry {n} is malformed") from None
        users.append(user)
    return users


def write_users(path: str, users: list[User]) -> None:
    """Atomically, readable by its owner only (the hashes are not secrets, but nobody else
    needs to see who may publish)."""
    data = {
        "tool": "holdmusic-serve-users",
        "format": FORMAT,
        "users": [u.to_dict() for u in users],
    }
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".users-", suffix=".tmp", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # readers see the old file or the new one
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def add_user(path: str, name: str, *, replace: bool = False) -> str:
    """Add ``name`` (or give it a new token with ``replace``); returns the token."""
    users = read_users(path) if os.path.exists(path) else []
    if any(u.name == name for u in users):
        if not replace:
            raise UsageError(
                f"user {name!r} already exists in {path}; --replace gives them a new token "
                "(the old one stops working)"
            )
        users = [u for u in users if u.name != name]
    user, token = new_user(name)
    write_users(path, [*users, user])
    return token


def remove_user(path: str, name: str) -> None:
    users = read_users(path)
    kept = [u for u in users if u.name != name]
    if len(kept) == len(users):
        raise UsageError(f"no user {name!r} in {path}")
    write_users(path, kept)


# --- checking tokens ---------------------------------------------------------------------


class Users:
    """The users the server accepts: from a file (re-read when it changes), or one user
    with a token made at start."""

    def __init__(self, path: str | None, users: list[User]) -> None:
        self.path = path
        self._users = {u.id: u for u in users}
        self._stamp = self._file_stamp()
        self._lock = threading.Lock()
        self._verify_slots = threading.BoundedSemaphore(VERIFY_CONCURRENCY)
        self._key = secrets.token_bytes(32)  # for the cache of good tokens
        self._good: dict[bytes, tuple[str, str]] = {}  # HMAC(token) -> (user id, hash)

    @classmethod
    def from_file(cls, path: str) -> Users:
        users = read_users(path)
        if not users:
            raise UsersFileError(
                f"users file {path} has no users: add one with 'holdmusic serve-user add NAME "
                f"--users {path}'"
            )
        return cls(path, users)

    @classmethod
    def single(cls, name: str) -> tuple[Users, str]:
        """One user with a random token, for this run only."""
        user, token = new_user(name)
        return cls(None, [user]), token

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        """Re-read the file when it changed; a file that became unreadable locks everyone
        out rather than keeping stale users."""
        if self.path is None:
            return
        stamp = self._file_stamp()
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                users = read_users(self.path) if stamp is not None else []
            except UsersFileError:
                users = []
            self._users = {u.id: u for u in users}
            self._stamp = stamp
            self._good.clear()

    def get(self, uid: str) -> User | None:
        self._refresh()
        return self._users.get(uid)

    def known(self, token: str) -> User | None:
        """The user of a token already verified (cheap: no hash), or None when it must go
        through :meth:`verify`."""
        self._refresh()
        m = _TOKEN_RE.fullmatch(token)
        user = self._users.get(m.group(1)) if m is not None else None
        if user is None:
            return None
        mark = hmac.new(self._key, token.encode(), hashlib.sha256).digest()
        return user if self._good.get(mark) == (user.id, user.hash) else None

    def verify(self, token: str) -> User | None:
        """The user whose token this is, or None. Blocking (scrypt): call it off the event
        loop."""
        self._refresh()
        m = _TOKEN_RE.fullmatch(token)
        if m is None:
            return None
        uid, secret = m.groups()
        user = self._users.get(uid)
        if user is None:
            return None
        mark = hmac.new(self._key, token.encode(), hashlib.sha256).digest()
        known = self._good.get(mark)
        if known is not None and known == (user.id, user.hash):
            return user
        with self._verify_slots:
            got = _hash(secret, bytes.fromhex(user.salt), user.params)
        if not hmac.compare_digest(got, bytes.fromhex(user.hash)):
            return None
        with self._lock:
            if len(self._good) > 10_000:
                self._good.clear()
            self._good[mark] = (user.id, user.hash)
        return user


# --- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    user_id: str
    csrf: str
    created: float


class Sessions:
    """Login sessions by cookie value; memory only, each valid for ``SESSION_SECONDS``."""

    def __init__(self, seconds: float = SESSION_SECONDS) -> None:
        self.seconds = seconds
        self._by_key: OrderedDict[bytes, Session] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(cookie: str) -> bytes:
        return hashlib.sha256(cookie.encode()).digest()

    def create(self, user: User) -> tuple[str, Session]:
        cookie = secrets.token_urlsafe(32)
        session = Session(user.id, secrets.token_urlsafe(32), time.monotonic())
        with self._lock:
            self._by_key[self._key(cookie)] = session
            while len(self._by_key) > MAX_SESSIONS:
                self._by_key.popitem(last=False)
        return cookie, session

    def get(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 100:
            return None
        key = self._key(cookie)
        with self._lock:
            session = self._by_key.get(key)
            if session is None:
                return None
            if time.monotonic() - session.created > self.seconds:
                del self._by_key[key]
                return None
            return session

    def end(self, cookie: str | None) -> None:
        if cookie:
            with self._lock, contextlib.suppress(KeyError):
                del self._by_key[self._key(cookie)]


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison that tolerates a missing value."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
