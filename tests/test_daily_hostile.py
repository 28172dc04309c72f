"""A hostile or broken Daily (issue 20): every answer and every listing is bounded, a
Daily that refuses everything stops the run within a few attempts, the key is scrubbed
only where it can be, and the key never crosses the network in cleartext.

Each case runs against the stand-in's switches (testkit/daily/): ``endless_list``,
``huge_answer``, ``deep_json``, ``too_many_requests``. No test waits on the wall clock:
waits between attempts go to an injected sleep, and the breaker's time rule is tested
with an injected clock.
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from holdmusic import daily as daily_module
from holdmusic import dailyretry
from holdmusic.daily import (
    Breaker,
    DailyCircuitOpen,
    DailyClient,
    DailyError,
    DailyUnavailable,
    RateLimiter,
)
from holdmusic.errors import UsageError
from testkit.daily import DailyStandIn
from testkit.s3 import dead_endpoint_url
from tests.conftest import Result

Cli = Callable[..., Result]
CONFIG_PATH = "/v1/domain-dialin-config"


class Clock:
    """A clock that moves only when someone sleeps on it (thread-safe)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += seconds


def fast_client(daily: DailyStandIn, key: str | None = None, **kw: Any) -> DailyClient:
    """Retries with no real waiting: the limiter and the backoff sleep on a fake clock."""
    clock = kw.pop("clock", None) or Clock()
    options: dict[str, Any] = {
        "limiter": RateLimiter(rate=10_000, burst=1_000, clock=clock, sleep=clock.sleep),
        "sleep": clock.sleep,
        "timeout": 5.0,
    }
    options.update(kw)
    return DailyClient(daily.api_key if key is None else key, daily.url, **options)


def one_line_error(r: Result, code: int = 1) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "unexpected" not in r.output, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    return errors[0]


# -- a list that never ends ---------------------------------------------------------------


def test_default_listing_bounds() -> None:
    assert (daily_module.MAX_LIST_CONFIGS, daily_module.MAX_LIST_PAGES) == (10_000, 200)
    assert daily_module.LIST_DEADLINE == 120.0
    assert daily_module.MAX_LIST_CONFIGS <= daily_module.MAX_LIST_PAGES * daily_module.PAGE_SIZE


def test_an_endless_list_stops_at_the_config_cap(daily: DailyStandIn) -> None:
    daily.faults.endless_list()
    with fast_client(daily, max_list_configs=500) as client, pytest.raises(DailyError) as e:
        client.list_configs()
    assert "holds more than 500 configs" in str(e.value)
    assert "name the configs instead" in str(e.value)
    assert daily.count("GET", CONFIG_PATH) == 6  # 5 full pages, and the one past the cap


def test_an_endless_list_stops_at_the_page_cap(daily: DailyStandIn) -> None:
    daily.faults.endless_list()
    with fast_client(daily, max_list_pages=3) as client, pytest.raises(DailyError) as e:
        client.list_configs()
    assert "did not end after 3 pages (300 configs)" in str(e.value)
    assert daily.count("GET", CONFIG_PATH) == 3


def test_a_listing_ends_at_its_deadline(daily: DailyStandIn) -> None:
    """A deadline already passed after the first page: no second page is asked for."""
    daily.faults.endless_list()
    with fast_client(daily, list_deadline=0.0) as client, pytest.raises(DailyError) as e:
        client.list_configs()
    assert "did not end within 0 s (1 pages, 100 configs)" in str(e.value)
    assert daily.count("GET", CONFIG_PATH) == 1


def test_an_honest_list_at_the_cap_is_read_whole(daily: DailyStandIn) -> None:
    ids = daily.seed(300)
    with fast_client(daily, max_list_configs=300, max_list_pages=3) as client:
        assert [c.id for c in client.list_configs()] == ids


@pytest.mark.parametrize(
    "args",
    [
        ("configs", "list"),
        ("configs", "check"),
        ("publish", "samples/welcome-mono.mp3", "--all-pinless", "--dry-run", "--bucket", "b"),
    ],
)
def test_every_command_that_lists_stops_with_one_line(
    daily_env: DailyStandIn, cli: Cli, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setattr(daily_module, "MAX_LIST_CONFIGS", 300)
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    daily_env.faults.endless_list()
    line = one_line_error(cli(*args))
    assert "holds more than 300 configs: stopped there" in line
    assert daily_env.count("GET", CONFIG_PATH) == 4
    assert daily_env.count("PUT") == 0


# -- answers of any size and shape ---------------------------------------------------------


def test_a_huge_answer_is_not_read_past_the_cap(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    daily.faults.huge_answer(1_500_000_000, count=1)  # made lazily by the stand-in
    tracemalloc.start()
    try:
        with fast_client(daily) as client, pytest.raises(DailyError) as e:
            client.get_config(cid)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "with more than 2,000,000 bytes: not read past that" in str(e.value)
    assert peak < 40_000_000, peak
    assert daily.wait_until(lambda: len(daily.huge_sent) == 1)
    # The client hung up: the stand-in sent the cap plus what the sockets buffer.
    assert daily.huge_sent[0] < 50_000_000
    assert daily.count("GET") == 1  # the same question gets the same answer: no retry


def test_a_huge_answer_to_a_put_has_an_unknown_outcome(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    daily.faults.huge_answer(50_000_000, count=1, methods={"PUT"})
    with fast_client(daily) as client, pytest.raises(DailyError) as e:
        client.set_hold_music(cid, "https://cdn.example.com/hold/a.mp3")
    assert e.value.outcome_unknown  # the answer that would say what happened was not read


def test_configs_show_with_a_huge_answer_is_one_line(daily_env: DailyStandIn, cli: Cli) -> None:
    cid = daily_env.add_config()
    daily_env.faults.huge_answer(100_000_000)
    assert "not read past that" in one_line_error(cli("configs", "show", cid))


def test_deeply_nested_json_is_one_error_not_a_crash(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    daily.faults.deep_json(100_000, count=1)
    with fast_client(daily) as client:
        with pytest.raises(DailyError) as e:
            client.get_config(cid)
        assert "nested deeper than 32 levels" in str(e.value)
        assert client.get_config(cid).id == cid  # the next answer is fine


def test_an_honest_answer_with_some_nesting_passes(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    daily.faults.deep_json(20, count=1)
    with fast_client(daily) as client:
        assert client.get_config(cid).id == cid


def test_configs_check_keeps_going_past_a_deeply_nested_answer(
    daily_env: DailyStandIn, cli: Cli
) -> None:
    ids = daily_env.seed(3)
    daily_env.faults.deep_json(50_000, path_prefix=f"{CONFIG_PATH}/{ids[1]}")
    r = cli("configs", "check", "--json")
    assert r.exit_code == 1, r.output
    results = {d["config_id"]: d for d in json.loads(r.stdout)}
    assert list(results) == ids
    assert [p["code"] for p in results[ids[1]]["problems"]] == ["config_error"]
    assert "nested deeper" in results[ids[1]]["problems"][0]["message"]
    for cid in (ids[0], ids[2]):  # read and judged: no hold music set
        assert [p["code"] for p in results[cid]["problems"]] == ["no_hold_music"]


# -- the circuit breaker -------------------------------------------------------------------


def test_breaker_opens_after_a_streak_and_an_answer_ends_a_streak() -> None:
    clock = Clock()
    breaker = Breaker(streak=20, seconds=15, at_least=4, clock=clock)
    error = DailyUnavailable("Daily answered 503")
    for _ in range(19):
        breaker.refused(error)
    breaker.answered()
    for _ in range(19):
        breaker.refused(error)
    assert breaker.reason is None
    breaker.refused(error)
    assert breaker.reason is not None
    assert breaker.reason.startswith("Daily refused 20 requests in a row over 0.0 s")
    assert "last: Daily answered 503" in breaker.reason


def test_breaker_opens_on_a_few_refusals_spread_over_its_window() -> None:
    clock = Clock()
    breaker = Breaker(streak=20, seconds=15, at_least=4, clock=clock)
    error = DailyUnavailable("Daily kept answering 429")
    for _ in range(3):
        breaker.refused(error)
        clock.sleep(20)  # e.g. Retry-After: 20 between attempts
    assert breaker.reason is None  # three refusals are not enough, however long
    breaker.refused(error)
    assert breaker.reason is not None and "4 requests in a row over 60.0 s" in breaker.reason


def test_breaker_wakes_waiting_calls() -> None:
    breaker = Breaker(streak=1)
    woken = threading.Event()
    breaker.wake_on_open(woken)
    breaker.refused(DailyUnavailable("no"))
    assert woken.is_set()


def test_all_429_stops_a_batch_within_the_breaker(daily: DailyStandIn, tmp_path: Path) -> None:
    """100 configs against a Daily that answers 429 to everything: the run stops after a
    streak of refusals (not 100 configs x 6 attempts), and the rest is not attempted."""
    from holdmusic import pipeline
    from holdmusic.record import Recorder
    from holdmusic.storage import S3Store, StorageSettings

    ids = daily.seed(100)
    mp3 = Path(__file__).resolve().parent.parent / "samples" / "welcome-mono.mp3"
    daily.faults.too_many_requests()
    recorder = Recorder(str(tmp_path / "run.json"), "batch", "m.csv")
    with fast_client(daily) as client:
        result = pipeline.batch(
            [
                pipeline.Assigned(config_id=cid, file=str(mp3), name="welcome-mono.mp3")
                for cid in ids
            ],
            S3Store(StorageSettings(bucket="never-used")),  # nothing gets as far as an upload
            client,
            recorder,
            concurrency=8,
        )
        stopped = client.stopped
    assert stopped is not None and stopped.startswith("Daily refused 20 requests in a row")
    assert "429" in stopped
    sent = daily.count()
    assert 20 <= sent <= 20 + 8  # the streak, plus what other workers had in flight
    assert daily.count(status=429) == sent and daily.count("PUT") == 0
    statuses = [i.status for i in result.items]
    assert set(statuses) <= {"failed", "not_attempted"}
    # A config is `failed` only if a request was sent for it; how many configs the 20-odd
    # requests were spread over depends on scheduling (a worker whose config ran out of
    # attempts takes the next), so the bound is the requests, not the workers.
    assert statuses.count("not_attempted") >= 100 - sent
    report = json.loads((tmp_path / "run.json").read_text())
    not_attempted = [i for i in report["items"] if i["status"] == "not_attempted"]
    assert all(i["error"] == f"not attempted: {stopped}" for i in not_attempted)
    assert not result.ok


def test_retry_after_20_everywhere_stops_at_the_first_retry(daily: DailyStandIn) -> None:
    """Daily said when to come back; at that time it still refuses: stop (the time rule),
    instead of 100 configs each waiting out their 60 s budget."""
    from holdmusic.update import read_configs

    ids = daily.seed(100)
    daily.faults.too_many_requests(retry_after=20)
    clock = Clock()
    with fast_client(daily, clock=clock, breaker=Breaker(clock=clock)) as client:
        found = read_configs(client, ids, concurrency=8)
        stopped = client.stopped
    assert stopped is not None and "429" in stopped
    assert daily.count() < 20  # the time rule, well before the streak of 20
    assert all(isinstance(e, DailyError) for e in found.values())
    # every config no request was sent for is refused by the open breaker
    assert sum(isinstance(e, DailyCircuitOpen) for e in found.values()) >= 100 - daily.count()


def test_a_refused_connection_trips_the_breaker_fast() -> None:
    from holdmusic.update import read_configs

    url = dead_endpoint_url() + "/v1"
    clock = Clock()
    key = "test-key-0123456789abcdef"
    options = {"limiter": RateLimiter(10_000, 1_000, clock=clock, sleep=clock.sleep)}
    with DailyClient(key, url, sleep=clock.sleep, **options) as client:
        found = read_configs(client, [f"cfg-{i}" for i in range(100)], concurrency=8)
        assert client.stopped is not None and "cannot reach Daily" in client.stopped
        sent = client.requests_sent
        assert sent <= 20 + 8
    # Every config that got no request is refused by the open breaker; how many configs the
    # 20-odd requests were spread over depends on scheduling (a worker whose config ran out
    # of attempts takes the next), so the bound is the requests, not the workers.
    assert sum(isinstance(e, DailyCircuitOpen) for e in found.values()) >= 100 - sent


def test_a_flaky_but_working_daily_does_not_trip_it(daily: DailyStandIn) -> None:
    """30% of requests fail with a 5xx and 10% of PUTs are applied-then-502, yet every
    config gets there: 20 failures in a row at 30% is a 1-in-30-billion event."""
    from holdmusic.update import point_config, read_configs

    ids = daily.seed(100, hold_music_url="https://cdn.example.com/hold/old.mp3")
    daily.faults.fail_before(probability=0.3)
    daily.faults.fail_after_put(probability=0.1)
    with fast_client(daily) as client:
        found = read_configs(client, ids, concurrency=8)
        new = "https://cdn.example.com/hold/new.mp3"
        items = [point_config(client, found[cid], new) for cid in ids]  # type: ignore[arg-type]
        assert client.stopped is None
    assert {i.status for i in items} == {"updated"}
    assert daily.count(status=503) > 0


def test_the_breaker_line_in_the_cli(
    daily_env: DailyStandIn, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The breaker's reason is one line, and every config is accounted for."""
    monkeypatch.setattr(dailyretry, "BREAKER_STREAK", 3)  # the real limiter, no long waits
    ids = daily_env.seed(10)
    daily_env.faults.fail_before(probability=1.0, status=503)
    r = cli("configs", "check", *ids, "--json")
    assert r.exit_code == 1, r.output
    [stopped] = [line for line in r.stderr.splitlines() if line.startswith("Stopped: ")]
    assert "Daily refused 3 requests in a row" in stopped and "503" in stopped
    results = json.loads(r.stdout)
    assert [d["config_id"] for d in results] == ids
    assert daily_env.count() <= 3 + 8


# -- the key --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k", "new", "0123456789abcdef012"])  # 1, 3, 19
def test_an_implausibly_short_key_is_a_usage_error(key: str) -> None:
    with pytest.raises(UsageError) as e:
        DailyClient(key, "http://127.0.0.1:9/v1")
    assert f"is {len(key)} characters long" in str(e.value) and "at least 20" in str(e.value)
    assert len(key) < 3 or key not in str(e.value)


def test_a_short_key_in_the_cli_is_exit_2_and_sends_nothing(daily: DailyStandIn, cli: Cli) -> None:
    r = cli("configs", "list", env={"DAILY_API_KEY": "new", "DAILY_API_URL": daily.url})
    assert "DAILY_API_KEY is 3 characters long" in one_line_error(r, 2)
    assert daily.requests == []


def test_the_key_inside_a_longer_word_is_data_not_a_secret() -> None:
    """A URL whose content hash starts with the key's characters is left as it is; the
    key standing alone (an echo) is masked."""
    key = "0123456789abcdef0123"
    hashed = f"https://cdn.example.com/hold/{key}456789abcdef.mp3"
    with DailyStandIn(api_key=key) as daily:
        cid = daily.add_config(hold_music_url=hashed, name_prefix=f"line {key}")
        with fast_client(daily) as client:
            got = client.get_config(cid)
            assert got.hold_music_url == hashed
            assert got.name_prefix == "line ***"
            # a PUT of such a URL is not a false "mismatched"
            other = f"https://cdn.example.com/hold/{key}ffff.mp3"
            assert client.set_hold_music(cid, other).hold_music_url == other


def test_an_echoed_bearer_token_is_masked(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    daily.faults.echo_key()
    with fast_client(daily) as client, pytest.raises(DailyError) as e:
        client.get_config(cid)
    assert daily.api_key not in str(e.value) and "Bearer ***" in str(e.value)


# -- DAILY_API_URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://api.daily.co/v1", "http://10.0.0.5:8080/v1", "http://[2001:db8::1]/v1"]
)
def test_plain_http_off_loopback_is_refused(url: str) -> None:
    with pytest.raises(UsageError) as e:
        DailyClient("test-key-0123456789abcdef", url)
    assert "must be https" in str(e.value) and "cleartext" in str(e.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/v1",
        "http://127.8.9.10:9/v1",
        "http://localhost:9/v1",
        "http://[::1]:9/v1",
        "https://api.daily.co/v1",
    ],
)
def test_https_and_loopback_http_are_allowed(url: str) -> None:
    DailyClient("test-key-0123456789abcdef", url).close()


def test_plain_http_in_the_cli_is_exit_2(cli: Cli) -> None:
    env = {"DAILY_API_KEY": "test-key-0123456789abcdef", "DAILY_API_URL": "http://api.daily.co/v1"}
    line = one_line_error(cli("configs", "list", env=env), 2)
    assert "https" in line and "test-key" not in line
