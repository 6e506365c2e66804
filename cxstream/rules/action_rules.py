"""Customer action rules: delay notices, apologies and VIP apology tasks.

* ``delay_notice``: tell a customer their order will be late before the promised date
  passes (eta past the promise, a delivery exception, or an alert on their country and
  carrier), once per order, never to customers who opted out, not in quiet hours.
* ``apology``: apologise to an unhappy customer (score in a range), once per order and
  at most once per customer in a period, with a template chosen by the reasons given
  (and a variant when a delay notice already went out), optionally with a voucher.
* ``vip_apology_task``: give support leads a task to call back a valuable unhappy
  customer within an SLA, reminding them when the SLA passes.

>>> hours = QuietHours.model_validate({"start": "21:00", "end": "08:00"})
>>> from datetime import time
>>> hours.contains(time(23, 30)), hours.contains(time(12, 0))
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from cxstream.rules.base import (
    CountryCode,
    Duration,
    Language,
    Name,
    ReasonCode,
    RulesModel,
    TimeOfDay,
    check_unique,
)

__all__ = [
    "ApologyRule",
    "ApologyTemplates",
    "DelayNoticeRule",
    "DelayTriggers",
    "Localisation",
    "QuietHours",
    "ScoreRange",
    "TemplateChoice",
    "VipTaskRule",
]


class QuietHours(RulesModel):
    """A local time span in which customers get no messages; ``start`` after ``end``
    spans midnight (``21:00`` to ``08:00``)."""

    start: TimeOfDay = Field(description="local time the quiet hours begin, HH:MM")
    end: TimeOfDay = Field(description="local time they end, HH:MM")

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet hours start and end at the same time")
        return self

    def contains(self, local: time) -> bool:
        """Whether the local time of day ``local`` is quiet."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime, zone: ZoneInfo) -> datetime:
        """``at`` if it is outside the quiet hours in ``zone``, else the end of them
        (as an aware datetime in ``at``'s time zone)."""
        local = at.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return at
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end = (local + timedelta(days=1)).replace(
                hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0
            )
        return end.astimezone(at.tzinfo)


class Localisation(RulesModel):
    """Languages a message exists in; templates are named ``<template>.<language>``."""

    languages: tuple[Language, ...] = Field(
        ("en",), min_length=1, description="languages the templates exist in (ISO 639-1)"
    )
    default_language: Language = Field(
        "en", description="language for customers whose language is unknown or not offered"
    )

    @model_validator(mode="after")
    def _default_offered(self) -> Self:
        check_unique(self.languages, "language")
        if self.default_language not in self.languages:
            raise ValueError(
                f"default_language {self.default_language!r} is not one of the languages"
                f" {list(self.languages)}"
            )
        return self

    def language_for(self, preferred: str | None) -> str:
        """The customer's language if offered, else the default."""
        return preferred if preferred in self.languages else self.default_language


class DelayTriggers(RulesModel):
    """What makes an undelivered order eligible for a delay notice."""

    eta_past_promise: bool = Field(True, description="the eta moved past the promised date")
    delivery_exception: bool = Field(True, description="the carrier reported an exception")
    segment_alerting: tuple[Name, ...] = Field(
        (),
        description="kpi_alert rules (watching country x carrier) whose firing alerts make"
        " the segment's undelivered orders eligible",
    )

    @model_validator(mode="after")
    def _some_trigger(self) -> Self:
        if not (self.eta_past_promise or self.delivery_exception or self.segment_alerting):
            raise ValueError("a delay notice needs at least one trigger")
        check_unique(self.segment_alerting, "rule")
        return self


class DelayNoticeRule(Localisation):
    """Tell customers about a delay before the promised date passes."""

    type: Literal["delay_notice"]
    name: Name = Field(description="unique rule name")
    description: str = ""
    triggers: DelayTriggers = Field(default_factory=DelayTriggers, description="what triggers")
    lead_time: Duration = Field(
        timedelta(0),
        description="send no later than this long before the promised date passes",
    )
    template: Name = Field("delay_notice", description="template name, per language")
    respect_opt_out: Literal[True] = Field(
        True, description="customers who opted out get nothing (cannot be turned off)"
    )
    once_per_order: Literal[True] = Field(True, description="one notice per order (always)")
    quiet_hours: dict[CountryCode | Literal["default"], QuietHours] = Field(
        default_factory=dict,
        description="quiet hours per country (or 'default'), over the rule set's",
        json_schema_extra={"propertyNames": {"pattern": "^([A-Z]{2}|default)$"}},
    )


class ScoreRange(RulesModel):
    """Scores from ``min`` to ``max``, both included."""

    min: int = Field(0, ge=0, le=10)
    max: int = Field(6, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def contains(self, score: int) -> bool:
        return self.min <= score <= self.max


class TemplateChoice(RulesModel):
    """The template for answers giving any of ``reasons``."""

    reasons: tuple[ReasonCode, ...] = Field(min_length=1, description="reason codes")
    template: Name = Field(description="template for these reasons")
    after_delay_notice: Name | None = Field(
        None, description="template instead when a delay notice already went out"
    )


class ApologyTemplates(RulesModel):
    """Templates by reason (first match wins), with a default."""

    by_reason: tuple[TemplateChoice, ...] = Field((), description="tried in order")
    default: Name = Field("apology", description="template when no reason matches")
    after_delay_notice: Name | None = Field(
        None, description="default's variant when a delay notice already went out"
    )

    def choose(self, reasons: Iterable[str], delay_notice_sent: bool) -> str:
        """The template for an answer with these reasons.

        >>> t = ApologyTemplates.model_validate({"by_reason": [
        ...     {"reasons": ["delivery_late"], "template": "late", "after_delay_notice": "late2"}
        ... ], "default": "generic"})
        >>> t.choose(["price", "delivery_late"], False), t.choose(["delivery_late"], True)
        ('late', 'late2')
        >>> t.choose([], True)
        'generic'
        """
        given = set(reasons)
        for choice in self.by_reason:
            if given.intersection(choice.reasons):
                if delay_notice_sent and choice.after_delay_notice:
                    return choice.after_delay_notice
                return choice.template
        if delay_notice_sent and self.after_delay_notice:
            return self.after_delay_notice
        return self.default


class ApologyRule(Localisation):
    """Apologise to unhappy customers, once per order and rarely per customer."""

    type: Literal["apology"]
    name: Name = Field(description="unique rule name")
    description: str = ""
    score: ScoreRange = Field(default_factory=ScoreRange, description="scores apologised for")
    once_per_order: Literal[True] = Field(True, description="one apology per order (always)")
    per_customer_within: Duration = Field(
        timedelta(days=30), description="at most one apology per customer in this period"
    )
    templates: ApologyTemplates = Field(
        default_factory=ApologyTemplates, description="template by reason codes"
    )
    voucher_pool: Name | None = Field(None, description="voucher pool to take a code from")
    respect_opt_out: Literal[True] = Field(
        True, description="customers who opted out get nothing (cannot be turned off)"
    )


class VipTaskRule(RulesModel):
    """A task for support leads to call back a valuable unhappy customer."""

    type: Literal["vip_apology_task"]
    name: Name = Field(description="unique rule name")
    description: str = ""
    segments: tuple[str, ...] = Field(("vip",), description="customer segments it is for")
    min_order_value: float | None = Field(
        None, ge=0, description="orders of at least this value qualify (when the value is known)"
    )
    require: Literal["any", "all"] = Field(
        "any",
        description="any: the segment or the order value qualifies; all: both must",
    )
    score: ScoreRange = Field(default_factory=ScoreRange, description="scores it is for")
    receiver: Name = Field(description="receiver of the task, e.g. support-leads")
    sla: Duration = Field(timedelta(hours=4), description="time to handle the task")
    renotify_after_sla: bool = Field(True, description="remind when the SLA passes unhandled")
    renotify_every: Duration | None = Field(
        None, description="keep reminding this often after the SLA (unset: remind once)"
    )
    max_reminders: int = Field(
        6, ge=1, le=100, description="with renotify_every: reminders at most (the first at the SLA)"
    )
    ticket_webhook: Name | None = Field(
        None, description="receiver with a webhook config that opens a ticket"
    )

    @model_validator(mode="after")
    def _predicate(self) -> Self:
        if not self.segments and self.min_order_value is None:
            raise ValueError("give 'segments', 'min_order_value' or both")
        if self.require == "all" and (not self.segments or self.min_order_value is None):
            raise ValueError("require: all needs both 'segments' and 'min_order_value'")
        if self.sla <= timedelta(0):
            raise ValueError("the sla must be longer than 0s")
        if self.renotify_every is not None and self.renotify_every <= timedelta(0):
            raise ValueError("renotify_every must be longer than 0s")
        return self

    def applies(self, segment: str | None, score: int, order_value: float | None = None) -> bool:
        """Whether an answer with this score from this segment (and order value, if
        known) gets a task.

        >>> rule = VipTaskRule(type="vip_apology_task", name="vip", receiver="support-leads")
        >>> rule.applies("vip", 3), rule.applies("regular", 3), rule.applies("vip", 8)
        (True, False, False)
        """
        if not self.score.contains(score):
            return False
        checks: list[bool] = []
        if self.segments:
            checks.append(segment in self.segments)
        if self.min_order_value is not None:
            checks.append(order_value is not None and order_value >= self.min_order_value)
        return all(checks) if self.require == "all" else any(checks)
