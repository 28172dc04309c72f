"""``holdmusic doctor``: is everything in place for a publish to work? Line by line.

Each check says what it proved, or what is wrong and how to fix it. The storage
checks upload a tiny probe object, read it anonymously through the public URL, and
delete it again, so "public" is proven, not inferred from a policy.

Nothing here reads the environment: the interface passes the settings and the Daily
key it read (advice names the environment variables, which every interface shares).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from holdmusic.errors import HoldmusicError
from holdmusic.storesettings import StorageSettings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None  # what to do, when not ok
    skipped: bool = False  # not run, because a check it depends on failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "fix": self.fix,
            "skipped": self.skipped,
        }


STORAGE_CHECKS = ("storage credentials", "bucket", "public read", "public base URL")


def _skipped(after: str) -> Iterator[Check]:
    """The storage checks after ``after``, each marked as not run."""
    for name in STORAGE_CHECKS[STORAGE_CHECKS.index(after) + 1 :]:
        yield Check(name, False, f"not checked: needs {after}", skipped=True)


# A valid, silent MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz, mono): 417 bytes.
PROBE = bytes((0xFF, 0xFB, 0x90, 0xC4)) + bytes(413)


def run(
    *,
    bucket: str | None,
    prefix: str,
    endpoint_url: str | None,
    region: str | None,
    public_base_url: str | None,
    acl: str = "none",
    daily_api_key: str | None,
    daily_api_url: str | None,
    allow_private: bool | None = None,
) -> Iterator[Check]:
    """Yield the checks in order; a later check is skipped when it depends on a failed one."""
    yield from _storage_checks(
        bucket, prefix, endpoint_url, region, public_base_url, acl, allow_private
    )
    yield _daily_check(daily_api_key, daily_api_url)


def _storage_checks(
    bucket: str | None,
    prefix: str,
    endpoint_url: str | None,
    region: str | None,
    public_base_url: str | None,
    acl: str,
    allow_private: bool | None,
) -> Iterator[Check]:
    if not bucket:
        yield Check("bucket", False, "no bucket configured", "set HOLDMUSIC_BUCKET")
        yield from _skipped("bucket")
        return
    from holdmusic import storage

    try:
        settings = StorageSettings(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            region=region,
            public_base_url=public_base_url,
            acl=acl,
        )
    except HoldmusicError as exc:
        yield Check("storage settings", False, str(exc), "fix the setting named")
        return
    store = storage.S3Store(settings)
    where = storage.describe_endpoint(settings)
    creds = storage.credentials_source(settings)
    if creds is None:
        yield Check(
            "storage credentials",
            False,
            "boto3 finds no credentials",
            "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run 'aws sso login'",
        )
        yield from _skipped("storage credentials")
        return
    try:
        store.check_bucket()
    except storage.StorageError as exc:
        text = str(exc)
        if exc.kind == "no_bucket":
            yield Check("storage credentials", True, f"found ({creds}) and accepted by {where}")
            yield Check("bucket", False, text, "create it, or fix HOLDMUSIC_BUCKET")
            yield from _skipped("bucket")
        elif exc.kind == "unreachable":
            yield Check(
                "storage credentials",
                False,
                f"found ({creds}), but {text}",
                "check HOLDMUSIC_ENDPOINT_URL (or AWS_ENDPOINT_URL) and that the service is up"
                " and reachable from here",
            )
            yield from _skipped("storage credentials")
        else:
            yield Check("storage credentials", False, text, "check the keys or the profile")
            yield from _skipped("storage credentials")
        return
    yield Check("storage credentials", True, f"found ({creds}) and accepted by {where}")
    yield Check("bucket", True, f"s3://{bucket} exists")
    yield from _public_checks(store, allow_private)


def _public_checks(store: Any, allow_private: bool | None) -> Iterator[Check]:
    from holdmusic import storage
    from holdmusic.pipeline import verify_public

    key = f"{store.settings.prefix}.holdmusic-doctor-{uuid.uuid4().hex[:12]}.mp3"
    try:
        url = store.put_probe(key, PROBE)
    except storage.StorageError as exc:
        yield Check("upload", False, str(exc), "the credentials need s3:PutObject on the prefix")
        return
    try:
        sha = hashlib.sha256(PROBE).hexdigest()
        result = verify_public(store, key, sha, len(PROBE), allow_private)
        codes = result.codes
        if result.ok:
            yield Check("public read", True, f"anonymous GET of the prefix works ({url})")
            yield Check("public base URL", True, f"{url} serves the bucket's object")
        elif "public_base_url" in codes:
            direct = store.direct_url(key)
            root = direct.rsplit("/" + key, 1)[0]
            yield Check("public read", True, f"anonymous GET works at {direct}")
            yield Check(
                "public base URL",
                False,
                f"{url} answered {result.status}: the base URL does not serve the bucket's objects",
                f"point HOLDMUSIC_PUBLIC_BASE_URL at the bucket root ({root}) or fix the "
                "CDN's origin",
            )
        else:
            from holdmusic.storesettings import public_hint

            detail = "; ".join(p.message for p in result.problems)
            yield Check("public read", False, detail, public_hint(store.settings))
            yield from _skipped("public read")
    finally:
        try:
            store.delete(key)
        except storage.StorageError as exc:
            yield Check(
                "cleanup",
                False,
                f"could not delete the probe {key}: {exc}",
                "delete it by hand; grant s3:DeleteObject to let doctor clean up",
            )


def _daily_check(api_key: str | None, api_url: str | None) -> Check:
    from holdmusic.daily import DEFAULT_BASE_URL, DailyClient, DailyError

    if not (api_key or "").strip():
        fix = "set DAILY_API_KEY (Dashboard → Developers)"
        return Check("Daily API key", False, "DAILY_API_KEY is not set", fix)
    try:
        with DailyClient(
            api_key or "", api_url or DEFAULT_BASE_URL, max_attempts=3, max_retry_seconds=10
        ) as client:
            domain = client.get_domain()
            configs = client.list_configs()
    except DailyError as exc:
        return Check("Daily API key", False, str(exc), "check DAILY_API_KEY and DAILY_API_URL")
    pinless = sum(c.pinless for c in configs)
    name = domain.get("domain_name") or "the domain"
    return Check(
        "Daily API key",
        True,
        f"accepted for {name}: {len(configs)} dial-in config{'' if len(configs) == 1 else 's'}"
        f" ({pinless} pinless)",
    )
