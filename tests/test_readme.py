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


# --- claims the README makes about the code (issue 18: they drifted apart) ---------------


def _section(marker: str) -> str:
    """The text after an HTML comment marker, up to the next blank line after it."""
    text = README.read_text()
    start = text.index(f"<!-- {marker}:")
    body = text[text.index("-->", start) + 3 :].lstrip("\n")
    return body.split("\n\n", 1)[0]


def test_the_problem_code_table_is_the_registry_both_ways() -> None:
    from holdmusic.codes import REGISTRY

    rows = {}
    for line in _section("codes").splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1]
    assert set(rows) == set(REGISTRY), set(rows) ^ set(REGISTRY)
    for code, severity in rows.items():
        assert severity == REGISTRY[code].severity_text, code


def test_every_code_the_readme_mentions_is_registered() -> None:
    """No code in backquotes anywhere in the README that the registry does not know,
    among the words that look like codes next to 'error'/'warning' or in JSON."""
    from holdmusic.codes import REGISTRY

    text = README.read_text()
    claimed = set(re.findall(r'"code": "([a-z_]+)"', text))
    claimed |= set(re.findall(r"(?:error|warning) \[([a-z_]+)\]", text))
    assert claimed <= set(REGISTRY), claimed - set(REGISTRY)


def test_the_status_list_is_the_enum() -> None:
    from holdmusic.record import Status

    # each status opens an entry of the comma-separated list
    listed = re.findall(r"(?:^|, )`([a-z_]+)`", _section("statuses").replace("\n", " "))
    assert listed == [s.value for s in Status]


def test_the_environment_table_names_every_variable_holdmusic_reads() -> None:
    from holdmusic.app import VARIABLES

    text = README.read_text()
    table = text[text.index("### Environment") : text.index("### Commands")]
    named = set(re.findall(r"^\| `([A-Z_]+)`", table, re.M))
    assert set(VARIABLES) <= named, set(VARIABLES) - named


def test_the_missing_extra_message_is_the_one_printed() -> None:
    from holdmusic.studio import INSTALL_HINT

    assert f"`{INSTALL_HINT}`" in README.read_text().replace("\n", " ")


def test_the_preview_default_name_is_the_one_used() -> None:
    from holdmusic.app import default_output

    match = re.search(r"\(`([\w.-]+)` →\s+`([\w.-]+)`\)", README.read_text())
    assert match is not None
    assert default_output(match.group(1), ".caller.wav") == match.group(2)


def test_the_ctrl_c_statuses_are_the_ones_recorded() -> None:
    from holdmusic.progress import Cancel
    from holdmusic.record import Item, Recorder, Status

    recorder = Recorder(None, "batch", "m.csv")
    recorder.add_all([Item("a", status=Status.QUEUED)])
    recorder.close_queued(Cancel().reason)
    item = recorder.items["a"]
    text = README.read_text().replace("\n", " ")
    assert f"those never sent `{item.status.value}` (error `{item.error}`)" in text


def test_failures_are_one_line_usage_errors_included(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOLDMUSIC_", "DAILY_"))}
    for argv in (["validate"], ["validate", "--max-seconds", "x", "f.mp3"], ["valdate", "x"]):
        p = subprocess.run(
            [sys.executable, "-m", "holdmusic", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 2, p
        [line] = p.stderr.splitlines()
        assert line.startswith("error: ") and "--help" in line, line
    assert "did you mean 'validate'?" in line


def test_the_json_schemas_named_are_the_ones_shipped() -> None:
    from holdmusic import schemas

    text = README.read_text()
    section = text[text.index("### JSON output") : text.index("### Problem codes")]
    listed = set(re.findall(r"`([a-z-]+)`", section.split("shared parts", 1)[0]))
    assert set(schemas.names()) - {"defs"} <= listed
