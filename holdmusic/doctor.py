"""``holdmusic doctor``: is everything in place for a publish to work? Line by line.

Each check says what it proved, or what is wrong and how to fix it. The storage
checks upload a tiny probe object, read it anonymously through the public URL, and
delete it again, so "public" is proven, not inferred from a policy.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from holdmusic.errors import HoldmusicError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False  # not run, because a check it depends on failed


STORAGE_CHECKS = ("storage credentials", "bucket", "public read", "public base URL")


def _skipped(after: str) -> Iterator[Check]:
    """The storage checks after ``after``, each marked as not run."""
    for name in STORAGE_CHECKS[STORAGE_CHECKS.index(after) + 1 :]:
        yield Check(name, False, f"not checked: needs {after}", skipped=True)


# A valid, silent MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz, mono): 417 bytes.
PROBE = bytes((0xFF, 0xFB, 0x90, 0xC4)) + bytes(413)


def run(
    env: Mapping[str, str] = os.environ,
    *,
    bucket: str | None,
    prefix: str,
    endpoint_url: str | None,
    region: str | None,
    public_base_url: str | None,
    acl: str = "none",
) -> Iterator[Check]:
    """Yield the checks in order; a later check is skipped when it depends on a failed one."""
    yield from _storage_checks(bucket, prefix, endpoint_url, region, public_base_url, acl)
    yield _daily_check(env)


def _storage_checks(
    bucket: str | None,
    prefix: str,
    endpoint_url: str | None,
    region: str | None,
    public_base_url: str | None,
    acl: str,
) -> Iterator[Check]:
    if not bucket:
        yield Check("bucket", False, "no bucket configured", "set HOLDMUSIC_BUCKET (or --bucket)")
        yield from _skipped("bucket")
        return
    from holdmusic import publicurl, storage

    try:
        settings = storage.StorageSettings(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            region=region,
            public_base_url=public_base_url,
            acl=acl,
        )
    except HoldmusicError as exc:
        yield Check("storage settings", False, str(exc), "fix the option or variable named")
        return
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
        storage.check_bucket(settings)
    except storage.StorageError as exc:
        text = str(exc)
        if "does not exist" in text:
            yield Check("storage credentials", True, f"found ({creds}) and accepted by {where}")
            yield Check("bucket", False, text, "create it, or fix --bucket/HOLDMUSIC_BUCKET")
            yield from _skipped("bucket")
        else:
            yield Check("storage credentials", False, text, "check the keys or the profile")
            yield from _skipped("storage credentials")
        return
    yield Check("storage credentials", True, f"found ({creds}) and accepted by {where}")
    yield Check("bucket", True, f"s3://{bucket} exists")

    key = f"{prefix}.holdmusic-doctor-{uuid.uuid4().hex[:12]}.mp3"
    try:
        url = storage.put_probe(settings, key, PROBE)
    except storage.StorageError as exc:
        yield Check("upload", False, str(exc), "the credentials need s3:PutObject on the prefix")
        return
    try:
        sha = hashlib.sha256(PROBE).hexdigest()
        result = publicurl.check_public(url, sha, len(PROBE))
        direct = storage.direct_url(settings, key)
        if result.ok:
            yield Check("public read", True, f"anonymous GET of the prefix works ({url})")
            yield Check("public base URL", True, f"{url} serves the bucket's object")
        elif public_base_url and direct != url:
            # Tell "not public" apart from "the base URL points elsewhere".
            via_bucket = publicurl.check_public(direct, sha, len(PROBE))
            if via_bucket.ok:
                yield Check("public read", True, f"anonymous GET works at {direct}")
                seen = f"answered {result.status}" if result.status else "; ".join(result.problems)
                yield Check(
                    "public base URL",
                    False,
                    f"{url} {seen}: the base URL does not serve the bucket's objects",
                    f"point --public-base-url/HOLDMUSIC_PUBLIC_BASE_URL at the bucket root "
                    f"({direct.rsplit('/' + key, 1)[0]}) or fix the CDN's origin",
                )
            else:
                yield _not_public(via_bucket.problems, settings)
                yield from _skipped("public read")
        else:
            yield _not_public(result.problems, settings)
            yield from _skipped("public read")
    finally:
        try:
            storage.delete(settings, key)
        except storage.StorageError as exc:
            yield Check(
                "cleanup",
                False,
                f"could not delete the probe {key}: {exc}",
                "delete it by hand; grant s3:DeleteObject to let doctor clean up",
            )


def _not_public(problems: tuple[str, ...], settings: object) -> Check:
    from holdmusic.pipeline import public_hint
    from holdmusic.storage import StorageSettings

    assert isinstance(settings, StorageSettings)
    return Check("public read", False, "; ".join(problems), public_hint(settings))


def _daily_check(env: Mapping[str, str]) -> Check:
    from holdmusic.daily import DailyClient, DailyError

    if not env.get("DAILY_API_KEY", "").strip():
        fix = "set DAILY_API_KEY (Dashboard → Developers)"
        return Check("Daily API key", False, "DAILY_API_KEY is not set", fix)
    try:
        with DailyClient.from_env(env, max_attempts=3, max_retry_seconds=10) as client:
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
