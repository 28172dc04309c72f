"""Bounds checked on text *before* a parser sees it: size and nesting depth.

Python's json and tomllib recurse once per level of nesting, so a few kilobytes of
``[[[[…`` raise RecursionError (which ended whole runs), and tomllib's handling of one
long dotted key (``a.a.a.…``) is quadratic: a 40 KB manifest took 2.3 GB. These scans
are linear, run at C speed over the text (strings are skipped with one regular
expression), and look only at the structural characters.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any

from holdmusic.errors import HoldmusicError


class TooLarge(HoldmusicError, ValueError):
    """The text is larger than its cap; nothing was parsed."""


class TooDeep(HoldmusicError, ValueError):
    """The text nests deeper than its cap; nothing was parsed."""


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth_problem(raw: bytes, max_depth: int) -> str | None:
    """Why ``raw`` (JSON) nests too deeply to parse, or None. Text that is not JSON is
    left to the parser to refuse."""
    depth = 0
    for m in _JSON_TOKENS.finditer(raw):
        c = m.group()
        if c in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
        elif c in (b"]", b"}"):
            depth -= 1
    return None


def read_capped(fh: IO[bytes], max_bytes: int) -> bytes:
    """At most ``max_bytes`` of ``fh``; :class:`TooLarge` if there is more."""
    raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise TooLarge(f"larger than {max_bytes:,} bytes")
    return raw


def load_json(fh: IO[bytes], max_bytes: int, max_depth: int) -> Any:
    """JSON from ``fh``, refused before parsing when too large or too deep. Raises
    :class:`TooLarge`, :class:`TooDeep` or ValueError (not JSON, not UTF-8)."""
    raw = read_capped(fh, max_bytes)
    why = json_depth_problem(raw, max_depth)
    if why is not None:
        raise TooDeep(why)
    try:
        return json.loads(raw)
    except RecursionError:  # the scan above makes this unreachable; never a crash
        raise TooDeep(f"nested deeper than {max_depth} levels") from None


# TOML: multi-line strings first (they may hold quotes), then one-line strings, then
# comments, then the characters that open or close a level or split a dotted key.
_TOML_TOKENS = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}.=,\n]',
    re.DOTALL,
)


def toml_depth_problem(text: str, max_depth: int) -> str | None:
    """Why ``text`` (TOML) nests too deeply to parse, or None.

    Two kinds of depth: brackets (arrays, inline tables, table headers) and the parts of a
    dotted key (``a.b.c`` is three levels). A value has at most one dot outside a string
    (a float), so counting dots between ``=``, ``,``, brackets and line ends bounds keys
    without parsing them.
    """
    depth = 0
    dots = 0
    for m in _TOML_TOKENS.finditer(text):
        c = m.group()
        if c == ".":
            dots += 1
            if dots >= max_depth:
                return f"a dotted key has more than {max_depth} parts"
            continue
        if len(c) != 1:  # a string or a comment
            continue
        dots = 0
        if c in "[{":
            depth += 1
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
        elif c in "]}":
            depth -= 1
    return None
