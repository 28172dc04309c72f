"""An interrupt at the worst moment (right after the temporary file is created, before the
code that removes it is in force) leaves nothing behind: the window issue 17 found."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

from holdmusic import tempfiles


def _interrupting_mkstemp(monkeypatch: pytest.MonkeyPatch) -> None:
    """mkstemp that creates its file, then has the process receive SIGINT at once: the
    moment a Ctrl-C on a busy machine can land."""
    real = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        made = real(*args, **kwargs)  # type: ignore[call-overload]
        os.kill(os.getpid(), signal.SIGINT)
        return made  # type: ignore[no-any-return]

    monkeypatch.setattr(tempfiles.tempfile, "mkstemp", mkstemp)


def test_ctrl_c_right_after_the_part_file_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupting_mkstemp(monkeypatch)
    reached = False
    with pytest.raises(KeyboardInterrupt), tempfiles.partial_file(str(tmp_path / "o.mp3")):
        reached = True
    assert not reached  # the deferred Ctrl-C is delivered before any work starts
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_a_report_is_created_leaves_no_half_made_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupting_mkstemp(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        tempfiles.write_atomic(str(tmp_path / "r.json"), "{}\n", exclusive=True)
    assert list(tmp_path.iterdir()) == []


def test_exclusive_write_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("first\n")
    with pytest.raises(FileExistsError):
        tempfiles.write_atomic(str(target), "second\n", exclusive=True)
    assert target.read_text() == "first\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_failure_inside_the_block_removes_the_part_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), tempfiles.partial_file(str(tmp_path / "o.mp3")) as part:
        assert os.path.exists(part) and os.path.basename(part).startswith(".o.mp3.")
        raise RuntimeError("encoder failed")
    assert list(tmp_path.iterdir()) == []


def test_signals_are_delivered_after_the_block() -> None:
    seen: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with tempfiles.deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            seen.append("still running")
        seen.append("after the block")
    assert seen == ["still running"]
