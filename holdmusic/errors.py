"""Exceptions whose messages are for the user: one line that says what happened and what to do.

They carry no exit status: an interface maps them (the CLI: :class:`UsageError` exits 2,
any other :class:`HoldmusicError` 1; :func:`holdmusic.app.problem_for` gives each its
problem code). Anything that is not a :class:`HoldmusicError` is a bug, and gets a
traceback only under ``--verbose``.
"""

from __future__ import annotations


class HoldmusicError(Exception):
    """Base class. ``str(exc)`` is shown to the user as is."""


class UsageError(HoldmusicError):
    """The command line or a settings value is wrong."""
