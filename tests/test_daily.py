"""holdmusic.daily against the loopback Daily stand-in: auth, pagination, errors,
retries (429 with and without Retry-After, 5xx, dropped connections, read timeouts),
bounded attempts, the shared rate limiter, and that the API key never leaks.

Most clients here get a fast limiter and millisecond backoff so that retry tests
take tens of milliseconds. No test races the wall clock: a timeout is provoked by an
answer delayed far beyond it (60 s, cut short when the stand-in stops), and waits the
client is asked for (Retry-After, backoff) are recorded on a fake clock instead of slept.
The one real-rate test is in the ``slow`` tier.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from holdmusic import app
from holdmusic.daily import (
    DailyAuthError,
    DailyClient,
    DailyError,
    DailyNotFound,
    DailyRequestError,
    DailyUnavailable,
    RateLimiter,
)
from holdmusic.errors import UsageError
from testkit.daily import DailyStandIn
from testkit.s3 import dead_endpoint_url
from tests.conftest import Result

OLD = "https://cdn.example.com/hold/old.mp3"
NEW = "https://cdn.example.com/hold/new.mp3"
CONFIG_PATH = "/v1/domain-dialin-config"


def make_client(daily: DailyStandIn, key: str | None = None, **kw: Any) -> DailyClient:
    """A client whose retries wait for nothing (the backoff sleep is a no-op) and a
    limiter that does not slow tests."""
    options: dict[str, Any] = {
        "limiter": RateLimiter(rate=10_000, burst=1_000),
        "backoff_initial": 0.005,
        "backoff_max": 0.02,
        "timeout": 5.0,
        "sleep": lambda seconds: None,
    }
    options.update(kw)
    return DailyClient(daily.api_key if key is None else key, daily.url, **options)


def statuses(daily: DailyStandIn, method: str | None = None) -> list[int | None]:
    return [r.status for r in daily.requests if method is None or r.method == method]


# -- auth and the key -------------------------------------------------------------------


def test_requests_carry_the_key_as_a_bearer_token(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    with make_client(daily) as client:
        client.get_config(cid)
        client.list_configs()
        client.set_hold_music(cid, NEW)
    assert len(daily.requests) == 3
    for r in daily.requests:
        assert r.headers["authorization"] == f"Bearer {daily.api_key}"
        assert r.headers["user-agent"].startswith("holdmusic/")


@pytest.mark.parametrize("env", [{}, {"DAILY_API_KEY": ""}, {"DAILY_API_KEY": "  \n"}])
def test_missing_key_is_a_usage_error(env: dict[str, str]) -> None:
    with pytest.raises(UsageError) as caught:
        DailyClient.from_env(env)
    message = str(caught.value)
    assert "DAILY_API_KEY" in message and "\n" not in message
    assert app.is_usage(caught.value)  # exit 2 in the CLI


def test_missing_key_in_the_cli_is_one_line_and_exit_2(
    daily: DailyStandIn, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAILY_API_KEY", raising=False)
    monkeypatch.setenv("DAILY_API_URL", daily.url)
    for args in (("configs", "list"), ("configs", "show", "abc")):
        r = cli(*args)
        assert r.exit_code == 2, r
        assert r.stderr.startswith("error: ") and "DAILY_API_KEY" in r.stderr
        assert r.stderr.strip().count("\n") == 0, r.stderr
        assert "Traceback" not in r.output
    assert daily.requests == []  # nothing was sent without a key


def test_wrong_key_is_rejected_once_with_a_clear_message(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    with (
        make_client(daily, key="wrong-key-0123456789") as client,
        pytest.raises(DailyAuthError) as caught,
    ):
        client.get_config(cid)
    assert "rejected the API key" in str(caught.value)
    assert caught.value.status == 401
    assert statuses(daily) == [401]  # a rejected key is not retried


def test_wrong_key_in_the_cli(
    daily: DailyStandIn, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-key-cli-5f1e2d3c4b5a"
    monkeypatch.setenv("DAILY_API_KEY", wrong)
    monkeypatch.setenv("DAILY_API_URL", daily.url)
    r = cli("configs", "list")
    assert r.exit_code == 1
    assert "rejected the API key" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert wrong not in r.output and daily.api_key not in r.output


def test_the_key_never_appears_in_messages_or_logs(
    daily: DailyStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """Every kind of failure, with the client's logging on at INFO: no key anywhere."""
    caplog.set_level(logging.INFO)
    wrong = "wrong-key-9a8b7c6d5e4f3a2b"
    cid = daily.add_config(hold_music_url=OLD)
    pin = daily.add_config("pin_dialin")
    texts: list[str] = []

    def expect_error(fn: Callable[[], object]) -> None:
        with pytest.raises(DailyError) as caught:
            fn()
        texts.extend([str(caught.value), repr(caught.value), *map(str, caught.value.args)])

    with make_client(daily, max_attempts=3) as client:
        daily.faults.fail_before([503, 500])
        client.get_config(cid)  # two retries, logged
        daily.faults.drop_connection(1)
        client.list_configs()  # a dropped connection, retried and logged
        expect_error(lambda: client.get_config("no-such-config"))  # 404
        expect_error(lambda: client.set_hold_music(pin, NEW))  # 400
        daily.faults.fail_before(probability=1.0)
        expect_error(lambda: client.get_config(cid))  # 503 every time
        daily.faults.reset()
    with make_client(daily, key=wrong) as bad:
        expect_error(lambda: bad.get_config(cid))  # 401
    with make_client(daily, key=wrong, timeout=0.2, max_attempts=2) as slow:
        daily.faults.delay(60)  # cut short when the stand-in stops
        expect_error(slow.list_configs)  # read timeouts
        daily.faults.reset()
    dead = DailyClient(
        daily.api_key, dead_endpoint_url() + "/v1", max_attempts=2, backoff_initial=0.001
    )
    with dead:
        expect_error(dead.list_configs)  # connection refused

    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    # The check is only worth something if the client really logged requests and retries.
    assert f"GET /domain-dialin-config/{cid} -> 503" in logged
    assert "retrying after" in logged
    for text in [*texts, logged]:
        assert daily.api_key not in text
        assert wrong not in text


def test_a_malformed_key_is_not_echoed(daily: DailyStandIn) -> None:
    """A key pasted across two lines (DAILY_API_KEY="$(cat key.txt)" with a stray line)."""
    key = "first-half-7d6c5b4a\nsecond-half-3e2f1a0b"
    with pytest.raises((DailyError, UsageError)) as caught:
        make_client(daily, key=key, max_attempts=2).list_configs()
    message = str(caught.value)
    assert "first-half-7d6c5b4a" not in message
    assert "second-half-3e2f1a0b" not in message


def test_verbose_cli_output_never_shows_the_key(
    daily: DailyStandIn, run_cli: Callable[..., Result]
) -> None:
    """--verbose turns on request logging: still no key. An ordinary 404 is one line,
    no traceback (tracebacks are for bugs)."""
    cid = daily.add_config(hold_music_url=OLD)
    env = {"DAILY_API_KEY": daily.api_key, "DAILY_API_URL": daily.url}
    daily.faults.fail_before([503])
    ok = run_cli("--verbose", "configs", "show", cid, "--json", env=env)
    missing = run_cli("--verbose", "configs", "show", "no-such-config", env=env)
    wrong_key = "wrong-key-verbose-1a2b3c4d5e"
    rejected = run_cli("-v", "configs", "list", env={**env, "DAILY_API_KEY": wrong_key})

    assert ok.exit_code == 0, ok
    assert "holdmusic.daily:" in ok.stderr and "-> 503" in ok.stderr  # logging is on
    assert missing.exit_code == 1 and "Traceback" not in missing.stderr
    assert "error: " in missing.stderr and "no-such-config" in missing.stderr
    assert rejected.exit_code == 1 and "rejected the API key" in rejected.stderr
    for r in (ok, missing, rejected):
        assert daily.api_key not in r.output
        assert wrong_key not in r.output


# -- the API ----------------------------------------------------------------------------


def test_list_follows_pagination_to_the_end(daily: DailyStandIn) -> None:
    ids = daily.seed(250)
    with make_client(daily) as client:
        found = client.list_configs()
    assert [c.id for c in found] == ids
    gets = [r for r in daily.requests if r.method == "GET"]
    assert [r.query.get("starting_after") for r in gets] == [None, ids[99], ids[199]]
    assert all(r.query["limit"] == "100" for r in gets)
    # list entries are trimmed: hold_music_url needs a GET by id
    assert all(c.hold_music_url is None and c.phone_number for c in found)


def test_list_stops_at_total_count_without_an_empty_page(daily: DailyStandIn) -> None:
    ids = daily.seed(200)
    with make_client(daily) as client:
        assert [c.id for c in client.list_configs()] == ids
    assert len(daily.requests) == 2


def test_list_passes_filters_on_every_page(daily: DailyStandIn) -> None:
    pinless = daily.seed(130)
    daily.seed(5, "pin_dialin", name_prefix="pin")
    with make_client(daily) as client:
        found = client.list_configs(type="pinless_dialin")
        pins = client.list_configs(type="pin_dialin")
    assert [c.id for c in found] == pinless
    assert [c.type for c in pins] == ["pin_dialin"] * 5
    assert all(r.query["type"] in ("pinless_dialin", "pin_dialin") for r in daily.requests)


def test_get_and_put(daily: DailyStandIn) -> None:
    cid = daily.add_config(phone_number="+12125550100", name_prefix="sales", hold_music_url=OLD)
    before = daily.get(cid)
    with make_client(daily) as client:
        got = client.get_config(cid)
        assert got.id == cid and got.pinless and got.type == "pinless_dialin"
        assert got.hold_music_url == OLD
        assert got.phone_number == "+12125550100" and got.name_prefix == "sales"
        assert got.to_dict() == before

        after = client.set_hold_music(cid, NEW)
    assert after.hold_music_url == NEW
    assert daily.get(cid)["config"]["hold_music_url"] == NEW
    # only hold_music_url is sent, and Daily kept every other field
    assert [r.json() for r in daily.puts(cid)] == [{"hold_music_url": NEW}]
    expected = {**before["config"], "hold_music_url": NEW}
    assert after.config == expected and daily.get(cid)["config"] == expected


def test_unknown_id_is_dailynotfound_naming_the_id(daily: DailyStandIn) -> None:
    with make_client(daily) as client:
        with pytest.raises(DailyNotFound) as on_get:
            client.get_config("missing-config-42")
        with pytest.raises(DailyNotFound) as on_put:
            client.set_hold_music("missing-config-43", NEW)
    assert "missing-config-42" in str(on_get.value) and on_get.value.status == 404
    assert "missing-config-43" in str(on_put.value)
    assert "legacy" in str(on_get.value)  # the hint for older domains
    assert statuses(daily) == [404, 404]  # not retried


def test_400_carries_dailys_info(daily: DailyStandIn) -> None:
    pin = daily.add_config("pin_dialin")
    cid = daily.add_config()
    with make_client(daily) as client:
        with pytest.raises(DailyRequestError) as on_pin:
            client.set_hold_music(pin, NEW)
        with pytest.raises(DailyRequestError) as on_bad_url:
            client.set_hold_music(cid, "ftp://cdn.example.com/a.mp3")
    assert "hold_music_url is only for pinless_dialin configs" in str(on_pin.value)
    assert "publicly accessible http(s) URL" in str(on_bad_url.value)
    assert on_pin.value.status == 400 and on_pin.value.error == "invalid-request-error"
    assert statuses(daily) == [400, 400]  # not retried
    assert "hold_music_url" not in daily.get(cid)["config"]


@pytest.mark.parametrize("bad_id", ["", "a/b", "..", "."])
def test_ids_that_are_not_ids_are_refused_before_any_request(
    daily: DailyStandIn, bad_id: str
) -> None:
    with make_client(daily) as client, pytest.raises(UsageError):
        client.get_config(bad_id)
    assert daily.requests == []


# -- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("codes", [[500], [502], [503], [500, 502, 503]])
def test_5xx_before_applying_is_retried(daily: DailyStandIn, codes: list[int]) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.fail_before(codes)
    with make_client(daily) as client:
        assert client.get_config(cid).hold_music_url == OLD
    assert statuses(daily) == [*codes, 200]


def test_a_put_failing_before_applying_is_retried_and_applied_once(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.fail_before([503, 502], methods={"PUT"})
    with make_client(daily) as client:
        assert client.set_hold_music(cid, NEW).hold_music_url == NEW
    assert statuses(daily, "PUT") == [503, 502, 200]
    assert daily.put_history(cid) == [NEW]


def test_a_put_applied_then_answered_502_is_retried_harmlessly(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.fail_after_put(1)
    with make_client(daily) as client:
        assert client.set_hold_music(cid, NEW).hold_music_url == NEW
    assert statuses(daily, "PUT") == [502, 200]
    assert daily.put_history(cid) == [NEW, NEW]  # the same body twice: idempotent
    assert daily.get(cid)["config"]["hold_music_url"] == NEW


def test_429_without_retry_after_backs_off_and_succeeds(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.too_many_requests(count=2)
    clock = FakeClock(advancing=True)
    limiter = RateLimiter(rate=10_000, burst=1_000, clock=clock, sleep=clock.sleep)
    options = {"backoff_initial": 0.05, "backoff_max": 0.2, "sleep": clock.sleep}
    with make_client(daily, limiter=limiter, **options) as client:
        for _ in range(4):
            assert client.get_config(cid).hold_music_url == OLD
    assert statuses(daily) == [429, 429, 200, 200, 200, 200]
    # exponential backoff with full jitter (0.025-0.05 s, then 0.05-0.1 s), and the shared
    # limiter's penalty after each 429 (backoff_initial, less what the backoff already waited)
    assert len(clock.waits) >= 2 and all(0 < w <= 0.1 for w in clock.waits), clock.waits
    assert sum(clock.waits) >= 0.025 + 0.05


def test_429_with_retry_after_waits_at_least_that_long(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.too_many_requests(count=1, retry_after=1)
    clock = FakeClock(advancing=True)
    limiter = RateLimiter(rate=10_000, burst=1_000, clock=clock, sleep=clock.sleep)
    # Backoff alone would come back within 10 ms; Retry-After says 1 s.
    options = {"backoff_initial": 0.005, "backoff_max": 0.01, "sleep": clock.sleep}
    start = clock.now
    with make_client(daily, limiter=limiter, **options) as client:
        assert client.get_config(cid).hold_music_url == OLD
    assert statuses(daily) == [429, 200]
    assert max(clock.waits) >= 1.0 and clock.now - start >= 1.0


def test_a_429_pushes_back_every_caller_of_the_shared_limiter(daily: DailyStandIn) -> None:
    """After a 429 with Retry-After, the limiter (shared by all threads) holds its slots."""
    clock = FakeClock()  # frozen: only the waits the limiter asks for are recorded
    limiter = RateLimiter(rate=1000, burst=100, clock=clock, sleep=clock.sleep)
    cid = daily.add_config()
    with make_client(daily, limiter=limiter, sleep=clock.sleep) as client:
        client.get_config(cid)
        assert clock.waits == []
        daily.faults.too_many_requests(count=1, retry_after=1)
        client.get_config(cid)  # 429 (Retry-After: 1), then 200
    assert statuses(daily) == [200, 429, 200]
    # the retry waited for the limiter, which the 429 had pushed 1 s out ...
    assert clock.waits and clock.waits[0] >= 1.0
    # ... and so does any other thread using the same limiter now
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(limiter.acquire).result() >= 1.0


def test_dropped_connections_are_retried(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.drop_connection(2)
    with make_client(daily) as client:
        assert client.get_config(cid).hold_music_url == OLD
    assert statuses(daily) == [None, None, 200]


def test_a_read_timeout_is_retried(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.delay(60, count=1)  # far beyond the timeout: no race
    with make_client(daily, timeout=0.5) as client:
        assert client.get_config(cid).hold_music_url == OLD
    assert len(daily.requests) == 2


def test_a_put_that_times_out_after_applying_is_retried_and_lands(daily: DailyStandIn) -> None:
    cid = daily.add_config(hold_music_url=OLD)
    daily.faults.delay(60, count=1, methods={"PUT"})  # applied, then answered too late
    with make_client(daily, timeout=0.5) as client:
        assert client.set_hold_music(cid, NEW).hold_music_url == NEW
    assert daily.put_history(cid) == [NEW, NEW]
    assert daily.get(cid)["config"]["hold_music_url"] == NEW


@pytest.mark.parametrize("attempts", [1, 3])
def test_attempts_are_bounded_for_5xx(daily: DailyStandIn, attempts: int) -> None:
    cid = daily.add_config()
    daily.faults.fail_before(probability=1.0, status=502)
    with make_client(daily, max_attempts=attempts) as client, pytest.raises(DailyUnavailable) as e:
        client.get_config(cid)
    assert statuses(daily) == [502] * attempts
    assert "502" in str(e.value) and e.value.status == 502


def test_attempts_are_bounded_for_429(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    daily.faults.rate_limit(0.01, burst=1)
    with make_client(daily, max_attempts=3) as client:
        client.get_config(cid)  # the one token
        with pytest.raises(DailyUnavailable) as caught:
            client.get_config(cid)
    assert statuses(daily) == [200, 429, 429, 429]
    assert "429" in str(caught.value)


def test_attempts_are_bounded_for_timeouts(daily: DailyStandIn) -> None:
    cid = daily.add_config()
    daily.faults.delay(60)
    with (
        make_client(daily, timeout=0.2, max_attempts=2) as client,
        pytest.raises(DailyUnavailable) as caught,
    ):
        client.get_config(cid)
    assert "read timeout" in str(caught.value)
    assert len(daily.requests) == 2


def test_attempts_are_bounded_for_refused_connections() -> None:
    url = dead_endpoint_url() + "/v1"
    with (
        DailyClient(
            "some-key-0123456789abcdef", url, max_attempts=3, backoff_initial=0.001
        ) as client,
        pytest.raises(DailyUnavailable) as caught,
    ):
        client.list_configs()
    assert "cannot reach Daily" in str(caught.value)
    assert client.requests_sent == 3


# -- the rate limiter -------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when told to (or when ``advancing`` and someone sleeps)."""

    def __init__(self, start: float = 1000.0, advancing: bool = False) -> None:
        self.now = start
        self.advancing = advancing
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            if self.advancing:
                self.now += seconds


def test_limiter_burst_then_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])
    assert clock.waits == pytest.approx([0.1, 0.2, 0.3])  # no sleep(0) calls


def test_limiter_refills_after_idle_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    clock.now += 0.15  # not yet enough to catch up with the reserved slots
    assert limiter.acquire() == pytest.approx(0.15)  # slot 1000.3, now 1000.15
    clock.now += 10  # long idle: the full burst is back, no more
    assert [limiter.acquire() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_limiter_steady_rate_with_a_moving_clock() -> None:
    clock = FakeClock(advancing=True)
    limiter = RateLimiter(rate=20, burst=5, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(45):
        limiter.acquire()
    # 5 at once, then 40 more at 20/s
    assert clock.now - start == pytest.approx(40 / 20)


def test_limiter_penalize_delays_the_next_slot() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0
    limiter.penalize(2.0)
    assert limiter.acquire() == pytest.approx(2.0)
    assert limiter.acquire() == pytest.approx(2.1)


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1, 5), (10, 0)])
def test_limiter_refuses_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=rate, burst=burst)


def test_limiter_hands_out_unique_slots_across_threads() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=4, clock=clock, sleep=clock.sleep)
    barrier = threading.Barrier(8)

    def worker() -> list[float]:
        barrier.wait()
        return [limiter.acquire() for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        waits = sorted(w for ws in pool.map(lambda _: worker(), range(8)) for w in ws)
    expected = [0.0] * 4 + [k / 10 for k in range(1, 200 - 4 + 1)]
    assert waits == pytest.approx(expected)


def _hammer(client: DailyClient, ids: list[str], threads: int) -> list[object]:
    def one(cid: str) -> object:
        try:
            return client.get_config(cid).id
        except DailyUnavailable as exc:
            return exc

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, ids))


@pytest.mark.slow  # real time at the real rate (3 s): the fake-clock tests above are fast
def test_shared_limiter_keeps_many_threads_under_dailys_limit(daily: DailyStandIn) -> None:
    """60 GETs from 8 threads through one limiter (20/s, burst 5): Daily at 20/s never 429s."""
    ids = daily.seed(60)
    daily.faults.rate_limit(20, burst=20)
    with make_client(daily, limiter=RateLimiter(rate=20, burst=5), max_attempts=1) as client:
        got = _hammer(client, ids, threads=8)
    assert got == ids  # every call succeeded at the first attempt
    assert daily.count(status=429) == 0
    assert daily.count("GET") == 60


def test_without_the_limiter_the_same_load_draws_429s(daily: DailyStandIn) -> None:
    """The control for the test above: the stand-in really does limit at 20/s."""
    ids = daily.seed(100)
    daily.faults.clock = lambda: 1000.0  # the bucket never refills: 20 requests, then 429s
    daily.faults.rate_limit(20, burst=20)
    with make_client(daily, max_attempts=1) as client:  # limiter: 10,000/s
        got = _hammer(client, ids, threads=8)
    assert daily.count(status=429) > 0
    assert any(isinstance(g, DailyUnavailable) for g in got)
