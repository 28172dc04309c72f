"""What a newcomer's first hour tripped over (issue 9): warnings that batch kept to
itself, configs never tried counted as failed, "a config cannot take hold music" when
Daily was simply out of reach, env vars the errors did not mention, a --strict FAILED
with no word about --strict, "1 configs". Real SeaweedFS and the Daily stand-in.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from holdmusic.cli import COMMANDS
from holdmusic.cli import cli as root
from testkit.s3 import dead_endpoint_url
from tests.conftest import SAMPLES, Result, Stack

Cli = Callable[..., Result]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("\n".join(["config_id,file", *(f"{c},{f}" for c, f in rows)]) + "\n")
    return path


@pytest.fixture
def music(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("welcome-mono.mp3", "jingle-stereo.mp3", "too-long.mp3"):
        shutil.copy(SAMPLES / name, tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _commands() -> list[click.Command]:
    ctx = click.Context(root)
    found: list[click.Command] = []
    for name in COMMANDS:
        command = root.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            found.extend(command.commands.values())
        else:
            found.append(command)
    return found


def test_every_env_backed_option_shows_its_variable_in_help(cli: Cli) -> None:
    seen = set()
    for command in _commands():
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                assert param.show_envvar, f"{command.name} {param.opts}"
                seen.add((command.name, param.envvar))
    assert ("upload", "HOLDMUSIC_BUCKET") in seen and ("batch", "HOLDMUSIC_ACL") in seen
    for command_name, envvar in sorted(seen):
        path = ["configs", command_name] if command_name == "check" else [command_name]
        r = cli(*path, "--help")
        assert r.exit_code == 0
        assert envvar in " ".join(r.stdout.split()), (command_name, envvar)


def test_a_missing_option_says_its_env_var_works_too(cli: Cli, monkeypatch) -> None:
    monkeypatch.delenv("HOLDMUSIC_BUCKET", raising=False)
    r = cli("upload", str(SAMPLES / "welcome-mono.mp3"))
    assert r.exit_code == 2
    assert "Missing option '--bucket' (env var: 'HOLDMUSIC_BUCKET')" in r.stderr


def test_strict_says_that_it_turned_the_warnings_into_a_failure(cli: Cli) -> None:
    stereo, mono = str(SAMPLES / "jingle-stereo.mp3"), str(SAMPLES / "welcome-mono.mp3")
    r = cli("validate", "--strict", stereo, mono)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"Checking {stereo}: FAILED (30.000 s")
    assert lines[1].startswith("  warning [stereo]:")
    assert lines[2] == "  FAILED because of --strict: its warnings count as errors"
    assert lines[3].startswith(f"Checking {mono}: PASSED (45.000 s")  # no note on a clean pass
    plain = cli("validate", stereo)
    assert plain.exit_code == 0 and "--strict" not in plain.stdout


def test_strict_junit_says_why_too(cli: Cli, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    report = tmp_path / "j.xml"
    r = cli("validate", "--strict", "--junit", str(report), str(SAMPLES / "jingle-stereo.mp3"))
    assert r.exit_code == 1
    failure = ET.parse(report).find(".//failure")
    assert failure is not None and failure.get("type") == "stereo"
    assert failure.get("message", "").startswith("--strict: stereo: phone calls are mono")
    assert (failure.text or "").endswith("FAILED because of --strict: its warnings count as errors")


def test_batch_shows_each_files_warnings_before_any_put(
    stack: Stack, cli: Cli, music: Path
) -> None:
    a, b = stack.daily.add_config(), stack.daily.add_config()
    manifest = write_csv(music / "m.csv", [(a, "jingle-stereo.mp3"), (b, "welcome-mono.mp3")])
    r = cli("batch", str(manifest), "--report", "run.json")
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    verdict = lines.index(
        next(x for x in lines if x.startswith(f"Checking {music}/jingle-stereo.mp3: PASSED"))
    )
    assert "with warnings" in lines[verdict]
    assert lines[verdict + 1].startswith("  warning [stereo]: stereo: phone calls are mono")
    assert verdict < lines.index("uploading: 2") < lines.index("updating configs: 2")
    assert not any("welcome-mono.mp3: PASSED" in x for x in lines)  # clean files stay quiet
    assert "2 configs: 2 updated; 2 files uploaded" in lines


def test_configs_never_tried_are_not_attempted_and_counts_are_singular(
    stack: Stack, cli: Cli, music: Path
) -> None:
    a, b = stack.daily.add_config(), stack.daily.add_config()
    manifest = write_csv(music / "m.csv", [(a, "welcome-mono.mp3"), (b, "too-long.mp3")])
    r = cli("batch", str(manifest), "--report", "stopped.json")
    assert r.exit_code == 1
    assert "2 configs: 1 failed, 1 not attempted; 0 files uploaded" in r.stderr.splitlines()
    items = {i["config_id"]: i for i in json.loads(Path("stopped.json").read_text())["items"]}
    assert items[a]["status"] == "not_attempted"
    assert items[b]["status"] == "failed"
    assert json.loads(Path("stopped.json").read_text())["counts"] == {
        "failed": 1,
        "not_attempted": 1,
    }

    one = write_csv(music / "one.csv", [(a, "welcome-mono.mp3")])
    r = cli("batch", str(one), "--report", "one.json")
    assert r.exit_code == 0, r.output
    assert "1 config: 1 updated; 1 file uploaded" in r.stderr.splitlines()


def test_publish_with_daily_unreachable_says_so_and_how_long_it_tried(
    stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = dead_endpoint_url() + "/v1"
    monkeypatch.setenv("DAILY_API_URL", dead)
    r = cli("publish", str(SAMPLES / "welcome-mono.mp3"), "--config", "cfg-1")
    assert r.exit_code == 1
    stopped = next(x for x in r.stderr.splitlines() if x.startswith("Stopped: "))
    assert stopped.startswith(f"Stopped: Daily could not be reached: cannot reach Daily at {dead}")
    assert "(tried 6 times over " in stopped and stopped.endswith(
        " s); nothing uploaded, no config changed"
    )
    assert "cannot take hold music" not in r.stderr
    assert stack.keys() == []
