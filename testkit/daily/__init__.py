"""A stand-in for Daily's REST API on loopback (see :mod:`testkit.daily.server`)."""

from testkit.daily.api import ApiError, DialinApi
from testkit.daily.faults import Faults
from testkit.daily.server import DailyStandIn, Recorded

__all__ = ["ApiError", "DailyStandIn", "DialinApi", "Faults", "Recorded"]
