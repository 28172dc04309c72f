"""``holdmusic publish FILE --config ID`` end to end: SeaweedFS + the Daily stand-in.

What a user relies on: a config points at the new URL only when the file passed, every
named config can take hold music and the URL anonymously serves the exact bytes; when
anything fails before the PUTs, nothing is uploaded or changed; the JSON says what each
config held before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SAMPLES, Result, Stack

WELCOME = SAMPLES / "welcome-mono.mp3"
CALM = SAMPLES / "calm-vbr.mp3"
OLD = "https://cdn.example.com/hold/old.mp3"
CONFIG_KEYS = {
    "config_id",
    "file",
    "sha256",
    "url",
    "previous_url",
    "status",
    "error",
    "stored_url",
    "changed_fields",
    "note",
    "ok",
}  # the same as a batch report item's (issue 18)

Cli = Callable[..., Result]


def publish(cli: Cli, path: Path, *args: str) -> Result:
    return cli("publish", str(path), *args)


def publish_json(cli: Cli, path: Path, *args: str) -> tuple[Result, dict[str, Any]]:
    r = publish(cli, path, *args, "--json")
    return r, json.loads(r.stdout)


def configs_args(ids: list[str]) -> list[str]:
    return [arg for cid in ids for arg in ("--config", cid)]


def url_of(stack: Stack, cid: str) -> str | None:
    return stack.daily.get(cid)["config"].get("hold_music_url")


def anonymous_get(url: str) -> httpx.Response:
    return httpx.get(url, trust_env=False, timeout=10)


def without_url(obj: dict[str, Any]) -> dict[str, Any]:
    config = {k: v for k, v in obj["config"].items() if k != "hold_music_url"}
    return {**obj, "config": config}


# -- success ------------------------------------------------------------------------------


def test_publish_points_the_config_at_the_verified_url(stack: Stack, cli: Cli) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    before = stack.daily.get(cid)
    r = publish(cli, WELCOME, "--config", cid)
    assert r.exit_code == 0, r.output

    url = r.stdout.strip().splitlines()[-1]
    sha = hashlib.sha256(WELCOME.read_bytes()).hexdigest()
    assert url.startswith(f"{stack.s3.endpoint_url}/{stack.public_bucket}/hold-music/")
    assert url.endswith(f"welcome-mono-{sha[:16]}.mp3")
    assert url_of(stack, cid) == url
    assert stack.keys() == [f"hold-music/welcome-mono-{sha[:16]}.mp3"]

    served = anonymous_get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "audio/mpeg"
    assert served.content == WELCOME.read_bytes()

    # one PUT, of hold_music_url alone; every other field is as it was
    assert [p.json() for p in stack.daily.puts(cid)] == [{"hold_music_url": url}]
    assert without_url(stack.daily.get(cid)) == without_url(before)
    assert f"updated (was {OLD})" in r.stderr


def test_publish_json_shape(stack: Stack, cli: Cli) -> None:
    first = stack.daily.add_config(hold_music_url=OLD)
    second = stack.daily.add_config()  # no hold music yet
    r, data = publish_json(cli, CALM, *configs_args([first, second]))
    assert r.exit_code == 0, r.output
    assert {"url", "sha256", "configs"} <= set(data)
    assert data["sha256"] == hashlib.sha256(CALM.read_bytes()).hexdigest()
    assert data["url"] == url_of(stack, first) == url_of(stack, second)
    assert data["ok"] is True and data["dry_run"] is False and data["stopped"] is None
    assert [pick(c) for c in data["configs"]] == [
        {"config_id": first, "previous_url": OLD, "status": "updated", "error": None},
        {"config_id": second, "previous_url": None, "status": "updated", "error": None},
    ]
    for entry in data["configs"]:
        # the same fields as a batch report's items (issue 18)
        assert set(entry) == CONFIG_KEYS
        assert entry["url"] == data["url"] and entry["sha256"] == data["sha256"]
        assert entry["ok"] is True and entry["file"] == str(CALM)


def pick(entry: dict[str, object]) -> dict[str, object]:
    return {k: entry[k] for k in ("config_id", "previous_url", "status", "error")}


def test_a_config_already_at_the_url_is_unchanged_and_not_put(stack: Stack, cli: Cli) -> None:
    up = cli("upload", str(WELCOME))
    assert up.exit_code == 0, up.output
    url = up.stdout.strip()
    there = stack.daily.add_config(hold_music_url=url)
    elsewhere = stack.daily.add_config(hold_music_url=OLD)
    stack.daily.reset_log()

    r, data = publish_json(cli, WELCOME, *configs_args([there, elsewhere]))
    assert r.exit_code == 0, r.output
    statuses = {c["config_id"]: (c["status"], c["previous_url"]) for c in data["configs"]}
    assert statuses == {there: ("unchanged", url), elsewhere: ("updated", OLD)}
    assert stack.daily.puts(there) == []
    assert len(stack.daily.puts(elsewhere)) == 1
    assert data["uploaded"] is False  # the same bytes were already there

    again, data = publish_json(cli, WELCOME, *configs_args([there, elsewhere]))
    assert again.exit_code == 0
    assert {c["status"] for c in data["configs"]} == {"unchanged"}
    assert stack.daily.count("PUT") == 1


def test_dry_run_changes_nothing_and_prints_the_planned_url(stack: Stack, cli: Cli) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    r = publish(cli, WELCOME, "--config", cid, "--dry-run")
    assert r.exit_code == 0, r.output
    # stdout carries only a URL that is live: a dry run prints none there
    assert r.stdout == ""
    planned = r.stderr.split("Dry run: would upload to ", 1)[1].split()[0]
    assert f"{cid}: would_update (was {OLD})" in r.stderr
    assert stack.keys() == []
    assert stack.daily.count("PUT") == 0
    assert url_of(stack, cid) == OLD

    _, data = publish_json(cli, WELCOME, "--config", cid, "--dry-run")
    assert data["dry_run"] is True and data["url"] == planned
    assert data["configs"][0]["status"] == "would_update"
    assert stack.keys() == [] and stack.daily.count("PUT") == 0

    real = publish(cli, WELCOME, "--config", cid)
    assert real.stdout.strip().splitlines()[-1] == planned  # the plan was the truth


# -- nothing happens when a step before the PUTs fails -----------------------------------


def test_a_pin_dialin_config_stops_everything(stack: Stack, cli: Cli) -> None:
    good = stack.daily.add_config(hold_music_url=OLD)
    pin = stack.daily.add_config("pin_dialin")
    r, data = publish_json(cli, WELCOME, *configs_args([good, pin]))
    assert r.exit_code == 1
    assert stack.keys() == []
    assert stack.daily.count("PUT") == 0
    assert url_of(stack, good) == OLD
    by_id = {c["config_id"]: c for c in data["configs"]}
    assert by_id[pin]["status"] == "failed"
    assert "pinless_dialin" in by_id[pin]["error"] and "pin_dialin" in by_id[pin]["error"]
    assert by_id[good]["status"] == "not_attempted"
    assert "nothing uploaded, no config changed" in data["stopped"]


def test_a_pin_dialin_config_alone(stack: Stack, cli: Cli) -> None:
    pin = stack.daily.add_config("pin_dialin")
    r = publish(cli, WELCOME, "--config", pin)
    assert r.exit_code == 1
    assert "only on pinless_dialin" in r.stderr
    assert r.stdout == ""
    assert stack.keys() == [] and stack.daily.count("PUT") == 0


def test_an_unknown_config_stops_everything(stack: Stack, cli: Cli) -> None:
    good = stack.daily.add_config(hold_music_url=OLD)
    r = publish(cli, WELCOME, "--config", good, "--config", "no-such-config-1")
    assert r.exit_code == 1
    assert "no-such-config-1" in r.stderr
    assert stack.keys() == []
    assert stack.daily.count("PUT") == 0
    assert url_of(stack, good) == OLD


@pytest.mark.parametrize("name", ["too-long.mp3", "not-really.mp3", "error-page.mp3"])
def test_an_invalid_file_stops_before_anything(stack: Stack, cli: Cli, name: str) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    r, data = publish_json(cli, SAMPLES / name, "--config", cid)
    assert r.exit_code == 1
    assert data["validation"]["ok"] is False and data["url"] is None
    assert stack.keys() == []
    assert stack.daily.requests == []  # not even a GET: the file is judged first
    assert url_of(stack, cid) == OLD


def test_a_missing_file(stack: Stack, cli: Cli, tmp_path: Path) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    r = publish(cli, tmp_path / "nope.mp3", "--config", cid)
    assert r.exit_code == 1
    assert "nope.mp3" in r.stderr
    assert stack.keys() == [] and stack.daily.count("PUT") == 0


def test_a_private_bucket_fails_the_public_check(stack: Stack, cli: Cli) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    r, data = publish_json(cli, WELCOME, "--config", cid, "--bucket", stack.private_bucket)
    assert r.exit_code == 1
    assert data["public"] is False
    assert data["public_check"]["status"] == 403
    assert "no config was pointed at the URL" in data["stopped"]
    assert [pick(c) for c in data["configs"]] == [
        {
            "config_id": cid,
            "previous_url": OLD,
            "status": "not_attempted",
            "error": "not attempted: the URL is not public",
        }
    ]
    assert "bucket-policy" in r.stderr  # says how to fix it
    assert stack.daily.count("PUT") == 0
    assert url_of(stack, cid) == OLD


def test_a_wrong_key_fails_without_showing_it(
    stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-key-publish-4c3b2a1f0e"
    monkeypatch.setenv("DAILY_API_KEY", wrong)
    cid = stack.daily.add_config(hold_music_url=OLD)
    r = publish(cli, WELCOME, "--config", cid)
    assert r.exit_code == 1
    assert "rejected the API key" in r.stderr
    assert wrong not in r.output and stack.daily.api_key not in r.output
    assert stack.keys() == []
    assert url_of(stack, cid) == OLD


# -- flaky Daily -------------------------------------------------------------------------


def test_injected_5xx_still_ends_correct(stack: Stack, cli: Cli) -> None:
    originals = {
        stack.daily.add_config(hold_music_url=f"https://cdn.example.com/original-{i}.mp3"): (
            f"https://cdn.example.com/original-{i}.mp3"
        )
        for i in range(10)
    }
    ids = list(originals)
    stack.daily.faults.reseed(141)  # failures early and spread out (seed 0 has none for 15)
    stack.daily.faults.fail_before(probability=0.25)
    stack.daily.faults.fail_after_put(1)  # the first PUT lands, then answers 502

    r, data = publish_json(cli, WELCOME, *configs_args(ids))
    assert r.exit_code == 0, r.output
    url = data["url"]
    for cid in ids:
        assert url_of(stack, cid) == url
    assert [c["config_id"] for c in data["configs"]] == ids
    for entry in data["configs"]:
        assert entry["status"] == "updated", entry
        assert entry["previous_url"] == originals[entry["config_id"]]

    log = stack.daily.requests
    assert any("fail_before" in x.faults for x in log)  # the faults really fired
    [after_put] = [x for x in log if "fail_after_put" in x.faults]
    applied_then_502 = after_put.path.rsplit("/", 1)[1]
    # its PUT was applied, answered 502 and retried; the JSON still has the original
    assert stack.daily.put_history(applied_then_502)[:2] == [url, url]
    entry = next(c for c in data["configs"] if c["config_id"] == applied_then_502)
    assert entry["previous_url"] == originals[applied_then_502]


# -- choosing the configs ----------------------------------------------------------------


def test_all_pinless(stack: Stack, cli: Cli) -> None:
    pinless = [stack.daily.add_config(hold_music_url=OLD) for _ in range(2)]
    pinless.append(stack.daily.add_config())
    pins = stack.daily.seed(2, "pin_dialin", name_prefix="pin")
    pin_before = [stack.daily.get(p) for p in pins]
    r, data = publish_json(cli, WELCOME, "--all-pinless")
    assert r.exit_code == 0, r.output
    assert [c["config_id"] for c in data["configs"]] == pinless
    assert all(url_of(stack, cid) == data["url"] for cid in pinless)
    assert [stack.daily.get(p) for p in pins] == pin_before
    assert {p.path.rsplit("/", 1)[1] for p in stack.daily.puts()} == set(pinless)


def test_name_prefix(stack: Stack, cli: Cli) -> None:
    sales = [stack.daily.add_config(name_prefix=f"sales-{i}", hold_music_url=OLD) for i in "ab"]
    support = stack.daily.add_config(name_prefix="support-a", hold_music_url=OLD)
    stack.daily.add_config("pin_dialin", name_prefix="sales-pin")
    r, data = publish_json(cli, WELCOME, "--name-prefix", "sales")
    assert r.exit_code == 0, r.output
    assert [c["config_id"] for c in data["configs"]] == sales
    assert all(url_of(stack, cid) == data["url"] for cid in sales)
    assert url_of(stack, support) == OLD
    assert stack.daily.count("PUT") == 2


@pytest.mark.parametrize(
    "selector",
    [[], ["--all-pinless", "--name-prefix", "x"], ["--config", "a", "--all-pinless"]],
    ids=["none", "all-and-prefix", "config-and-all"],
)
def test_exactly_one_way_of_naming_configs(stack: Stack, cli: Cli, selector: list[str]) -> None:
    r = publish(cli, WELCOME, *selector)
    assert r.exit_code == 2
    assert stack.keys() == [] and stack.daily.requests == []


def test_a_prefix_matching_nothing_is_a_usage_error(stack: Stack, cli: Cli) -> None:
    stack.daily.add_config(name_prefix="support")
    r = publish(cli, WELCOME, "--name-prefix", "sales")
    assert r.exit_code == 2
    assert "no pinless_dialin config matches" in r.stderr
    assert stack.keys() == []


def test_publish_report_can_be_rolled_back(stack: Stack, cli: Cli, tmp_path: Path) -> None:
    changed = stack.daily.add_config(hold_music_url=OLD)
    other = "https://cdn.example.com/hold/other.mp3"
    second = stack.daily.add_config(hold_music_url=other)
    report = tmp_path / "publish.json"
    r = publish(cli, WELCOME, *configs_args([changed, second]), "--report", str(report))
    assert r.exit_code == 0, r.output
    new = r.stdout.strip().splitlines()[-1]
    data = json.loads(report.read_text())
    assert data["command"] == "publish" and data["complete"] is True
    items = {i["config_id"]: i for i in data["items"]}
    assert items[changed]["status"] == "updated" and items[changed]["previous_url"] == OLD
    assert items[second]["previous_url"] == other and items[second]["url"] == new
    assert url_of(stack, changed) == new

    # the old URLs are not real objects, so skip the check that they still serve MP3
    back = cli("rollback", str(report), "--no-verify", "--report", str(tmp_path / "rb.json"))
    assert back.exit_code == 0, back.output
    assert url_of(stack, changed) == OLD and url_of(stack, second) == other
