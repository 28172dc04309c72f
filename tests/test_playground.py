"""The README's "Try it locally" walk-through, run as written: ``scripts/playground.py``
starts SeaweedFS and the Daily stand-in, then the README's block of commands runs in one
shell (``set -e``: every command must succeed), from a folder laid out like the
repository root. What the configs hold is checked over Daily's API before and after.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
MARK = "<!-- playground-walkthrough"


def readme_blocks() -> tuple[list[str], str]:
    """The playground command line (terminal 1) and the walk-through block (terminal 2)."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Try it locally") :]
    start = re.search(r"```sh\n(python scripts/playground\.py[^\n]*)\n```", section)
    walk = re.search(re.escape(MARK) + r"[^\n]*\n```sh\n(.*?)```", section, re.S)
    assert start and walk, "the README's Try it locally section lost its blocks"
    return shlex.split(start.group(1)), walk.group(1)


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The README's terminal 1, in a folder with the repository's samples/ and scripts/."""
    for name in ("samples", "scripts"):
        (tmp_path / name).symlink_to(REPO / name)
    argv, _ = readme_blocks()
    assert argv[:2] == ["python", "scripts/playground.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOLDMUSIC_", "DAILY_"))}
    log = (tmp_path / "playground.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, *argv[1:]],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    env_file = tmp_path / argv[argv.index("--env-file") + 1]
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert proc.poll() is None, (tmp_path / "playground.log").read_text()
            assert time.monotonic() < deadline, "the playground did not start in time"
            time.sleep(0.2)
        exported = dict(
            re.fullmatch(r"export (\w+)=(.*)", line).groups()  # type: ignore[union-attr]
            for line in env_file.read_text().splitlines()
        )
        yield tmp_path, {k: shlex.split(v)[0] for k, v in exported.items()}
    finally:
        proc.send_signal(signal.SIGINT)  # the README's Ctrl-C
        try:
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert code == 0, (tmp_path / "playground.log").read_text()


def hold_music(exported: dict[str, str], config_id: str) -> str | None:
    r = httpx.get(
        f"{exported['DAILY_API_URL']}/domain-dialin-config/{config_id}",
        headers={"Authorization": f"Bearer {exported['DAILY_API_KEY']}"},
        trust_env=False,
    )
    r.raise_for_status()
    return r.json()["config"].get("hold_music_url")


def test_the_readme_walkthrough_runs_as_written(
    playground: tuple[Path, dict[str, str]],
) -> None:
    folder, exported = playground
    assert exported["HOLDMUSIC_ALLOW_PRIVATE_URLS"] == "1"
    lines = ("support-line", "sales-line", "after-hours")
    original = {cid: hold_music(exported, cid) for cid in lines}
    assert all(
        url and url.endswith("/playground/hold-music/original.mp3") for url in original.values()
    )

    _, walk = readme_blocks()
    # the README's second terminal: a shell with holdmusic on PATH and nothing else set
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HOLDMUSIC_", "DAILY_", "AWS_"))
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    r = subprocess.run(
        ["bash", "-c", "set -euo pipefail\nset -x\n" + walk],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = r.stdout + r.stderr
    assert r.returncode == 0, output

    # publish: support-line plays calm-vbr, at a content-addressed URL that serves it
    calm = hold_music(exported, "support-line")
    assert calm is not None and re.search(
        r"/playground/hold-music/calm-vbr-[0-9a-f]{16}\.mp3$", calm
    )
    assert httpx.get(calm, trust_env=False).content == (REPO / "samples/calm-vbr.mp3").read_bytes()
    assert f"hold_music_url\t{calm}" in r.stdout  # configs show, piped: tab-separated
    # batch: the stereo warning came before any upload; one config was already right
    assert output.index("warning [stereo]") < output.index("uploading: 2")
    assert "3 configs: 1 unchanged, 2 updated; 1 file uploaded" in output, output
    # rollback: the two configs the batch changed are back on the original
    assert "2 configs: 2 updated" in output.split("holdmusic rollback")[1]
    assert hold_music(exported, "sales-line") == original["sales-line"]
    assert hold_music(exported, "after-hours") == original["after-hours"]
    assert hold_music(exported, "support-line") == calm  # the publish is not the batch's to undo
    assert (folder / "playground-batch.json").exists()
