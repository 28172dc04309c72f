"""The application layer and the vocabulary under it: fast tests of pure decisions
(milliseconds, no server), then the cancel handle against the Daily stand-in.

The real-server tests of each command are the integration tier (test_batch, test_publish,
test_json_contract...); these pin the decisions those runs are made of.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from holdmusic import app
from holdmusic.codes import REGISTRY, Problem, problem
from holdmusic.daily import DailyClient, DialinConfig, RateLimiter
from holdmusic.pipeline import RunResult, rollback_decision
from holdmusic.progress import Reporter
from holdmusic.record import Change, Item, Recorder, Status
from holdmusic.update import point_config
from tests.conftest import SAMPLES, Stack

RUN_URL = "https://cdn.example.com/new.mp3"
BEFORE = "https://cdn.example.com/old.mp3"
ELSEWHERE = "https://cdn.example.com/someone-else.mp3"

# --- the vocabulary -------------------------------------------------------------------------


def test_status_meanings_live_on_the_enum() -> None:
    table = {s: (s.ok, s.rolled_back, s.alarming) for s in Status}
    assert table == {
        Status.UPDATED: (True, True, False),
        Status.UNCHANGED: (True, False, False),
        Status.FAILED: (False, False, True),
        Status.SKIPPED: (True, False, False),
        Status.WOULD_UPDATE: (True, False, False),
        Status.QUEUED: (False, False, False),
        Status.NOT_ATTEMPTED: (False, False, False),
        Status.PENDING: (False, True, True),
        Status.MISMATCHED: (False, True, True),
    }
    assert Status.NOT_ATTEMPTED.label == "not attempted"
    assert json.dumps({"s": Status.UPDATED}) == '{"s": "updated"}'


def test_a_misspelt_recorder_field_is_an_error_not_a_silent_drop() -> None:
    recorder = Recorder(None, "batch", "m.csv")
    recorder.add_all([Item("a", status=Status.QUEUED)])
    with pytest.raises(TypeError):
        Change(stauts=Status.FAILED)  # type: ignore[call-arg]
    recorder.change("a", Change(status=Status.FAILED, error="x"))
    assert (recorder.items["a"].status, recorder.items["a"].error) == (Status.FAILED, "x")
    recorder.change("a", Change(note="kept"))  # unset fields stay as they were
    assert recorder.items["a"].error == "x"


def test_the_report_says_complete_only_when_the_run_ended_by_itself(tmp_path: Path) -> None:
    recorder = Recorder(str(tmp_path / "r.json"), "batch", "m.csv")
    recorder.add_all([Item("a", status=Status.QUEUED), Item("b", status=Status.UPDATED)])
    recorder.close_queued("interrupted")
    recorder.finish(complete=False)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["complete"] is False and data["finished_at"] is not None
    assert data["counts"] == {"not_attempted": 1, "updated": 1}
    assert data["items"][0]["error"] == "not attempted: interrupted"


def test_problems_carry_registered_codes_only() -> None:
    with pytest.raises(ValueError, match=r"not in holdmusic\.codes\.REGISTRY"):
        Problem("no_such_code", "error", "x")
    with pytest.raises(ValueError, match="never a warning"):
        Problem("not_found", "warning", "x")
    with pytest.raises(ValueError, match="needs a severity"):
        problem("content_type", "either")
    assert problem("not_public", "403").to_dict() == {
        "code": "not_public",
        "severity": "error",
        "message": "403",
    }
    assert all(c.meaning and c.severities for c in REGISTRY.values())


@pytest.mark.parametrize(
    ("items", "stopped", "ok"),
    [
        ([Item("a", status=Status.UPDATED), Item("b", status=Status.UNCHANGED)], None, True),
        ([Item("a", status=Status.SKIPPED), Item("b", status=Status.WOULD_UPDATE)], None, True),
        ([Item("a", status=Status.UPDATED, changed_fields=["timeout_config"])], None, False),
        ([Item("a", status=Status.PENDING)], None, False),
        ([Item("a", status=Status.NOT_ATTEMPTED)], None, False),
        ([], "a file failed validation", False),
        ([], None, True),
    ],
)
def test_run_result_ok(items: list[Item], stopped: str | None, ok: bool) -> None:
    assert RunResult(tuple(items), stopped=stopped).ok is ok


# --- rollback's decision table --------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "previous", "stored", "force", "want"),
    [
        (BEFORE, BEFORE, None, False, Status.UNCHANGED),  # already back
        (RUN_URL, BEFORE, None, False, BEFORE),  # the run's URL: put it back
        (ELSEWHERE, BEFORE, None, False, Status.SKIPPED),  # changed since
        (ELSEWHERE, BEFORE, None, True, BEFORE),  # ... unless forced
        (ELSEWHERE, BEFORE, ELSEWHERE, False, BEFORE),  # mismatched: Daily stored that
        (RUN_URL, None, None, False, Status.FAILED),  # nothing to go back to
        (None, BEFORE, None, False, Status.SKIPPED),  # someone cleared it
    ],
)
def test_rollback_decision(
    now: str | None, previous: str | None, stored: str | None, force: bool, want: object
) -> None:
    item = Item("a", url=RUN_URL, previous_url=previous, stored_url=stored, status=Status.UPDATED)
    decided = rollback_decision(item, now, force=force)
    if isinstance(want, Status):
        assert isinstance(decided, Change) and decided.status == want
        if want == Status.SKIPPED:
            assert isinstance(decided.error, str) and "changed since the run" in decided.error
    else:
        assert decided == want


# --- point_config's outcomes, Daily answering through httpx.MockTransport ------------------


def _client(handler: Any) -> DailyClient:
    return DailyClient(
        "k" * 32,
        "https://api.daily.example/v1",
        transport=httpx.MockTransport(handler),
        limiter=RateLimiter(1000, 100),
        max_attempts=2,
        backoff_initial=0.0,
        backoff_max=0.0,
    )


def _config(url: str | None, **more: Any) -> dict[str, Any]:
    config = {"hold_music_url": url, "phone_number": "+15550000000", **more}
    return {"id": "cfg-1", "type": "pinless_dialin", "config": config}


def _point(handler: Any) -> Item:
    before = DialinConfig.from_json(_config(BEFORE))
    with _client(handler) as client:
        return point_config(client, before, RUN_URL)


def test_point_config_updated() -> None:
    item = _point(lambda req: httpx.Response(200, json=_config(RUN_URL)))
    assert (item.status, item.error, item.previous_url) == (Status.UPDATED, None, BEFORE)


def test_point_config_other_fields_changed() -> None:
    item = _point(lambda req: httpx.Response(200, json=_config(RUN_URL, name_prefix="new")))
    assert item.status == Status.UPDATED and item.changed_fields == ["name_prefix"]
    assert not item.ok


def test_point_config_mismatched() -> None:
    item = _point(lambda req: httpx.Response(200, json=_config(ELSEWHERE)))
    assert (item.status, item.stored_url) == (Status.MISMATCHED, ELSEWHERE)


def test_point_config_failed_but_landed() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "PUT":
            return httpx.Response(502, json={"error": "bad-gateway"})
        return httpx.Response(200, json=_config(RUN_URL))

    item = _point(handler)
    assert item.status == Status.UPDATED and item.note and "a GET shows it was applied" in item.note


def test_point_config_refused() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "PUT":
            return httpx.Response(400, json={"error": "invalid-request-error", "info": "no"})
        return httpx.Response(200, json=_config(BEFORE))

    assert _point(handler).status == Status.FAILED


def test_point_config_unknown_outcome_stays_pending() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "PUT":
            return httpx.Response(503)
        return httpx.Response(200, json=_config(BEFORE))

    item = _point(handler)
    assert item.status == Status.PENDING and "may still land" in (item.error or "")


# --- progress: serialised observer calls, counted steps --------------------------------------


def test_observer_calls_never_overlap_and_steps_count_up() -> None:
    inside = threading.Lock()
    overlaps = []
    done: list[int] = []

    def observer(event: app.Event) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(event)
            return
        try:
            if isinstance(event, app.Step):
                done.append(event.done)
            time.sleep(0)  # give another thread every chance to come in
        finally:
            inside.release()

    reporter = Reporter(observer)
    reporter.phase(app.Phase.UPDATE, 800)
    threads = [
        threading.Thread(target=lambda: [reporter.step("x") for _ in range(100)]) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
    assert done == list(range(1, 801))


def test_events_are_json() -> None:
    item = Item("a", status=Status.UPDATED)
    events: list[app.Event] = [
        app.PhaseStarted(phase=app.Phase.VALIDATE, total=2),
        app.Step(phase=app.Phase.VALIDATE, done=1, total=2, subject="f.mp3"),
        app.ConfigOutcome(item=item, sent=True),
        app.Notice(level="warning", text="x"),
    ]
    for event in events:
        json.dumps(event.to_dict())
        assert "event" in event.to_dict()


# --- environment, selection, reports --------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "yes", "0", "1 ", "on"])
def test_allow_private_other_than_1_is_refused(value: str) -> None:
    with pytest.raises(app.SettingError, match="exactly 1") as info:
        app.Environment.from_env({"HOLDMUSIC_ALLOW_PRIVATE_URLS": value})
    assert app.is_usage(info.value)


def test_allow_private_opt_in() -> None:
    assert app.Environment.from_env({"HOLDMUSIC_ALLOW_PRIVATE_URLS": "1"}).allow_private_urls
    assert not app.Environment.from_env({}).allow_private_urls
    assert not app.Environment.from_env({"HOLDMUSIC_ALLOW_PRIVATE_URLS": ""}).allow_private_urls


def test_selection_is_one_way_of_naming_configs() -> None:
    assert app.Selection(config_ids=("a", "b")).check().given == ("config_ids",)
    with pytest.raises(app.SelectionError, match="were combined") as info:
        app.Selection(config_ids=("a",), all_pinless=True).check()
    assert info.value.given == ("config_ids", "all_pinless")
    with pytest.raises(app.SelectionError, match="no configs named"):
        app.Selection().check()
    with pytest.raises(app.UsageError, match="not a dial-in config id"):
        app.Selection(config_ids=("a/b",)).check()


def test_list_reports_for_a_history_page(tmp_path: Path) -> None:
    old = Recorder(str(tmp_path / "holdmusic-batch-1.json"), "batch", "m.csv")
    old.add_all([Item("a", status=Status.UPDATED)])
    old.finish()
    new = Recorder(str(tmp_path / "holdmusic-publish-2.json"), "publish", "w.mp3")
    new.add_all([Item("a", status=Status.QUEUED)])
    new.close_queued("interrupted")
    new.finish(complete=False)
    (tmp_path / "holdmusic-broken.json").write_text("{")
    (tmp_path / "other.json").write_text("{}")
    listed = app.list_reports(str(tmp_path))
    by_name = {Path(r.path).name: r for r in listed}
    assert set(by_name) == {
        "holdmusic-batch-1.json",
        "holdmusic-publish-2.json",
        "holdmusic-broken.json",
    }
    assert by_name["holdmusic-batch-1.json"].ok is True
    assert by_name["holdmusic-publish-2.json"].to_dict()["complete"] is False
    assert by_name["holdmusic-publish-2.json"].ok is False
    assert by_name["holdmusic-broken.json"].problem == "not JSON"
    assert listed[0].path.endswith("holdmusic-publish-2.json")  # newest first


def test_validate_bytes_is_one_validate_item() -> None:
    data = (SAMPLES / "welcome-mono.mp3").read_bytes()
    verdict = app.validate_bytes(data, "welcome.mp3")
    assert verdict.to_dict()["ok"] is True and verdict.to_dict()["path"] == "welcome.mp3"
    prepared = app.prepare_bytes(data, "uploads/Welcome Mono.mp3")
    assert prepared.ok and prepared.filename == "Welcome Mono.mp3"
    bad = app.prepare_bytes(b"<html></html>", "x.mp3")
    assert not bad.ok and bad.verdict.problems[0].code == "not_mp3"


# --- the cancel handle, as a web request would use it ----------------------------------------


def test_a_cancel_from_another_thread_stops_a_batch(stack: Stack, tmp_path: Path) -> None:
    """The run goes on a worker thread (as under a web server); another thread cancels it
    while every request waits behind a huge Retry-After. The run ends at once as
    interrupted, its report says so, and nothing was PUT."""
    d = stack.daily
    ids = [d.add_config(hold_music_url=BEFORE) for _ in range(4)]
    (tmp_path / "w.mp3").write_bytes((SAMPLES / "welcome-mono.mp3").read_bytes())
    (tmp_path / "m.csv").write_text("config_id,file\n" + "".join(f"{c},w.mp3\n" for c in ids))
    env = app.Environment.from_env(os.environ)
    cancel = app.Cancel()
    reading = threading.Event()
    result: list[app.RunReport] = []

    def observer(event: app.Event) -> None:
        if isinstance(event, app.PhaseStarted) and event.phase == app.Phase.READ_CONFIGS:
            d.faults.rate_limit(1e-6, burst=1, retry_after=99999)
            reading.set()

    def run() -> None:
        result.append(
            app.batch(
                str(tmp_path / "m.csv"),
                env.storage_settings(bucket=stack.public_bucket),
                env=env,
                report=str(tmp_path / "run.json"),
                observer=observer,
                cancel=cancel,
            )
        )

    worker = threading.Thread(target=run)
    worker.start()
    assert reading.wait(60)
    deadline = time.monotonic() + 30
    while d.count(status=429) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    cancel.cancel()
    worker.join(30)
    assert not worker.is_alive(), "the cancel did not stop the run"
    [ran] = result
    assert ran.summary.interrupted and not ran.ok
    assert ran.to_dict()["interrupted"] is True
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["complete"] is False
    assert {i["status"] for i in report["items"]} == {"not_attempted"}
    assert d.puts() == []


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (401, {"error": "authentication-error"}, "DailyAuthError", "daily_auth"),
        (404, {"error": "not-found"}, "DailyNotFound", "daily_not_found"),
        (
            400,
            {"error": "invalid-request-error", "info": "bad"},
            "DailyRequestError",
            "daily_request",
        ),
        (503, {}, "DailyUnavailable", "daily_unavailable"),
        (429, {}, "DailyUnavailable", "daily_unavailable"),
    ],
)
def test_daily_answers_map_to_errors_and_problem_codes(
    status: int, body: dict[str, Any], kind: str, code: str
) -> None:
    from holdmusic.daily import DailyError

    with (
        _client(lambda req: httpx.Response(status, json=body)) as client,
        pytest.raises(DailyError) as info,
    ):
        client.get_config("cfg-1")
    assert type(info.value).__name__ == kind
    assert app.problem_for(info.value).code == code
    assert not app.is_usage(info.value)


def test_every_status_has_a_colour() -> None:
    from holdmusic.cli._render import STATUS_COLOURS

    assert set(STATUS_COLOURS) == {s.value for s in Status}
