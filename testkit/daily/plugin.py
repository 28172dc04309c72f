"""pytest fixtures for the Daily stand-in: the only module of testkit.daily that imports pytest.

``daily`` (function)
    a started :class:`~testkit.daily.server.DailyStandIn`, stopped afterwards; the test
    fails if the stand-in itself crashed while handling a request.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.daily.server import DailyStandIn


@pytest.fixture
def daily() -> Iterator[DailyStandIn]:
    """A running :class:`DailyStandIn` for one test."""
    standin = DailyStandIn()
    with standin:
        yield standin
    if standin.internal_errors:
        pytest.fail("Daily stand-in crashed:\n" + "\n".join(standin.internal_errors))


__all__ = ["daily"]
