"""The records cxstream emits: alert state changes, decided actions, corrections.

These are the lines of ``alerts.jsonl`` and ``actions.jsonl`` that ``cxstream replay``
writes (see the event contract), and the values the worker publishes: an
:class:`AlertRecord` per alert state change, an :class:`ActionRecord` per action the
engine decided, on the outbox topic ``cx.actions`` before anything is sent. Both are
frozen pydantic models whose JSON form is exactly the contract's; fields beyond the
contract are optional additions. A :class:`CorrectionRecord` (``corrections.jsonl``,
topic ``cx.corrections``) says how events that arrived after a window was judged
changed one of its KPIs.

Identifiers are deterministic: the same decision always yields the same id, so a
decision repeated after a crash, a restart or a rebalance is recognised and sent once.

>>> from datetime import UTC, datetime
>>> at = datetime(2026, 3, 2, 10, tzinfo=UTC)
>>> action_id("apology", "order:o-1")
'apology:a84c2d68b41f7f57cb9b'
>>> a = ActionRecord(action_id=action_id("apology", "order:o-1"), type="apology_email", at=at,
...                  rule="apology", order_id="o-1", customer_id="c-1")
>>> a.to_json()[:60]
'{"action_id":"apology:a84c2d68b41f7f57cb9b","type":"apology_'
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "ActionRecord",
    "ActionType",
    "AlertRecord",
    "AlertStatus",
    "CorrectionRecord",
    "Severity",
    "action_id",
    "alert_id",
    "correction_id",
]

AlertStatus = Literal["firing", "resolved"]
Severity = Literal["info", "warning", "critical"]
ActionType = Literal["slack_alert", "delay_notice", "apology_email", "vip_apology_task", "digest"]


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=10).hexdigest()


def action_id(rule: str, subject: str, window: str = "") -> str:
    """The idempotency key of a decision: ``<rule>:<hash of rule, subject, window>``.

    ``subject`` is what the decision is about (``order:<id>``, ``customer:<id>``,
    ``alert:<id>``); ``window`` is the period it is made once in (empty: once ever).
    """
    return f"{rule}:{_digest(rule, subject, window)}"


def alert_id(rule: str, series: str, kpi: str, started: datetime) -> str:
    """The stable id of one alert: rule, segment series, KPI and the start of its first
    anomalous window (the same for its firing and resolved lines).

    >>> from datetime import UTC, datetime
    >>> alert_id("kpi", "country=DE", "nps", datetime(2026, 3, 2, 9, tzinfo=UTC))
    'kpi:357c4a15a2beed439481'
    """
    return f"{rule}:{_digest(rule, series, kpi, started.isoformat())}"


def correction_id(
    rule: str, window: str, series: str, kpi: str, start: datetime, event_ids: Sequence[str]
) -> str:
    """The id of one correction: the window, the series and KPI, and the late events it
    adds (so the same late events always give the same id)."""
    return f"{rule}:{_digest(rule, window, series, kpi, start.isoformat(), *sorted(event_ids))}"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class AlertRecord(_Record):
    """One alert state change (a line of ``alerts.jsonl``)."""

    alert_id: str
    rule: str
    status: AlertStatus
    at: AwareDatetime = Field(description="event time of the state change")
    kpi: str
    segment: dict[str, str] = Field(description="dimensions of the segment")
    value: float | None = Field(description="observed KPI value")
    expected: float | None = Field(description="baseline or expectation it was compared to")
    score: float = Field(ge=0, le=1)
    severity: Severity
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    band_low: float | None = None
    band_high: float | None = None
    volume: int | None = None
    evidence: dict[str, Any] | None = Field(None, description="what moved, and why (X + O)")


class ActionRecord(_Record):
    """One decided action (a line of ``actions.jsonl``; a message on ``cx.actions``)."""

    action_id: str
    type: ActionType
    at: AwareDatetime = Field(description="event time of the decision")
    rule: str
    order_id: str | None = None
    customer_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class CorrectionRecord(_Record):
    """A judged window's KPI changed by events that arrived after it was judged (a line
    of ``corrections.jsonl``; a message on ``cx.corrections``)."""

    correction_id: str
    rule: str
    at: AwareDatetime = Field(description="event time of the latest late event it adds")
    kpi: str
    segment: dict[str, str] = Field(description="dimensions of the segment")
    window: str = Field(description="window size, e.g. 1h")
    window_start: AwareDatetime
    window_end: AwareDatetime
    value: float = Field(description="the KPI with the late events")
    volume: int = Field(description="its volume (answers, orders due, ...) with them")
    previous: float | None = Field(
        description="the KPI without them (as judged, unless earlier corrections changed it)"
    )
    previous_volume: int
    late_events: int = Field(description="events of this correction that reached the window")
