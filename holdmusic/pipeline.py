"""The stages joined: validate → upload → prove public (→ update configs, in later steps).

Each function here calls the stage modules in order and stops at the first stage that
fails, so nothing downstream ever sees an unverified URL.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from holdmusic import rules

if TYPE_CHECKING:
    import httpx

    from holdmusic.publicurl import PublicCheck
    from holdmusic.storage import StorageSettings, StoredObject


@dataclass(frozen=True)
class Prepared:
    """A file that was read once and judged: these exact bytes are what gets uploaded."""

    path: str
    verdict: rules.Verdict
    data: bytes | None
    sha256: str | None

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.data is not None


def prepare(path: str, limits: rules.Limits = rules.DEFAULT_LIMITS) -> Prepared:
    verdict, data = rules.load(path, limits)
    if not verdict.ok or data is None:
        return Prepared(path, verdict, None, None)
    return Prepared(path, verdict, data, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Published:
    """An object in storage and the proof (or disproof) that anonymous clients get it."""

    stored: StoredObject
    public: PublicCheck

    @property
    def ok(self) -> bool:
        return self.public.ok


def public_hint(settings: StorageSettings) -> str:
    """What to run when the public check gets a 403."""
    return (
        f"Make the prefix public with 'holdmusic bucket-policy --bucket {settings.bucket} "
        f"--prefix {settings.prefix} --apply' (on AWS, Block Public Access must allow public "
        "bucket policies), or use --acl public-read on a bucket that still uses ACLs"
    )


def store_and_verify(
    prepared: Prepared,
    settings: StorageSettings,
    *,
    transport: httpx.BaseTransport | None = None,
) -> Published:
    """Upload (idempotently), then fetch the public URL anonymously and compare bytes."""
    from holdmusic import publicurl, storage

    assert prepared.data is not None and prepared.sha256 is not None, "prepare() failed"
    stored = storage.upload(
        settings, prepared.data, prepared.sha256, os.path.basename(prepared.path)
    )
    check = publicurl.check_public(
        stored.url,
        stored.sha256,
        stored.size_bytes,
        hint=public_hint(settings),
        transport=transport,
    )
    return Published(stored, check)
