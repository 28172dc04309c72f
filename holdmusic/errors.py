"""Exceptions whose messages are for the user: one line that says what happened and what to do.

The CLI prints ``error: <message>`` and exits with ``exit_code``; anything that is not a
:class:`HoldmusicError` is a bug and gets a traceback only under ``--verbose``.
"""

from __future__ import annotations


class HoldmusicError(Exception):
    """Base class. ``str(exc)`` is shown to the user as is."""

    exit_code = 1


class UsageError(HoldmusicError):
    """The command line or a settings value is wrong (exit 2)."""

    exit_code = 2
