"""The README's console examples are run and compared with the README, verbatim, so they
cannot rot: every ```console block whose commands start with ``$ holdmusic`` is run from
the repository root, as a user who just cloned it would, and must print exactly what the
README shows after the command. (The pre-commit block shows pre-commit's output, not a
command of ours, and is checked by tests/test_precommit.py.)
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


def console_examples() -> list[tuple[str, str]]:
    """(command, expected output) for each ``$ holdmusic …`` line of a console block
    (other commands in them, such as ``pip install``, are not ours to run)."""
    examples = []
    for block in re.findall(r"^```console\n(.*?)^```$", README.read_text(), re.M | re.S):
        command: str | None = None
        expected: list[str] = []
        for line in [*block.splitlines(), "$ "]:
            if line.startswith("$ "):
                if command is not None and command.startswith("holdmusic "):
                    examples.append((command, "\n".join(expected)))
                command, expected = line[2:], []
            elif command is not None:
                expected.append(line)
    return examples


EXAMPLES = console_examples()


def test_the_readme_has_the_main_job_as_an_example() -> None:
    assert "holdmusic validate samples/" in [command for command, _ in EXAMPLES]


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_console_example_prints_what_the_readme_says(
    command: str, expected: str, tmp_path: Path
) -> None:
    argv = shlex.split(command)
    assert argv[0] == "holdmusic"
    # Run where the repository's samples/ is, as a user at the root of a clone would, but
    # in a scratch folder, so an example that writes a file (fix -o) leaves the clone alone.
    (tmp_path / "samples").symlink_to(REPO / "samples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOLDMUSIC_", "DAILY_"))}
    p = subprocess.run(
        [sys.executable, "-m", "holdmusic", *argv[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The README shows what a terminal shows: stdout and stderr together.
    assert (p.stdout + p.stderr).rstrip("\n") == expected.rstrip("\n")


def test_readme_links_stay_inside_the_repository() -> None:
    text = README.read_text()
    assert "../" not in text
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), target
