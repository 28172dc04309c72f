"""The statuses of a config in a run (report items, publish's outcomes, rollback).

Defined here, in a module that imports nothing, so that the CLI's shared helpers can colour
them without loading :mod:`holdmusic.record` (and its tempfile, secrets and json) on the
path of ``holdmusic validate``. :mod:`holdmusic.record` re-exports them.
"""

from __future__ import annotations

UPDATED = "updated"
UNCHANGED = "unchanged"
FAILED = "failed"
SKIPPED = "skipped"  # deliberately left alone (e.g. changed by someone since)
WOULD_UPDATE = "would_update"  # dry run
QUEUED = "queued"  # nothing sent yet
NOT_ATTEMPTED = "not_attempted"  # never tried: the run stopped first (not a failure of its own)
PENDING = "pending"  # a PUT was sent (or about to be): it may have been applied
MISMATCHED = "mismatched"  # Daily accepted the PUT but holds another URL (stored_url)
STATUSES = (
    UPDATED,
    UNCHANGED,
    FAILED,
    SKIPPED,
    WOULD_UPDATE,
    QUEUED,
    NOT_ATTEMPTED,
    PENDING,
    MISMATCHED,
)
