"""Which strings may name a dial-in config.

Daily's ids are UUIDs. An id goes into a URL path, so anything outside a plain set of
characters could address something else: ``ID?again`` and ``ID#frag`` reach the same
config as ``ID`` and slip past a manifest's duplicate check. Such ids are refused
before any request is sent.
"""

from __future__ import annotations

import re

from holdmusic.errors import UsageError

PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
RULE = "letters, digits, '-' and '_', at most 128, starting with a letter or digit"


def is_valid(config_id: object) -> bool:
    return isinstance(config_id, str) and PATTERN.fullmatch(config_id) is not None


def problem(config_id: object) -> str | None:
    """Why this is not a config id (quoting it safely), or None."""
    if is_valid(config_id):
        return None
    shown = repr(config_id)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} is not a dial-in config id ({RULE})"


def check(config_id: object) -> str:
    """The id itself, or a usage error."""
    why = problem(config_id)
    if why is not None:
        raise UsageError(why)
    assert isinstance(config_id, str)
    return config_id
