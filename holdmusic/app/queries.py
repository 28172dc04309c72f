"""The entry points that change no config (validate aside, in :mod:`checking`): upload,
configs list/show/check, doctor, the bucket policy, and the report listing of a history
page."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from holdmusic import rules
from holdmusic.app.env import Environment
from holdmusic.app.results import (
    AuditResult,
    ConfigList,
    ConfigView,
    DoctorResult,
    ReportSummary,
    UploadResult,
)
from holdmusic.errors import UsageError
from holdmusic.progress import Cancel, Observer, Reporter
from holdmusic.storesettings import StorageSettings

if TYPE_CHECKING:
    from holdmusic.daily import DailyClient, DialinConfig
    from holdmusic.doctor import Check
    from holdmusic.pipeline import Prepared
    from holdmusic.storesettings import Store

from holdmusic.app.checking import listener, prepare_path

# --- upload ----------------------------------------------------------------------------------


def upload(
    source: str | Prepared,
    storage: StorageSettings | Store,
    *,
    env: Environment,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    observer: Observer | None = None,
) -> UploadResult:
    """Validate, upload under a content-addressed key, prove the URL public. No config
    changes. A file that fails validation is not uploaded (``published`` None)."""
    from holdmusic import pipeline
    from holdmusic.progress import FileJudged, FilePublished
    from holdmusic.storesettings import StorageSettings

    prepared = prepare_path(source, limits) if isinstance(source, str) else source
    reporter = Reporter(observer)
    reporter.emit(FileJudged(path=prepared.path, verdict=prepared.verdict))
    if not prepared.ok:
        return UploadResult(prepared, None)
    if isinstance(storage, StorageSettings):
        from holdmusic.storage import S3Store

        store: Store = S3Store(storage)
    else:
        store = storage
    published = pipeline.store_and_verify(prepared, store, allow_private=env.allow_private_urls)
    reporter.emit(
        FilePublished(path=prepared.path, stored=published.stored, check=published.public)
    )
    return UploadResult(prepared, published)


# --- configs ---------------------------------------------------------------------------------

SECRET_FIELDS = ("hmac",)
MASK = "********"


def mask_secrets(config: DialinConfig) -> DialinConfig:
    """The config with every secret field (``hmac``) that holds a value masked."""
    from holdmusic.daily import DialinConfig

    masked = {k: MASK if k in SECRET_FIELDS and v else v for k, v in config.config.items()}
    return DialinConfig(config.id, config.type, masked)


def list_configs(
    *,
    env: Environment,
    type: str | None = None,
    name_prefix: str | None = None,
    client: DailyClient | None = None,
) -> ConfigList:
    """Every dial-in config (Daily's list trims each: no hold_music_url), optionally of
    one ``type`` and whose name_prefix starts with ``name_prefix``."""
    filters = {"type": type} if type else {}
    with _client(env, client) as daily:
        found = daily.list_configs(**filters)
    if name_prefix is not None:
        found = [c for c in found if (c.name_prefix or "").startswith(name_prefix)]
    return ConfigList(tuple(found))


def show_config(
    config_id: str,
    *,
    env: Environment,
    show_secrets: bool = False,
    client: DailyClient | None = None,
) -> ConfigView:
    """One config, whole (``hmac`` masked unless ``show_secrets``)."""
    from holdmusic import configid

    configid.check(config_id)
    with _client(env, client) as daily:
        config = daily.get_config(config_id)
    return ConfigView(config if show_secrets else mask_secrets(config))


def check_configs(
    config_ids: Sequence[str] | None = None,
    *,
    env: Environment,
    limits: rules.Limits = rules.DEFAULT_LIMITS,
    strict: bool = False,
    listen: bool = False,
    concurrency: int = 8,
    observer: Observer | None = None,
    cancel: Cancel | None = None,
    client: DailyClient | None = None,
) -> AuditResult:
    """The audit (``configs check``): every pinless config's current URL (or the named
    configs'), fetched as Daily will and validated."""
    from holdmusic import audit, configid

    ids = [configid.check(cid) for cid in config_ids or ()]
    inspect = listener("configs check --listen") if listen else None
    cancel = cancel or Cancel()
    with _client(env, client) as daily:
        cancel.on_cancel(daily.interrupt)
        audited = audit.audit(
            daily,
            ids or None,
            limits=limits,
            concurrency=concurrency,
            inspect=inspect,
            reporter=Reporter(observer, cancel),
            allow_private=env.allow_private_urls,
        )
        stopped = daily.stopped
    return AuditResult(tuple(audited), strict, stopped)


def _client(env: Environment, client: DailyClient | None) -> Any:
    """A client for a ``with``: the caller's (used, not closed), or a new one (closed)."""
    import contextlib

    return contextlib.nullcontext(client) if client is not None else env.daily_client()


# --- doctor ----------------------------------------------------------------------------------


def doctor(
    *,
    env: Environment,
    bucket: str | None = None,
    prefix: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    public_base_url: str | None = None,
    acl: str | None = None,
) -> Iterator[Check]:
    """The checks in order, as each finishes (a page can stream them). Storage settings
    not given come from the environment."""
    from holdmusic import doctor as doctor_
    from holdmusic.storesettings import DEFAULT_PREFIX, StorageSettings, resolve_endpoint

    s = env.storage
    bucket = bucket if bucket is not None else s.get("HOLDMUSIC_BUCKET")
    prefix = prefix if prefix is not None else s.get("HOLDMUSIC_PREFIX", DEFAULT_PREFIX)
    if endpoint_url is None:
        endpoint_url = s.get("HOLDMUSIC_ENDPOINT_URL")
    if endpoint_url is None:
        # boto3's own variables, as storage_settings() applies them
        probe = resolve_endpoint(StorageSettings(bucket="probe"), s)
        endpoint_url = probe.endpoint_url
    yield from doctor_.run(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        region=region if region is not None else s.get("HOLDMUSIC_REGION"),
        public_base_url=public_base_url
        if public_base_url is not None
        else s.get("HOLDMUSIC_PUBLIC_BASE_URL"),
        acl=acl if acl is not None else s.get("HOLDMUSIC_ACL", "none"),
        daily_api_key=env.daily_api_key,
        daily_api_url=env.daily_api_url,
        allow_private=env.allow_private_urls,
    )


def doctor_result(checks: Sequence[Check]) -> DoctorResult:
    return DoctorResult(tuple(checks))


# --- reports ---------------------------------------------------------------------------------


def list_reports(folder: str, *, limit: int = 1000) -> list[ReportSummary]:
    """The reports in ``folder`` (``holdmusic-*.json``), newest first: what a history page
    lists. A file that is not a readable report is listed with its ``problem``."""
    try:
        names = [
            n for n in os.listdir(folder) if n.startswith("holdmusic-") and n.endswith(".json")
        ]
    except OSError as exc:
        raise UsageError(f"cannot list reports in {folder}: {exc.strerror or exc}") from None
    out = [summarize_report(os.path.join(folder, n)) for n in names]
    out.sort(key=lambda r: (r.started_at or "", r.path), reverse=True)
    return out[:limit]


_MAX_REPORT_BYTES = 64 * 1024 * 1024


def summarize_report(path: str) -> ReportSummary:
    """One report's summary (never raises for a bad file: ``problem`` says why)."""

    def bad(why: str) -> ReportSummary:
        return ReportSummary(path, None, None, False, None, None, False, None, {}, why)

    try:
        if os.path.getsize(path) > _MAX_REPORT_BYTES:
            return bad("too large to be a holdmusic report")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        return bad(f"cannot read it: {exc.strerror or exc}")
    except (ValueError, RecursionError):
        return bad("not JSON")
    if not isinstance(data, dict) or data.get("tool") != "holdmusic":
        return bad("not a holdmusic report")

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) else None

    counts = data.get("counts")
    counts = (
        {k: v for k, v in counts.items() if isinstance(k, str) and isinstance(v, int)}
        if isinstance(counts, dict)
        else {}
    )
    return ReportSummary(
        path=path,
        command=text("command"),
        source=text("source"),
        dry_run=data.get("dry_run") is True,
        started_at=text("started_at"),
        finished_at=text("finished_at"),
        complete=data.get("complete") is True,
        stopped=text("stopped"),
        counts=counts,
    )


# --- bucket policy ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyPlan:
    """The least policy that makes a prefix public: what ``bucket-policy`` prints."""

    settings: StorageSettings
    resource: str  # exactly what the statement grants
    policy: dict[str, Any]


def bucket_policy(
    *,
    env: Environment,
    bucket: str,
    prefix: str,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> PolicyPlan:
    """Checked before anything else, and shown exactly as it will be written."""
    from holdmusic import storage

    resource = storage.policy_resource(bucket, prefix)
    settings = env.storage_settings(
        bucket=bucket, prefix=prefix, endpoint_url=endpoint_url, region=region
    )
    return PolicyPlan(settings, resource, storage.bucket_policy(bucket, settings.prefix))


def apply_bucket_policy(plan: PolicyPlan) -> dict[str, Any]:
    """Merge the statement into the bucket's policy (other statements kept)."""
    from holdmusic import storage

    return storage.apply_bucket_policy(plan.settings)
