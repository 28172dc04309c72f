"""Pins down how the Daily stand-in behaves, over real HTTP with httpx.

holdmusic's own tests trust these behaviours (error shapes, pagination,
partial PUT, faults), so they are checked here once, independently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from testkit.daily import DailyStandIn

CDN = "https://cdn.example.com/hold/3f2a9c.mp3"
# Plain HTTP on loopback: verify=False only skips loading the CA bundle, which
# costs ~85 ms per client and would dominate this file's run time.
NO_TLS: dict[str, Any] = {"verify": False}


@pytest.fixture
def api(daily: DailyStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=daily.url, headers=daily.auth_headers, timeout=5, **NO_TLS
    ) as client:
        yield client


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "info"} and isinstance(body["info"], str)
    return str(body["error"])


# -- basics and auth --------------------------------------------------------------


def test_url_and_key_shape(daily: DailyStandIn) -> None:
    assert daily.url == f"http://127.0.0.1:{daily.port}/v1"
    assert daily.api_key.startswith("test-key-")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        # "Bearer " with an empty key never leaves httpx (h11 refuses the
        # trailing space locally), so a bare scheme stands in for it.
        {"Authorization": "Bearer"},
        {"Authorization": "key"},
    ],
    ids=["missing", "basic", "bearer-without-key", "no-scheme"],
)
def test_missing_or_malformed_auth_is_400(daily: DailyStandIn, headers: dict[str, str]) -> None:
    response = httpx.get(f"{daily.url}/domain-dialin-config", headers=headers, **NO_TLS)
    assert response.status_code == 400
    assert error_of(response) == "authorization-header-error"


def test_wrong_key_is_401(daily: DailyStandIn) -> None:
    response = httpx.get(
        f"{daily.url}/domain-dialin-config",
        headers={"Authorization": "Bearer not-the-key"},
        **NO_TLS,
    )
    assert response.status_code == 401
    assert error_of(response) == "authentication-error"


def test_stopped_standin_refuses_connections() -> None:
    with DailyStandIn() as standin:
        url = standin.url
        with httpx.Client(headers=standin.auth_headers, **NO_TLS) as client:
            assert client.get(f"{url}/domain-dialin-config").status_code == 200
            standin.stop()
            # The pooled keep-alive connection was closed too, not just the listener.
            with pytest.raises(httpx.TransportError):
                client.get(f"{url}/domain-dialin-config")


def test_routing_errors_are_json_too(api: httpx.Client) -> None:
    unknown = api.get("/rooms")
    assert unknown.status_code == 404 and error_of(unknown) == "invalid-request-error"
    wrong_method = api.patch("/domain-dialin-config/x", json={})
    assert wrong_method.status_code == 405 and error_of(wrong_method) == "invalid-request-error"
    # HEAD is refused by http.server itself, before the stand-in's code runs.
    head = api.head("/domain-dialin-config")
    assert head.status_code == 501
    assert head.headers["content-type"].startswith("application/json")


# -- list ---------------------------------------------------------------------------


def test_list_paginates_250_configs_in_creation_order(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    ids = daily.seed(250, hold_music_url=CDN)
    seen: list[str] = []
    sizes: list[int] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = api.get("/domain-dialin-config", params=params).json()
        assert page["total_count"] == 250
        sizes.append(len(page["data"]))
        seen += [entry["id"] for entry in page["data"]]
        if len(page["data"]) < 100:
            break
        params["starting_after"] = page["data"][-1]["id"]
    assert sizes == [100, 100, 50]
    assert seen == ids


def test_list_entries_carry_a_trimmed_config(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config(
        phone_number="+12125550100", name_prefix="sales", hold_music_url=CDN
    )
    [entry] = api.get("/domain-dialin-config").json()["data"]
    assert set(entry) == {"id", "type", "config"}
    assert entry["id"] == config_id and entry["type"] == "pinless_dialin"
    assert set(entry["config"]) == {"phone_number", "name_prefix", "sip_uri"}
    assert entry["config"]["phone_number"] == "+12125550100"
    assert entry["config"]["sip_uri"].endswith(".sip.daily.co")
    # hold_music_url is only visible through GET by id.
    assert api.get(f"/domain-dialin-config/{config_id}").json()["config"]["hold_music_url"] == CDN


def test_list_default_limit_ending_before_and_filters(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    pinless = daily.seed(120)
    pin = daily.seed(3, "pin_dialin", name_prefix="pin")
    everything = pinless + pin
    assert len(api.get("/domain-dialin-config").json()["data"]) == 100

    back = api.get("/domain-dialin-config", params={"ending_before": pin[0], "limit": 5}).json()
    assert [e["id"] for e in back["data"]] == pinless[-5:]
    after = api.get("/domain-dialin-config", params={"starting_after": everything[-2]}).json()
    assert [e["id"] for e in after["data"]] == everything[-1:]

    by_type = api.get("/domain-dialin-config", params={"type": "pin_dialin"}).json()
    assert by_type["total_count"] == 3 and [e["id"] for e in by_type["data"]] == pin
    number = daily.get(pinless[7])["config"]["phone_number"]
    by_number = api.get("/domain-dialin-config", params={"phone_number": number}).json()
    assert [e["id"] for e in by_number["data"]] == [pinless[7]]
    by_name = api.get("/domain-dialin-config", params={"name_prefix": "pin-1"}).json()
    assert [e["id"] for e in by_name["data"]] == [pin[1]]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": "ten"},
        {"type": "pstn"},
        {"starting_after": "no-such-id"},
        {"starting_after": "a", "ending_before": "b"},
    ],
)
def test_list_rejects_bad_parameters(api: httpx.Client, params: dict[str, Any]) -> None:
    response = api.get("/domain-dialin-config", params=params)
    assert response.status_code == 400
    assert error_of(response) == "invalid-request-error"


# -- get / put / post / delete ------------------------------------------------------


def test_put_is_a_partial_update(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config(hold_music_url="https://cdn.example.com/old.mp3")
    before = api.get(f"/domain-dialin-config/{config_id}").json()
    assert before == daily.get(config_id)
    assert {"room_creation_api", "hmac", "timeout_config", "sip_uri"} <= set(before["config"])

    response = api.put(f"/domain-dialin-config/{config_id}", json={"hold_music_url": CDN})
    assert response.status_code == 200
    after = response.json()
    assert after["config"].pop("hold_music_url") == CDN
    before["config"].pop("hold_music_url")
    assert after == before  # every other field kept
    assert api.get(f"/domain-dialin-config/{config_id}").json()["config"]["hold_music_url"] == CDN
    assert daily.put_history(config_id) == [CDN]
    assert [r.json() for r in daily.puts(config_id)] == [{"hold_music_url": CDN}]


def test_pin_dialin_refuses_hold_music_url(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config("pin_dialin")
    before = daily.get(config_id)
    response = api.put(f"/domain-dialin-config/{config_id}", json={"hold_music_url": CDN})
    assert response.status_code == 400
    assert error_of(response) == "invalid-request-error"
    assert "only for pinless_dialin" in response.json()["info"]
    assert daily.get(config_id) == before and daily.put_history(config_id) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "json-parsing-error"),
        (b'["hold_music_url"]', "json-parsing-error"),
        (b'{"hold_music_url": null}', "invalid-request-error"),
        (b'{"hold_music_url": "ftp://cdn.example.com/a.mp3"}', "invalid-request-error"),
        (b'{"hold_music_url": "cdn.example.com/a.mp3"}', "invalid-request-error"),
        (b'{"hold_music_uri": "https://cdn.example.com/a.mp3"}', "invalid-request-error"),
        (b'{"sip_uri": "sip:x@y.sip.daily.co"}', "invalid-request-error"),
        (b'{"type": "pin_dialin"}', "invalid-request-error"),
        (b'{"timeout_config": "later"}', "invalid-request-error"),
    ],
)
def test_put_rejects_invalid_bodies_without_changing_state(
    daily: DailyStandIn, api: httpx.Client, body: bytes, error: str
) -> None:
    config_id = daily.add_config(hold_music_url=CDN)
    before = daily.get(config_id)
    response = api.put(
        f"/domain-dialin-config/{config_id}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response) == error
    assert daily.get(config_id) == before


def test_put_refuses_a_phone_number_owned_by_another_config(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    first, second = daily.seed(2)
    taken = daily.get(first)["config"]["phone_number"]
    response = api.put(f"/domain-dialin-config/{second}", json={"phone_number": taken})
    assert response.status_code == 400 and error_of(response) == "invalid-request-error"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_missing_id_is_404(api: httpx.Client, method: str) -> None:
    kwargs: dict[str, Any] = {"json": {"hold_music_url": CDN}} if method == "PUT" else {}
    response = api.request(method, "/domain-dialin-config/0000-missing", **kwargs)
    assert response.status_code == 404
    assert error_of(response) == "invalid-request-error"
    assert response.json()["info"] == "dialin config 0000-missing not found"


def test_post_then_delete(daily: DailyStandIn, api: httpx.Client) -> None:
    body = {"type": "pinless_dialin", "phone_number": "+14155550123", "hold_music_url": CDN}
    created = api.post("/domain-dialin-config", json=body)
    assert created.status_code == 200
    obj = created.json()
    assert obj["type"] == "pinless_dialin" and obj["config"]["sip_uri"].startswith("sip:")
    assert daily.get(obj["id"]) == obj
    duplicate = api.post("/domain-dialin-config", json=body)
    assert duplicate.status_code == 400 and error_of(duplicate) == "invalid-request-error"

    assert api.delete(f"/domain-dialin-config/{obj['id']}").json() == {"status": "success"}
    assert api.get(f"/domain-dialin-config/{obj['id']}").status_code == 404


def test_legacy_domain_config() -> None:
    legacy = [{"phone_number": "+12125550199", "hold_music_url": CDN}]
    with (
        DailyStandIn(domain_name="acme", legacy_pinless_dialin=legacy) as standin,
        httpx.Client(base_url=standin.url, headers=standin.auth_headers, **NO_TLS) as client,
    ):
        body = client.get("/").json()
    assert body["domain_name"] == "acme"
    assert body["config"]["pinless_dialin"] == legacy


# -- faults ---------------------------------------------------------------------------


class FrozenClock:
    """The stand-in's rate-limit clock, moved only by the test: a bucket refills exactly
    as told, however slow or loaded the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_over_the_rate_limit_gets_429(daily: DailyStandIn, api: httpx.Client) -> None:
    daily.faults.clock = FrozenClock()  # no refill between requests, whatever they take
    daily.faults.rate_limit(20, burst=5)
    statuses = [api.get("/domain-dialin-config").status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429, 429]
    limited = api.get("/domain-dialin-config")
    assert limited.status_code == 429 and error_of(limited) == "rate-limit-error"
    assert "retry-after" not in limited.headers  # Daily documents none

    daily.faults.rate_limit(1, burst=1, retry_after=1.5)
    assert api.get("/domain-dialin-config").status_code == 200
    limited = api.get("/domain-dialin-config")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"

    daily.faults.rate_limit(None)
    assert api.get("/domain-dialin-config").status_code == 200


def test_rate_limit_bucket_refills(daily: DailyStandIn, api: httpx.Client) -> None:
    daily.faults.clock = clock = FrozenClock()
    daily.faults.rate_limit(50, burst=1)
    assert api.get("/domain-dialin-config").status_code == 200
    assert api.get("/domain-dialin-config").status_code == 429
    clock.now += 0.019  # 50/s refills one token in 20 ms: not yet
    assert api.get("/domain-dialin-config").status_code == 429
    clock.now += 0.002
    assert api.get("/domain-dialin-config").status_code == 200


def test_fail_before_queue_targets_puts_and_leaves_state_unchanged(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    config_id = daily.add_config(hold_music_url="https://cdn.example.com/old.mp3")
    before = daily.get(config_id)
    daily.faults.fail_before([503, 502], methods={"PUT"})
    path = f"/domain-dialin-config/{config_id}"

    assert api.get(path).status_code == 200  # GETs untouched, queue not consumed
    first = api.put(path, json={"hold_music_url": CDN})
    second = api.put(path, json={"hold_music_url": CDN})
    assert (first.status_code, second.status_code) == (503, 502)
    assert error_of(first) == error_of(second) == "server-error"
    assert daily.get(config_id) == before and daily.put_history(config_id) == []

    assert api.put(path, json={"hold_music_url": CDN}).status_code == 200
    assert daily.put_history(config_id) == [CDN]
    assert [r.status for r in daily.puts(config_id)] == [503, 502, 200]
    assert daily.puts(config_id)[0].faults == ("fail_before",)


def test_fail_before_probability_is_seeded(daily: DailyStandIn, api: httpx.Client) -> None:
    daily.faults.fail_before(probability=1.0, status=500, methods={"GET"})
    assert api.get("/domain-dialin-config").status_code == 500
    daily.faults.fail_before(probability=0.5, methods={"GET"})
    daily.faults.reseed(7)
    first = [api.get("/domain-dialin-config").status_code for _ in range(20)]
    daily.faults.reseed(7)
    second = [api.get("/domain-dialin-config").status_code for _ in range(20)]
    assert first == second and {200, 503} == set(first)


def test_fail_after_put_applies_the_change_but_answers_502(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    config_id = daily.add_config(hold_music_url="https://cdn.example.com/old.mp3")
    daily.faults.fail_after_put(1)
    path = f"/domain-dialin-config/{config_id}"

    rejected = api.put(path, json={"bogus": 1})  # a 4xx does not use up the fault
    assert rejected.status_code == 400
    response = api.put(path, json={"hold_music_url": CDN})
    assert response.status_code == 502 and error_of(response) == "server-error"
    assert daily.get(config_id)["config"]["hold_music_url"] == CDN
    assert daily.put_history(config_id) == [CDN]
    # A retry of the same body is naturally idempotent and now succeeds.
    assert api.put(path, json={"hold_music_url": CDN}).status_code == 200
    assert daily.put_history(config_id) == [CDN, CDN]


def test_slow_answer_trips_the_client_read_timeout(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config()
    daily.faults.delay(60, count=1, methods={"PUT"})  # far beyond the timeout: no race
    path = f"/domain-dialin-config/{config_id}"
    with pytest.raises(httpx.ReadTimeout):
        api.put(path, json={"hold_music_url": CDN}, timeout=0.2)
    # Default when="after": applied (and logged) before the delay, though the client gave up.
    assert daily.wait_until(lambda: daily.count("PUT") == 1)
    assert daily.get(config_id)["config"]["hold_music_url"] == CDN
    daily.faults.end_delays()
    fast = api.put(path, json={"hold_music_url": CDN})  # count=1: back to normal
    assert fast.status_code == 200


def test_delay_before_applies_only_after_the_client_gave_up(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    config_id = daily.add_config()
    daily.faults.delay(60, count=1, when="before")  # ended below, on the test's cue
    with pytest.raises(httpx.ReadTimeout):
        api.put(f"/domain-dialin-config/{config_id}", json={"hold_music_url": CDN}, timeout=0.1)
    assert "hold_music_url" not in daily.get(config_id)["config"]
    daily.faults.end_delays()
    assert daily.wait_idle(timeout=10)
    assert daily.get(config_id)["config"]["hold_music_url"] == CDN


def test_drop_connection(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config()
    path = f"/domain-dialin-config/{config_id}"
    daily.faults.drop_connection(1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.put(path, json={"hold_music_url": CDN})
    assert daily.put_history(config_id) == []

    daily.faults.drop_connection(1, methods={"PUT"}, when="after")
    with pytest.raises(httpx.RemoteProtocolError):
        api.put(path, json={"hold_music_url": CDN})
    assert daily.put_history(config_id) == [CDN]  # applied, never answered
    assert api.get(path).status_code == 200
    assert [r.status for r in daily.requests] == [None, None, 200]


# -- observability and load --------------------------------------------------------------


def test_request_log(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config()
    api.get("/domain-dialin-config", params={"limit": 3})
    api.put(f"/domain-dialin-config/{config_id}", json={"hold_music_url": CDN})
    first, second = daily.requests
    assert (first.method, first.path, first.query, first.status) == (
        "GET",
        "/v1/domain-dialin-config",
        {"limit": "3"},
        200,
    )
    assert first.headers["authorization"] == f"Bearer {daily.api_key}"
    assert json.loads(second.body) == {"hold_music_url": CDN} and second.time >= first.time
    assert daily.count() == 2 and daily.count("put") == 1
    assert daily.count(path_prefix=f"/v1/domain-dialin-config/{config_id}") == 1
    assert daily.puts() == [second]
    daily.reset_log()
    assert daily.requests == [] and daily.count() == 0 and daily.peak_rate_per_s == 0
    assert daily.put_history(config_id) == [CDN]  # state is not part of the log


def test_fifty_concurrent_requests_are_served_in_parallel(daily: DailyStandIn) -> None:
    """50 PUTs held at once (block) prove parallel service without timing anything."""
    ids = daily.seed(50)
    daily.faults.block(methods={"PUT"})
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    with (
        httpx.Client(
            base_url=daily.url, headers=daily.auth_headers, limits=limits, **NO_TLS
        ) as client,
        ThreadPoolExecutor(max_workers=50) as pool,
    ):

        def put(config_id: str) -> int:
            url = f"https://cdn.example.com/{config_id}.mp3"
            response = client.put(
                f"/domain-dialin-config/{config_id}", json={"hold_music_url": url}
            )
            return response.status_code

        futures = [pool.submit(put, i) for i in ids]
        assert daily.wait_until(lambda: daily.in_flight == 50, timeout=60)
        assert all(daily.put_history(i) == [] for i in ids)  # held before being applied
        daily.faults.unblock()
        statuses = [f.result() for f in futures]
    assert statuses == [200] * 50
    assert all(len(daily.put_history(i)) == 1 for i in ids)
    assert daily.peak_in_flight == 50


# -- issue 20's switches ----------------------------------------------------------------------


def test_too_many_requests_answers_429_without_refilling(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    daily.faults.too_many_requests(count=2, retry_after=20)
    first = api.get("/domain-dialin-config")
    assert first.status_code == 429 and error_of(first) == "rate-limit-error"
    assert first.headers["retry-after"] == "20"
    assert api.get("/domain-dialin-config").status_code == 429
    assert api.get("/domain-dialin-config").status_code == 200


def test_endless_list_never_ends(daily: DailyStandIn, api: httpx.Client) -> None:
    daily.faults.endless_list()
    first = api.get("/domain-dialin-config").json()
    assert len(first["data"]) == 100 and "total_count" not in first
    after = first["data"][-1]["id"]
    second = api.get("/domain-dialin-config", params={"starting_after": after}).json()
    assert {d["id"] for d in first["data"]}.isdisjoint(d["id"] for d in second["data"])


def test_huge_answer_streams_lazily_and_stops_when_the_client_hangs_up(
    daily: DailyStandIn, api: httpx.Client
) -> None:
    config_id = daily.add_config()
    daily.faults.huge_answer(10**12, count=1)  # a terabyte, never held anywhere
    with api.stream("GET", f"/domain-dialin-config/{config_id}") as response:
        assert response.headers["content-length"] == str(10**12)
        got = next(response.iter_raw(65536))
        assert got.startswith(b'{"id": "huge"')
    assert daily.wait_until(lambda: len(daily.huge_sent) == 1, timeout=30)
    assert daily.huge_sent[0] < 100_000_000


def test_deep_json_nests_the_answer(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config()
    daily.faults.deep_json(50, count=1)
    raw = api.get(f"/domain-dialin-config/{config_id}").content
    assert raw.count(b"[") == 50
    deep = json.loads(raw)
    assert deep["id"] == config_id and "config" in deep


def test_block_holds_requests_until_unblocked(daily: DailyStandIn, api: httpx.Client) -> None:
    config_id = daily.add_config()
    daily.faults.block()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            api.put, f"/domain-dialin-config/{config_id}", json={"hold_music_url": CDN}
        )
        assert daily.faults.blocked.wait(30)
        assert api.get(f"/domain-dialin-config/{config_id}").status_code == 200  # GETs pass
        assert daily.put_history(config_id) == []
        daily.faults.unblock()
        assert future.result().status_code == 200
    assert daily.put_history(config_id) == [CDN]
