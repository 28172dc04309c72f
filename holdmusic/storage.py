"""Put a validated MP3 into S3-compatible storage under a content-addressed key.

The only module that imports boto3. Credentials come from boto3's standard chain
(environment, profile, SSO, instance role); holdmusic never takes a secret as a flag.
Every boto3/botocore failure a user can meet becomes a :class:`StorageError` whose
message says what to fix, and never contains a secret.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
import botocore.exceptions
from botocore.config import Config

from holdmusic.errors import HoldmusicError, UsageError
from holdmusic.storesettings import (  # re-exported: callers know them as storage.*
    DEFAULT_CACHE_CONTROL,
    DEFAULT_PREFIX,
    StorageSettings,
    StoredObject,
    check_prefix,
    custom_endpoint,
    describe_endpoint,
    direct_url,
    object_key,
    public_hint,
    public_url,
    slug,
)
from holdmusic.text import printable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CONTENT_TYPE = "audio/mpeg"
POLICY_SID = "HoldmusicPublicRead"


__all__ = [
    "DEFAULT_CACHE_CONTROL",
    "DEFAULT_PREFIX",
    "S3Store",
    "StorageError",
    "StorageSettings",
    "StoredObject",
    "check_prefix",
    "describe_endpoint",
    "direct_url",
    "object_key",
    "public_hint",
    "public_url",
    "slug",
]


class StorageError(HoldmusicError):
    """The storage service refused or could not be reached.

    ``kind`` says which, for advice: ``unreachable`` (the endpoint), ``credentials``
    (none found, or refused), ``no_bucket``, ``denied`` (a permission), ``other``.
    """

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


def _client(settings: StorageSettings) -> S3Client:
    custom = custom_endpoint(settings)
    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"mode": "standard", "max_attempts": 3},
        # Path style works on every S3-compatible service; AWS keeps its own default.
        s3={"addressing_style": "path"} if custom else {},
        # Ask for checksums only when we send them (some S3 clones reject the new default).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        session = boto3.session.Session(region_name=settings.region)
        return session.client("s3", endpoint_url=settings.endpoint_url, config=config)
    except botocore.exceptions.BotoCoreError as exc:
        raise StorageError(f"cannot set up the S3 client: {exc}", "other") from None


def credentials_source(settings: StorageSettings) -> str | None:
    """Where boto3 found credentials ("env", "shared-credentials-file", "sso", …), or None."""
    try:
        creds = boto3.session.Session(region_name=settings.region).get_credentials()
    except botocore.exceptions.BotoCoreError:
        return None
    return None if creds is None else str(getattr(creds, "method", "found"))


class S3Store:
    """The :class:`holdmusic.storesettings.Store` on S3: one boto3 client for the store's
    life (one run), made at its first request."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        self._s3: S3Client | None = None

    @property
    def client(self) -> S3Client:
        if self._s3 is None:
            self._s3 = _client(self.settings)
        return self._s3

    @property
    def region(self) -> str:
        return str(self.client.meta.region_name)

    def public_url(self, key: str) -> str:
        return public_url(self.settings, key, self.region)

    def direct_url(self, key: str) -> str:
        return direct_url(self.settings, key, self.region)

    def plan_url(self, filename: str, sha256: str) -> str:
        return public_url(self.settings, object_key(self.settings.prefix, filename, sha256))

    def put_if_absent(self, data: bytes, sha256: str, filename: str) -> StoredObject:
        """Put ``data`` under its content-addressed key unless an identical object is there.

        Idempotent like ``twine upload --skip-existing``: a HEAD first, and no PUT when the
        key already holds these bytes with the right headers.
        """
        settings = self.settings
        key = object_key(settings.prefix, filename, sha256)
        size = len(data)
        client = self.client
        url = self.public_url(key)
        with _translated(settings, key):
            if _already_there(client, settings, key, sha256, size):
                if settings.acl == "public-read":  # e.g. a re-run after the public check's hint
                    client.put_object_acl(Bucket=settings.bucket, Key=key, ACL="public-read")
                return StoredObject(settings.bucket, key, url, sha256, size, False)
            _put(
                client,
                settings,
                key,
                data,
                CacheControl=settings.cache_control,
                Metadata={"sha256": sha256, "original-filename": quote(os.path.basename(filename))},
                # Our own hash of the validated bytes: the server rejects anything else.
                ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
            )
        return StoredObject(settings.bucket, key, url, sha256, size, True)

    def put_probe(self, key: str, data: bytes) -> str:
        """A small object that ``doctor`` reads back anonymously; returns its public URL."""
        with _translated(self.settings, key):
            _put(self.client, self.settings, key, data, CacheControl="no-store")
        return self.public_url(key)

    def delete(self, key: str) -> None:
        with _translated(self.settings, key):
            self.client.delete_object(Bucket=self.settings.bucket, Key=key)

    def check_bucket(self) -> str:
        """HEAD the bucket: proves the credentials and the bucket. Returns the region in use."""
        with _translated(self.settings, None):
            self.client.head_bucket(Bucket=self.settings.bucket)
        return self.region


def upload(
    settings: StorageSettings, data: bytes, sha256: str, filename: str, *, dry_run: bool = False
) -> StoredObject:
    """One upload with a store of its own (``S3Store.put_if_absent``); a dry run plans
    the URL without a request."""
    if dry_run:
        key = object_key(settings.prefix, filename, sha256)
        url = public_url(settings, key)
        return StoredObject(settings.bucket, key, url, sha256, len(data), False)
    return S3Store(settings).put_if_absent(data, sha256, filename)


def _put(client: S3Client, settings: StorageSettings, key: str, data: bytes, **extra: Any) -> None:
    if settings.acl == "public-read":
        extra["ACL"] = "public-read"
    client.put_object(Bucket=settings.bucket, Key=key, Body=data, ContentType=CONTENT_TYPE, **extra)


def _already_there(
    client: S3Client, settings: StorageSettings, key: str, sha256: str, size: int
) -> bool:
    try:
        head = client.head_object(Bucket=settings.bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # 404: not there. 403: no ListBucket permission hides "not there"; PUT will tell.
        if status in (403, 404):
            return False
        raise
    return (
        head.get("Metadata", {}).get("sha256") == sha256
        and head.get("ContentLength") == size
        and head.get("ContentType") == CONTENT_TYPE
        and head.get("CacheControl") == settings.cache_control
    )


def delete(settings: StorageSettings, key: str) -> None:
    S3Store(settings).delete(key)


def put_probe(settings: StorageSettings, key: str, data: bytes) -> str:
    return S3Store(settings).put_probe(key, data)


def check_bucket(settings: StorageSettings) -> str:
    return S3Store(settings).check_bucket()


def policy_prefix(prefix: str) -> str:
    """The folder a public-read statement covers: never empty, always ending in '/', so
    that 'hold-music' cannot also expose 'hold-music-private/'."""
    if not prefix.strip("/"):
        raise UsageError(
            "bucket-policy needs a folder prefix, like hold-music/: an empty prefix would make "
            "every object in the bucket public"
        )
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    check_prefix(prefix)
    return prefix


def policy_resource(bucket: str, prefix: str) -> str:
    """Exactly the Resource the statement grants, for the user to read before applying."""
    return f"arn:aws:s3:::{bucket}/{policy_prefix(prefix)}*"


def bucket_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """The least a bucket needs for anonymous reads of ``prefix*``: s3:GetObject, nothing else."""
    prefix = policy_prefix(prefix)
    return {
        "Version": "2012-10-17",
        "Statement": [_policy_statement(bucket, prefix)],
    }


def policy_sid(prefix: str) -> str:
    """One statement per prefix, so that making a second prefix public keeps the first."""
    return POLICY_SID + hashlib.sha256(prefix.encode()).hexdigest()[:8]


def _policy_statement(bucket: str, prefix: str) -> dict[str, Any]:
    return {
        "Sid": policy_sid(prefix),
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": policy_resource(bucket, prefix),
    }


def apply_bucket_policy(settings: StorageSettings) -> dict[str, Any]:
    """Add (or replace) our statement in the bucket's policy, keeping every other statement."""
    policy_prefix(settings.prefix)  # before any request
    client = _client(settings)
    with _translated(settings, None):
        try:
            current = json.loads(client.get_bucket_policy(Bucket=settings.bucket)["Policy"])
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchBucketPolicy", "404"):
                raise
            current = {"Version": "2012-10-17", "Statement": []}
        statements = current.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        kept = [s for s in statements if s.get("Sid") != policy_sid(settings.prefix)]
        policy = {
            **current,
            "Statement": [*kept, _policy_statement(settings.bucket, settings.prefix)],
        }
        client.put_bucket_policy(Bucket=settings.bucket, Policy=json.dumps(policy))
    return policy


@contextlib.contextmanager
def _translated(settings: StorageSettings, key: str | None) -> Iterator[None]:
    """boto3/botocore failures become one StorageError line; anything else passes."""
    try:
        yield
    except HoldmusicError:
        raise
    except Exception as exc:
        message = describe_error(exc, settings, key)
        if message is None:
            raise
        raise StorageError(message, error_kind(exc, settings, key)) from exc


def error_kind(exc: BaseException, settings: StorageSettings, key: str | None = None) -> str:
    """Which :class:`StorageError` kind a boto3/botocore exception is."""
    errors = botocore.exceptions
    if isinstance(exc, errors.NoCredentialsError | errors.PartialCredentialsError):
        return "credentials"
    if isinstance(
        exc,
        errors.ConnectTimeoutError
        | errors.ReadTimeoutError
        | errors.EndpointConnectionError
        | errors.ConnectionClosedError,
    ):
        return "unreachable"
    if isinstance(exc, errors.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return "credentials"
        if code == "NoSuchBucket" or (code in ("404", "NotFound") and key is None):
            return "no_bucket"
        if code == "AccessDenied" or status == 403:
            return "denied"
    return "other"


def describe_error(
    exc: BaseException, settings: StorageSettings, key: str | None = None
) -> str | None:
    """A user-facing line for a boto3/botocore exception, or None if it is not one."""
    b = settings.bucket
    where = custom_endpoint(settings) or "AWS S3"
    errors = botocore.exceptions
    if isinstance(exc, errors.NoCredentialsError):
        return (
            "no storage credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE, or run 'aws sso login'"
        )
    if isinstance(exc, errors.PartialCredentialsError):
        return f"incomplete storage credentials: {exc}"
    if isinstance(exc, errors.ConnectTimeoutError):
        return f"timed out connecting to the storage endpoint {where}"
    if isinstance(exc, errors.ReadTimeoutError):
        return f"the storage endpoint {where} stopped answering (read timeout)"
    if isinstance(exc, errors.EndpointConnectionError | errors.ConnectionClosedError):
        return f"cannot reach the storage endpoint {where}: is the address right, the service up?"
    if isinstance(exc, errors.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        msg = str(err.get("Message", ""))
        if code == "InvalidAccessKeyId":
            return f"the storage service at {where} does not know this access key id"
        if code == "SignatureDoesNotMatch":
            return (
                f"the storage service at {where} rejected the secret key (signature mismatch): "
                "check AWS_SECRET_ACCESS_KEY or the profile in use"
            )
        if code == "NoSuchBucket" or (code in ("404", "NotFound") and key is None):
            return f"bucket {b!r} does not exist at {where}"
        if code == "AccessControlListNotSupported":
            return (
                f"bucket {b!r} has ACLs disabled (Object Ownership: bucket owner enforced): "
                "set the ACL to none (HOLDMUSIC_ACL) and make the prefix public with "
                "'holdmusic bucket-policy --apply'"
            )
        if code == "AccessDenied" or status == 403:
            if "public" in msg.lower() and "block" in msg.lower():
                return (
                    f"AWS Block Public Access refuses a public policy on bucket {b!r}: allow it "
                    f"with 'aws s3api put-public-access-block --bucket {b} "
                    "--public-access-block-configuration BlockPublicPolicy=false,"
                    "RestrictPublicBuckets=false' (and the account-level setting)"
                )
            target = f"{b}/{key}" if key else b
            return (
                f"access denied on {target!r}: the credentials need s3:PutObject and "
                f"s3:GetObject on arn:aws:s3:::{b}/{settings.prefix}*"
            )
        if code in ("BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"):
            return "the storage service received other bytes than were sent (checksum mismatch)"
        # code and message are the server's words: they may hold terminal escapes
        return printable(f"storage request failed: {code or status} {msg}".strip())
    if isinstance(exc, errors.ParamValidationError):
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "invalid parameter"
        return f"the storage request was refused before sending: {first}"
    if isinstance(exc, errors.BotoCoreError):
        return f"storage request failed: {exc}"
    return None
