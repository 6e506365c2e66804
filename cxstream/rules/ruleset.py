"""The rule set: every rule, the routing tree, receivers, inhibit rules, voucher pools and
country settings, checked together.

A rules directory holds any number of YAML files of the shape :class:`RuleFile` (every
top-level key optional); :func:`~cxstream.rules.loading.load_rules` merges them into one
:class:`RuleSet`. Beyond each model's own checks, a rule set checks its cross-references
(:func:`reference_problems`): names are unique, every receiver, voucher pool and rule a
route or rule names exists, the root route names a receiver, and so on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from cxstream.rules.action_rules import ApologyRule, DelayNoticeRule, QuietHours, VipTaskRule
from cxstream.rules.base import CountryCode, Name, RulesModel, TimeZoneName, check_unique
from cxstream.rules.digest_rules import ReportDigestRule
from cxstream.rules.kpi_rules import KpiAlertRule
from cxstream.rules.receivers import Receiver
from cxstream.rules.routes import InhibitRule, Route

__all__ = [
    "CountrySettings",
    "Defaults",
    "Reference",
    "Rule",
    "RuleFile",
    "RuleSet",
    "TimeZoneName",
    "VoucherPool",
    "reference_problems",
]

Rule = Annotated[
    KpiAlertRule | DelayNoticeRule | ApologyRule | VipTaskRule | ReportDigestRule,
    Field(discriminator="type"),
]
"""Any rule, chosen by its ``type``."""


class VoucherPool(RulesModel):
    """A named set of voucher codes that apologies hand out, one code per apology."""

    name: Name = Field(description="the name apology rules refer to")
    description: str = Field("", description="what the voucher is worth, e.g. '10 EUR'")
    codes: tuple[str, ...] = Field(min_length=1, description="the codes, each handed out once")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        check_unique(self.codes, "voucher code")
        return self


class CountrySettings(RulesModel):
    """Local settings of one country."""

    time_zone: TimeZoneName = Field(description="IANA time zone, e.g. Europe/Berlin")
    quiet_hours: QuietHours | None = Field(None, description="no customer messages then")


class Defaults(RulesModel):
    """Settings for countries not listed under ``countries``."""

    time_zone: TimeZoneName = Field("UTC", description="time zone of unlisted countries")
    quiet_hours: QuietHours | None = Field(None, description="quiet hours of every country")


class RuleFile(RulesModel):
    """The shape of one rules file; every key is optional."""

    rules: tuple[Rule, ...] = Field((), description="alert and action rules")
    route: Route | None = Field(None, description="the routing tree (in one file only)")
    receivers: tuple[Receiver, ...] = Field((), description="notification destinations")
    inhibit_rules: tuple[InhibitRule, ...] = Field((), description="alerts that mute others")
    voucher_pools: tuple[VoucherPool, ...] = Field((), description="voucher codes")
    defaults: Defaults | None = Field(None, description="time zone and quiet hours defaults")
    countries: dict[CountryCode, CountrySettings] = Field(
        default_factory=dict, description="time zone and quiet hours per country"
    )


@dataclass(frozen=True, slots=True)
class Reference:
    """A cross-reference problem: where in the rule set, what, and how to fix it."""

    loc: tuple[str | int, ...]
    message: str
    hint: str


def _did_you_mean(name: str, known: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    if known:
        return f"known {what}s: {', '.join(sorted(known))}"
    return f"define a {what} named {name!r}"


def _duplicates(names: Sequence[str], field: str, what: str) -> Iterator[Reference]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield Reference(
                (field, i, "name"),
                f"{what} name {name!r} is used twice",
                f"rename one of the {what}s named {name!r}",
            )
        seen.add(name)


def _route_references(
    route: Route, loc: tuple[str | int, ...], receivers: Sequence[str]
) -> Iterator[Reference]:
    if route.receiver is not None and route.receiver not in receivers:
        yield Reference(
            (*loc, "receiver"),
            f"unknown receiver {route.receiver!r}",
            _did_you_mean(route.receiver, receivers, "receiver"),
        )
    for i, child in enumerate(route.routes):
        yield from _route_references(child, (*loc, "routes", i), receivers)


def reference_problems(rule_set: RuleSet) -> list[Reference]:
    """Every cross-reference problem of ``rule_set`` (empty if it is consistent)."""
    problems: list[Reference] = []
    rule_names = [r.name for r in rule_set.rules]
    receiver_names = [r.name for r in rule_set.receivers]
    pool_names = [p.name for p in rule_set.voucher_pools]
    problems += _duplicates(rule_names, "rules", "rule")
    problems += _duplicates(receiver_names, "receivers", "receiver")
    problems += _duplicates(pool_names, "voucher_pools", "voucher pool")
    kpi_rules = {r.name: r for r in rule_set.rules if isinstance(r, KpiAlertRule)}

    route = rule_set.route
    if route is None:
        if kpi_rules:
            problems.append(
                Reference(
                    ("route",),
                    "there are kpi_alert rules but no route: their alerts would go nowhere",
                    "add a 'route:' with at least a receiver to one file",
                )
            )
    else:
        if route.receiver is None:
            problems.append(
                Reference(
                    ("route", "receiver"),
                    "the root route names no receiver",
                    "give the root route a 'receiver:'; child routes inherit it",
                )
            )
        if route.matchers:
            problems.append(
                Reference(
                    ("route", "matchers"),
                    "the root route cannot have matchers",
                    "the root route takes every alert: move the matchers to a child route",
                )
            )
        problems += _route_references(route, ("route",), receiver_names)

    webhook_receivers = {r.name for r in rule_set.receivers if r.webhooks}
    for i, rule in enumerate(rule_set.rules):
        at: tuple[str | int, ...] = ("rules", i)
        if isinstance(rule, KpiAlertRule) and rule.receiver and rule.receiver not in receiver_names:
            problems.append(
                Reference(
                    (*at, "receiver"),
                    f"unknown receiver {rule.receiver!r}",
                    _did_you_mean(rule.receiver, receiver_names, "receiver"),
                )
            )
        if isinstance(rule, VipTaskRule):
            if rule.receiver not in receiver_names:
                problems.append(
                    Reference(
                        (*at, "receiver"),
                        f"unknown receiver {rule.receiver!r}",
                        _did_you_mean(rule.receiver, receiver_names, "receiver"),
                    )
                )
            hook = rule.ticket_webhook
            if hook is not None and hook not in receiver_names:
                problems.append(
                    Reference(
                        (*at, "ticket_webhook"),
                        f"unknown receiver {hook!r}",
                        _did_you_mean(hook, receiver_names, "receiver"),
                    )
                )
            elif hook is not None and hook not in webhook_receivers:
                problems.append(
                    Reference(
                        (*at, "ticket_webhook"),
                        f"receiver {hook!r} has no webhook config",
                        "add a config with 'type: webhook' to it",
                    )
                )
        if (
            isinstance(rule, ApologyRule)
            and rule.voucher_pool is not None
            and (rule.voucher_pool not in pool_names)
        ):
            problems.append(
                Reference(
                    (*at, "voucher_pool"),
                    f"unknown voucher pool {rule.voucher_pool!r}",
                    _did_you_mean(rule.voucher_pool, pool_names, "voucher pool"),
                )
            )
        if isinstance(rule, DelayNoticeRule):
            problems += _delay_notice_problems(rule, at, kpi_rules, rule_set)
        if isinstance(rule, ReportDigestRule):
            problems += _digest_problems(rule, at, rule_set)
    return problems


def _digest_problems(
    rule: ReportDigestRule, at: tuple[str | int, ...], rule_set: RuleSet
) -> list[Reference]:
    names = [r.name for r in rule_set.receivers]
    if rule.receiver not in names:
        return [
            Reference(
                (*at, "receiver"),
                f"unknown receiver {rule.receiver!r}",
                _did_you_mean(rule.receiver, names, "receiver"),
            )
        ]
    receiver = rule_set.receiver(rule.receiver)
    if not receiver.slack_channels and not receiver.webhooks:
        return [
            Reference(
                (*at, "receiver"),
                f"receiver {rule.receiver!r} has neither a slack nor a webhook config",
                "a digest is a Slack message (or a webhook call): add a config with"
                " 'type: slack' to the receiver",
            )
        ]
    return []


def _delay_notice_problems(
    rule: DelayNoticeRule,
    at: tuple[str | int, ...],
    kpi_rules: dict[str, KpiAlertRule],
    rule_set: RuleSet,
) -> Iterator[Reference]:
    for j, name in enumerate(rule.triggers.segment_alerting):
        loc = (*at, "triggers", "segment_alerting", j)
        target = kpi_rules.get(name)
        if target is None:
            yield Reference(
                loc,
                f"{name!r} is not a kpi_alert rule",
                _did_you_mean(name, list(kpi_rules), "kpi_alert rule"),
            )
        elif not any({"country", "carrier"} <= set(level) for level in target.group_by):
            yield Reference(
                loc,
                f"rule {name!r} does not watch a country x carrier level",
                f"add [country, carrier] to the group_by of {name!r}",
            )
    for country in rule.quiet_hours:
        if country != "default" and country not in rule_set.countries:
            yield Reference(
                (*at, "quiet_hours", country),
                f"country {country} has no time zone, so its quiet hours are unclear",
                f"add {country} with its time_zone under 'countries:'",
            )


class RuleSet(RulesModel):
    """Everything the rules directory defines, checked for consistency."""

    rules: tuple[Rule, ...] = ()
    route: Route | None = None
    receivers: tuple[Receiver, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    voucher_pools: tuple[VoucherPool, ...] = ()
    defaults: Defaults = Field(default_factory=Defaults)
    countries: dict[CountryCode, CountrySettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = reference_problems(self)
        if problems:
            raise ValueError(
                "; ".join(f"{'.'.join(map(str, p.loc))}: {p.message} ({p.hint})" for p in problems)
            )
        return self

    def rule(self, name: str) -> Rule | None:
        """The rule called ``name``, if any."""
        return next((r for r in self.rules if r.name == name), None)

    @property
    def kpi_rules(self) -> tuple[KpiAlertRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, KpiAlertRule))

    @property
    def delay_notice_rules(self) -> tuple[DelayNoticeRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, DelayNoticeRule))

    @property
    def apology_rules(self) -> tuple[ApologyRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, ApologyRule))

    @property
    def digest_rules(self) -> tuple[ReportDigestRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, ReportDigestRule))

    @property
    def vip_task_rules(self) -> tuple[VipTaskRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, VipTaskRule))

    def receiver(self, name: str) -> Receiver:
        """The receiver called ``name`` (``KeyError`` if there is none)."""
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        raise KeyError(f"unknown receiver {name!r}")

    def voucher_pool(self, name: str) -> VoucherPool:
        """The voucher pool called ``name`` (``KeyError`` if there is none)."""
        for pool in self.voucher_pools:
            if pool.name == name:
                return pool
        raise KeyError(f"unknown voucher pool {name!r}")

    def time_zone(self, country: str) -> ZoneInfo:
        """The country's time zone (the default one for unlisted countries)."""
        settings = self.countries.get(country)
        return ZoneInfo(settings.time_zone if settings else self.defaults.time_zone)

    def quiet_hours(self, country: str, rule: DelayNoticeRule | None = None) -> QuietHours | None:
        """Quiet hours in ``country``: the rule's for the country, the rule's default, the
        country's, then the rule set's default (``None``: no quiet hours)."""
        if rule is not None:
            found = rule.quiet_hours.get(country) or rule.quiet_hours.get("default")
            if found is not None:
                return found
        settings = self.countries.get(country)
        if settings is not None and settings.quiet_hours is not None:
            return settings.quiet_hours
        return self.defaults.quiet_hours
