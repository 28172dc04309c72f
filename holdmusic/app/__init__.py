"""The application layer: the use cases every interface calls (the ``holdmusic`` CLI, a
web page), each returning a typed value whose ``to_dict()`` is the command's JSON.

Interfaces parse, call one of these, and render; they decide wording and exit codes.
Stages (pipeline, update, audit, studio, rules, storage, daily...) are below: an
interface imports this package, not them. ``docs/app-layer.md`` describes the API.

Nothing is imported until it is used (PEP 562): ``holdmusic validate`` loads the rules and
the checking entry points, not the run machinery, and no boto3, httpx, rich or PyAV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_EXPORTS = {
    "ALLOW_PRIVATE_ENV": "holdmusic.app.env",
    "AuditResult": "holdmusic.app.results",
    "Cancel": "holdmusic.progress",
    "Cancelled": "holdmusic.progress",
    "ConfigList": "holdmusic.app.results",
    "ConfigOutcome": "holdmusic.progress",
    "ConfigRead": "holdmusic.progress",
    "ConfigView": "holdmusic.app.results",
    "ConfigsRead": "holdmusic.progress",
    "DEFAULT_CACHE_CONTROL": "holdmusic.storesettings",
    "DEFAULT_CONCURRENCY": "holdmusic.app.runs",
    "DEFAULT_LIMITS": "holdmusic.rules",
    "DEFAULT_MAX_BYTES": "holdmusic.rules",
    "DEFAULT_MAX_SECONDS": "holdmusic.rules",
    "DEFAULT_PREFIX": "holdmusic.storesettings",
    "DoctorResult": "holdmusic.app.results",
    "Environment": "holdmusic.app.env",
    "Event": "holdmusic.progress",
    "FIX_DEFAULTS": "holdmusic.app.studio",
    "Failure": "holdmusic.app.results",
    "FileJudged": "holdmusic.progress",
    "FilePublished": "holdmusic.progress",
    "FixFailure": "holdmusic.app.studio",
    "FixOutcome": "holdmusic.app.studio",
    "HoldmusicError": "holdmusic.errors",
    "Item": "holdmusic.record",
    "Limits": "holdmusic.rules",
    "NothingToCheck": "holdmusic.app.checking",
    "Notice": "holdmusic.progress",
    "Observer": "holdmusic.progress",
    "Phase": "holdmusic.progress",
    "PhaseStarted": "holdmusic.progress",
    "PlanningStore": "holdmusic.app.runs",
    "PolicyPlan": "holdmusic.app.queries",
    "PreviewOutcome": "holdmusic.app.studio",
    "Problem": "holdmusic.codes",
    "PublishResult": "holdmusic.app.results",
    "REGISTRY": "holdmusic.codes",
    "ReportSummary": "holdmusic.app.results",
    "RunReport": "holdmusic.app.results",
    "RunSummary": "holdmusic.app.results",
    "Selection": "holdmusic.app.runs",
    "SelectionError": "holdmusic.app.runs",
    "SettingError": "holdmusic.app.env",
    "Status": "holdmusic.record",
    "Step": "holdmusic.progress",
    "StorageSettings": "holdmusic.storesettings",
    "UploadResult": "holdmusic.app.results",
    "UsageError": "holdmusic.errors",
    "VARIABLES": "holdmusic.app.variables",
    "ValidateResult": "holdmusic.app.results",
    "Verdict": "holdmusic.rules",
    "apply_bucket_policy": "holdmusic.app.queries",
    "batch": "holdmusic.app.runs",
    "bucket_policy": "holdmusic.app.queries",
    "check_configs": "holdmusic.app.queries",
    "check_report_target": "holdmusic.app.runs",
    "default_output": "holdmusic.app.studio",
    "doctor": "holdmusic.app.queries",
    "doctor_result": "holdmusic.app.queries",
    "expand": "holdmusic.app.checking",
    "fix": "holdmusic.app.studio",
    "fix_output_name": "holdmusic.app.studio",
    "fix_outputs": "holdmusic.app.studio",
    "fix_settings": "holdmusic.app.studio",
    "fix_with": "holdmusic.app.studio",
    "is_url": "holdmusic.app.checking",
    "is_usage": "holdmusic.app.errors",
    "list_configs": "holdmusic.app.queries",
    "list_reports": "holdmusic.app.queries",
    "listener": "holdmusic.app.checking",
    "mask_secrets": "holdmusic.app.queries",
    "prepare_bytes": "holdmusic.app.checking",
    "prepare_path": "holdmusic.app.checking",
    "preview": "holdmusic.app.studio",
    "problem_for": "holdmusic.app.errors",
    "publish": "holdmusic.app.runs",
    "rollback": "holdmusic.app.runs",
    "show_config": "holdmusic.app.queries",
    "summarize_report": "holdmusic.app.queries",
    "upload": "holdmusic.app.queries",
    "validate": "holdmusic.app.checking",
    "validate_bytes": "holdmusic.app.checking",
    "validate_paths": "holdmusic.app.checking",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from holdmusic.app.checking import (
        NothingToCheck as NothingToCheck,
    )
    from holdmusic.app.checking import (
        expand as expand,
    )
    from holdmusic.app.checking import (
        is_url as is_url,
    )
    from holdmusic.app.checking import (
        listener as listener,
    )
    from holdmusic.app.checking import (
        prepare_bytes as prepare_bytes,
    )
    from holdmusic.app.checking import (
        prepare_path as prepare_path,
    )
    from holdmusic.app.checking import (
        validate as validate,
    )
    from holdmusic.app.checking import (
        validate_bytes as validate_bytes,
    )
    from holdmusic.app.checking import (
        validate_paths as validate_paths,
    )
    from holdmusic.app.env import (
        ALLOW_PRIVATE_ENV as ALLOW_PRIVATE_ENV,
    )
    from holdmusic.app.env import (
        Environment as Environment,
    )
    from holdmusic.app.env import (
        SettingError as SettingError,
    )
    from holdmusic.app.errors import (
        is_usage as is_usage,
    )
    from holdmusic.app.errors import (
        problem_for as problem_for,
    )
    from holdmusic.app.queries import (
        PolicyPlan as PolicyPlan,
    )
    from holdmusic.app.queries import (
        apply_bucket_policy as apply_bucket_policy,
    )
    from holdmusic.app.queries import (
        bucket_policy as bucket_policy,
    )
    from holdmusic.app.queries import (
        check_configs as check_configs,
    )
    from holdmusic.app.queries import (
        doctor as doctor,
    )
    from holdmusic.app.queries import (
        doctor_result as doctor_result,
    )
    from holdmusic.app.queries import (
        list_configs as list_configs,
    )
    from holdmusic.app.queries import (
        list_reports as list_reports,
    )
    from holdmusic.app.queries import (
        mask_secrets as mask_secrets,
    )
    from holdmusic.app.queries import (
        show_config as show_config,
    )
    from holdmusic.app.queries import (
        summarize_report as summarize_report,
    )
    from holdmusic.app.queries import (
        upload as upload,
    )
    from holdmusic.app.results import (
        AuditResult as AuditResult,
    )
    from holdmusic.app.results import (
        ConfigList as ConfigList,
    )
    from holdmusic.app.results import (
        ConfigView as ConfigView,
    )
    from holdmusic.app.results import (
        DoctorResult as DoctorResult,
    )
    from holdmusic.app.results import (
        Failure as Failure,
    )
    from holdmusic.app.results import (
        PublishResult as PublishResult,
    )
    from holdmusic.app.results import (
        ReportSummary as ReportSummary,
    )
    from holdmusic.app.results import (
        RunReport as RunReport,
    )
    from holdmusic.app.results import (
        RunSummary as RunSummary,
    )
    from holdmusic.app.results import (
        UploadResult as UploadResult,
    )
    from holdmusic.app.results import (
        ValidateResult as ValidateResult,
    )
    from holdmusic.app.runs import (
        DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY,
    )
    from holdmusic.app.runs import (
        PlanningStore as PlanningStore,
    )
    from holdmusic.app.runs import (
        Selection as Selection,
    )
    from holdmusic.app.runs import (
        SelectionError as SelectionError,
    )
    from holdmusic.app.runs import (
        batch as batch,
    )
    from holdmusic.app.runs import (
        check_report_target as check_report_target,
    )
    from holdmusic.app.runs import (
        publish as publish,
    )
    from holdmusic.app.runs import (
        rollback as rollback,
    )
    from holdmusic.app.studio import (
        FIX_DEFAULTS as FIX_DEFAULTS,
    )
    from holdmusic.app.studio import (
        FixFailure as FixFailure,
    )
    from holdmusic.app.studio import (
        FixOutcome as FixOutcome,
    )
    from holdmusic.app.studio import (
        PreviewOutcome as PreviewOutcome,
    )
    from holdmusic.app.studio import (
        default_output as default_output,
    )
    from holdmusic.app.studio import (
        fix as fix,
    )
    from holdmusic.app.studio import (
        fix_output_name as fix_output_name,
    )
    from holdmusic.app.studio import (
        fix_outputs as fix_outputs,
    )
    from holdmusic.app.studio import (
        fix_settings as fix_settings,
    )
    from holdmusic.app.studio import (
        fix_with as fix_with,
    )
    from holdmusic.app.studio import (
        preview as preview,
    )
    from holdmusic.app.variables import (
        VARIABLES as VARIABLES,
    )
    from holdmusic.codes import (
        REGISTRY as REGISTRY,
    )
    from holdmusic.codes import (
        Problem as Problem,
    )
    from holdmusic.errors import (
        HoldmusicError as HoldmusicError,
    )
    from holdmusic.errors import (
        UsageError as UsageError,
    )
    from holdmusic.progress import (
        Cancel as Cancel,
    )
    from holdmusic.progress import (
        Cancelled as Cancelled,
    )
    from holdmusic.progress import (
        ConfigOutcome as ConfigOutcome,
    )
    from holdmusic.progress import (
        ConfigRead as ConfigRead,
    )
    from holdmusic.progress import (
        ConfigsRead as ConfigsRead,
    )
    from holdmusic.progress import (
        Event as Event,
    )
    from holdmusic.progress import (
        FileJudged as FileJudged,
    )
    from holdmusic.progress import (
        FilePublished as FilePublished,
    )
    from holdmusic.progress import (
        Notice as Notice,
    )
    from holdmusic.progress import (
        Observer as Observer,
    )
    from holdmusic.progress import (
        Phase as Phase,
    )
    from holdmusic.progress import (
        PhaseStarted as PhaseStarted,
    )
    from holdmusic.progress import (
        Step as Step,
    )
    from holdmusic.record import (
        Item as Item,
    )
    from holdmusic.record import (
        Status as Status,
    )
    from holdmusic.rules import (
        DEFAULT_LIMITS as DEFAULT_LIMITS,
    )
    from holdmusic.rules import (
        DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES,
    )
    from holdmusic.rules import (
        DEFAULT_MAX_SECONDS as DEFAULT_MAX_SECONDS,
    )
    from holdmusic.rules import (
        Limits as Limits,
    )
    from holdmusic.rules import (
        Verdict as Verdict,
    )
    from holdmusic.storesettings import (
        DEFAULT_CACHE_CONTROL as DEFAULT_CACHE_CONTROL,
    )
    from holdmusic.storesettings import (
        DEFAULT_PREFIX as DEFAULT_PREFIX,
    )
    from holdmusic.storesettings import (
        StorageSettings as StorageSettings,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'holdmusic.app' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return __all__
