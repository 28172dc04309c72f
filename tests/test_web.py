"""``holdmusic serve``: the flow on the page and the JSON API, against SeaweedFS and the
Daily stand-in. The security rules have their own file (test_web_security.py); the real
browser is in test_web_browser.py."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import Stack
from tests.webpage import (  # noqa: F401  (fixtures)
    CALM,
    ERROR_PAGE,
    NOT_REALLY,
    TOO_LONG,
    WELCOME,
    Served,
    clean_mp3,
    logged_in,
    served,
)

OLD = "https://cdn.example.com/hold/old.mp3"


def _has_av() -> bool:
    from holdmusic import studio

    return studio.available()


needs_av = pytest.mark.skipif(not _has_av(), reason="needs the fix extra (PyAV)")


# --- the verdict -------------------------------------------------------------------------


def test_a_good_file_shows_passed_in_validates_words(logged_in: Served, clean_mp3: Path) -> None:
    u = logged_in.check(clean_mp3)
    page = logged_in.client.get(f"/?u={u}").text
    assert (
        'data-testid="status">PASSED</span> (40.000 s, 320,827 bytes, MPEG-2 22.05 kHz mono CBR'
        in page
    )
    assert logged_in.audit_lines()[-1]["action"] == "validate"


def test_an_html_page_saved_as_mp3_shows_failed_and_not_mp3(logged_in: Served) -> None:
    u = logged_in.check(ERROR_PAGE)
    page = logged_in.client.get(f"/?u={u}").text
    assert 'data-testid="status">FAILED</span>' in page
    assert '<code class="code">not_mp3</code>' in page
    assert "this is an HTML page, not an MP3" in page
    # never served back to a browser, and nothing to publish
    assert logged_in.client.get(f"/files/{u}/original").status_code == 404
    assert "Nothing to publish yet" in page


@needs_av
def test_listen_measurements_and_waveform_are_shown(logged_in: Served) -> None:
    u = logged_in.check(SAMPLES_JINGLE)
    page = logged_in.client.get(f"/?u={u}").text
    assert "What a caller hears (--listen)" in page
    assert '[<code class="code">outside_phone_band</code>]' in page
    assert '<figure class="wave">' in page and "waveform, 30.0 s" in page


SAMPLES_JINGLE = WELCOME.parent / "jingle-stereo.mp3"


@needs_av
def test_a_too_long_file_shows_the_planned_cut_then_fix_makes_it_pass(logged_in: Served) -> None:
    u = logged_in.check(TOO_LONG)
    page = logged_in.client.get(f"/?u={u}").text
    assert "too_long" in page
    assert "would keep 0:00 to 0:59.5" in page  # fix's default cut at 59.5 s, marked
    assert 'class="mark cut"' in page and 'class="fade"' in page
    r = logged_in.form("/fix", {"u": u, "fade_out": "3"})
    assert r.status_code == 303
    page = logged_in.client.get(f"/?u={u}").text
    fixed = page.split('id="verdict-fixed"', 1)[1]
    assert 'data-testid="status">PASSED</span> (59.500 s' in fixed
    assert "75.1 s → 59.5 s (" in page and "3 s fade-out" in page
    # the fixed file and the phone preview play as audio
    r = logged_in.client.get(f"/files/{u}/fixed")
    assert r.headers["content-type"] == "audio/mpeg" and r.content[:3] in (b"ID3", b"\xff\xfb")
    r = logged_in.client.get(f"/files/{u}/preview-fixed")
    assert r.headers["content-type"] == "audio/wav"
    assert r.content[:4] == b"RIFF"
    assert logged_in.audit_lines()[-1]["action"] == "fix"


@needs_av
def test_the_phone_preview_is_played_twice(logged_in: Served, tmp_path: Path) -> None:
    u = logged_in.check(WELCOME)
    r = logged_in.client.get(f"/files/{u}/preview-original")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    import av

    out = tmp_path / "twice.wav"
    out.write_bytes(r.content)
    with av.open(str(out)) as c:
        s = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(s))
        assert s.codec_context.name == "pcm_mulaw" and s.sample_rate == 8000
    assert samples == 2 * 45 * 8000  # 45 s, twice, at 8 kHz


@needs_av
def test_a_refused_fix_says_why_in_one_line(logged_in: Served) -> None:
    u = logged_in.check(WELCOME)
    r = logged_in.form("/fix", {"u": u, "start": "9:00"})
    assert r.status_code == 303
    page = logged_in.client.get(f"/?u={u}").text
    assert "is past the end of the audio" in page
    bad = logged_in.form("/fix", {"u": u, "start": "soon"})
    assert bad.status_code == 400 and "is not a time" in bad.text


def test_a_wav_named_mp3_plays_as_wav(logged_in: Served) -> None:
    u = logged_in.check(NOT_REALLY)
    r = logged_in.client.get(f"/files/{u}/original")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content == NOT_REALLY.read_bytes()


# --- configs, dry run, publish, report, rollback -------------------------------------------


def _config_rows(page: str) -> list[str]:
    return re.findall(r'name="config" value="([^"]+)"', page)


def test_the_picker_lists_pinless_configs_with_their_hold_music(
    logged_in: Served, stack: Stack
) -> None:
    a = stack.daily.add_config(name_prefix="support", hold_music_url=OLD)
    b = stack.daily.add_config(name_prefix="sales")
    stack.daily.add_config("pin_dialin", name_prefix="front-desk")
    u = logged_in.check(WELCOME)
    page = logged_in.client.get(f"/?u={u}&prefix=sup").text
    assert sorted(_config_rows(page)) == sorted([a, b])  # pin configs are not offered
    assert f'<audio controls preload="none" src="{OLD}"></audio>' in page
    assert stack.daily.get(b)["config"]["phone_number"] in page
    # the prefix filter hides the others (server side; the script does it as you type)
    assert re.search(r'<tr data-name="sales" class="hidden">', page)
    assert '<tr data-name="support" >' in page or '<tr data-name="support">' in page


def test_dry_run_shows_old_and_new_url_per_config_and_changes_nothing(
    logged_in: Served, stack: Stack
) -> None:
    a = stack.daily.add_config(hold_music_url=OLD)
    b = stack.daily.add_config()
    u = logged_in.check(WELCOME)
    r = logged_in.form("/dry-run", [("u", u), ("which", "original"), ("config", a), ("config", b)])
    assert r.status_code == 303, r.text
    page = logged_in.client.get(f"/?u={u}").text
    dry = page.split('id="dry-run"', 1)[1]
    url = re.search(r"Would upload to <code class=\"url\">([^<]+)</code>", dry).group(1)
    assert url.endswith(".mp3") and "welcome-mono-" in url
    assert f'<td class="url">{OLD}</td><td>→</td>\n          <td class="url">{url}</td>' in dry
    assert "(none)</td><td>→</td>" in dry
    assert stack.daily.puts() == [] and stack.keys() == []
    assert list(logged_in.reports.iterdir()) == []  # a dry run writes no report


def test_publish_with_progress_then_report_then_rollback(logged_in: Served, stack: Stack) -> None:
    original = stack.s3.object_url(stack.public_bucket, "hold-music/original.mp3")
    stack.s3.client().put_object(
        Bucket=stack.public_bucket,
        Key="hold-music/original.mp3",
        Body=CALM.read_bytes(),
        ContentType="audio/mpeg",
    )
    a = stack.daily.add_config(hold_music_url=original)
    b = stack.daily.add_config(hold_music_url=original)
    u = logged_in.check(WELCOME)
    r = logged_in.form("/publish", [("u", u), ("which", "original"), ("config", a), ("config", b)])
    assert r.status_code == 303 and r.headers["location"].startswith("/runs/")
    snap = logged_in.wait_run(r.headers["location"])
    assert snap["done"] and snap["ok"] and snap["error"] is None
    outcomes = {
        e["item"]["config_id"]: e["item"]["status"]
        for e in snap["events"]
        if e["event"] == "config_outcome"
    }
    assert outcomes == {a: "updated", b: "updated"}
    new = stack.daily.get(a)["config"]["hold_music_url"]
    assert new != original and stack.daily.get(b)["config"]["hold_music_url"] == new
    body = httpx.get(new, trust_env=False).content
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(WELCOME.read_bytes()).hexdigest()
    # the run page links the report; the report names who, the file and both configs
    run_page = logged_in.client.get(r.headers["location"]).text
    report = snap["report"]
    assert f'href="/reports/{report}"' in run_page
    data = json.loads((logged_in.reports / report).read_text())
    assert data["source"] == "welcome-mono.mp3"
    assert {i["config_id"]: i["previous_url"] for i in data["items"]} == {a: original, b: original}
    page = logged_in.client.get(f"/reports/{report}").text
    assert "ana (page)" in page and 'data-testid="rollback"' in page
    history = logged_in.client.get("/history").text
    assert report in history and "welcome-mono.mp3" in history
    # roll back from the report page
    r = logged_in.form("/rollback", {"report": report})
    assert r.status_code == 303
    snap = logged_in.wait_run(r.headers["location"])
    assert snap["ok"], snap
    history = logged_in.client.get("/history").text
    assert f'undoes <a href="/reports/{report}">' in history
    assert str(logged_in.reports) not in history  # no server path on the page
    assert stack.daily.get(a)["config"]["hold_music_url"] == original
    assert stack.daily.get(b)["config"]["hold_music_url"] == original
    actions = [(e["action"], e.get("report")) for e in logged_in.audit_lines()]
    assert ("publish", report) in actions
    assert any(a == "rollback" for a, _ in actions)


def test_the_history_shows_cli_runs_too(logged_in: Served, stack: Stack, cli) -> None:  # type: ignore[no-untyped-def]
    cid = stack.daily.add_config(hold_music_url=OLD)
    manifest = logged_in.reports / "m.csv"
    manifest.write_text(f"config_id,file\n{cid},{WELCOME}\n")
    import os

    cwd = os.getcwd()
    os.chdir(logged_in.reports)
    try:
        r = cli("batch", str(manifest))
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.output
    (name,) = [p.name for p in logged_in.reports.glob("holdmusic-batch-*.json")]
    page = logged_in.client.get("/history").text
    assert name.split("-", 2)[2][:8] in page or "batch" in page
    assert f"/reports/{name}" in page and "(CLI)" in page


def test_a_publish_that_fails_validation_changes_nothing(logged_in: Served, stack: Stack) -> None:
    a = stack.daily.add_config(hold_music_url=OLD)
    u = logged_in.check(TOO_LONG)
    r = logged_in.form("/publish", [("u", u), ("which", "original"), ("config", a)])
    snap = logged_in.wait_run(r.headers["location"])
    assert snap["ok"] is False
    assert stack.daily.get(a)["config"]["hold_music_url"] == OLD and stack.keys() == []


def test_the_audit_page_judges_every_config_with_a_play_button(
    logged_in: Served, stack: Stack
) -> None:
    key = "hold-music/live.mp3"
    stack.s3.client().put_object(
        Bucket=stack.public_bucket, Key=key, Body=WELCOME.read_bytes(), ContentType="audio/mpeg"
    )
    live = stack.s3.object_url(stack.public_bucket, key)
    good = stack.daily.add_config(hold_music_url=live)
    none = stack.daily.add_config()
    page = logged_in.client.get("/audit").text
    assert "Run the audit" in page and "<table" not in page  # nothing fetched until asked
    page = logged_in.client.get("/audit?run=1").text
    row = page.split(f"<code>{good}</code>", 1)[1].split("</tr>", 1)[0]
    assert "PASSED" in row and f'<audio controls preload="none" src="{live}">' in row
    row = page.split(f"<code>{none}</code>", 1)[1].split("</tr>", 1)[0]
    assert "FAILED" in row and "no_hold_music" in row
    assert "2 configs checked: 1 passed, 1 failed" in page


# --- the JSON API ---------------------------------------------------------------------------


def test_api_configs_is_configs_list_json(served: Served, stack: Stack, cli) -> None:  # type: ignore[no-untyped-def]
    stack.daily.add_config(name_prefix="support", hold_music_url=OLD)
    stack.daily.add_config("pin_dialin", name_prefix="desk")
    r = served.client.get("/api/configs", headers=served.bearer())
    assert r.status_code == 200
    expected = json.loads(cli("configs", "list", "--json").stdout)
    assert r.json() == expected
    r = served.client.get("/api/configs?type=pin_dialin", headers=served.bearer())
    assert [c["config"]["name_prefix"] for c in r.json()] == ["desk"]


def test_api_validate_is_one_validate_json_item(served: Served, cli) -> None:  # type: ignore[no-untyped-def]
    for sample in (WELCOME, ERROR_PAGE, TOO_LONG):
        r = served.client.post(
            "/api/validate",
            headers=served.bearer(),
            files={"file": (sample.name, sample.read_bytes())},
        )
        assert r.status_code == 200
        (expected,) = json.loads(cli("validate", "--json", str(sample)).stdout)
        assert r.json() == {**expected, "path": sample.name}


def test_api_publish_then_rollback(served: Served, stack: Stack) -> None:
    a = stack.daily.add_config(hold_music_url=OLD)
    b = stack.daily.add_config(hold_music_url=OLD)
    files = {"file": ("spring.mp3", WELCOME.read_bytes())}
    r = served.client.post(
        "/api/publish",
        headers=served.bearer(),
        files=files,
        data={"config": [a, b], "dry_run": "1"},
    )
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["dry_run"] is True and dry["report"] is None and stack.daily.puts() == []
    assert [c["status"] for c in dry["configs"]] == ["would_update", "would_update"]
    r = served.client.post(
        "/api/publish", headers=served.bearer(), files=files, data={"config": [a, b]}
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["ok"] and done["dry_run"] is False and "spring-" in done["url"]
    assert [(c["config_id"], c["status"], c["previous_url"]) for c in done["configs"]] == [
        (a, "updated", OLD),
        (b, "updated", OLD),
    ]
    assert set(done) >= {"path", "sha256", "validation", "public_check", "configs", "report"}
    assert (served.reports / done["report"]).exists()
    # rollback by the report's name
    stack.s3.client()  # (the previous URL is checked before a line points at it again)
    r = served.client.post(
        "/api/rollback", headers=served.bearer(), data={"report": done["report"]}
    )
    assert r.status_code == 200, r.text
    back = r.json()
    # OLD is on cdn.example.com, which does not resolve here: the check refuses it, and
    # rollback says so per config rather than pointing a phone line at it unchecked.
    assert back["ok"] is False
    assert {i["config_id"]: i["status"] for i in back["items"]} == {a: "failed", b: "failed"}
    assert "no longer serves valid hold music" in back["items"][0]["error"]
    assert stack.daily.get(a)["config"]["hold_music_url"] == done["url"]


def test_the_web_imports_the_application_layer_only() -> None:
    """An interface imports the application layer, never a stage and never the CLI."""
    from tests.test_layers import graph

    allowed = {"holdmusic", "holdmusic.app", "holdmusic.app.envelope", "holdmusic.text"}
    bad = {
        m: sorted(d for d in deps if d not in allowed and not d.startswith("holdmusic.web"))
        for m, deps in graph().items()
        if m.startswith("holdmusic.web")
    }
    assert {m: d for m, d in bad.items() if d} == {}


def test_the_waveform_marks_the_cut_the_fades_and_announcements() -> None:
    from holdmusic.web import waveform

    peaks = tuple(0.5 for _ in range(75 * 20))  # 75 s in 50 ms blocks
    p = waveform.picture(
        peaks, peaks, 0.05, 75.0, True,
        waveform.Marks(start=2.0, end=61.5, fade_in=0.3, fade_out=2.0, limit=60.0,
                       announcements=((10.0, 4.0),)),
    )  # fmt: skip
    kinds = {(line.kind, line.label) for line in p.lines}
    assert kinds == {("limit", "60 s limit"), ("cut", "start 0:02"), ("cut", "cut 1:01.5"),
                     ("announce", "announcement 0:10")}  # fmt: skip
    assert len(p.fades) == 2 and len(p.shade) == 2 and len(p.spans) == 1
    assert p.description == "waveform, 75.0 s, kept 0:02 to 1:01.5, 2 s fade-out"


def test_issue_19s_placed_announcements_become_seconds() -> None:
    from types import SimpleNamespace

    from holdmusic.web._uses import _placed

    result = SimpleNamespace(
        settings=SimpleNamespace(sample_rate=22050),
        announcements=(SimpleNamespace(at=22050 * 3, samples=22050 * 2),),
    )
    assert _placed(result) == ((3.0, 2.0),)
    assert _placed(SimpleNamespace()) == ()
