"""Fault switches of the Daily stand-in: what goes wrong, when, how often.

Part of :mod:`testkit.daily` (see its docstring); standard library only.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

# Daily's path prefix; fault targets are matched against full request paths.
API_PREFIX = "/v1"
When = Literal["before", "after"]


# ---------------------------------------------------------------------------
# Fault switches
# ---------------------------------------------------------------------------


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(m.upper() for m in methods)


def _check_probability(probability: float) -> None:
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be within [0, 1], got {probability}")


def _check_5xx(status: int) -> None:
    if not 500 <= status <= 599:
        raise ValueError(f"injected failures must be 5xx, got {status}")


@dataclass(slots=True)
class _Target:
    """Which requests a fault applies to (``None`` = all)."""

    methods: frozenset[str] | None = None
    path_prefix: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass(slots=True)
class _Bucket:
    rate_per_s: float
    burst: float
    retry_after: float | None
    tokens: float
    updated: float


@dataclass(slots=True)
class _FailBefore:
    codes: deque[int]
    probability: float
    status: int
    target: _Target


@dataclass(slots=True)
class _FailAfterPut:
    remaining: int
    probability: float
    status: int


@dataclass(slots=True)
class _Delay:
    seconds: float
    remaining: int | None  # None: every matching request
    when: When
    target: _Target


@dataclass(slots=True)
class _Drop:
    remaining: int
    when: When
    target: _Target


@dataclass(slots=True)
class _Switch:
    """A hostile-answer switch: ``remaining`` matching requests (None: all), ``value``."""

    remaining: int | None
    target: _Target
    value: Any = None

    def take(self, method: str, path: str) -> bool:
        if not self.target.matches(method, path) or self.remaining == 0:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


class Faults:
    """Fault switches, settable from the test thread while requests are in flight.

    Every setter replaces the previous setting of that switch; calling it with
    its "off" value (or :meth:`reset`) turns the switch off.  Probabilities draw
    from one ``random.Random(seed)`` so a failing run can be replayed.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._bucket: _Bucket | None = None
        self._fail_before: _FailBefore | None = None
        self._fail_after_put: _FailAfterPut | None = None
        self._delay: _Delay | None = None
        self._drop: _Drop | None = None
        self._switches: dict[str, _Switch] = {}
        self._block: _Target | None = None
        self._release = threading.Event()
        self.blocked = threading.Event()  # a request is being held by block()
        self._hurry = threading.Event()  # end_delays(): delays in progress end now
        # The rate limiter's clock; a test may set a fake one (a bucket that refills only
        # when the test says so, whatever the machine's speed).
        self.clock: Callable[[], float] = time.monotonic

    # -- setters --------------------------------------------------------------

    def _set(
        self,
        name: str,
        count: int | None,
        value: Any = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 (None: every matching request)")
        with self._lock:
            if count == 0:
                self._switches.pop(name, None)
            else:
                target = _Target(_methods(methods), path_prefix)
                self._switches[name] = _Switch(count, target, value)

    def drip(
        self,
        interval: float,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Send the whole answer (status line and headers too) one byte every
        ``interval`` seconds: each read finishes quickly, so only a total deadline
        on the exchange ends it.  The request is applied first.  ``interval=0``: off."""
        self._set("drip", 0 if interval <= 0 else count, interval, methods, path_prefix)

    def late_put(self, seconds: float, *, count: int | None = 1) -> None:
        """The next ``count`` PUTs get no answer (the connection is closed) and are
        applied ``seconds`` later, after the client has given up and maybe looked."""
        self._set("late_put", 0 if seconds <= 0 else count, seconds, {"PUT"})

    def store_other_url(self, url: str | None, *, count: int | None = None) -> None:
        """A PUT of ``hold_music_url`` is accepted (200) but ``url`` is stored instead.
        ``None``: off."""
        self._set("store_other_url", 0 if url is None else count, url, {"PUT"})

    def change_other_field(
        self, name: str | None, value: Any = None, *, count: int | None = None
    ) -> None:
        """A successful PUT also sets config field ``name`` to ``value`` (Daily changing
        something it was not asked to).  ``name=None``: off."""
        self._set("change_other_field", 0 if name is None else count, (name, value), {"PUT"})

    def wrong_id(self, *, count: int | None = None, methods: Iterable[str] | None = None) -> None:
        """Answer a config GET/PUT with the object of another id (state is unchanged for
        a GET, applied for a PUT).  ``count=0``: off."""
        self._set("wrong_id", count, None, methods or {"GET", "PUT"}, "/v1/domain-dialin-config/")

    def echo_key(self, *, count: int | None = None, methods: Iterable[str] | None = None) -> None:
        """Answer 400 with the caller's bearer token in ``error``, ``info`` and an extra
        ``detail`` field, as a careless server or proxy might.  ``count=0``: off."""
        self._set("echo_key", count, None, methods)

    def endless_list(self, *, count: int | None = None) -> None:
        """The config list answers every page with 100 configs of fresh ids and no
        ``total_count``, so a client that follows pagination never ends.  ``count=0``: off."""
        self._set("endless_list", count, None, {"GET"}, API_PREFIX + "/domain-dialin-config")

    def huge_answer(
        self,
        size: int,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer 200 with a body of ``size`` bytes (a JSON object's start, then spaces),
        made lazily 64 KB at a time: nothing that size is ever held in memory.  How much
        went out before the client hung up is in :attr:`DailyStandIn.huge_sent`.
        ``size=0``: off."""
        self._set("huge_answer", 0 if size <= 0 else count, size, methods, path_prefix)

    def deep_json(
        self,
        depth: int,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer 200 with the config asked for, plus a field holding arrays nested
        ``depth`` levels deep (what makes a recursive parser give up).  ``depth=0``: off."""
        self._set("deep_json", 0 if depth <= 0 else count, depth, methods, path_prefix)

    def too_many_requests(
        self,
        *,
        count: int | None = None,
        retry_after: float | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Answer 429 ``rate-limit-error`` to the next ``count`` matching requests (None:
        every one, however slowly they come), with ``Retry-After`` when given.  Unlike
        :meth:`rate_limit`, no token ever refills.  ``count=0``: off."""
        self._set("too_many_requests", count, retry_after, methods)

    def block(self, *, methods: Iterable[str] | None = ("PUT",)) -> None:
        """Hold every matching request (before it is applied) until :meth:`unblock`.
        :attr:`blocked` is set when the first one is held, so a test waits on an event,
        not on time.  Stopping the stand-in lets held requests go (unapplied)."""
        with self._lock:
            self._block = _Target(_methods(methods), None)
            self.blocked.clear()
            self._release.clear()

    def end_delays(self) -> None:
        """End every ``delay`` in progress now (the request goes on as if its delay had
        passed), and start no more: a test sees a delayed request land on its own cue
        instead of sleeping for it."""
        with self._lock:
            self._delay = None
        self._hurry.set()

    def _wait(self, seconds: float, stopping: threading.Event) -> None:
        """A delay: ends after ``seconds``, at end_delays(), or when the stand-in stops."""
        end = time.monotonic() + seconds
        while not self._hurry.is_set() and not stopping.is_set():
            left = end - time.monotonic()
            if left <= 0 or self._hurry.wait(min(left, 0.05)):
                return

    def unblock(self) -> None:
        """Let every held request go on (and be applied), and hold no more."""
        with self._lock:
            self._block = None
        self._release.set()

    def rate_limit(
        self,
        rate_per_s: float | None = 20.0,
        *,
        burst: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Token bucket: ``rate_per_s`` refill, ``burst`` capacity (default = rate).

        Over the limit: 429 ``rate-limit-error``.  Daily documents 20 requests/s
        (or 100 per 5 s).  ``retry_after`` (seconds, rounded up) adds a
        ``Retry-After`` header; Daily does not document one, so none by default.
        ``rate_limit(None)`` switches limiting off.  The bucket starts full.
        """
        with self._lock:
            if rate_per_s is None:
                self._bucket = None
                return
            if rate_per_s <= 0:
                raise ValueError("rate_per_s must be positive (use None to switch off)")
            capacity = float(rate_per_s if burst is None else burst)
            if capacity < 1:
                raise ValueError("burst must be at least 1")
            self._bucket = _Bucket(
                rate_per_s, capacity, retry_after, tokens=capacity, updated=self.clock()
            )

    def fail_before(
        self,
        codes: Iterable[int] = (),
        *,
        probability: float = 0.0,
        status: int = 503,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer 5xx ``server-error`` *before* applying a request (no state change).

        ``codes`` is a queue: each matching request takes the next code.  Once
        it is empty, each matching request fails with ``status`` at
        ``probability``.  ``methods={"PUT"}`` targets only PUTs, and so on.
        Authentication and rate limiting are checked first.  No arguments: off.
        """
        queue = deque(codes)
        for code in (*queue, status):
            _check_5xx(code)
        _check_probability(probability)
        with self._lock:
            if not queue and probability == 0.0:
                self._fail_before = None
            else:
                target = _Target(_methods(methods), path_prefix)
                self._fail_before = _FailBefore(queue, probability, status, target)

    def fail_after_put(
        self, count: int = 0, *, probability: float = 0.0, status: int = 502
    ) -> None:
        """Apply a valid PUT, then answer ``status`` (``server-error``) anyway.

        The nasty case: the change is live but the client sees an error.  The
        next ``count`` successful PUTs fail this way, then each further one at
        ``probability``.  Rejected PUTs (4xx) do not use up the count.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        _check_5xx(status)
        _check_probability(probability)
        with self._lock:
            if count == 0 and probability == 0.0:
                self._fail_after_put = None
            else:
                self._fail_after_put = _FailAfterPut(count, probability, status)

    def delay(
        self,
        seconds: float,
        *,
        count: int | None = None,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
        when: When = "after",
    ) -> None:
        """Sleep ``seconds`` for the next ``count`` matching requests (None: all).

        ``when="after"`` (default) applies the request, then sleeps before
        answering: a client read timeout fires although a PUT already took
        effect.  ``when="before"`` sleeps first, so the change lands only after
        the client gave up.  ``delay(0)`` switches it off.  :meth:`DailyStandIn.stop`
        cuts sleeps short.
        """
        if seconds < 0 or (count is not None and count < 0):
            raise ValueError("seconds and count must be >= 0")
        with self._lock:
            if seconds == 0 or count == 0:
                self._delay = None
            else:
                target = _Target(_methods(methods), path_prefix)
                self._delay = _Delay(seconds, count, when, target)

    def drop_connection(
        self,
        count: int = 1,
        *,
        methods: Iterable[str] | None = None,
        path_prefix: str | None = None,
        when: When = "before",
    ) -> None:
        """Close the socket without any response for the next ``count`` matching requests.

        ``when="before"``: nothing is applied.  ``when="after"``: the request
        (e.g. a PUT) is applied, then the connection is closed unanswered.
        ``drop_connection(0)`` switches it off.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            target = _Target(_methods(methods), path_prefix)
            self._drop = _Drop(count, when, target) if count else None

    def reset(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._bucket = None
            self._fail_before = None
            self._fail_after_put = None
            self._delay = None
            self._drop = None
            self._switches.clear()
            self._block = None
        self._release.set()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    # -- decisions, called by the server (one lock hold each) ------------------

    def _take_token(self, now: float) -> tuple[bool, float | None]:
        with self._lock:
            bucket = self._bucket
            if bucket is None:
                return True, None
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(bucket.burst, bucket.tokens + elapsed * bucket.rate_per_s)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, None
            return False, bucket.retry_after

    def _take_fail_before(self, method: str, path: str) -> int | None:
        with self._lock:
            fault = self._fail_before
            if fault is None or not fault.target.matches(method, path):
                return None
            if fault.codes:
                return fault.codes.popleft()
            if fault.probability and self._rng.random() < fault.probability:
                return fault.status
            return None

    def _take_fail_after_put(self) -> int | None:
        with self._lock:
            fault = self._fail_after_put
            if fault is None:
                return None
            if fault.remaining > 0:
                fault.remaining -= 1
                return fault.status
            if fault.probability and self._rng.random() < fault.probability:
                return fault.status
            return None

    def _take_delay(self, method: str, path: str, when: When) -> float:
        with self._lock:
            fault = self._delay
            if fault is None or fault.when != when or not fault.target.matches(method, path):
                return 0.0
            if fault.remaining is not None:
                if fault.remaining == 0:
                    return 0.0
                fault.remaining -= 1
            return fault.seconds

    def _hold(self, method: str, path: str, stopping: threading.Event) -> bool:
        """Hold this request while block() is on; True when it was held."""
        with self._lock:
            target = self._block
            if target is None or not target.matches(method, path):
                return False
            release = self._release
        self.blocked.set()
        while not release.wait(0.05) and not stopping.is_set():
            pass
        return True

    def _take(self, name: str, method: str, path: str) -> _Switch | None:
        with self._lock:
            switch = self._switches.get(name)
            return switch if switch is not None and switch.take(method, path) else None

    def _take_drop(self, method: str, path: str, when: When) -> bool:
        with self._lock:
            fault = self._drop
            if fault is None or fault.when != when or fault.remaining == 0:
                return False
            if not fault.target.matches(method, path):
                return False
            fault.remaining -= 1
            return True


# ---------------------------------------------------------------------------
# API errors and replies
# ---------------------------------------------------------------------------
