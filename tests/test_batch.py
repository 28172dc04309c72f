"""``holdmusic batch MANIFEST`` and ``holdmusic rollback REPORT``: manifests, the JSON
report, idempotent re-runs, rollback, and a report that stays true when a run is
interrupted.  Real SeaweedFS and the Daily stand-in throughout.

Seeded "original" hold_music_url values point at real public objects (uploaded
with ``holdmusic upload`` to a second public bucket), because rollback checks that a
previous URL still serves valid hold music before it points a number back at it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from holdmusic import __version__, app
from holdmusic.manifest import ManifestError, read
from testkit.mp3 import Made
from tests.conftest import SAMPLES, Result, Stack

WELCOME = SAMPLES / "welcome-mono.mp3"
CALM = SAMPLES / "calm-vbr.mp3"
ITEM_KEYS = {
    "config_id",
    "file",
    "sha256",
    "url",
    "previous_url",
    "status",
    "error",
    "stored_url",
    "changed_fields",
    "note",  # issue 18: the same fields as publish's configs
    "ok",
}

Cli = Callable[..., Result]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "config_id,file") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *(f"{c},{f}" for c, f in rows)]) + "\n")
    return path


def url_of(stack: Stack, cid: str) -> str | None:
    return stack.daily.get(cid)["config"].get("hold_music_url")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def items_by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["config_id"]: i for i in report["items"]}


def set_elsewhere(stack: Stack, cid: str, url: str) -> None:
    """Someone else (the dashboard, another script) changes a config."""
    r = httpx.put(
        f"{stack.daily.url}/domain-dialin-config/{cid}",
        json={"hold_music_url": url},
        headers=stack.daily.auth_headers,
        trust_env=False,
    )
    assert r.status_code == 200


@pytest.fixture
def work(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder (also the cwd, so default report names land here) with
    music/welcome-mono.mp3 and music/calm-vbr.mp3."""
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy(WELCOME, music)
    shutil.copy(CALM, music)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def originals(stack: Stack, cli: Cli, tmp_path: Path) -> list[str]:
    """Two public URLs serving valid hold music, in a bucket of their own."""
    bucket = stack.s3.make_bucket(public_prefix="hold-music/")
    urls = []
    for name in ("original-a.mp3", "original-b.mp3"):
        copy = tmp_path / "originals" / name
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(SAMPLES / "jingle-stereo.mp3", copy)
        r = cli("upload", str(copy), "--bucket", bucket)
        assert r.exit_code == 0, r.output
        urls.append(r.stdout.strip())
    assert urls[0] != urls[1]
    return urls


# -- manifests ----------------------------------------------------------------------------


def test_csv_paths_are_relative_to_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "a.mp3").write_bytes(b"x")
    (tmp_path / "lists" / "more").mkdir(parents=True)
    (tmp_path / "lists" / "more" / "b.mp3").write_bytes(b"x")
    manifest = write_csv(
        tmp_path / "lists" / "m.csv", [("cfg-1", "../music/a.mp3"), ("cfg-2", "more/b.mp3")]
    )
    monkeypatch.chdir(tmp_path / "music")  # the cwd does not matter
    got = read(str(manifest))
    assert [(a.config_id, a.file, a.given, a.where) for a in got] == [
        ("cfg-1", str(tmp_path / "music" / "a.mp3"), "../music/a.mp3", "line 2"),
        ("cfg-2", str(tmp_path / "lists" / "more" / "b.mp3"), "more/b.mp3", "line 3"),
    ]


def test_csv_header_order_case_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text("\ufeffFile , Config_ID\na.mp3,cfg-1\n\n a.mp3 , cfg-2 \n")
    got = read(str(manifest))
    assert [(a.config_id, a.given) for a in got] == [("cfg-1", "a.mp3"), ("cfg-2", "a.mp3")]


def test_toml_manifest(tmp_path: Path) -> None:
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "a.mp3").write_bytes(b"x")
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[assign]]\nconfig = "cfg-1"\nfile = "music/a.mp3"\n\n'
        '[[assign]]\nconfig = "cfg-2"\nfile = "music/a.mp3"\n'
    )
    got = read(str(manifest))
    assert [(a.config_id, a.file, a.where) for a in got] == [
        ("cfg-1", str(tmp_path / "music" / "a.mp3"), "assign #1"),
        ("cfg-2", str(tmp_path / "music" / "a.mp3"), "assign #2"),
    ]


def test_every_bad_csv_row_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"x")
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            ("cfg-1", "a.mp3"),  # line 2: fine
            ("cfg-1", "a.mp3"),  # line 3: duplicate id
            ("cfg-2", "missing.mp3"),  # line 4: no such file
            ("", "a.mp3"),  # line 5: no id
            ("cfg-3", ""),  # line 6: no file
            ("cfg-4", "a.mp3,extra"),  # line 7: three fields
        ],
    )
    with pytest.raises(ManifestError) as caught:
        read(str(manifest))
    message = str(caught.value)
    assert "\n" not in message and "5 problems" in message
    for where, what in [
        ("line 3", "cfg-1 is already assigned at line 2"),
        ("line 4", "file not found: missing.mp3"),
        ("line 5", "no config id"),
        ("line 6", "no file for config cfg-3"),
        ("line 7", "3 fields, expected 2"),
    ]:
        assert f"{where}: " in message and what in message, (where, message)
    assert "line 2" not in message.replace("at line 2", "")


def test_unknown_and_missing_csv_columns(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"x")
    unknown = write_csv(tmp_path / "u.csv", [("cfg-1", "a.mp3,n")], "config_id,file,note")
    with pytest.raises(ManifestError, match="unknown column note"):
        read(str(unknown))
    missing = tmp_path / "m.csv"
    missing.write_text("config,file\ncfg-1,a.mp3\n")
    with pytest.raises(ManifestError) as caught:
        read(str(missing))
    assert "unknown column config" in str(caught.value)
    assert "missing column config_id" in str(caught.value)


def test_every_bad_toml_entry_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"x")
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        'title = "spring"\n'
        '[[assign]]\nconfig = "cfg-1"\nfile = "a.mp3"\n'
        '[[assign]]\nconfig = "cfg-1"\nfile = "a.mp3"\n'
        '[[assign]]\nconfig = "cfg-2"\nfile = "gone.mp3"\n'
        '[[assign]]\nconfig = "cfg-3"\nfile = "a.mp3"\nnote = "x"\n'
        '[[assign]]\nconfig = 4\nfile = "a.mp3"\n'
    )
    with pytest.raises(ManifestError) as caught:
        read(str(manifest))
    message = str(caught.value)
    assert "5 problems" in message
    assert "'title'" in message
    assert "assign #2: config cfg-1 is already assigned at assign #1" in message
    assert "assign #3: file not found: gone.mp3" in message
    assert "assign #4: unknown key note" in message
    assert "assign #5: config and file must be strings" in message


@pytest.mark.parametrize(
    "text",
    ["", "config_id,file\n", "config_id,file\n\n\n"],
    ids=["empty", "header-only", "blank-rows"],
)
def test_a_manifest_that_assigns_nothing(tmp_path: Path, text: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(ManifestError):
        read(str(manifest))


def test_a_bad_manifest_in_the_cli_does_nothing(stack: Stack, cli: Cli, work: Path) -> None:
    good = stack.daily.add_config()
    manifest = write_csv(
        work / "m.csv",
        [
            (good, "music/welcome-mono.mp3"),
            (good, "music/calm-vbr.mp3"),
            ("cfg-2", "music/nope.mp3"),
        ],
    )
    r = cli("batch", str(manifest))
    assert r.exit_code == 1
    assert r.stderr.startswith("error: manifest ") and r.stderr.strip().count("\n") == 0
    assert "line 3" in r.stderr and "line 4" in r.stderr
    assert stack.daily.requests == []
    assert stack.keys() == []
    assert list(work.glob("holdmusic-*.json")) == []  # no report either


# -- end to end ----------------------------------------------------------------------------


@pytest.mark.slow  # ~40 s; the smaller batch tests cover the same paths at the lowest versions
def test_batch_120_configs_rerun_and_rollback(
    stack: Stack, cli: Cli, work: Path, originals: list[str], mp3s: dict[str, Made]
) -> None:
    d = stack.daily
    d.faults.rate_limit(20, burst=20)
    ids = [d.add_config(hold_music_url=originals[i % 2]) for i in range(120)]
    seeded = {cid: originals[i % 2] for i, cid in enumerate(ids)}
    third = mp3s["cbr_mono_44k"]
    assert third.ok
    files = ["music/welcome-mono.mp3", "music/calm-vbr.mp3", str(third.path)]
    paths = {files[0]: WELCOME, files[1]: CALM, files[2]: third.path}
    assignment = {cid: files[i % 3] for i, cid in enumerate(ids)}
    manifest = write_csv(work / "refresh.csv", list(assignment.items()))
    d.faults.fail_before(probability=0.05)
    d.faults.fail_after_put(1, probability=0.02)  # at least one PUT lands, then says 502

    # -- the run
    r = cli("batch", str(manifest), "--report", "run1.json", "--json")
    assert r.exit_code == 0, r.stderr[-3000:]
    report = load(work / "run1.json")
    printed = json.loads(r.stdout)
    # --json is the report as written, and how the run ended (issue 18)
    assert {k: v for k, v in printed.items() if k in report} == report
    assert set(printed) - set(report) == {"ok", "uploads", "report", "interrupted", "error"}
    assert printed["ok"] is True and printed["report"] == "run1.json"
    assert printed["uploads"] == 3 and printed["interrupted"] is False
    assert "120 configs: 120 updated; 3 files uploaded" in r.stderr

    assert report["tool"] == "holdmusic" and report["command"] == "batch"
    assert report["version"] == __version__
    assert report["dry_run"] is False and report["complete"] is True
    assert report["started_at"] <= report["finished_at"]
    assert report["counts"] == {"updated": 120}
    assert [i["config_id"] for i in report["items"]] == ids

    urls: dict[str, str] = {}
    for item in report["items"]:
        cid, given = item["config_id"], item["file"]
        assert set(item) == ITEM_KEYS
        assert given == assignment[cid]
        assert item["sha256"] == sha(paths[given])
        assert item["url"] == urls.setdefault(given, item["url"])  # one URL per file
        assert item["url"].endswith(f"-{item['sha256'][:16]}.mp3")
        assert item["previous_url"] == seeded[cid]
        assert (item["status"], item["error"]) == ("updated", None)
        assert url_of(stack, cid) == item["url"]
    assert len(set(urls.values())) == 3
    # files are keyed as items name them (the manifest's paths), not by absolute path
    assert set(report["files"]) == set(files)
    assert {f: report["files"][f]["url"] for f in files} == urls

    # PUTs that were applied and then answered 502: their previous_url is still the original
    burnt = {x.path.rsplit("/", 1)[1] for x in d.requests if "fail_after_put" in x.faults}
    assert burnt
    for cid in burnt:
        assert items_by_id(report)[cid]["previous_url"] == seeded[cid]
        assert d.put_history(cid)[0] == items_by_id(report)[cid]["url"]

    # exactly the three files, each serving its exact bytes
    keys = stack.keys()
    assert len(keys) == 3
    for given, url in urls.items():
        assert httpx.get(url, trust_env=False).content == paths[given].read_bytes()
    s3 = stack.s3.client()
    modified = {k: s3.head_object(Bucket=stack.public_bucket, Key=k)["LastModified"] for k in keys}

    # -- the same manifest again: nothing to upload, nothing to PUT
    d.reset_log()
    again = cli("batch", str(manifest), "--report", "run2.json")
    assert again.exit_code == 0, again.stderr[-3000:]
    assert "120 configs: 120 unchanged; 0 files uploaded" in again.stderr
    assert d.puts() == []
    assert stack.keys() == keys
    for k in keys:
        assert s3.head_object(Bucket=stack.public_bucket, Key=k)["LastModified"] == modified[k]
    second = load(work / "run2.json")
    assert second["counts"] == {"unchanged": 120}
    assert all(i["previous_url"] == i["url"] for i in second["items"])

    # -- rollback: every config back to what it held before the first run
    d.reset_log()
    back = cli("rollback", "run1.json", "--report", "rollback.json", "--json")
    assert back.exit_code == 0, back.stderr[-3000:]
    rb = load(work / "rollback.json")
    printed = json.loads(back.stdout)
    assert {k: v for k, v in printed.items() if k in rb} == rb and printed["ok"] is True
    assert rb["command"] == "rollback" and rb["counts"] == {"updated": 120}
    for cid in ids:
        assert url_of(stack, cid) == seeded[cid]
        item = items_by_id(rb)[cid]
        assert item["url"] == seeded[cid]  # what it now points at again
        assert item["previous_url"] == urls[assignment[cid]]  # what it held before rollback
    assert {p.path.rsplit("/", 1)[1] for p in d.puts()} == set(ids)


# -- partial failures ----------------------------------------------------------------------


def test_a_failed_item_does_not_stop_the_others(stack: Stack, cli: Cli, work: Path) -> None:
    d = stack.daily
    good = [d.add_config(hold_music_url="https://cdn.example.com/a.mp3") for _ in range(3)]
    pin = d.add_config("pin_dialin")
    rows = [(good[0], "music/welcome-mono.mp3"), (pin, "music/welcome-mono.mp3")]
    rows += [("no-such-config", "music/calm-vbr.mp3"), (good[1], "music/calm-vbr.mp3")]
    rows += [(good[2], "music/welcome-mono.mp3")]
    manifest = write_csv(work / "m.csv", rows)
    r = cli("batch", str(manifest), "--report", "r.json")
    assert r.exit_code == 1
    report = items_by_id(load(work / "r.json"))
    for cid in good:
        assert report[cid]["status"] == "updated"
        assert url_of(stack, cid) == report[cid]["url"]
    assert report[pin]["status"] == "failed" and "pinless_dialin" in report[pin]["error"]
    unknown = report["no-such-config"]
    assert unknown["status"] == "failed" and "no-such-config" in unknown["error"]
    assert f"  {pin}: failed: " in r.stderr and "  no-such-config: failed: " in r.stderr
    assert [p.path.rsplit("/", 1)[1] for p in d.puts()].count(pin) == 0
    assert len(stack.keys()) == 2


def test_an_invalid_file_stops_the_run_unless_skip_invalid(
    stack: Stack, cli: Cli, work: Path
) -> None:
    d = stack.daily
    a, b = d.add_config(), d.add_config(hold_music_url="https://cdn.example.com/b.mp3")
    shutil.copy(SAMPLES / "too-long.mp3", work / "music")
    manifest = write_csv(work / "m.csv", [(a, "music/welcome-mono.mp3"), (b, "music/too-long.mp3")])

    stopped = cli("batch", str(manifest), "--report", "stopped.json")
    assert stopped.exit_code == 1
    assert "music/too-long.mp3: FAILED (75.096 s" in stopped.stderr
    assert "error [too_long]: 75.096 s is not under the 60 s limit" in stopped.stderr
    assert "2 configs: 1 failed, 1 not attempted; 0 files uploaded" in stopped.stderr
    assert "nothing uploaded, no config changed" in stopped.stderr
    assert stack.keys() == [] and d.requests == []
    items = items_by_id(load(work / "stopped.json"))
    assert items[b]["error"] == "the file failed validation"
    assert items[a]["status"] == "not_attempted" and "not attempted" in items[a]["error"]

    skipped = cli("batch", str(manifest), "--report", "skipped.json", "--skip-invalid")
    assert skipped.exit_code == 1  # an item failed
    items = items_by_id(load(work / "skipped.json"))
    assert items[a]["status"] == "updated" and url_of(stack, a) == items[a]["url"]
    assert items[b]["status"] == "failed" and items[b]["error"] == "the file failed validation"
    assert url_of(stack, b) == "https://cdn.example.com/b.mp3"
    assert len(stack.keys()) == 1
    assert [p.path.rsplit("/", 1)[1] for p in d.puts()] == [a]


def test_batch_dry_run_changes_nothing(stack: Stack, cli: Cli, work: Path) -> None:
    d = stack.daily
    ids = [d.add_config(hold_music_url="https://cdn.example.com/a.mp3") for _ in range(3)]
    manifest = write_csv(work / "m.csv", [(cid, "music/calm-vbr.mp3") for cid in ids])
    r = cli("batch", str(manifest), "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["dry_run"] is True
    assert {i["status"] for i in report["items"]} == {"would_update"}
    planned = report["items"][0]["url"]
    for cid in ids:
        assert f"  {cid}: https://cdn.example.com/a.mp3 → {planned}" in r.stderr
        assert url_of(stack, cid) == "https://cdn.example.com/a.mp3"
    assert stack.keys() == [] and d.puts() == []
    assert list(work.glob("*.json")) == []  # a dry run writes no report unless asked

    real = cli("batch", str(manifest), "--report", "real.json")
    assert real.exit_code == 0
    assert url_of(stack, ids[0]) == planned


# -- rollback --------------------------------------------------------------------------------


@pytest.fixture
def batched(stack: Stack, cli: Cli, work: Path, originals: list[str]) -> dict[str, Any]:
    """Three configs at original URLs, moved to welcome-mono.mp3 by a batch (run.json)."""
    ids = [stack.daily.add_config(hold_music_url=originals[i % 2]) for i in range(3)]
    manifest = write_csv(work / "m.csv", [(cid, "music/welcome-mono.mp3") for cid in ids])
    r = cli("batch", str(manifest), "--report", "run.json")
    assert r.exit_code == 0, r.output
    report = load(work / "run.json")
    stack.daily.reset_log()
    return {
        "ids": ids,
        "before": {cid: originals[i % 2] for i, cid in enumerate(ids)},
        "url": report["items"][0]["url"],
        "report": work / "run.json",
    }


def test_rollback_skips_a_config_changed_since_unless_forced(
    stack: Stack, cli: Cli, batched: dict[str, Any], originals: list[str]
) -> None:
    a, b, c = batched["ids"]
    set_elsewhere(stack, c, "https://cdn.example.com/someone-else.mp3")
    stack.daily.reset_log()

    r = cli("rollback", str(batched["report"]), "--report", "rb1.json", "--json")
    assert r.exit_code == 0, r.output
    assert f"warning: {c}: changed since the run" in r.stderr
    assert url_of(stack, a) == batched["before"][a]
    assert url_of(stack, b) == batched["before"][b]
    assert url_of(stack, c) == "https://cdn.example.com/someone-else.mp3"
    items = items_by_id(json.loads(r.stdout))
    assert items[c]["status"] == "skipped" and "forced rollback" in items[c]["error"]
    assert {p.path.rsplit("/", 1)[1] for p in stack.daily.puts()} == {a, b}

    forced = cli("rollback", str(batched["report"]), "--force", "--report", "rb2.json", "--json")
    assert forced.exit_code == 0, forced.output
    items = items_by_id(json.loads(forced.stdout))
    assert url_of(stack, c) == batched["before"][c]
    assert items[c]["status"] == "updated"
    assert items[c]["previous_url"] == "https://cdn.example.com/someone-else.mp3"
    assert items[a]["status"] == items[b]["status"] == "unchanged"


def test_rollback_dry_run_changes_nothing(
    stack: Stack, cli: Cli, batched: dict[str, Any], work: Path
) -> None:
    r = cli("rollback", str(batched["report"]), "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    assert {i["status"] for i in json.loads(r.stdout)["items"]} == {"would_update"}
    for cid in batched["ids"]:
        assert url_of(stack, cid) == batched["url"]
        assert f"  {cid}: {batched['url']} → {batched['before'][cid]}" in r.stderr
    assert stack.daily.puts() == []
    assert sorted(p.name for p in work.glob("*.json")) == ["run.json"]


def test_rollback_refuses_a_previous_url_that_no_longer_serves_music(
    stack: Stack, cli: Cli, work: Path
) -> None:
    gone = stack.s3.object_url(stack.public_bucket, "hold-music/deleted-long-ago.mp3")
    cid = stack.daily.add_config(hold_music_url=gone)
    manifest = write_csv(work / "m.csv", [(cid, "music/welcome-mono.mp3")])
    assert cli("batch", str(manifest), "--report", "run.json").exit_code == 0
    new = url_of(stack, cid)

    r = cli("rollback", "run.json", "--report", "rb.json")
    assert r.exit_code == 1
    item = items_by_id(load(work / "rb.json"))[cid]
    assert item["status"] == "failed" and "no longer serves valid hold music" in item["error"]
    assert "404" in item["error"]
    assert url_of(stack, cid) == new

    unchecked = cli("rollback", "run.json", "--no-verify", "--report", "rb2.json")
    assert unchecked.exit_code == 0, unchecked.output
    assert url_of(stack, cid) == gone


def test_rollback_cannot_clear_a_config_that_had_no_music(
    stack: Stack, cli: Cli, work: Path
) -> None:
    cid = stack.daily.add_config()
    manifest = write_csv(work / "m.csv", [(cid, "music/welcome-mono.mp3")])
    assert cli("batch", str(manifest), "--report", "run.json").exit_code == 0
    stack.daily.reset_log()
    r = cli("rollback", "run.json", "--report", "rb.json")
    assert r.exit_code == 1
    item = items_by_id(load(work / "rb.json"))[cid]
    assert item["status"] == "failed" and "no hold music before the run" in item["error"]
    assert stack.daily.puts() == []


# -- interrupted -------------------------------------------------------------------------


def test_an_interrupted_run_leaves_a_true_report(
    stack: Stack, work: Path, originals: list[str], cli: Cli
) -> None:
    d = stack.daily
    ids = [d.add_config(hold_music_url=originals[i % 2]) for i in range(24)]
    seeded = {cid: originals[i % 2] for i, cid in enumerate(ids)}
    manifest = write_csv(work / "m.csv", [(cid, "music/welcome-mono.mp3") for cid in ids])
    d.faults.delay(0.5, methods={"PUT"})  # each PUT lands, then answers half a second later
    report_path = work / "run.json"
    out = (work / "out.txt").open("w")
    command = [sys.executable, "-m", "holdmusic", "batch", str(manifest)]
    proc = subprocess.Popen(
        [*command, "--report", str(report_path), "--concurrency", "2"],
        cwd=work,
        env=dict(os.environ),
        stdout=out,
        stderr=subprocess.STDOUT,
        # A pytest started in the background (`pytest &`) ignores SIGINT, and a child
        # inherits that: restore the default so the batch sees the Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "the batch finished before it could be interrupted"
            assert time.monotonic() < deadline, "no item was updated in time"
            if report_path.exists():
                counts = load(report_path)["counts"]
                if counts.get("updated", 0) >= 3:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    output = (work / "out.txt").read_text()
    assert code == 130, output
    assert "interrupted" in output and "Traceback" not in output
    assert d.wait_idle(10)

    report = load(report_path)
    # finished, but not complete: an interrupted run says so (issue 18)
    assert report["complete"] is False and report["finished_at"] is not None
    assert output.count("not_attempted") == 0  # one summary line, not one per config
    assert sum("interrupted (" in line for line in output.splitlines()) == 1
    statuses = [i["status"] for i in report["items"]]
    assert "queued" not in statuses
    assert set(statuses) <= {"updated", "not_attempted", "pending"}
    assert 3 <= statuses.count("updated") < len(ids)  # really cut short
    for item in report["items"]:
        cid, now = item["config_id"], url_of(stack, item["config_id"])
        assert item["previous_url"] == seeded[cid]
        if item["status"] == "updated":
            assert now == item["url"]
        elif item["status"] == "not_attempted":
            assert now == seeded[cid], item
            assert item["error"].startswith("not attempted")
        else:  # pending: sent or about to be; either value is possible
            assert now in (seeded[cid], item["url"])

    # and the report is good enough to undo what was done
    d.faults.reset()
    back = cli("rollback", str(report_path), "--report", "rb.json")
    assert back.exit_code == 0, back.output
    assert all(url_of(stack, cid) == seeded[cid] for cid in ids)


# -- a PUT whose outcome nobody knows ------------------------------------------------------


class _DailyBreaksAtPutTime:
    """An observer: when the PUT phase starts, Daily applies PUTs but answers 502, and
    GETs fail."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def __call__(self, event: app.Event) -> None:
        if isinstance(event, app.PhaseStarted) and event.phase == app.Phase.UPDATE:
            self.stack.daily.faults.fail_after_put(probability=1.0)
            self.stack.daily.faults.fail_before(probability=1.0, methods={"GET"})


def test_a_put_with_unknown_outcome_is_rolled_back(
    stack: Stack, work: Path, originals: list[str]
) -> None:
    from holdmusic.daily import DailyClient, RateLimiter

    cid = stack.daily.add_config(hold_music_url=originals[0])
    manifest = write_csv(work / "m.csv", [(cid, "music/welcome-mono.mp3")])
    env = app.Environment.from_env(os.environ)  # the s3_env fixture's endpoint
    settings = env.storage_settings(bucket=stack.public_bucket)

    def client() -> DailyClient:
        return DailyClient(
            stack.daily.api_key,
            stack.daily.url,
            limiter=RateLimiter(1000, 100),
            max_attempts=2,
            backoff_initial=0.005,
            backoff_max=0.01,
        )

    with client() as c:
        ran = app.batch(
            str(manifest),
            settings,
            env=env,
            report=str(work / "run.json"),
            observer=_DailyBreaksAtPutTime(stack),
            client=c,
        )
    assert [i["status"] for i in ran.items] == ["pending"], ran.items
    new = url_of(stack, cid)
    assert new != originals[0]  # the PUT did land ...
    stack.daily.faults.reset()
    with client() as c:
        back = app.rollback(str(work / "run.json"), env=env, report_dir=str(work), client=c)
    assert back.ok, back.to_dict()
    assert url_of(stack, cid) == originals[0]  # ... so rollback must undo it
