"""Any failure as a problem ``{code, severity, message}``: what ``--json`` prints on
stdout when a command could not produce its result, and what a web page shows.

An interface maps the same exceptions to its own ends (the CLI: exit 2 for
:func:`is_usage`, 1 otherwise, 130 for an interruption).
"""

from __future__ import annotations

from holdmusic.codes import Problem, problem
from holdmusic.errors import HoldmusicError, UsageError


def is_usage(exc: BaseException) -> bool:
    """The command line, an option or an environment variable is wrong."""
    return isinstance(exc, UsageError)


def problem_for(exc: BaseException) -> Problem:
    """The registered code for an exception; an unexpected one is ``internal_error``."""
    return problem(code_for(exc), message_for(exc))


def message_for(exc: BaseException) -> str:
    if isinstance(exc, HoldmusicError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"unexpected {type(exc).__name__}: {exc}"


def code_for(exc: BaseException) -> str:
    # Imported here: each module below is a stage a command may never load.
    from holdmusic.progress import Cancelled
    from holdmusic.record import ReportError, ReportExists

    if isinstance(exc, KeyboardInterrupt | Cancelled):
        return "interrupted"
    if isinstance(exc, ReportExists):
        return "report_exists"
    if isinstance(exc, ReportError):
        return "report_invalid"
    by_name = {
        "ManifestError": "manifest_invalid",
        "DailyAuthError": "daily_auth",
        "DailyNotFound": "daily_not_found",
        "DailyRequestError": "daily_request",
        "DailyUnavailable": "daily_unavailable",
        "DailyInterrupted": "interrupted",
        "DailyError": "daily_error",
        "StorageError": "storage_error",
        "FetchError": "fetch_error",
        "StudioError": "cannot_fix",
        "MissingExtra": "missing_extra",
        "ReportLive": "report_live",  # the live-run lock's refusal (issue 20)
    }
    # By class name along the MRO, so that this module imports no stage to map it.
    for klass in type(exc).__mro__:
        if klass.__name__ in by_name:
            return by_name[klass.__name__]
    if isinstance(exc, UsageError):
        return "usage"
    return "internal_error"
