"""Where hold music is stored: the settings every storage command shares, checked on
construction, and the advice for a prefix that is not public.

Kept apart from :mod:`holdmusic.storage` so the CLI's option defaults and ``doctor``'s
advice need no boto3 (``holdmusic validate`` and ``--help`` stay fast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from holdmusic.errors import UsageError

DEFAULT_PREFIX = "hold-music/"
DEFAULT_CACHE_CONTROL = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class StorageSettings:
    bucket: str
    prefix: str = DEFAULT_PREFIX
    endpoint_url: str | None = None  # None: boto3 decides (AWS, or AWS_ENDPOINT_URL[_S3])
    region: str | None = None
    public_base_url: str | None = None
    acl: str = "none"  # "none" or "public-read"
    cache_control: str = DEFAULT_CACHE_CONTROL
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    def __post_init__(self) -> None:
        # A prefix is a folder: "hold-music" means "hold-music/".
        if self.prefix and not self.prefix.endswith("/"):
            object.__setattr__(self, "prefix", self.prefix + "/")
        check_prefix(self.prefix)
        if not self.bucket:
            raise UsageError("a bucket is required: --bucket or HOLDMUSIC_BUCKET")
        if not _BUCKET_NAME.fullmatch(self.bucket):
            raise UsageError(
                f"invalid bucket name {self.bucket!r}: letters, digits, '.', '-' and '_' only"
            )
        if self.acl not in ("none", "public-read"):
            raise UsageError(f"--acl must be 'none' or 'public-read', not {self.acl!r}")
        for flag, url in (
            ("--endpoint-url", self.endpoint_url),
            ("--public-base-url", self.public_base_url),
        ):
            if url is None:
                continue
            try:
                parts = urlsplit(url)
                has_credentials = parts.username is not None or parts.password is not None
            except ValueError:
                raise UsageError(f"{flag} is not a URL") from None
            if has_credentials:
                # Never echoed: it would print the password. Storage credentials come from
                # boto3's usual sources; public URLs are fetched anonymously.
                raise UsageError(
                    f"{flag} must not contain credentials (user:password@); storage "
                    "credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
                )
            if not (parts.scheme in ("http", "https") and parts.hostname):
                raise UsageError(f"{flag} must be an http:// or https:// URL, not {url!r}")


# What botocore itself accepts; AWS is stricter for new buckets, the service will say so.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,255}")


def check_prefix(prefix: str) -> None:
    """A prefix is a literal folder-like string: no leading slash, no empty, '.' or '..'
    parts, and none of the characters a bucket policy reads as wildcards or variables
    ('*', '?', '${...}'): '--prefix *' once made every object of a bucket public."""
    bad = next((c for c in prefix if c in "*?$" or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise UsageError(
            f"prefix {prefix!r} contains {bad!r}: a prefix is a literal folder name "
            "(in a bucket policy '*', '?' and '${...}' would widen what is public)"
        )
    if prefix.startswith("/"):
        raise UsageError(f"prefix {prefix!r} must not start with '/'")
    parts = prefix.split("/")[:-1] if prefix.endswith("/") else prefix.split("/")
    if prefix and any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"prefix {prefix!r} has an empty, '.' or '..' part")


def public_hint(settings: StorageSettings) -> str:
    """What to run when the public check gets a 403."""
    return (
        f"Make the prefix public with 'holdmusic bucket-policy --bucket {settings.bucket} "
        f"--prefix {settings.prefix} --apply' (on AWS, Block Public Access must allow public "
        "bucket policies), or use --acl public-read on a bucket that still uses ACLs"
    )
