"""Report digest rules (``type: report_digest``): the traffic-light report, sent every day.

A digest rule names a receiver (a Slack channel, or a webhook), the local time of day
it wants the report at, the time zone that time is in, the report window and
optionally the countries and weekdays it covers. Time follows the stream's event time,
like everything the engine decides: the digest of 08:30 goes out when the event-time
watermark passes 08:30 local time (in production that is within seconds of the wall
clock; in a replay of last month it gives one digest per day of the replayed data).

>>> from datetime import UTC, datetime
>>> rule = ReportDigestRule.model_validate({
...     "type": "report_digest", "name": "morning", "receiver": "cx-leads",
...     "at": "08:30", "time_zone": "Europe/Berlin", "weekdays": ["mon", "tue"],
... })
>>> [o.isoformat() for o in rule.occurrences(
...     datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 4, 12, tzinfo=UTC), "UTC")]
['2026-03-02T07:30:00+00:00', '2026-03-03T07:30:00+00:00']
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from cxstream.rules.base import (
    CountryCode,
    Duration,
    Name,
    RulesModel,
    TimeOfDay,
    TimeZoneName,
    check_unique,
)

__all__ = ["WEEKDAYS", "ReportDigestRule", "Weekday"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ReportDigestRule(RulesModel):
    """Send the traffic-light report to a receiver at a local time of day."""

    type: Literal["report_digest"]
    name: Name = Field(description="unique rule name")
    description: str = ""
    receiver: Name = Field(description="receiver of the digest (a Slack channel or a webhook)")
    at: TimeOfDay = Field(description="local time of day it is sent, HH:MM")
    time_zone: TimeZoneName | None = Field(
        None, description="IANA time zone of 'at' (unset: the rule set's default time zone)"
    )
    window: Duration = Field(timedelta(days=1), description="report window, e.g. 1d or 1h")
    countries: tuple[CountryCode, ...] = Field(
        (), description="countries it shows (empty: every country)"
    )
    weekdays: tuple[Weekday, ...] = Field(WEEKDAYS, description="days it is sent on")

    @field_validator("countries", "weekdays")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        check_unique(value, "entries")
        return value

    def occurrences(self, after: datetime, until: datetime, default_zone: str) -> list[datetime]:
        """Scheduled times in ``(after, until]``, as UTC datetimes, oldest first."""
        zone = ZoneInfo(self.time_zone or default_zone)
        days = {WEEKDAYS.index(d) for d in self.weekdays}
        found: list[datetime] = []
        day = after.astimezone(zone).date()
        last = until.astimezone(zone).date()
        while day <= last:
            local = datetime.combine(day, self.at, tzinfo=zone)
            at = local.astimezone(UTC)
            if day.weekday() in days and after < at <= until:
                found.append(at)
            day += timedelta(days=1)
        return found

    def latest_occurrence(self, until: datetime, default_zone: str) -> datetime | None:
        """The last scheduled time at or before ``until`` within a week (``None``: none)."""
        found = self.occurrences(until - timedelta(days=8), until, default_zone)
        return found[-1] if found else None
