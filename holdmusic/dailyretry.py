"""How a call to Daily ends: its errors, the shared rate limiter, and the retries.

One budget per call counts every wait (limiter slots, backoff, Retry-After); every single
wait is capped (``MAX_WAIT``); every wait ends at once on Ctrl-C. tenacity runs the
attempts (:func:`with_retries`). One circuit breaker per client (:class:`Breaker`),
shared by every thread, stops a run that Daily refuses request after request. The HTTP
side (what is retryable, what an answer means) is :mod:`holdmusic.daily`'s.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

from holdmusic.errors import HoldmusicError

DEFAULT_RATE = 18.0  # requests/s: a little under Daily's documented 20/s
DEFAULT_BURST = 5
MAX_WAIT = 20.0  # s: the longest single wait (Retry-After, backoff, the limiter's penalty)
RETRY_BUDGET = 60.0  # s: all the waiting one call may do before it gives up
# The circuit breaker opens when attempts fail (429, 5xx, no connection, no answer) with no
# answer of any other kind in between, across every thread of a run: BREAKER_STREAK of
# them, or at least BREAKER_MIN spread over BREAKER_SECONDS. A busy batch's ordinary
# 429s and 5xx come between successes (5% 5xx: 20 in a row is 1e-26); a Daily that
# refuses everything trips it within seconds (8 workers) or, with Retry-After: 20, at
# the first retry after the wait (it said when, we waited, it still refuses).
BREAKER_STREAK = 20
BREAKER_MIN = 4
BREAKER_SECONDS = 15.0

log = logging.getLogger("holdmusic.daily")
T = TypeVar("T")


class DailyError(HoldmusicError):
    """Daily answered with an error, or could not be reached.

    ``outcome_unknown``: a request was sent whose answer never came (or was a 5xx, or
    unreadable), so for a PUT nobody knows whether it was applied.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        outcome_unknown: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.error = error
        self.outcome_unknown = outcome_unknown

    @property
    def not_attempted(self) -> bool:
        """Nothing was sent (the run stopped first): not a failure of this config."""
        return False


class DailyAuthError(DailyError):
    """The key was missing, malformed or rejected."""


class DailyNotFound(DailyError):
    """No object with that id (on this domain)."""


class DailyRequestError(DailyError):
    """Daily refused the request as invalid (400); its ``info`` says why."""


class DailyUnavailable(DailyError):
    """Rate limits, server errors or the network won, after every retry."""


class DailyInterrupted(DailyError):
    """The run was interrupted (Ctrl-C) while this call waited or was in flight."""

    @property
    def not_attempted(self) -> bool:
        return not self.outcome_unknown


class DailyCircuitOpen(DailyUnavailable, DailyInterrupted):
    """The circuit breaker had opened: this call sent nothing (``not attempted: …``)."""


class Retryable(Exception):
    """Internal: a failure worth another attempt. ``unknown``: it may have been applied."""

    def __init__(
        self, error: DailyError, retry_after: float | None = None, *, unknown: bool = False
    ):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.unknown = unknown


class OverBudget(Exception):
    """Internal: the limiter's next slot is further away than the call's budget allows."""


class Interrupted(Exception):
    """Internal: a wait between attempts was cut short by ``DailyClient.interrupt``."""


class Breaker:
    """Stops every call of a client once Daily has refused a run of attempts in a row.

    Thread-safe and shared: a failed attempt (429, 5xx, no connection, no answer in time)
    on any thread adds to the streak, any other answer on any thread ends it. Once open it
    stays open for the client's life: the rest of the run is not attempted, and
    :attr:`reason` says why in one line.
    """

    def __init__(
        self,
        streak: int | None = None,
        seconds: float | None = None,
        at_least: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # None: the module's numbers, read now (one place sets them for every client)
        self.streak = BREAKER_STREAK if streak is None else streak
        self.seconds = BREAKER_SECONDS if seconds is None else seconds
        self.at_least = BREAKER_MIN if at_least is None else at_least
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._first = 0.0
        self._wake: list[threading.Event] = []
        self.reason: str | None = None

    def wake_on_open(self, event: threading.Event) -> None:
        """Set ``event`` when the breaker opens, so that waiting calls end at once."""
        with self._lock:
            self._wake.append(event)
            if self.reason is not None:
                event.set()

    def answered(self) -> None:
        with self._lock:
            self._failures = 0

    def refused(self, what: DailyError) -> None:
        with self._lock:
            if self.reason is not None:
                return
            now = self._clock()
            if self._failures == 0:
                self._first = now
            self._failures += 1
            span = now - self._first
            if self._failures < self.streak and (
                self._failures < self.at_least or span < self.seconds
            ):
                return
            last = str(what).split(" (tried ", 1)[0]
            self.reason = (
                f"Daily refused {self._failures} requests in a row over {span:.1f} s, "
                f"so holdmusic stopped sending (last: {last})"
            )
            wake = list(self._wake)
        log.info("circuit breaker open: %s", self.reason)
        for event in wake:
            event.set()


class Budget:
    """One call's retry state: all its waiting (limiter slots, backoff, Retry-After) is
    counted against one budget, and each pause is decided once."""

    def __init__(self, budget: float, backoff: Callable[[int, float | None], float]) -> None:
        self.budget = budget
        self.waited = 0.0
        self.unknown = False  # was any attempt sent without a definite answer?
        self.last: DailyError | None = None
        self.retry_after: float | None = None
        self.over_budget = False
        self.sent = 0  # attempts that got a limiter slot (and so were sent)
        self.started = time.monotonic()
        self._backoff = backoff
        self._pauses: dict[int, float] = {}

    def left(self) -> float:
        return self.budget - self.waited

    def failed(self, exc: Retryable) -> None:
        self.last, self.retry_after = exc.error, exc.retry_after
        self.unknown = self.unknown or exc.unknown

    def pause(self, attempt: int) -> float:
        """The wait after ``attempt`` (jittered once: stop and wait must agree on it)."""
        if attempt not in self._pauses:
            self._pauses[attempt] = self._backoff(attempt, self.retry_after)
        return self._pauses[attempt]

    def breaker_error(self, reason: str) -> DailyError:
        """The error of a call the open breaker stopped: not attempted when nothing was
        sent, else its last failure, with why it stopped retrying."""
        last = self.last
        if self.sent == 0 or last is None:
            return DailyCircuitOpen(f"not attempted: {reason}")
        error = type(last)(
            f"{last} (stopped retrying: {reason})", status=last.status, error=last.error
        )
        error.outcome_unknown = self.unknown
        return error

    def final_error(self, what: str, interrupted: bool) -> DailyError:
        """The one error a call that gave up raises: why it stopped, and whether a request
        was sent without a definite answer."""
        if interrupted:
            message = f"interrupted during {what}" if self.unknown else "not attempted: interrupted"
            return DailyInterrupted(message, outcome_unknown=self.unknown)
        last = self.last
        if last is None:
            last = DailyUnavailable(
                f"Daily's rate limit would have held {what} back for more than "
                f"the {self.budget:g} s retry budget"
            )
        elif self.over_budget:
            last = type(last)(
                f"{last} (gave up: waiting longer would pass the {self.budget:g} s retry budget)",
                status=last.status,
                error=last.error,
            )
        if isinstance(last, DailyUnavailable) and self.sent:
            # Say how hard it tried: out of reach after 1 s and after 60 s call for
            # different fixes (a typo in DAILY_API_URL vs an outage).
            took = time.monotonic() - self.started
            tried = f"tried {self.sent} time{'' if self.sent == 1 else 's'} over {took:.1f} s"
            last = type(last)(f"{last} ({tried})", status=last.status, error=last.error)
        last.outcome_unknown = self.unknown
        return last


class RateLimiter:
    """Token bucket (as GCRA): ``burst`` requests at once, then ``rate`` per second.

    Shared by every thread; each ``acquire`` reserves the next free slot under a lock
    and sleeps outside it. ``penalize`` pushes every thread back after a 429, by at most
    ``MAX_WAIT``: one Retry-After of 99999 once froze every thread for 27 hours.
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        max_penalty: float = MAX_WAIT,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.allowance = (burst - 1) * self.interval
        self._clock = clock
        self._sleep = sleep
        self.max_penalty = max_penalty
        self._next = float("-inf")  # the first caller, whatever the clock says, goes at once
        self._lock = threading.Lock()

    def acquire(
        self, max_wait: float = math.inf, interrupt: threading.Event | None = None
    ) -> float | None:
        """Wait for a slot; returns how long this caller waited.

        None (and no slot taken) when the slot is more than ``max_wait`` away. With
        ``interrupt``, setting that event cuts the wait short (:class:`DailyInterrupted`).
        """
        with self._lock:
            now = self._clock()
            slot = max(self._next, now - self.allowance)
            wait = slot - now
            if wait > max_wait:
                return None
            self._next = slot + self.interval
        if wait > 0:
            pause(wait, self._sleep, interrupt)
            return wait
        return 0.0

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + min(seconds, self.max_penalty))


def pause(
    seconds: float, sleep: Callable[[float], None] | None, interrupt: threading.Event | None
) -> None:
    if sleep is not None:
        sleep(seconds)
    elif interrupt is None:
        time.sleep(seconds)
    elif interrupt.wait(seconds):
        raise DailyInterrupted("not attempted: interrupted")


def with_retries(
    attempt: Callable[[], T],
    what: str,
    *,
    limiter: RateLimiter,
    max_attempts: int,
    budget: float,
    backoff: Callable[[int, float | None], float],
    interrupt: threading.Event,
    breaker: Breaker | None = None,
    wake: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, under ``limiter``, with tenacity.

    tenacity runs the attempts; this supplies what it cannot know: ``stop`` reads the
    call's one budget (limiter waits included) and gives up *before* a wait that would
    pass it, ``wait`` is ``backoff`` (which caps Retry-After and jittered backoff), and
    ``sleep`` ends at once when ``wake`` (default: ``interrupt``) is set. ``breaker``
    hears of every attempt, and once open, no attempt is sent. ``sleep`` replaces the
    waits between attempts (tests). ``what`` ("GET /path") names the call in messages.
    """
    if interrupt.is_set():  # queued work after a Ctrl-C sends nothing
        raise DailyInterrupted("not attempted: interrupted")
    if breaker is not None and breaker.reason is not None:
        raise DailyCircuitOpen(f"not attempted: {breaker.reason}")
    wake = wake or interrupt
    call = Budget(budget, backoff)

    def one() -> T:
        if breaker is not None and breaker.reason is not None:
            raise Interrupted
        try:
            slot = limiter.acquire(call.left(), wake)
        except DailyInterrupted as exc:
            if not interrupt.is_set():  # woken by the breaker opening
                raise Interrupted from None
            exc.outcome_unknown = call.unknown
            raise
        if slot is None:  # the shared limiter is held back past this call's budget
            raise OverBudget
        call.waited += slot
        call.sent += 1
        try:
            result = attempt()
        except Retryable as exc:
            call.failed(exc)
            if breaker is not None:
                breaker.refused(exc.error)
            raise
        except DailyError:
            if breaker is not None:  # a definite answer (404, 400…): Daily is there
                breaker.answered()
            raise
        if breaker is not None:
            breaker.answered()
        return result

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= max_attempts or wake.is_set():
            return True
        if call.waited + call.pause(state.attempt_number) > call.budget:
            call.over_budget = True
            return True
        return False

    def pause_between(seconds: float) -> None:
        try:
            pause(seconds, sleep, wake)
        except DailyInterrupted:
            raise Interrupted from None
        if wake.is_set():
            raise Interrupted
        call.waited += seconds

    def log_retry(state: tenacity.RetryCallState) -> None:
        n = state.attempt_number
        log.info("retrying after %s (attempt %d, waiting %.2fs)", call.last, n, call.pause(n))

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Retryable),
        stop=stop,
        wait=lambda state: call.pause(state.attempt_number),
        sleep=pause_between,
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        return retrying(one)
    except (Retryable, OverBudget, Interrupted):
        pass
    if not interrupt.is_set() and breaker is not None and breaker.reason is not None:
        raise call.breaker_error(breaker.reason) from None
    raise call.final_error(what, interrupt.is_set()) from None
