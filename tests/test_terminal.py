"""Output on a real terminal (issue 20, "Output that breaks or lies on a terminal").

holdmusic runs as a subprocess whose stdout and stderr are a pseudo-terminal, as a user's
shell gives it: rich draws its tables and progress bar, click its colours. Data from Daily
and file names carry rich markup (``[/]``) and terminal escapes (clear screen, cursor up):
none may abort a run, and none may reach the terminal raw. Piped, a newline or tab in a
value must not forge a row or a column.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import wave
from collections.abc import Mapping
from fcntl import ioctl
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Stack
from tests.test_batch import set_elsewhere

WELCOME = SAMPLES / "welcome-mono.mp3"
# What click and rich may write themselves: colours (SGR), and rich's own cursor control
# (hide/show, erase line, cursor up) for its live progress bar.
_OURS = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\r")
HOSTILE = "[/]\x1b[2J\x1b[1A[bold]x"  # markup, clear screen, cursor up


def on_terminal(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 90
) -> tuple[int, str]:
    """Run ``holdmusic ARGS`` with stdout and stderr on a pseudo-terminal (120 columns);
    returns the exit status and everything the terminal received."""
    master, slave = pty.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
    full = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **(env or {})}
    full.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "holdmusic", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=full,
        cwd=cwd,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=timeout)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode("utf-8", "replace")


def raw_escapes(output: str) -> list[str]:
    """Escape sequences and controls that are not click's or rich's own."""
    rest = _OURS.sub("", output).replace("\n", "")
    return re.findall(r"[\x00-\x08\x0b-\x1f\x7f]\S{0,6}", rest)


@pytest.fixture
def env(stack: Stack) -> dict[str, str]:
    return {
        "DAILY_API_KEY": stack.daily.api_key,
        "DAILY_API_URL": stack.daily.url,
        "HOLDMUSIC_BUCKET": stack.public_bucket,
    }


def test_configs_list_and_show_on_a_terminal(stack: Stack, env: dict[str, str]) -> None:
    cid = stack.daily.add_config(name_prefix=HOSTILE, hold_music_url=f"https://x.example/{HOSTILE}")
    stack.daily.add_config(name_prefix="plain")
    code, out = on_terminal("configs", "list", env=env)
    assert code == 0, out
    assert "MarkupError" not in out and "unexpected" not in out
    assert "[/]\\x1b[2J\\x1b[1A[bold]x" in out  # shown, escaped, not interpreted
    assert raw_escapes(out) == []
    code, out = on_terminal("configs", "show", cid, env=env)
    assert code == 0, out
    assert "https://x.example/[/]\\x1b[2J" in out.replace("\r\n", "")
    assert raw_escapes(out) == []


def test_configs_list_piped_cannot_forge_rows_or_columns(stack: Stack, cli: object) -> None:
    stack.daily.add_config(name_prefix="evil\nfake-id\tpinless_dialin\t+15550000000")
    stack.daily.add_config(name_prefix="plain")
    p = subprocess.run(
        [sys.executable, "-m", "holdmusic", "configs", "list"],
        env={**os.environ, "DAILY_API_KEY": stack.daily.api_key, "DAILY_API_URL": stack.daily.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    rows = p.stdout.splitlines()
    assert len(rows) == 1 + 2  # the header and two configs: no forged row
    assert all(row.count("\t") == 3 for row in rows)  # four columns, always
    assert "evil\\x0afake-id\\x09pinless_dialin" in p.stdout
    assert p.stderr.strip() == "2 dial-in configs"


def test_a_batch_with_hostile_names_runs_to_the_end_on_a_terminal(
    stack: Stack, env: dict[str, str], tmp_path: Path
) -> None:
    """A file named with markup and escapes, failing validation, under --skip-invalid;
    a config whose current URL carries them too: the run goes on and says so, escaped."""
    bad = tmp_path / "bad[/x]\x1b[2J.mp3"  # a folder "bad[" holding "x]...mp3"
    bad.parent.mkdir()
    bad.write_text("<html>not audio</html>")
    shutil.copy(WELCOME, tmp_path / "good.mp3")
    ids = [stack.daily.add_config(hold_music_url=f"https://x.example/{HOSTILE}") for _ in range(3)]
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f"config_id,file\n{ids[0]},bad[/x]\x1b[2J.mp3\n{ids[1]},good.mp3\n{ids[2]},good.mp3\n"
    )
    code, out = on_terminal(
        "batch", str(manifest), "--skip-invalid", "--report", "run.json", env=env, cwd=tmp_path
    )
    assert code == 1, out  # one item failed (its file), the others were updated
    assert "MarkupError" not in out and "unexpected" not in out and "Traceback" not in out
    report = json.loads((tmp_path / "run.json").read_text())
    assert [i["status"] for i in report["items"]] == ["failed", "updated", "updated"]
    assert "bad[/x]\\x1b[2J.mp3" in out
    assert raw_escapes(out) == []

    # someone sets one of them to a hostile URL; rollback skips it with a warning
    new_url = report["items"][1]["url"]
    set_elsewhere(stack, ids[2], f"https://y.example/{HOSTILE}")
    code, out = on_terminal(
        "rollback", "run.json", "--no-verify", "--report", "rb.json", env=env, cwd=tmp_path
    )
    assert code == 0, out
    assert "MarkupError" not in out and "Traceback" not in out
    rolled = json.loads((tmp_path / "rb.json").read_text())
    assert sorted(i["status"] for i in rolled["items"]) == ["skipped", "updated"]
    assert "changed since the run" in out and "https://y.example/[/]\\x1b[2J" in out
    assert raw_escapes(out) == []
    assert stack.daily.get(ids[1])["config"]["hold_music_url"] != new_url


def test_publish_lines_are_escaped_on_a_terminal(
    stack: Stack, env: dict[str, str], tmp_path: Path
) -> None:
    cid = stack.daily.add_config(
        name_prefix=HOSTILE, phone_number=None, hold_music_url=f"https://x.example/{HOSTILE}"
    )
    code, out = on_terminal("publish", str(WELCOME), "--config", cid, env=env, cwd=tmp_path)
    assert code == 0, out
    assert "(was https://x.example/[/]\\x1b[2J" in out.replace("\r\n", "")
    assert raw_escapes(out) == []


def test_fix_and_preview_escape_file_names_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("av")
    name = "tone[/x]\x1b[2J.wav"  # a folder "tone[" holding "x]...wav"
    (tmp_path / "tone[").mkdir()
    with wave.open(str(tmp_path / name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * ((i // 20) % 2 * 2 - 1))) for i in range(8000 * 2)
            )
        )
    code, out = on_terminal("fix", name, "-o", "out\x1b[1A.mp3", cwd=tmp_path)
    assert code == 0, out
    assert "x]\\x1b[2J.wav" in out and "out\\x1b[1A.mp3" in out
    assert raw_escapes(out) == []
    code, out = on_terminal("preview", name, "-o", "caller\x1b[1A.wav", cwd=tmp_path)
    assert code == 0, out
    assert "caller\\x1b[1A.wav" in out
    assert raw_escapes(out) == []
