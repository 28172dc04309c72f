"""The JSON contract (issue 18), for every command, in success and failure cases, against
a real S3 server and the Daily stand-in:

- stdout is exactly one JSON document, whatever the outcome, and never a traceback;
- it validates against the command's shipped schema (holdmusic/schemas);
- every result says ``ok`` (on the object, or on each element of an array; ``configs
  list``/``show`` are data), and the exit status agrees: 0 ok, 1 not, 2 usage only;
- every problem anywhere is ``{code, severity, message}`` with a registered code.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from holdmusic import app, schemas
from tests.conftest import SAMPLES, Result, Stack

Cli = Callable[..., Result]
WELCOME = SAMPLES / "welcome-mono.mp3"
OLD = "https://cdn.example.com/hold/old.mp3"

REGISTRY = Registry().with_resources(
    (schemas.ID_PREFIX + name, Resource.from_contents(schemas.load(name)))
    for name in schemas.names()
)
DATA = {"configs-list", "configs-show", "bucket-policy"}  # data: exempt from `ok`


def validate(schema: str, doc: Any) -> None:
    validator = jsonschema.Draft202012Validator(schemas.load(schema), registry=REGISTRY)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def problems_in(doc: Any) -> Iterator[dict[str, Any]]:
    """Every problem object anywhere in a document (anything under a 'problems',
    'warnings' or 'error' key that is an object with a code)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("problems", "warnings") and isinstance(value, list):
                yield from (p for p in value if isinstance(p, dict))
            elif key == "error" and isinstance(value, dict):
                yield value
            yield from problems_in(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from problems_in(value)


def check(r: Result, schema: str) -> Any:
    """The contract for one run; returns the document."""
    assert "Traceback" not in r.output, r.output
    doc = json.loads(r.stdout)  # exactly one document: json.loads refuses trailing data
    validate(schema, doc)
    for p in problems_in(doc):
        assert set(p) <= {"code", "severity", "message", "offset"}, p
        assert p["code"] in app.REGISTRY, p
        assert p["severity"] in app.REGISTRY[p["code"]].severities, p
    if isinstance(doc, dict) and doc.get("ok") is False and "error" in doc and len(doc) <= 3:
        # the failure object: a usage error exits 2, anything else 1
        want = 2 if doc["error"]["code"] == "usage" else 1
        assert r.exit_code == want, (r.exit_code, doc)
        return doc
    if schema in DATA:
        assert r.exit_code == 0, r.output
        return doc
    oks = [e["ok"] for e in doc] if isinstance(doc, list) else [doc["ok"]]
    assert all(isinstance(ok, bool) for ok in oks)
    assert r.exit_code == (0 if all(oks) else 1), (r.exit_code, oks, r.stderr[-2000:])
    return doc


@pytest.fixture
def work(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(WELCOME, tmp_path / "welcome.mp3")
    (tmp_path / "notes.txt").write_text("not audio\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_validate(cli: Cli, work: Path) -> None:
    assert check(cli("validate", "welcome.mp3", "--json"), "validate")[0]["ok"] is True
    bad = check(cli("validate", "welcome.mp3", "notes.txt", "--json"), "validate")
    assert [v["ok"] for v in bad] == [True, False]
    missing = check(cli("validate", "nothing-here.mp3", "--json"), "validate")
    assert missing[0]["problems"][0]["code"] == "not_found"
    (work / "wavs").mkdir()
    (work / "wavs" / "a.wav").write_bytes(b"RIFF")
    usage = check(cli("validate", "wavs", "--json"), "validate")
    assert usage["error"]["code"] == "usage"
    option = check(cli("validate", "--max-seconds", "nan", "welcome.mp3", "--json"), "validate")
    assert option["error"]["code"] == "usage"


def test_upload(stack: Stack, cli: Cli, work: Path) -> None:
    good = check(cli("upload", "welcome.mp3", "--json"), "upload")
    assert good["ok"] is True and good["public_check"]["ok"] is True
    invalid = check(cli("upload", "notes.txt", "--json"), "upload")
    assert invalid["ok"] is False and invalid["public_check"] is None
    private = check(
        cli("upload", "welcome.mp3", "--bucket", stack.private_bucket, "--json"), "upload"
    )
    assert private["public_check"]["problems"][0]["code"] == "not_public"


def test_publish(stack: Stack, cli: Cli, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = stack.daily.add_config(hold_music_url=OLD)
    pin = stack.daily.add_config("pin_dialin")
    done = check(cli("publish", "welcome.mp3", "--config", cid, "--json"), "publish")
    assert done["ok"] is True and done["report"] and Path(done["report"]).exists()
    dry = check(cli("publish", "welcome.mp3", "--config", cid, "--dry-run", "--json"), "publish")
    assert dry["ok"] is True and dry["report"] is None
    refused = check(cli("publish", "welcome.mp3", "--config", pin, "--json"), "publish")
    assert refused["ok"] is False
    both = check(
        cli("publish", "welcome.mp3", "--config", cid, "--all-pinless", "--json"), "publish"
    )
    assert both["error"]["code"] == "usage"
    monkeypatch.setenv("DAILY_API_KEY", "wrong-key-contract-1a2b3c")
    rejected = cli("publish", "welcome.mp3", "--config", cid, "--json")
    doc = check(rejected, "publish")
    assert doc["ok"] is False  # Daily rejected the key: still one document on stdout
    assert "wrong-key-contract" not in rejected.output


def test_batch_and_rollback(stack: Stack, cli: Cli, work: Path) -> None:
    ids = [stack.daily.add_config(hold_music_url=OLD) for _ in range(2)]
    (work / "m.csv").write_text("config_id,file\n" + "".join(f"{c},welcome.mp3\n" for c in ids))
    ran = check(cli("batch", "m.csv", "--json"), "batch")
    assert ran["ok"] is True and ran["complete"] is True
    back = check(cli("rollback", ran["report"], "--no-verify", "--json"), "rollback")
    assert back["ok"] is True and back["counts"] == {"updated": 2}
    (work / "bad.csv").write_text("config_id,file\nno such,welcome.mp3\n")
    bad = check(cli("batch", "bad.csv", "--json"), "batch")
    assert bad["error"]["code"] == "manifest_invalid"
    wrong = check(cli("rollback", "m.csv", "--json"), "rollback")
    assert wrong["error"]["code"] == "report_invalid"
    assert "report" in wrong["error"]["message"] and "not a manifest" in wrong["error"]["message"]


def test_configs(stack: Stack, cli: Cli, work: Path) -> None:
    cid = stack.daily.add_config(hold_music_url=None)
    listed = check(cli("configs", "list", "--json"), "configs-list")
    assert [c["id"] for c in listed] == [cid]
    shown = check(cli("configs", "show", cid, "--json"), "configs-show")
    assert shown["config"]["hmac"] == "********"
    missing = check(cli("configs", "show", "no-such-config", "--json"), "configs-show")
    assert missing["error"]["code"] == "daily_not_found"
    audited = check(cli("configs", "check", "--json"), "configs-check")
    assert audited[0]["problems"][0]["code"] == "no_hold_music"
    assert audited[0]["label"] == audited[0]["path"]


def test_doctor(stack: Stack, cli: Cli, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = check(cli("doctor", "--json"), "doctor")
    assert all(c["fix"] is None for c in good)  # null, not "" (issue 18)
    monkeypatch.delenv("HOLDMUSIC_BUCKET")
    missing = check(cli("doctor", "--json"), "doctor")
    assert missing[0]["fix"] and missing[0]["ok"] is False


def test_fix(cli: Cli, work: Path) -> None:
    pytest.importorskip("av")
    fixed = check(cli("fix", str(SAMPLES / "too-long.mp3"), "-o", "out.mp3", "--json"), "fix")
    assert fixed["ok"] is True and fixed["validate"]["ok"] is True
    refused = cli("fix", "notes.txt", "-o", "out2.mp3", "--json")
    doc = check(refused, "fix")  # a refusal prints its JSON too (it printed nothing)
    assert doc["error"]["code"] == "cannot_fix"


def test_bucket_policy(stack: Stack, cli: Cli, work: Path) -> None:
    check(cli("bucket-policy", "--bucket", stack.public_bucket), "bucket-policy")


def test_every_schema_is_valid_and_named_after_its_command() -> None:
    from holdmusic.cli import COMMANDS

    for name in schemas.names():
        schema = schemas.load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"] == schemas.ID_PREFIX + name
    with_json = {"validate", "upload", "publish", "batch", "rollback", "doctor", "fix"}
    assert with_json <= set(COMMANDS)
    expected = with_json | {"configs-list", "configs-show", "configs-check", "bucket-policy"}
    assert set(schemas.names()) == expected | {"defs"}
