"""The rule models: typed values, their checks and the helpers the engine calls."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError

from cxstream.rules import (
    ApologyRule,
    DelayNoticeRule,
    KpiAlertRule,
    QuietHours,
    Receiver,
    RuleSet,
    VipTaskRule,
    format_duration,
    load_rules,
    parse_duration,
    parse_matcher,
)
from cxstream.rules.receivers import WebhookConfig
from cxstream.rules.routes import Route, resolve_routes

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def kpi_rule(**fields: Any) -> KpiAlertRule:
    return KpiAlertRule.model_validate({"type": "kpi_alert", "name": "r", "kpi": "nps", **fields})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("1d", 86400), ("2w", 1209600), ("1h30m", 5400)],
)
def test_durations_parse_and_format_back(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(parse_duration(text))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "1", "h", "1 h", "1.5h", "-1h", "1y", 90, None])
def test_bad_durations_explain_the_format(bad: object) -> None:
    with pytest.raises(ValueError, match="is not a duration: a duration is a number and a unit"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("country=DE", {"country": "DE"}, True),
        ('country="DE"', {"country": "FR"}, False),
        ("country!=DE", {}, True),
        ('kpi=~"nps|detractor_rate"', {"kpi": "detractor_rate"}, True),
        ('kpi=~"nps"', {"kpi": "nps_app"}, False),
        ('carrier!~"dhl|dpd"', {"carrier": "ups"}, True),
        ('carrier=~".+"', {}, False),
        ('carrier=""', {}, True),
        (r'comment="say \"hi\""', {"comment": 'say "hi"'}, True),
    ],
)
def test_matchers_follow_alertmanager(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("bad", ["country", "=DE", 'kpi=~"(unclosed"', 'a="b', 'a=b"c'])
def test_bad_matchers_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=r"matcher|regular expression"):
        parse_matcher(bad)


def test_matchers_print_in_alertmanager_syntax() -> None:
    assert str(parse_matcher("severity =~ warning|critical")) == 'severity=~"warning|critical"'


def test_kpi_rules_validate_kpi_windows_and_levels() -> None:
    rule = kpi_rule(
        kpi="reason_share:app_scan_failed",
        windows=["1h", "1d"],
        group_by=[["carrier", "country"], ["country"]],
    )
    assert rule.windows == (timedelta(hours=1), timedelta(days=1))
    assert rule.group_by == (("country", "carrier"), ("country",))
    assert rule.watches({"country": "FR", "carrier": "dpd"})
    assert not rule.watches({"country": "FR", "channel": "app"})
    with pytest.raises(ValidationError, match="did you mean 'late_rate'"):
        kpi_rule(kpi="late_rat")
    with pytest.raises(ValidationError, match="given twice"):
        kpi_rule(group_by=[["country", "carrier"], ["carrier", "country"]])
    with pytest.raises(ValidationError, match="repeats a dimension"):
        kpi_rule(group_by=[["country", "country"]])
    with pytest.raises(ValidationError, match="window size is given twice"):
        kpi_rule(windows=["1h", "60m"])
    with pytest.raises(ValidationError, match="longer than 0s"):
        kpi_rule(windows=["0s"])


def test_detector_or_threshold() -> None:
    assert kpi_rule().uses_detector
    fixed = kpi_rule(threshold={"type": "fixed", "below": 20})
    assert not fixed.uses_detector
    assert fixed.threshold is not None
    assert fixed.threshold.breached(19)
    assert not fixed.threshold.breached(21)
    with pytest.raises(ValidationError, match="either 'detector' or 'threshold'"):
        kpi_rule(detector={"score_threshold": 0.6}, threshold={"type": "fixed", "above": 1})
    with pytest.raises(ValidationError, match="needs 'above', 'below'"):
        kpi_rule(threshold={"type": "fixed"})


def test_detection_config_and_window_specs_for_the_engine() -> None:
    rule = kpi_rule(
        detector={"score_threshold": 0.7, "alert_on_better": True}, min_volume=50, windows=["1h"]
    )
    config = rule.detection_config()
    assert config.kpis == ("nps",)
    assert config.reason_shares is False
    assert config.min_volume_for("nps") == 50
    assert config.score_threshold == 0.7
    assert config.detector.alarm_score == 0.7
    assert config.alert_on_better
    (spec,) = rule.window_specs(900)
    assert spec.size == timedelta(hours=1)
    with pytest.raises(ValidationError, match="not a multiple"):
        kpi_rule(windows=["20m"]).window_specs(900)


def test_expectations_take_their_direction_from_the_kpi() -> None:
    nps = kpi_rule(
        expectations=[
            {"match": {"country": "NL"}, "target": 50, "yellow_at": 45, "red_at": 35},
            {"match": {"country": "NL", "segment": "vip"}, "target": 60, "tolerance": 5},
        ]
    )
    assert nps.expectation_status({"country": "NL"}, 52) == "green"
    assert nps.expectation_status({"country": "NL", "channel": "app"}, 45) == "yellow"
    assert nps.expectation_status({"country": "NL"}, 30) == "red"
    # The more specific expectation wins: VIPs are yellow below 55 and red from 50.
    assert nps.expectation_status({"country": "NL", "segment": "vip"}, 54) == "yellow"
    assert nps.expectation_status({"country": "NL", "segment": "vip"}, 50) == "red"
    assert nps.expectation_status({"country": "DE"}, 0) is None

    refund = kpi_rule(
        kpi="refund_days",
        expectations=[{"match": {"country": "DE"}, "target": 5, "yellow_at": 6, "red_at": 8}],
    )
    assert [refund.expectation_status({"country": "DE"}, v) for v in (5, 6.5, 9)] == [
        "green",
        "yellow",
        "red",
    ]
    with pytest.raises(ValidationError, match="a higher value is worse"):
        kpi_rule(kpi="refund_days", expectations=[{"target": 5, "yellow_at": 4, "red_at": 3}])
    with pytest.raises(ValidationError, match="a higher value is better"):
        kpi_rule(expectations=[{"target": 50, "yellow_at": 55, "red_at": 60}])
    with pytest.raises(ValidationError, match="not both"):
        kpi_rule(expectations=[{"target": 50, "tolerance": 5, "red_at": 30}])
    with pytest.raises(ValidationError, match="needs 'yellow_at' and 'red_at'"):
        kpi_rule(expectations=[{"target": 50, "yellow_at": 45}])
    with pytest.raises(ValidationError, match="same match"):
        kpi_rule(expectations=[{"target": 50, "tolerance": 5}, {"target": 40, "tolerance": 5}])


def test_severity_levels_and_reserved_labels() -> None:
    rule = kpi_rule(severity={"warning": 0.6, "critical": 0.9})
    assert [rule.severity_for(s) for s in (0.5, 0.6, 0.95)] == ["info", "warning", "critical"]
    with pytest.raises(ValidationError, match="must not be below warning"):
        kpi_rule(severity={"warning": 0.9, "critical": 0.8})
    with pytest.raises(ValidationError, match="'country' is set from the alert"):
        kpi_rule(labels={"country": "DE"})


def test_quiet_hours_span_midnight_and_follow_local_time() -> None:
    hours = QuietHours.model_validate({"start": "21:00", "end": "08:00"})
    assert hours.contains(time(21, 0))
    assert hours.contains(time(7, 59))
    assert not hours.contains(time(8, 0))
    berlin = ZoneInfo("Europe/Berlin")
    # 21:30 UTC is 22:30 in Berlin (winter): quiet until 08:00 Berlin, 07:00 UTC.
    at = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
    assert hours.next_allowed(at, berlin) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    # 06:00 UTC is 07:00 in Berlin: quiet until 08:00 the same day.
    early = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert hours.next_allowed(early, berlin) == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert hours.next_allowed(noon, berlin) == noon
    day = QuietHours.model_validate({"start": "12:00", "end": "14:00"})
    assert day.contains(time(13, 0))
    assert not day.contains(time(15, 0))
    with pytest.raises(ValidationError, match="HH:MM"):
        QuietHours.model_validate({"start": 2100, "end": "08:00"})
    with pytest.raises(ValidationError, match="same time"):
        QuietHours.model_validate({"start": "08:00", "end": "08:00"})


def test_delay_notice_cannot_ignore_opt_outs_and_offers_its_default_language() -> None:
    rule = DelayNoticeRule.model_validate(
        {"type": "delay_notice", "name": "d", "languages": ["de", "en"], "default_language": "en"}
    )
    assert rule.respect_opt_out is True
    assert (rule.language_for("de"), rule.language_for("pl"), rule.language_for(None)) == (
        "de",
        "en",
        "en",
    )
    with pytest.raises(ValidationError, match="respect_opt_out"):
        DelayNoticeRule.model_validate(
            {"type": "delay_notice", "name": "d", "respect_opt_out": False}
        )
    with pytest.raises(ValidationError, match="not one of the languages"):
        DelayNoticeRule.model_validate(
            {"type": "delay_notice", "name": "d", "languages": ["de"], "default_language": "en"}
        )
    with pytest.raises(ValidationError, match="at least one trigger"):
        DelayNoticeRule.model_validate(
            {
                "type": "delay_notice",
                "name": "d",
                "triggers": {"eta_past_promise": False, "delivery_exception": False},
            }
        )


def test_apology_templates_by_reason_and_after_a_delay_notice() -> None:
    rule = ApologyRule.model_validate(
        {
            "type": "apology",
            "name": "a",
            "templates": {
                "by_reason": [
                    {"reasons": ["delivery_late"], "template": "late", "after_delay_notice": "l2"},
                    {"reasons": ["wrong_item"], "template": "item"},
                ],
                "default": "generic",
                "after_delay_notice": "generic2",
            },
        }
    )
    assert rule.score.contains(6)
    assert not rule.score.contains(7)
    assert rule.per_customer_within == timedelta(days=30)
    choose = rule.templates.choose
    assert choose(["wrong_item", "delivery_late"], False) == "late"
    assert choose(["wrong_item"], True) == "item"
    assert choose(["price"], True) == "generic2"
    assert choose([], False) == "generic"
    with pytest.raises(ValidationError, match="greater than max"):
        ApologyRule.model_validate({"type": "apology", "name": "a", "score": {"min": 7, "max": 3}})


def test_vip_task_predicate() -> None:
    both = VipTaskRule.model_validate(
        {
            "type": "vip_apology_task",
            "name": "v",
            "receiver": "support-leads",
            "segments": ["vip"],
            "min_order_value": 200,
            "require": "all",
        }
    )
    assert both.applies("vip", 2, 250)
    assert not both.applies("vip", 2, 150)
    assert not both.applies("vip", 2)
    either = both.model_copy(update={"require": "any"})
    assert either.applies("regular", 2, 250)
    assert either.applies("vip", 2)
    with pytest.raises(ValidationError, match="give 'segments', 'min_order_value'"):
        VipTaskRule.model_validate(
            {"type": "vip_apology_task", "name": "v", "receiver": "x", "segments": []}
        )


def test_receivers_keep_secrets_out_of_rule_files() -> None:
    hook = WebhookConfig.model_validate(
        {"type": "webhook", "url": "https://tickets.example.com/hook", "secret": "ticket_hook"}
    )
    assert hook.secret_value({"ticket_hook": SecretStr("s3cr3t")}) == "s3cr3t"
    with pytest.raises(KeyError, match="not configured"):
        hook.secret_value({})
    with pytest.raises(ValidationError, match="credentials"):
        WebhookConfig.model_validate({"type": "webhook", "url": "https://u:p@example.com/h"})
    with pytest.raises(ValidationError, match=r"string_pattern_mismatch|should match pattern"):
        WebhookConfig.model_validate(
            {"type": "webhook", "url": "https://example.com", "secret": "xoxb-1234-abcd"}
        )
    receiver = Receiver.model_validate(
        {
            "name": "ops",
            "configs": [
                {"type": "email", "to": ["ops@example.com"]},
                {"type": "webhook", "url": "https://example.com/h", "send_resolved": False},
            ],
        }
    )
    assert not receiver.send_resolved
    assert receiver.slack_channels == ()


def test_routes_inherit_and_default_their_timing() -> None:
    root = Route.model_validate(
        {"receiver": "a", "routes": [{"matchers": ["x=1"], "group_wait": "5s", "continue": True}]}
    )
    resolved = list(resolve_routes(root))
    assert [(r.path, r.receiver, r.group_wait, r.continue_) for r in resolved] == [
        ("0", "a", timedelta(seconds=30), False),
        ("0.0", "a", timedelta(seconds=5), True),
    ]
    assert resolved[1].repeat_interval == timedelta(hours=4)
    with pytest.raises(ValidationError, match="cannot be combined"):
        Route.model_validate({"receiver": "a", "group_by": ["...", "country"]})


def test_rule_sets_check_their_cross_references() -> None:
    base: dict[str, Any] = {
        "rules": [{"type": "kpi_alert", "name": "late", "kpi": "late_rate"}],
        "route": {"receiver": "ops"},
        "receivers": [{"name": "ops", "configs": [{"type": "slack", "channel": "#ops"}]}],
    }
    RuleSet.model_validate(base)
    with pytest.raises(ValidationError, match=r"unknown receiver 'opz'.*did you mean 'ops'"):
        RuleSet.model_validate({**base, "route": {"receiver": "opz"}})
    with pytest.raises(ValidationError, match="used twice"):
        RuleSet.model_validate({**base, "rules": base["rules"] * 2})
    with pytest.raises(ValidationError, match="no route"):
        RuleSet.model_validate({**base, "route": None})
    delay = {"type": "delay_notice", "name": "d", "triggers": {"segment_alerting": ["late"]}}
    with pytest.raises(ValidationError, match="country x carrier"):
        RuleSet.model_validate({**base, "rules": [*base["rules"], delay]})
    apology = {"type": "apology", "name": "a", "voucher_pool": "ten-euro"}
    with pytest.raises(ValidationError, match="unknown voucher pool"):
        RuleSet.model_validate({**base, "rules": [*base["rules"], apology]})
    pools = [{"name": "ten-euro", "codes": ["A1", "A2"]}]
    ok = RuleSet.model_validate(
        {**base, "rules": [*base["rules"], apology], "voucher_pools": pools}
    )
    assert ok.voucher_pool("ten-euro").codes == ("A1", "A2")
    vip = {"type": "vip_apology_task", "name": "v", "receiver": "ops", "ticket_webhook": "ops"}
    with pytest.raises(ValidationError, match="has no webhook config"):
        RuleSet.model_validate({**base, "rules": [*base["rules"], vip]})
    with pytest.raises(ValidationError, match="root route cannot have matchers"):
        RuleSet.model_validate({**base, "route": {"receiver": "ops", "matchers": ["a=b"]}})
    with pytest.raises(ValidationError, match="did you mean 'Europe/Berlin'"):
        RuleSet.model_validate({**base, "countries": {"DE": {"time_zone": "Europe/Berln"}}})


def test_the_default_rule_set_loads_and_is_consistent() -> None:
    rule_set = load_rules(RULES_DIR)
    names = {r.name for r in rule_set.rules}
    assert {"nps-drop", "late-rate", "delay-notice", "apology", "vip-callback"} <= names
    kpis = {r.kpi for r in rule_set.kpi_rules}
    assert {"nps", "detractor_rate", "late_rate", "exception_rate", "refund_days"} <= kpis
    assert "reason_share:app_scan_failed" in kpis
    assert {r.name for r in rule_set.receivers} == {
        "cx-ops",
        "logistics",
        "support-leads",
        "cx-leads",
    }
    (digest,) = rule_set.digest_rules
    assert (digest.receiver, digest.at, digest.time_zone) == ("cx-leads", time(8), "Europe/Berlin")
    assert rule_set.receiver("logistics").slack_channels == ("#logistics-alerts",)
    refund = rule_set.rule("refund-days")
    assert isinstance(refund, KpiAlertRule)
    assert refund.expectation_status({"country": "DE"}, 5.5) == "green"
    assert refund.expectation_status({"country": "DE"}, 6.5) == "yellow"
    assert refund.expectation_status({"country": "FR"}, 7.5) == "green"
    nps = rule_set.rule("nps-drop")
    assert isinstance(nps, KpiAlertRule)
    assert nps.expectation_status({"country": "NL"}, 27) == "yellow"
    assert rule_set.time_zone("DE") == ZoneInfo("Europe/Berlin")
    assert rule_set.time_zone("XX") == ZoneInfo("UTC")
    (notice,) = rule_set.delay_notice_rules
    fr_quiet = rule_set.quiet_hours("FR", notice)
    assert fr_quiet is not None
    assert fr_quiet.start == time(21, 30)
    de_quiet = rule_set.quiet_hours("DE", notice)
    assert de_quiet is not None
    assert de_quiet.start == time(21, 0)
    for rule in rule_set.kpi_rules:
        rule.detection_config()
        rule.window_specs(900)
