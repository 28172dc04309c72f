"""Where hold music is stored: the settings every storage command shares, checked on
construction; the :class:`Store` seam; keys and URLs, which need no request.

Kept apart from :mod:`holdmusic.storage` (boto3) so that the CLI's option defaults,
``doctor``'s advice and a dry run's planned URL need no boto3 (``holdmusic validate``
and ``--help`` stay fast, and a dry run never imports it).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import quote, urlsplit

from holdmusic.errors import UsageError

DEFAULT_PREFIX = "hold-music/"


class SettingValueError(UsageError):
    """A storage setting is wrong. ``setting`` names it (``bucket``, ``prefix``, ``acl``,
    ``endpoint_url``, ``public_base_url``), so that an interface can say where it is set
    (the CLI: its option and environment variable); the message names the variable."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


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
            raise SettingValueError("bucket", "a bucket is required (HOLDMUSIC_BUCKET)")
        if not _BUCKET_NAME.fullmatch(self.bucket):
            raise SettingValueError(
                "bucket",
                f"invalid bucket name {self.bucket!r}: letters, digits, '.', '-' and '_' only",
            )
        if self.acl not in ("none", "public-read"):
            raise SettingValueError(
                "acl", f"the ACL must be 'none' or 'public-read', not {self.acl!r}"
            )
        for setting, flag, url in (
            ("endpoint_url", "the endpoint URL", self.endpoint_url),
            ("public_base_url", "the public base URL", self.public_base_url),
        ):
            if url is None:
                continue
            try:
                parts = urlsplit(url)
                has_credentials = parts.username is not None or parts.password is not None
            except ValueError:
                raise SettingValueError(setting, f"{flag} is not a URL") from None
            if has_credentials:
                # Never echoed: it would print the password. Storage credentials come from
                # boto3's usual sources; public URLs are fetched anonymously.
                raise SettingValueError(
                    setting,
                    f"{flag} must not contain credentials (user:password@); storage "
                    "credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile",
                )
            if not (parts.scheme in ("http", "https") and parts.hostname):
                raise SettingValueError(
                    setting, f"{flag} must be an http:// or https:// URL, not {url!r}"
                )


# What botocore itself accepts; AWS is stricter for new buckets, the service will say so.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,255}")


def check_prefix(prefix: str) -> None:
    """A prefix is a literal folder-like string: no leading slash, no empty, '.' or '..'
    parts, and none of the characters a bucket policy reads as wildcards or variables
    ('*', '?', '${...}'): '--prefix *' once made every object of a bucket public."""
    bad = next((c for c in prefix if c in "*?$" or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise SettingValueError(
            "prefix",
            f"prefix {prefix!r} contains {bad!r}: a prefix is a literal folder name "
            "(in a bucket policy '*', '?' and '${...}' would widen what is public)",
        )
    if prefix.startswith("/"):
        raise SettingValueError("prefix", f"prefix {prefix!r} must not start with '/'")
    parts = prefix.split("/")[:-1] if prefix.endswith("/") else prefix.split("/")
    if prefix and any(p in ("", ".", "..") for p in parts):
        raise SettingValueError("prefix", f"prefix {prefix!r} has an empty, '.' or '..' part")


def public_hint(settings: StorageSettings) -> str:
    """What to run when the public check gets a 403."""
    return (
        f"Make the prefix public with 'holdmusic bucket-policy --bucket {settings.bucket} "
        f"--prefix {settings.prefix} --apply' (on AWS, Block Public Access must allow public "
        "bucket policies), or set the public-read ACL (HOLDMUSIC_ACL=public-read) on a bucket "
        "that still uses ACLs"
    )


def resolve_endpoint(settings: StorageSettings, env: Mapping[str, str]) -> StorageSettings:
    """The settings with boto3's own endpoint variables (``AWS_ENDPOINT_URL_S3``, then
    ``AWS_ENDPOINT_URL``) applied when no endpoint was given. Called by an interface, which
    reads the environment; nothing below it does."""
    if settings.endpoint_url:
        return settings
    url = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    return replace(settings, endpoint_url=url) if url else settings


def custom_endpoint(settings: StorageSettings) -> str | None:
    """The non-AWS endpoint in use, if any."""
    url = settings.endpoint_url
    if url and not (urlsplit(url).hostname or "").endswith(".amazonaws.com"):
        return url
    return None


def describe_endpoint(settings: StorageSettings) -> str:
    return custom_endpoint(settings) or "AWS S3"


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    url: str
    sha256: str
    size_bytes: int
    uploaded: bool  # False when an identical object was already there


def slug(filename: str) -> str:
    """Lowercase ASCII words joined by '-': no separators or dots from the user's name."""
    stem = os.path.basename(filename.replace("\\", "/"))
    if stem.lower().endswith(".mp3"):
        stem = stem[:-4]
    ascii_ = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    return words[:60].rstrip("-") or "audio"


def object_key(prefix: str, filename: str, sha256: str) -> str:
    """``{prefix}{slug}-{16 hex of sha256}.mp3``: new bytes, new URL; same bytes, same URL."""
    return f"{prefix}{slug(filename)}-{sha256[:16]}.mp3"


def direct_url(settings: StorageSettings, key: str, region: str | None = None) -> str:
    """The object's URL on the storage service itself, whatever the public base URL."""
    path = quote(key, safe="/")
    custom = custom_endpoint(settings)
    if custom:
        return f"{custom.rstrip('/')}/{quote(settings.bucket)}/{path}"
    region = region or settings.region or "us-east-1"
    if "." in settings.bucket:  # a dotted name breaks the wildcard TLS certificate
        return f"https://s3.{region}.amazonaws.com/{settings.bucket}/{path}"
    return f"https://{settings.bucket}.s3.{region}.amazonaws.com/{path}"


def public_url(settings: StorageSettings, key: str, region: str | None = None) -> str:
    """Where anonymous clients (Daily) fetch the object."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + "/" + quote(key, safe="/")
    return direct_url(settings, key, region)


def plan_url(settings: StorageSettings, filename: str, sha256: str) -> str:
    """The URL a file would get, without a request (a dry run)."""
    return public_url(settings, object_key(settings.prefix, filename, sha256))


class Store(Protocol):
    """Where validated bytes go. :class:`holdmusic.storage.S3Store` is the real one (one
    boto3 client per store, so one per run); a test may pass any object with these."""

    settings: StorageSettings

    def put_if_absent(self, data: bytes, sha256: str, filename: str) -> StoredObject:
        """Put ``data`` under its content-addressed key unless the same bytes are there."""

    def public_url(self, key: str) -> str:
        """Where anonymous clients fetch ``key``."""

    def direct_url(self, key: str) -> str:
        """``key`` on the storage service itself, whatever the public base URL."""

    def plan_url(self, filename: str, sha256: str) -> str:
        """The URL a file would get, without a request."""
