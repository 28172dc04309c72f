"""``holdmusic configs list|show|check`` and ``holdmusic doctor`` against the stand-in
and SeaweedFS.

``configs check`` audits what live numbers would play: each pinless config's
hold_music_url is fetched anonymously and judged like a local file.  ``doctor``
proves (with a probe object it deletes again) that storage, public reads and the
Daily key all work.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.daily import DailyStandIn
from testkit.s3 import dead_endpoint_url
from tests.conftest import SAMPLES, Result, Stack

WELCOME = SAMPLES / "welcome-mono.mp3"
LONG_URL = (
    "https://hold-music-production.s3.eu-central-1.amazonaws.com/hold-music/"
    "welcome-mono-5adec876f561b4ab.mp3"
)

Cli = Callable[..., Result]


def upload(cli: Cli, path: Path, *args: str) -> str:
    r = cli("upload", str(path), *args)
    assert r.exit_code == 0, r.output
    return r.stdout.strip().splitlines()[-1]


# -- configs list -------------------------------------------------------------------------


def test_list_prints_a_table_of_every_config(daily_env: DailyStandIn, cli: Cli) -> None:
    sales = daily_env.seed(3, name_prefix="sales")
    pins = daily_env.seed(2, "pin_dialin", name_prefix="pin")
    r = cli("configs", "list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "type", "phone", "number", "name", "prefix"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
    assert list(rows) == sales + pins  # Daily's order
    for cid in sales + pins:
        obj = daily_env.get(cid)
        assert rows[cid] == [
            cid,
            obj["type"],
            obj["config"]["phone_number"],
            obj["config"]["name_prefix"],
        ]
    assert r.stderr.strip() == "5 dial-in configs"


def test_list_json_follows_pagination(daily_env: DailyStandIn, cli: Cli) -> None:
    ids = daily_env.seed(130)
    r = cli("configs", "list", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [d["id"] for d in data] == ids
    first = daily_env.get(ids[0])
    assert data[0] == {
        "id": ids[0],
        "type": "pinless_dialin",
        "config": {k: first["config"][k] for k in ("phone_number", "name_prefix", "sip_uri")},
    }
    assert daily_env.count("GET") == 2  # 100 + 30


def test_list_type_filter(daily_env: DailyStandIn, cli: Cli) -> None:
    daily_env.seed(3)
    pins = daily_env.seed(2, "pin_dialin", name_prefix="pin")
    r = cli("configs", "list", "--type", "pin_dialin", "--json")
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in json.loads(r.stdout)] == pins
    assert all(req.query.get("type") == "pin_dialin" for req in daily_env.requests)
    assert cli("configs", "list", "--type", "pstn").exit_code == 2


def test_list_name_prefix_filter(daily_env: DailyStandIn, cli: Cli) -> None:
    sales = daily_env.seed(3, name_prefix="sales")
    daily_env.seed(2, name_prefix="support")
    sales_pin = daily_env.add_config("pin_dialin", name_prefix="sales-desk")
    r = cli("configs", "list", "--name-prefix", "sales", "--json")
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in json.loads(r.stdout)] == [*sales, sales_pin]

    combined = cli("configs", "list", "--name-prefix", "sales", "--type", "pinless_dialin")
    assert combined.exit_code == 0
    assert [line.split()[0] for line in combined.stdout.splitlines()[1:]] == sales
    assert combined.stderr.strip() == "3 dial-in configs"

    none = cli("configs", "list", "--name-prefix", "nobody")
    assert none.exit_code == 0 and none.stderr.strip() == "0 dial-in configs"


# -- configs show -------------------------------------------------------------------------


def test_show_json_is_the_whole_config(daily_env: DailyStandIn, cli: Cli) -> None:
    cid = daily_env.add_config(hold_music_url=LONG_URL)
    r = cli("configs", "show", cid, "--json")
    assert r.exit_code == 0, r.output
    whole = daily_env.get(cid)
    secret = whole["config"]["hmac"]
    assert secret and secret not in r.stdout  # the hmac secret is masked by default
    masked = {**whole, "config": {**whole["config"], "hmac": "********"}}
    assert json.loads(r.stdout) == masked
    shown = cli("configs", "show", cid, "--json", "--show-secrets")
    assert json.loads(shown.stdout) == whole


def test_show_table_lists_every_field(daily_env: DailyStandIn, cli: Cli) -> None:
    short = "https://cdn.example.com/a.mp3"
    cid = daily_env.add_config(
        phone_number="+12125550100", name_prefix="sales", hold_music_url=short
    )
    r = cli("configs", "show", cid)
    assert r.exit_code == 0, r.output
    fields = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines() if line.strip()}
    assert fields["id"] == [cid]
    assert fields["type"] == ["pinless_dialin"]
    assert fields["hold_music_url"] == [short]
    assert fields["phone_number"] == ["+12125550100"]
    assert fields["name_prefix"] == ["sales"]
    assert fields["sip_uri"] == [daily_env.get(cid)["config"]["sip_uri"]]


def test_show_says_when_no_hold_music_is_set(daily_env: DailyStandIn, cli: Cli) -> None:
    cid = daily_env.add_config()
    r = cli("configs", "show", cid)
    assert r.exit_code == 0
    assert any(line.split() == ["hold_music_url", "(not", "set)"] for line in r.stdout.splitlines())


def test_show_table_prints_a_long_url_whole(daily_env: DailyStandIn, cli: Cli) -> None:
    cid = daily_env.add_config(hold_music_url=LONG_URL)
    r = cli("configs", "show", cid)
    assert r.exit_code == 0
    assert LONG_URL in r.stdout


def test_show_unknown_id_is_one_line_and_exit_1(daily_env: DailyStandIn, cli: Cli) -> None:
    r = cli("configs", "show", "no-such-config-7")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr.startswith("error: ") and "no-such-config-7" in r.stderr
    assert r.stderr.strip().count("\n") == 0


# -- configs check ------------------------------------------------------------------------


@pytest.fixture
def audited(stack: Stack, cli: Cli) -> dict[str, str]:
    """Pinless configs pointing at: a good public object, a 404, a private object (403),
    nothing; plus a pin_dialin config that must not be listed."""
    good_url = upload(cli, WELCOME)
    s3 = stack.s3.client()
    key = "hold-music/private-copy.mp3"
    s3.put_object(
        Bucket=stack.private_bucket, Key=key, Body=WELCOME.read_bytes(), ContentType="audio/mpeg"
    )
    private_url = stack.s3.object_url(stack.private_bucket, key)
    missing_url = stack.s3.object_url(stack.public_bucket, "hold-music/never-uploaded.mp3")
    d = stack.daily
    return {
        "good": d.add_config(hold_music_url=good_url, name_prefix="good"),
        "missing": d.add_config(hold_music_url=missing_url, name_prefix="missing"),
        "private": d.add_config(hold_music_url=private_url, name_prefix="private"),
        "none": d.add_config(name_prefix="none"),
        "pin": d.add_config("pin_dialin", name_prefix="pin"),
    }


def test_check_passes_and_fails_each_config(audited: dict[str, str], cli: Cli) -> None:
    r = cli("configs", "check")
    assert r.exit_code == 1, r.output
    lines = r.stdout.splitlines()

    def verdict_of(cid: str) -> str:
        [line] = [x for x in lines if x.startswith(f"Checking {cid} ")]
        return line

    assert "PASSED" in verdict_of(audited["good"])
    for name in ("missing", "private", "none"):
        assert "FAILED" in verdict_of(audited[name]), name
    assert audited["pin"] not in r.output
    assert lines[-1] == "4 configs checked: 1 passed, 3 failed"


def test_check_json_and_junit(audited: dict[str, str], cli: Cli, tmp_path: Path) -> None:
    junit = tmp_path / "configs.xml"
    r = cli("configs", "check", "--json", "--junit", str(junit))
    assert r.exit_code == 1, r.output
    results = {d["config_id"]: d for d in json.loads(r.stdout)}
    assert set(results) == {audited[n] for n in ("good", "missing", "private", "none")}

    good = results[audited["good"]]
    assert good["ok"] is True and good["duration_seconds"] == 45.0
    assert good["hold_music_url"].endswith(".mp3")

    def errors(name: str) -> list[dict[str, str]]:
        return [p for p in results[audited[name]]["problems"] if p["severity"] == "error"]

    [missing] = errors("missing")
    assert missing["code"] == "http_status" and "404" in missing["message"]
    [private] = errors("private")
    assert private["code"] == "http_status" and "403" in private["message"]
    [none] = errors("none")
    assert none["code"] == "no_hold_music"
    assert results[audited["none"]]["hold_music_url"] is None
    assert not any(results[audited[n]]["ok"] for n in ("missing", "private", "none"))

    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 4
    failed = {c.get("name", "").split()[0] for c in cases if c.find("failure") is not None}
    assert failed == {audited[n] for n in ("missing", "private", "none")}
    assert root.get("failures") == "3" and root.get("tests") == "4"


def test_check_named_configs_only(audited: dict[str, str], cli: Cli) -> None:
    good = cli("configs", "check", audited["good"])
    assert good.exit_code == 0, good.output
    assert good.stdout.splitlines()[-1] == "1 config checked: 1 passed, 0 failed"

    pin = cli("configs", "check", audited["pin"], "--json")
    assert pin.exit_code == 1
    [entry] = json.loads(pin.stdout)
    assert any("pin_dialin" in p["message"] for p in entry["problems"])


def test_check_with_only_good_configs_is_exit_0(stack: Stack, cli: Cli) -> None:
    url = upload(cli, WELCOME)
    ids = [stack.daily.add_config(hold_music_url=url) for _ in range(3)]
    stack.daily.add_config("pin_dialin")
    r = cli("configs", "check", "--json")
    assert r.exit_code == 0, r.output
    assert [d["config_id"] for d in json.loads(r.stdout)] == ids
    assert stack.daily.count("PUT") == 0  # an audit changes nothing


def test_check_with_no_pinless_configs(daily_env: DailyStandIn, cli: Cli) -> None:
    daily_env.add_config("pin_dialin")
    r = cli("configs", "check")
    assert r.exit_code == 0
    assert r.stderr.strip() == "no pinless_dialin configs on this domain"


# -- doctor -------------------------------------------------------------------------------


def lines_of(r: Result) -> list[str]:
    return [line for line in r.stdout.splitlines() if line.strip()]


def check_line(r: Result, name: str) -> str:
    [line] = [x for x in lines_of(r) if x[5:].startswith(f"{name}:")]
    return line


def test_doctor_all_good(stack: Stack, cli: Cli) -> None:
    stack.daily.seed(2)
    stack.daily.add_config("pin_dialin")
    r = cli("doctor")
    assert r.exit_code == 0, r.output
    lines = lines_of(r)
    names = [line[5:].split(":")[0] for line in lines]
    assert names == [
        "storage credentials",
        "bucket",
        "public read",
        "public base URL",
        "Daily API key",
    ]
    assert all(line.startswith("ok ") for line in lines), r.stdout
    assert "3 dial-in configs (2 pinless)" in check_line(r, "Daily API key")
    assert stack.keys() == []  # the probe object was deleted


def test_doctor_json(stack: Stack, cli: Cli) -> None:
    r = cli("doctor", "--json")
    assert r.exit_code == 0, r.output
    checks = json.loads(r.stdout)
    assert [c["ok"] for c in checks] == [True] * 5
    assert set(checks[0]) == {"name", "ok", "detail", "fix", "skipped"}
    assert not any(c["skipped"] for c in checks)


def test_doctor_private_bucket(stack: Stack, cli: Cli) -> None:
    r = cli("doctor", "--bucket", stack.private_bucket)
    assert r.exit_code == 1
    line = check_line(r, "public read")
    assert line.startswith("FAIL") and "403" in line
    fix = lines_of(r)[lines_of(r).index(line) + 1]
    assert fix.strip().startswith("fix:") and "bucket-policy" in fix
    assert check_line(r, "Daily API key").startswith("ok")
    assert stack.keys(stack.private_bucket) == []  # probe deleted here too


def test_doctor_wrong_public_base_url(stack: Stack, cli: Cli) -> None:
    wrong = f"{stack.s3.endpoint_url}/{stack.private_bucket}"
    r = cli("doctor", "--public-base-url", wrong)
    assert r.exit_code == 1
    assert check_line(r, "public read").startswith("ok")
    line = check_line(r, "public base URL")
    assert line.startswith("FAIL")
    fix = lines_of(r)[lines_of(r).index(line) + 1]
    assert f"{stack.s3.endpoint_url}/{stack.public_bucket}" in fix  # the right root
    assert stack.keys() == []


def test_doctor_missing_bucket(stack: Stack, cli: Cli) -> None:
    r = cli("doctor", "--bucket", "hm-test-no-such-bucket-1234")
    assert r.exit_code == 1
    assert check_line(r, "storage credentials").startswith("ok")
    line = check_line(r, "bucket")
    assert line.startswith("FAIL") and "does not exist" in line
    assert check_line(r, "Daily API key").startswith("ok")


def test_doctor_no_bucket_configured(
    stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOLDMUSIC_BUCKET")
    r = cli("doctor")
    assert r.exit_code == 1
    line = check_line(r, "bucket")
    assert line.startswith("FAIL") and "no bucket" in line
    assert "HOLDMUSIC_BUCKET" in r.stdout
    # what depends on the bucket is shown as not run, not silently left out
    assert check_line(r, "public read").startswith("skip")
    assert check_line(r, "public base URL").startswith("skip")
    assert check_line(r, "Daily API key").startswith("ok")


def test_doctor_no_credentials(stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = cli("doctor")
    assert r.exit_code == 1
    line = check_line(r, "storage credentials")
    assert line.startswith("FAIL")
    assert "AWS_ACCESS_KEY_ID" in r.stdout  # the fix line
    assert check_line(r, "Daily API key").startswith("ok")
    assert stack.keys() == []


def test_doctor_wrong_daily_key(stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-key-doctor-0f9e8d7c6b"
    monkeypatch.setenv("DAILY_API_KEY", wrong)
    r = cli("doctor")
    assert r.exit_code == 1
    line = check_line(r, "Daily API key")
    assert line.startswith("FAIL") and "rejected the API key" in line
    assert wrong not in r.output
    assert check_line(r, "public read").startswith("ok")
    assert stack.keys() == []


def test_doctor_daily_unreachable(stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAILY_API_URL", dead_endpoint_url() + "/v1")
    r = cli("doctor")
    assert r.exit_code == 1
    line = check_line(r, "Daily API key")
    assert line.startswith("FAIL") and "cannot reach Daily" in line
    assert stack.daily.api_key not in r.output


def test_doctor_no_daily_key(stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAILY_API_KEY")
    r = cli("doctor")
    assert r.exit_code == 1
    assert check_line(r, "Daily API key").startswith("FAIL")
    assert stack.daily.requests == []
