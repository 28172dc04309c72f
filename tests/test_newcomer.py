"""Messages a newcomer tripped on (issue 18), each as the user meets it: real SeaweedFS,
the Daily stand-in, the CLI as a user runs it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.s3 import dead_endpoint_url
from tests.conftest import SAMPLES, Result, Stack

Cli = Callable[..., Result]
WELCOME = SAMPLES / "welcome-mono.mp3"


def test_a_wrong_public_base_url_is_diagnosed_as_doctor_does(stack: Stack, cli: Cli) -> None:
    """The object is public at the bucket; the base URL points elsewhere. That is what
    to say, not 'the object is not public: run bucket-policy --apply'."""
    wrong = f"{stack.s3.endpoint_url}/{stack.private_bucket}"
    root = f"{stack.s3.endpoint_url}/{stack.public_bucket}"
    r = cli("upload", str(WELCOME), "--public-base-url", wrong, "--json")
    assert r.exit_code == 1, r.output
    check = json.loads(r.stdout)["public_check"]
    assert [p["code"] for p in check["problems"]] == ["public_base_url"]
    message = check["problems"][0]["message"]
    assert f"point it at the bucket root ({root})" in message
    assert "bucket-policy" not in message
    assert "error [public_base_url]" in r.stderr and "bucket-policy" not in r.stderr

    cid = stack.daily.add_config()
    p = cli("publish", str(WELCOME), "--config", cid, "--public-base-url", wrong)
    assert p.exit_code == 1
    assert f"bucket root ({root})" in p.stderr and "bucket-policy" not in p.stderr
    assert stack.daily.puts() == []


def test_doctor_with_an_unreachable_endpoint_says_so(stack: Stack, cli: Cli) -> None:
    dead = dead_endpoint_url()
    r = cli("doctor", "--endpoint-url", dead)
    assert r.exit_code == 1
    [line] = [x for x in r.stdout.splitlines() if "storage credentials:" in x]
    assert line.startswith("FAIL") and "cannot reach the storage endpoint" in line
    fix = r.stdout.splitlines()[r.stdout.splitlines().index(line) + 1]
    assert "HOLDMUSIC_ENDPOINT_URL" in fix
    assert "keys or the profile" not in r.stdout


def test_combined_selectors_are_named_as_combined(stack: Stack, cli: Cli) -> None:
    cid = stack.daily.add_config()
    r = cli("publish", str(WELCOME), "--config", cid, "--all-pinless")
    assert r.exit_code == 2
    [line] = r.stderr.splitlines()
    assert "--config and --all-pinless were combined" in line
    p = cli("publish", str(WELCOME), "--all-pinless", "--name-prefix", "x")
    assert "--all-pinless and --name-prefix were combined" in p.stderr
    none = cli("publish", str(WELCOME))
    assert "name the configs" in none.stderr
    assert stack.daily.requests == []


def test_a_folder_of_flac_and_wav_says_what_it_found(cli: Cli, tmp_path: Path) -> None:
    music = tmp_path / "music"
    (music / "old").mkdir(parents=True)
    for name in ("a.flac", "b.FLAC", "old/c.wav"):
        (music / name).write_bytes(b"\0" * 16)
    (music / "notes.txt").write_text("x")
    r = cli("validate", str(music))
    assert r.exit_code == 2
    [line] = r.stderr.splitlines()
    assert "no *.mp3 files found" in line
    assert "2 .flac, 1 .wav files" in line and "holdmusic fix" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    e = cli("validate", str(empty))
    assert "no *.mp3 files found" in e.stderr and "fix" not in e.stderr


@pytest.mark.parametrize(
    ("argv", "variables"),
    [
        (["publish"], ["DAILY_API_KEY", "DAILY_API_URL", "HOLDMUSIC_ALLOW_PRIVATE_URLS"]),
        (["batch"], ["DAILY_API_KEY", "DAILY_API_URL", "HOLDMUSIC_ALLOW_PRIVATE_URLS"]),
        (["rollback"], ["DAILY_API_KEY", "DAILY_API_URL", "HOLDMUSIC_ALLOW_PRIVATE_URLS"]),
        (["configs", "list"], ["DAILY_API_KEY", "DAILY_API_URL"]),
        (["configs", "check"], ["DAILY_API_KEY", "HOLDMUSIC_ALLOW_PRIVATE_URLS"]),
        (["doctor"], ["DAILY_API_KEY", "DAILY_API_URL"]),
        (["validate"], ["HOLDMUSIC_ALLOW_PRIVATE_URLS"]),
        (["upload"], ["HOLDMUSIC_ALLOW_PRIVATE_URLS"]),
    ],
)
def test_help_names_the_variables_a_command_reads(
    cli: Cli, argv: list[str], variables: list[str]
) -> None:
    r = cli(*argv, "--help")
    assert r.exit_code == 0
    for name in variables:
        assert name in r.stdout, (argv, name)


def test_verbose_works_after_the_subcommand_too(stack: Stack, cli: Cli) -> None:
    cid = stack.daily.add_config()
    for argv in (
        ["--verbose", "configs", "show", cid],
        ["configs", "show", cid, "--verbose"],
        ["configs", "show", "-v", cid],
    ):
        r = cli(*argv)
        assert r.exit_code == 0, (argv, r.output)


def test_a_mistyped_command_gets_a_suggestion(cli: Cli) -> None:
    r = cli("valdate", "x.mp3")
    assert r.exit_code == 2
    [line] = r.stderr.splitlines()
    assert "did you mean 'validate'?" in line
    sub = cli("configs", "lst")
    assert sub.exit_code == 2 and "did you mean 'list'?" in sub.stderr


def test_rollback_of_a_manifest_says_it_wants_a_report(
    stack: Stack, cli: Cli, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"config_id,file\n{stack.daily.add_config()},{WELCOME}\n")
    r = cli("rollback", str(manifest))
    assert r.exit_code == 1
    [line] = r.stderr.splitlines()
    assert "not JSON" in line and "report a batch or publish wrote" in line
    assert "not a manifest" in line
    assert stack.daily.requests == []


def test_an_item_without_a_status_is_named_properly(stack: Stack, cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    cid = stack.daily.add_config()
    report.write_text(json.dumps({"tool": "holdmusic", "items": [{"config_id": cid}]}))
    r = cli("rollback", str(report))
    assert r.exit_code == 1
    assert "field 'status' is missing" in r.stderr and "is null" not in r.stderr


def test_publish_always_leaves_a_report_that_rollback_takes(
    stack: Stack, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(WELCOME, tmp_path / "w.mp3")
    original = "https://cdn.example.com/hold/before.mp3"
    cid = stack.daily.add_config(hold_music_url=original)
    r = cli("publish", "w.mp3", "--config", cid, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)["report"]
    assert report.startswith("holdmusic-publish-") and (tmp_path / report).exists()
    assert f"Report: {report}" in r.stderr
    back = cli("rollback", report, "--no-verify")
    assert back.exit_code == 0, back.output
    assert stack.daily.get(cid)["config"]["hold_music_url"] == original
