"""The ``detail`` of each action type, validated before anything is sent.

The decision side writes these shapes into :attr:`ActionRecord.detail
<cxstream.records.ActionRecord.detail>`; fields beyond them are ignored, a missing or
mistyped field raises :class:`~cxstream.notify.base.PayloadError` (a permanent failure
that names the field).

``slack_alert``::

    {"receiver": str, "channel": str, "group_key": str, "status": "firing" | "resolved",
     "alerts": [AlertRecord.as_dict(), ...],
     "history": {alert_id: [[iso_ts, value, expected, band_low, band_high, anomalous], ...]},
     "report_url": str | null, "update_of": action_id | null}

An alert's ``evidence`` is read as ``{"reasons": [{"code", "share", "baseline_share"}],
"late_detractor_share": float | null}`` (the detection stage's ``Evidence``); evidence of
another shape is left out of the message rather than failing it.

``vip_apology_task``::

    {"receiver", "channel", "score": int, "reasons": [str], "segment", "language",
     "order_history": [[iso_ts, event_type, note], ...], "suggested_apology": str,
     "sla_due": iso_ts, "renotify": bool}

``delay_notice``: ``{"template": "delay_notice", "language", "promised_date":
"YYYY-MM-DD", "eta": iso_ts | null, "carrier": str | null, "reason": str | null}``

``apology_email``: ``{"template": "apology" | "apology_delivery" | "apology_after_notice" |
"apology_app", "language", "reasons": [str], "score": int, "delay_notice_sent": bool,
"voucher": str | null}``

``digest``: ``{"receiver", "channel", "window", "scheduled_for": iso_ts, "report_url":
str | null, "report": Report.model_dump(mode="json")}`` (see :mod:`cxstream.report.model`)

>>> from datetime import UTC, datetime
>>> from cxstream.records import ActionRecord
>>> a = ActionRecord(action_id="n:1", type="delay_notice", at=datetime(2026, 3, 2, tzinfo=UTC),
...                  rule="n", customer_id="c-1",
...                  detail={"language": "de", "promised_date": "2026-03-03", "x": 1})
>>> parse_detail(a).promised_date
datetime.date(2026, 3, 3)
>>> parse_detail(a.model_copy(update={"detail": {"language": "de"}}))
Traceback (most recent call last):
...
cxstream.notify.base.PayloadError: action n:1 (delay_notice): field 'promised_date': Field required
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from cxstream.notify.base import PayloadError
from cxstream.records import ActionRecord, AlertRecord
from cxstream.report.model import Report

__all__ = [
    "APOLOGY_TEMPLATES",
    "AlertEvidence",
    "ApologyEmailDetail",
    "DelayNoticeDetail",
    "Detail",
    "DigestDetail",
    "EmailTemplate",
    "KpiPoint",
    "ReasonRise",
    "SlackAlertDetail",
    "VipTaskDetail",
    "evidence_of",
    "parse_as",
    "parse_detail",
]

log = logging.getLogger("cxstream.notify")

EmailTemplate = Literal[
    "delay_notice", "apology", "apology_delivery", "apology_after_notice", "apology_app"
]
APOLOGY_TEMPLATES: tuple[EmailTemplate, ...] = (
    "apology",
    "apology_delivery",
    "apology_after_notice",
    "apology_app",
)

_HistoryRow = tuple[AwareDatetime, float | None, float | None, float | None, float | None, bool]
_OrderEvent = tuple[AwareDatetime, str, str | None]
_ALERT_FIELDS = frozenset(AlertRecord.model_fields)


@dataclass(frozen=True, slots=True)
class KpiPoint:
    """One window of a KPI's history: value, expectation, band, and whether anomalous."""

    start: datetime
    value: float | None
    expected: float | None
    band_low: float | None
    band_high: float | None
    anomalous: bool = False


class _Detail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


_D = TypeVar("_D", bound=_Detail)


class ReasonRise(_Detail):
    """A reason code whose share of answers rose above its baseline share."""

    code: str
    share: float
    baseline_share: float = 0.0


class AlertEvidence(_Detail):
    """What moved with an alert: rising reasons and the late share among detractors."""

    reasons: list[ReasonRise] = Field(default_factory=list)
    late_detractor_share: float | None = None


def evidence_of(alert: AlertRecord) -> AlertEvidence | None:
    """The alert's evidence, or ``None`` when it has none or one of an unknown shape."""
    if not alert.evidence:
        return None
    try:
        return AlertEvidence.model_validate(alert.evidence)
    except ValidationError as exc:
        log.warning("alert %s: evidence left out: %s", alert.alert_id, _first_error(exc))
        return None


class SlackAlertDetail(_Detail):
    """An alert group for an ops channel, firing or resolved."""

    receiver: str
    channel: str = Field(min_length=1)
    group_key: str
    status: Literal["firing", "resolved"]
    alerts: list[AlertRecord] = Field(min_length=1)
    history: dict[str, list[_HistoryRow]] = Field(default_factory=dict)
    report_url: str | None = None
    update_of: str | None = None

    @field_validator("alerts", mode="before")
    @classmethod
    def _known_alert_fields(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                {k: v for k, v in item.items() if k in _ALERT_FIELDS}
                if isinstance(item, dict)
                else item
                for item in value
            ]
        return value

    def points(self, alert_id: str) -> list[KpiPoint]:
        """The KPI history of one alert of the group, oldest first."""
        rows = sorted(self.history.get(alert_id, ()), key=lambda row: row[0])
        return [KpiPoint(*row) for row in rows]


class VipTaskDetail(_Detail):
    """A task for support leads: write to a VIP customer who had a bad experience."""

    receiver: str
    channel: str = Field(min_length=1)
    score: int = Field(ge=0, le=10)
    reasons: list[str] = Field(default_factory=list)
    segment: str = ""
    language: str = ""
    order_history: list[_OrderEvent] = Field(default_factory=list)
    suggested_apology: str = ""
    sla_due: AwareDatetime
    renotify: bool = False


class DelayNoticeDetail(_Detail):
    """A proactive notice that an order will arrive later than promised."""

    template: Literal["delay_notice"] = "delay_notice"
    language: str | None = Field(None, description="None: the customer's language at send time")
    promised_date: date
    eta: AwareDatetime | None = None
    carrier: str | None = None
    reason: str | None = None


class ApologyEmailDetail(_Detail):
    """An apology to a customer who answered the survey as a detractor."""

    template: Literal["apology", "apology_delivery", "apology_after_notice", "apology_app"] = (
        "apology"
    )
    language: str = "en"
    reasons: list[str] = Field(default_factory=list)
    score: int | None = Field(None, ge=0, le=10)
    delay_notice_sent: bool = False
    voucher: str | None = None


class DigestDetail(_Detail):
    """The traffic-light report for a channel, as of its scheduled time."""

    receiver: str
    channel: str = ""
    window: str = "1d"
    scheduled_for: AwareDatetime
    report_url: str | None = None
    report: Report


Detail = SlackAlertDetail | VipTaskDetail | DelayNoticeDetail | ApologyEmailDetail | DigestDetail

_MODELS: dict[str, type[_Detail]] = {
    "slack_alert": SlackAlertDetail,
    "vip_apology_task": VipTaskDetail,
    "delay_notice": DelayNoticeDetail,
    "apology_email": ApologyEmailDetail,
    "digest": DigestDetail,
}


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"])
    return f"field {where!r}: {err['msg']}" if where else str(err["msg"])


def parse_as(action: ActionRecord, model: type[_D]) -> _D:
    """``action.detail`` validated as ``model``; :class:`PayloadError` if it does not fit."""
    try:
        return model.model_validate(action.detail)
    except ValidationError as exc:
        raise PayloadError(
            f"action {action.action_id} ({action.type}): {_first_error(exc)}"
        ) from None


def parse_detail(action: ActionRecord) -> Detail:
    """The validated detail of ``action``, by its type; :class:`PayloadError` if it does
    not fit.

    """
    model = _MODELS.get(action.type)
    if model is None:
        raise PayloadError(f"action {action.action_id}: no detail model for type {action.type!r}")
    return cast(Detail, parse_as(action, model))
