"""Bad input is one item's problem, or one line (issue 20): a malformed URL or a config id
that breaks the rule, from Daily or from a report, never ends a whole run; manifests and
reports are bounded in size and nesting before any parser sees them.
"""

from __future__ import annotations

import json
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from holdmusic import manifest
from testkit.daily import DailyStandIn
from tests.conftest import SAMPLES, Result

Cli = Callable[..., Result]
BAD_URLS = ("http://0177.0.0.1/x.mp3", "https://xn--/x.mp3")


def one_line_error(r: Result, code: int = 1) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "unexpected" not in r.output, r.output
    [line] = [x for x in r.stderr.splitlines() if x.strip()]
    assert line.startswith("error: ")
    return line


# -- configs check: every config gets its verdict --------------------------------------------


def test_configs_check_judges_every_config_past_malformed_urls(
    daily_env: DailyStandIn, cli: Cli, tmp_path: Path
) -> None:
    ids = [daily_env.add_config(hold_music_url=url) for url in BAD_URLS]
    ids.append(daily_env.add_config())  # no hold music: its own verdict
    junit = tmp_path / "check.xml"
    r = cli("configs", "check", "--json", "--junit", str(junit))
    assert r.exit_code == 1, r.output
    assert "unexpected" not in r.output
    results = {d["config_id"]: d for d in json.loads(r.stdout)}
    assert list(results) == ids
    for cid, url in zip(ids, BAD_URLS, strict=False):
        errors = [p for p in results[cid]["problems"] if p["severity"] == "error"]
        assert [p["code"] for p in errors] == ["bad_url"], errors
        assert errors[0]["message"].startswith(f"{url} is not a valid URL")
    assert [p["code"] for p in results[ids[2]]["problems"]] == ["no_hold_music"]
    assert len(list(ET.parse(junit).getroot().iter("testcase"))) == 3


def test_configs_check_reports_a_listed_id_that_breaks_the_rule_per_config(
    daily_env: DailyStandIn, cli: Cli
) -> None:
    good = daily_env.add_config()
    bad = daily_env.add_config(config_id="bad id?x")
    r = cli("configs", "check", "--json")
    assert r.exit_code == 1, r.output  # a failed check, not a usage error
    results = {d["config_id"]: d for d in json.loads(r.stdout)}
    assert list(results) == [good, bad]
    [problem] = results[bad]["problems"]
    assert problem["code"] == "config_error" and "is not a dial-in config id" in problem["message"]
    assert [p["code"] for p in results[good]["problems"]] == ["no_hold_music"]
    assert daily_env.count(path_prefix="/v1/domain-dialin-config/bad") == 0  # never sent


def test_an_id_typed_by_a_person_is_still_a_usage_error(daily_env: DailyStandIn, cli: Cli) -> None:
    assert "is not a dial-in config id" in one_line_error(cli("configs", "show", "a?b"), 2)
    assert daily_env.requests == []


# -- rollback: a malformed previous URL fails that config only ---------------------------------


def test_rollback_checks_each_previous_url_on_its_own(
    daily_env: DailyStandIn, cli: Cli, tmp_path: Path
) -> None:
    new = "https://cdn.example.com/hold/new.mp3"
    ids = [daily_env.add_config(hold_music_url=new) for _ in range(3)]
    previous = [*BAD_URLS, None]
    items = [
        {"config_id": cid, "url": new, "previous_url": prev, "status": "updated"}
        for cid, prev in zip(ids, previous, strict=True)
    ]
    report = tmp_path / "run.json"
    report.write_text(json.dumps({"tool": "holdmusic", "items": items}))
    r = cli("rollback", str(report), "--report", str(tmp_path / "rb.json"))
    assert r.exit_code == 1, r.output
    assert "unexpected" not in r.output
    done = {i["config_id"]: i for i in json.loads((tmp_path / "rb.json").read_text())["items"]}
    for cid in ids[:2]:
        assert done[cid]["status"] == "failed" and "bad_url" in done[cid]["error"]
    assert done[ids[2]]["status"] == "failed" and "no hold music before" in done[ids[2]]["error"]
    assert daily_env.count("PUT") == 0  # nothing pointed at a URL that was not proved


# -- manifests ----------------------------------------------------------------------------------


def _manifest(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    (tmp_path / "a.mp3").write_bytes((SAMPLES / "welcome-mono.mp3").read_bytes())
    return str(path)


def test_a_csv_field_over_the_csv_limit_is_one_line(cli: Cli, tmp_path: Path) -> None:
    path = _manifest(tmp_path, "m.csv", "config_id,file\n" + "x" * 200_000 + ",a.mp3\n")
    line = one_line_error(cli("batch", path, "--bucket", "b"))
    assert "line 2: a field is longer than 131,072 characters" in line


def test_a_long_dotted_toml_key_is_refused_before_parsing(tmp_path: Path) -> None:
    """40 KB of ``a.a.a…`` took 2.3 GB in tomllib (quadratic); refused at once now."""
    path = _manifest(tmp_path, "m.toml", "a" + ".a" * 20_000 + " = 1\n")
    tracemalloc.start()
    try:
        with pytest.raises(manifest.ManifestError) as e:
            manifest.read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "a dotted key has more than 8 parts" in str(e.value)
    assert peak < 5_000_000


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "x = " + "{a = " * 50_000 + "1" + "}" * 50_000 + "\n",
        "[" + "a." * 20 + "b]\nc = 1\n",
    ],
)
def test_deep_toml_is_one_line(cli: Cli, tmp_path: Path, text: str) -> None:
    line = one_line_error(cli("batch", _manifest(tmp_path, "m.toml", text), "--bucket", "b"))
    assert "more than 8 parts" in line or "nested deeper than 8 levels" in line


def test_a_toml_manifest_with_strings_that_look_deep_is_fine(tmp_path: Path) -> None:
    text = (
        "# a comment with [[[[[[[[[[ and a.b.c.d.e.f.g.h.i.j\n"
        '[[assign]]\nconfig = "cfg-1"\nfile = "a.mp3"  # [[[[[[[[[\n'
        '[[assign]]\nconfig = \'cfg-2\'\nfile = """a.mp3"""\n'
    )
    got = manifest.read(_manifest(tmp_path, "m.toml", text))
    assert [a.config_id for a in got] == ["cfg-1", "cfg-2"]


def test_an_oversized_manifest_is_one_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    with path.open("wb") as fh:  # sparse: no 2 MB of writes
        fh.truncate(manifest.MAX_MANIFEST_BYTES + 1)
    line = one_line_error(cli("batch", str(path), "--bucket", "b"))
    assert "is larger than 2,000,000 bytes" in line


# -- reports ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"tool": "holdmusic", "items": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"tool": "holdmusic", "items": [], "x": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}",
    ],
)
def test_a_deeply_nested_report_is_one_line(
    daily_env: DailyStandIn, cli: Cli, tmp_path: Path, text: str
) -> None:
    report = tmp_path / "run.json"
    report.write_text(text)
    line = one_line_error(cli("rollback", str(report), "--report", str(tmp_path / "rb.json")))
    assert "is nested deeper than 16 levels: not a holdmusic report" in line
    assert daily_env.requests == []


def test_an_oversized_report_is_one_line(daily_env: DailyStandIn, cli: Cli, tmp_path: Path) -> None:
    from holdmusic.record import MAX_REPORT_BYTES

    report = tmp_path / "run.json"
    with report.open("wb") as fh:
        fh.truncate(MAX_REPORT_BYTES + 1)  # sparse
    line = one_line_error(cli("rollback", str(report), "--report", str(tmp_path / "rb.json")))
    assert "is larger than 64,000,000 bytes" in line
