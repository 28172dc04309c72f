"""Text from outside (file names, file contents, server replies) made safe to print.

A file name or an S3 error ``<Code>`` can hold terminal escape sequences: an OSC sequence
that retitles the window or writes the clipboard, a cursor move that paints "PASSED" over
"FAILED". Every message holdmusic prints goes through :func:`printable` where it is built
(paths, problem messages, error lines, JUnit), and the CLI's output streams pass through
:func:`terminal_safe` as a last guard, so nothing raw reaches a terminal or a log, piped
or not. Pure functions, no imports beyond ``re``.
"""

from __future__ import annotations

import re

__all__ = ["printable", "terminal_safe"]

# Controls (C0 but tab, DEL, C1), bidi overrides and isolates ("Trojan Source"), line and
# paragraph separators, and lone surrogates (bytes of a non-UTF-8 file name, decoded
# with surrogateescape).
_INVISIBLE = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"

# What the guard lets through on a terminal: newlines, tabs, and the colour sequences
# click writes (SGR with plain colour and weight parameters). Everything else, cursor
# moves, erasures, OSC, DCS, carriage returns, SGR 5-8 (blink, reverse, conceal), is
# escaped: data is escaped where it is put into a line, and this guard is the last line
# behind that. rich (tables, the progress bar) writes its own sequences to the stream
# beneath the guard, and is only ever given escaped text. Off a terminal only newlines
# and tabs pass: click and rich write no styling there.
_SGR = "\x1b\\[(?:(?:[0-4]|2[1-4]|3[0-79]|4[0-79]|9[0-7]|10[0-7])(?:;(?=[0-9])|(?=m)))*m"
_PATTERNS = {
    "unsafe": f"[\x00-\x08\x0a-\x1f{_INVISIBLE}]",
    "terminal": f"({_SGR})|[\x00-\x08\x0b-\x1f{_INVISIBLE}]",
    "pipe": f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]",
}
_COMPILED: dict[str, re.Pattern[str]] = {}


def _pattern(name: str) -> re.Pattern[str]:
    """Compiled on first use: the surrogate range makes these classes slow to compile, and
    most runs print nothing that needs them (see the fast paths below)."""
    try:
        return _COMPILED[name]
    except KeyError:
        compiled = _COMPILED[name] = re.compile(_PATTERNS[name])
        return compiled


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    n = ord(c)
    if 0xDC80 <= n <= 0xDCFF:  # surrogateescape: show the original byte
        return f"\\x{n - 0xDC00:02x}"
    if n <= 0xFF:
        return f"\\x{n:02x}"
    return f"\\u{n:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as a visible escape (``\\x1b``).

    One line stays one line: newlines are escaped too; tabs are kept.
    """
    return text if text.isprintable() else _pattern("unsafe").sub(_escape, text)


def terminal_safe(text: str, *, tty: bool) -> str:
    """``text`` as a terminal (``tty``) or a pipe may receive it: see the module notes."""
    # Everything the guard escapes is non-printable to str.isprintable (categories Cc, Cf,
    # Cs, Zl, Zp), so text that is printable but for newlines and tabs passes as it is.
    if text.replace("\n", "").replace("\t", "").isprintable():
        return text
    if tty:
        return _pattern("terminal").sub(lambda m: m.group(1) or _escape(m), text)
    return _pattern("pipe").sub(_escape, text)


def shorten(value: object, limit: int) -> str:
    """``value`` as text, at most ``limit`` characters (a cut one ends in "...")."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
