"""Escape sequences from outside (file names, file contents, server replies) never reach a
terminal raw: holdmusic.text and the CLI's output guard."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import botocore.exceptions
import pytest

from holdmusic.cli import _SafeStream
from holdmusic.text import printable, terminal_safe
from testkit.mp3 import Made
from tests.conftest import Result

Cli = Callable[..., Result]

OSC_TITLE = "\x1b]0;pwned\x07"  # retitles the terminal window
OSC_CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"  # writes the clipboard
CLEAR = "\x1b[2J"  # clears the screen
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name.mp3", "plain name.mp3"),
        (f"a{OSC_TITLE}b", "a\\x1b]0;pwned\\x07b"),
        ("two\nlines\r", "two\\x0alines\\x0d"),
        ("tab\tkept", "tab\tkept"),
        ("caf\udce9.mp3", "caf\\xe9.mp3"),  # a non-UTF-8 byte, as os.fsdecode gives it
        ("evil\u202emp3.exe", "evil\\u202emp3.exe"),  # right-to-left override
        ("\x9b31m C1 CSI", "\\x9b31m C1 CSI"),
        ("é ü 李", "é ü 李"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_the_guard_keeps_colours_on_a_terminal_and_nothing_else() -> None:
    styled = "\x1b[32mPASSED\x1b[0m"
    assert terminal_safe(styled + OSC_CLIPBOARD + "\n", tty=True) == (
        styled + "\\x1b]52;c;cm0gLXJmIH4=\\x07\n"
    )
    # Cursor moves, erasures, carriage returns: escaped on a terminal too (issue 20: the
    # guard once let every CSI through there). rich's progress bar writes beneath it.
    redraw = "\r\x1b[2K\x1b[1A\x1b[?25l 42%"
    escaped = "\\x0d\\x1b[2K\\x1b[1A\\x1b[?25l 42%"
    assert terminal_safe(redraw, tty=True) == escaped
    assert terminal_safe(redraw, tty=False) == escaped
    # colours that hide or blink text are not colours
    for hidden in ("\x1b[8m", "\x1b[5m", "\x1b[7m", "\x1b[1;8m"):
        assert terminal_safe(hidden, tty=True) == "\\x1b" + hidden[1:]
    assert terminal_safe(styled, tty=False) == "\\x1b[32mPASSED\\x1b[0m"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_safe_stream_on_a_terminal_and_a_pipe() -> None:
    for inner, expected in (
        (_Terminal(), "\x1b[1mok\x1b[0m \\x1b]0;pwned\\x07\n"),
        (io.StringIO(), "\\x1b[1mok\\x1b[0m \\x1b]0;pwned\\x07\n"),
    ):
        stream = _SafeStream(inner)
        stream.write(f"\x1b[1mok\x1b[0m {OSC_TITLE}\n")
        assert inner.getvalue() == expected
    with pytest.raises(TypeError):
        _SafeStream(io.StringIO()).write(b"bytes")  # type: ignore[arg-type]


def test_escapes_in_file_contents_are_shown_not_run(cli: Cli, run_cli: Cli, tmp_path: Path) -> None:
    """An S3 error document saved as the file, its <Code> holding OSC sequences."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{OSC_TITLE}AccessDenied{OSC_CLIPBOARD}</Code>"
        "<Message>Access Denied</Message></Error>"
    )
    path = tmp_path / "hold.mp3"
    path.write_text(body)
    for run in (cli, run_cli):  # in-process, and a real process writing to a pipe
        r = run("validate", str(path))
        assert r.exit_code == 1
        assert _clean(r.output), r.output
        assert "XML error document (\\x1b]0;pwned\\x07AccessDenied" in r.output
        r = run("validate", "--json", str(path))
        assert _clean(r.output)
        assert "\x1b]0;pwned" in json.loads(r.stdout)[0]["problems"][0]["message"]


def test_escapes_in_file_names_are_shown_not_run(
    cli: Cli, tmp_path: Path, mp3s: dict[str, Made]
) -> None:
    name = os.fsdecode(b"hold\xe9" + OSC_TITLE.encode() + CLEAR.encode() + b".mp3")
    path = tmp_path / name
    path.write_bytes(mp3s["cbr_mono_44k"].path.read_bytes())
    report = tmp_path / "junit.xml"
    r = cli("validate", "--junit", str(report), str(tmp_path / "missing\x1b[2J.mp3"), str(path))
    assert r.exit_code == 1
    assert _clean(r.output), r.output
    assert "hold\\xe9\\x1b]0;pwned\\x07\\x1b[2J.mp3: PASSED" in r.stdout
    # JUnit: well-formed XML, one testcase per file, names escaped the same way
    root = ET.parse(report).getroot()
    names = [c.get("name", "") for c in root.iter("testcase")]
    assert names == [str(tmp_path / "missing\\x1b[2J.mp3"), printable(str(path))]
    assert _clean(report.read_text(encoding="utf-8"))


def test_escapes_in_a_storage_error_code_are_shown_not_run() -> None:
    from holdmusic.storage import StorageSettings, describe_error

    exc = botocore.exceptions.ClientError(
        {"Error": {"Code": f"Weird{OSC_TITLE}", "Message": f"no{CLEAR}"}}, "PutObject"
    )
    settings = StorageSettings(bucket="b")
    message = describe_error(exc, settings)
    assert message is not None and _clean(message)
    assert "Weird\\x1b]0;pwned\\x07" in message
