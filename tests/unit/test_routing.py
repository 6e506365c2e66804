"""The routing engine behaves like Alertmanager: route matching with ``continue``,
grouping, group_wait / group_interval / repeat_interval, send_resolved, inhibition,
silences; driven by event time only, with a checkpointable state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cxstream.records import AlertRecord, Severity
from cxstream.rules import RuleSet
from cxstream.rules.routing import Router, alert_labels, group_key
from cxstream.rules.silences import Silence, new_silence

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)


def rule_set(
    route: dict[str, Any] | None = None,
    *,
    inhibit: list[dict[str, Any]] | None = None,
    extra_rules: list[dict[str, Any]] | None = None,
    support_send_resolved: bool = False,
) -> RuleSet:
    return RuleSet.model_validate(
        {
            "rules": [
                {"type": "kpi_alert", "name": "nps-drop", "kpi": "nps", "labels": {"team": "cx"}},
                {"type": "kpi_alert", "name": "late-rate", "kpi": "late_rate"},
                *(extra_rules or []),
            ],
            "route": route
            or {
                "receiver": "cx-ops",
                "group_by": ["rule", "country"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            },
            "receivers": [
                {"name": "cx-ops", "configs": [{"type": "slack", "channel": "#cx-alerts"}]},
                {"name": "logistics", "configs": [{"type": "slack", "channel": "#logistics"}]},
                {
                    "name": "support-leads",
                    "configs": [
                        {
                            "type": "slack",
                            "channel": "#support-leads",
                            "send_resolved": support_send_resolved,
                        }
                    ],
                },
            ],
            "inhibit_rules": inhibit or [],
        }
    )


def alert(
    alert_id: str,
    at: datetime = T0,
    *,
    status: str = "firing",
    rule: str = "nps-drop",
    kpi: str = "nps",
    severity: Severity = "warning",
    **segment: str,
) -> AlertRecord:
    return AlertRecord.model_validate(
        {
            "alert_id": alert_id,
            "rule": rule,
            "status": status,
            "at": at,
            "kpi": kpi,
            "segment": segment or {"country": "DE"},
            "value": 30.0,
            "expected": 45.0,
            "score": 0.7,
            "severity": severity,
        }
    )


def ids(notification: Any) -> list[str]:
    return [a.alert_id for a in notification.firing]


# -- matching --------------------------------------------------------------------------------


def tree() -> Router:
    return Router(
        rule_set(
            {
                "receiver": "cx-ops",
                "group_by": ["rule"],
                "group_wait": "10s",
                "routes": [
                    {
                        "matchers": ['kpi=~"late_rate|exception_rate"'],
                        "receiver": "logistics",
                        "group_by": ["rule", "country", "carrier"],
                        "continue": True,
                        "routes": [{"matchers": ["country=FR"], "group_wait": "1m"}],
                    },
                    {"matchers": ['severity="critical"'], "repeat_interval": "1h"},
                    {"matchers": ["team=cx"], "receiver": "support-leads"},
                ],
            }
        )
    )


def test_an_alert_no_child_matches_stays_with_the_root() -> None:
    router = tree()
    routes = router.match({"kpi": "effort_mean", "severity": "warning"})
    assert [r.path for r in routes] == ["0"]
    assert routes[0].receiver == "cx-ops"


def test_the_first_matching_child_wins_without_continue() -> None:
    router = tree()
    routes = router.match({"kpi": "nps", "severity": "critical", "team": "cx"})
    assert [(r.path, r.receiver, r.repeat_interval) for r in routes] == [("0.1", "cx-ops", H)]


def test_continue_goes_on_to_the_following_siblings_and_children_are_depth_first() -> None:
    router = tree()
    routes = router.match({"kpi": "late_rate", "severity": "critical", "country": "FR"})
    assert [r.path for r in routes] == ["0.0.0", "0.1"]
    nested = routes[0]
    # The nested route inherits receiver and group_by, overrides group_wait.
    assert (nested.receiver, nested.group_by, nested.group_wait) == (
        "logistics",
        ("rule", "country", "carrier"),
        M,
    )
    assert nested.group_interval == timedelta(minutes=5)
    warning = router.match({"kpi": "late_rate", "severity": "warning", "country": "DE"})
    assert [r.path for r in warning] == ["0.0"]


def test_labels_and_group_keys() -> None:
    labels = alert_labels(alert("a", country="FR", carrier="dpd"), rule_set().kpi_rules[0])
    assert labels == {
        "team": "cx",
        "country": "FR",
        "carrier": "dpd",
        "rule": "nps-drop",
        "kpi": "nps",
        "severity": "warning",
        "level": "country+carrier",
    }
    assert group_key(labels, ("rule", "country", "region"), False) == (
        '{rule="nps-drop",country="FR"}'
    )
    assert group_key(labels, (), True).startswith('{carrier="dpd",country="FR",kpi="nps"')


# -- timing ----------------------------------------------------------------------------------


def test_group_wait_delays_the_first_notification_and_batches_the_group() -> None:
    router = Router(rule_set())
    assert router.process([alert("a")], T0 + 4 * S) == []
    later = [alert("b", T0 + 10 * S), alert("c", T0 + 5 * S, country="FR")]
    assert router.process(later, T0 + 29 * S) == []
    sent = router.process([], T0 + 40 * S)
    assert [(n.group_key, ids(n), n.reason, n.at) for n in sent] == [
        ('{rule="nps-drop",country="DE"}', ["a", "b"], "first", T0 + 30 * S),
        ('{rule="nps-drop",country="FR"}', ["c"], "first", T0 + 35 * S),
    ]
    assert all(n.sequence == 1 and n.channels == ("#cx-alerts",) for n in sent)


def test_group_interval_spaces_updates_of_a_changed_group() -> None:
    router = Router(rule_set())
    assert len(router.process([alert("a")], T0 + 30 * S)) == 1
    # A new alert of the same group waits for the next group_interval tick.
    assert router.process([alert("b", T0 + M)], T0 + 5 * M) == []
    update = router.process([], T0 + 5 * M + 30 * S)
    assert [(ids(n), n.reason, n.at, n.sequence) for n in update] == [
        (["a", "b"], "update", T0 + 5 * M + 30 * S, 2)
    ]
    # Nothing changed: no notification at the following ticks.
    assert router.process([], T0 + 2 * H) == []


def test_repeat_interval_resends_an_unchanged_firing_group() -> None:
    router = Router(rule_set())
    router.process([alert("a")], T0 + 30 * S)
    assert router.process([], T0 + 4 * H) == []
    repeated = router.process([], T0 + 9 * H)
    # Ticks are T0+30s+k*5m; the first at or after 4h after the last notification.
    assert [(n.reason, n.at) for n in repeated] == [
        ("repeat", T0 + 30 * S + 4 * H),
        ("repeat", T0 + 30 * S + 8 * H),
    ]


def test_a_severity_change_is_an_update() -> None:
    router = Router(rule_set())
    router.process([alert("a")], T0 + 30 * S)
    sent = router.process([alert("a", T0 + M, severity="critical")], T0 + 6 * M)
    assert [(n.reason, n.firing[0].severity) for n in sent] == [("update", "critical")]


def test_resolution_is_sent_with_send_resolved_and_the_group_ends() -> None:
    router = Router(rule_set())
    router.process([alert("a"), alert("b")], T0 + 30 * S)
    partly = router.process([alert("a", T0 + M, status="resolved")], T0 + 6 * M)
    assert [(ids(n), [a.alert_id for a in n.resolved], n.reason) for n in partly] == [
        (["b"], ["a"], "update")
    ]
    done = router.process([alert("b", T0 + 7 * M, status="resolved")], T0 + 11 * M)
    assert [(n.status, n.reason, [a.alert_id for a in n.resolved]) for n in done] == [
        ("resolved", "resolved", ["b"])
    ]
    assert router.groups() == []
    # A new alert starts a new group, with group_wait and a fresh key.
    again = router.process([alert("c", T0 + H)], T0 + H + 30 * S)
    assert [(n.reason, n.sequence) for n in again] == [("first", 1)]
    assert again[0].key != done[0].key


def test_without_send_resolved_resolutions_are_not_sent() -> None:
    router = Router(rule_set({"receiver": "support-leads", "group_by": ["rule"]}))
    assert len(router.process([alert("a")], T0 + 30 * S)) == 1
    assert router.process([alert("a", T0 + M, status="resolved")], T0 + H) == []
    assert router.groups() == []


def test_an_alert_resolved_before_group_wait_is_never_notified() -> None:
    router = Router(rule_set())
    resolved = alert("a", T0 + 10 * S, status="resolved")
    assert router.process([alert("a"), resolved], T0 + H) == []
    assert router.groups() == []
    # A resolution of an alert never seen is ignored.
    assert router.process([alert("zzz", T0 + 2 * H, status="resolved")], T0 + 3 * H) == []


def test_alerts_are_taken_in_event_time_order_and_never_from_the_future() -> None:
    router = Router(rule_set())
    sent = router.process([alert("b", T0 + 10 * M), alert("a", T0)], T0 + 11 * M)
    assert [(ids(n), n.at) for n in sent] == [
        (["a"], T0 + 30 * S),
        (["a", "b"], T0 + 10 * M + 30 * S),
    ]
    with pytest.raises(ValueError, match="after now"):
        router.process([alert("c", T0 + 2 * H)], T0 + H)


def test_a_rule_receiver_overrides_the_routes_receiver() -> None:
    extra = [{"type": "kpi_alert", "name": "vip-nps", "kpi": "nps", "receiver": "support-leads"}]
    router = Router(rule_set(extra_rules=extra))
    sent = router.process([alert("v", rule="vip-nps")], T0 + M)
    assert [(n.receiver, n.route, n.channels) for n in sent] == [
        ("support-leads", "0", ("#support-leads",))
    ]


def test_continue_sends_one_alert_to_several_receivers() -> None:
    router = tree()
    late = alert("l", rule="late-rate", kpi="late_rate", severity="critical", country="DE")
    sent = router.process([late], T0 + H)
    assert sorted((n.route, n.receiver) for n in sent) == [("0.0", "logistics"), ("0.1", "cx-ops")]


# -- muting ----------------------------------------------------------------------------------

INHIBIT = [
    {
        "source_matchers": ['kpi="late_rate"', 'level="country+carrier"'],
        "target_matchers": ['kpi=~"nps|detractor_rate"', 'level="country+carrier"'],
        "equal": ["country", "carrier"],
    },
    {
        "source_matchers": ['kpi="late_rate"', 'level="country+carrier"'],
        "target_matchers": ['kpi=~"nps|detractor_rate"', 'level="country"'],
        "equal": ["country"],
    },
]


def test_a_carrier_late_rate_alert_inhibits_nps_alerts_of_its_country_and_carrier() -> None:
    router = Router(rule_set({"receiver": "cx-ops", "group_by": ["..."]}, inhibit=INHIBIT))
    late = alert("late", rule="late-rate", kpi="late_rate", country="FR", carrier="dpd")
    targets = [
        alert("nps-fr-dpd", country="FR", carrier="dpd"),
        alert("nps-fr", country="FR"),
        alert("nps-fr-dhl", country="FR", carrier="dhl"),
        alert("nps-de-dpd", country="DE", carrier="dpd"),
        alert("nps-fr-app", country="FR", channel="app"),
    ]
    sent = router.process([late, *targets], T0 + M)
    assert sorted(a for n in sent for a in ids(n)) == [
        "late",
        "nps-de-dpd",
        "nps-fr-app",
        "nps-fr-dhl",
    ]
    # Once the source resolves, the inhibited alerts are notified at their next tick.
    resolved = alert(
        "late",
        T0 + 10 * M,
        status="resolved",
        rule="late-rate",
        kpi="late_rate",
        country="FR",
        carrier="dpd",
    )
    later = router.process([resolved], T0 + H)
    assert sorted(a for n in later for a in ids(n)) == ["nps-fr", "nps-fr-dpd"]


def silence(*matchers: str, start: datetime, end: datetime) -> Silence:
    return new_silence(list(matchers), end - start, "ana", "testing", start)


def test_an_active_silence_mutes_and_its_end_lets_the_alerts_through() -> None:
    router = Router(rule_set())
    muted = silence("country=DE", 'kpi=~"nps|detractor_rate"', start=T0, end=T0 + H)
    other = silence("country=FR", start=T0, end=T0 + 10 * H)
    pending = silence("country=DE", start=T0 + 5 * H, end=T0 + 6 * H)
    silences = [muted, other, pending]
    sent = router.process([alert("de"), alert("nl", country="NL")], T0 + 30 * M, silences)
    assert [ids(n) for n in sent] == [["nl"]]
    after = router.process([], T0 + 2 * H, silences)
    # The silence ends at 10:00; the next tick of the DE group is 10:00:30.
    assert [(ids(n), n.reason, n.at) for n in after] == [(["de"], "first", T0 + H + 30 * S)]


def test_a_silence_added_later_applies_from_its_start() -> None:
    router = Router(rule_set())
    router.process([alert("de")], T0 + 30 * S)
    late = silence("country=DE", start=T0 + 3 * H, end=T0 + 6 * H)
    assert router.process([], T0 + 6 * H, [late]) == []
    # The repeat that was due during the silence goes out at the first tick after it.
    assert [n.at for n in router.process([], T0 + 7 * H, [late])] == [T0 + 6 * H + 30 * S]


# -- actions and state -----------------------------------------------------------------------


def test_notifications_become_slack_alert_actions_with_stable_ids() -> None:
    first = Router(rule_set()).process([alert("a")], T0 + H)
    second = Router(rule_set()).process([alert("a")], T0 + H)
    action = first[0].action()
    assert action.type == "slack_alert"
    assert action.rule == "nps-drop"
    assert action.action_id == second[0].action().action_id
    assert action.detail["channels"] == ["#cx-alerts"]
    assert action.detail["alert_ids"] == ["a"]
    assert action.detail["alerts"][0]["alert_id"] == "a"
    repeat = Router(rule_set()).process([alert("a")], T0 + 5 * H)
    assert len({n.action().action_id for n in repeat}) == 2


def scenario() -> list[tuple[list[AlertRecord], datetime]]:
    return [
        ([alert("a"), alert("b", country="FR")], T0 + 20 * S),
        ([alert("c", T0 + M)], T0 + 3 * M),
        ([alert("a", T0 + 4 * M, status="resolved")], T0 + 2 * H),
        ([alert("d", T0 + 3 * H, country="FR", severity="critical")], T0 + 9 * H),
        ([alert("b", T0 + 9 * H + M, status="resolved", country="FR")], T0 + 12 * H),
    ]


def test_the_state_round_trips_through_json_and_continues_identically() -> None:
    silences = [silence("country=FR", start=T0 + 5 * H, end=T0 + 6 * H)]
    straight = Router(rule_set())
    expected = [n for batch, now in scenario() for n in straight.process(batch, now, silences)]
    assert len(expected) >= 6

    got = []
    router = Router(rule_set())
    for batch, now in scenario():
        got.extend(router.process(batch, now, silences))
        state = json.loads(json.dumps(router.to_state()))
        router = Router.from_state(rule_set(), state)
        assert router.to_state() == state
    assert [n.action() for n in got] == [n.action() for n in expected]


def test_state_of_routes_that_no_longer_exist_is_dropped() -> None:
    router = tree()
    router.process([alert("l", rule="late-rate", kpi="late_rate", country="FR")], T0)
    assert {g.route for g in router.groups()} == {"0.0.0"}
    plain = Router.from_state(rule_set(), router.to_state())
    assert plain.groups() == []
    with pytest.raises(ValueError, match="version"):
        Router.from_state(rule_set(), {**router.to_state(), "version": 99})


def test_a_month_long_gap_is_cheap_and_repeats_on_schedule() -> None:
    router = Router(rule_set())
    router.process([alert("a")], T0 + 30 * S)
    repeats = router.process([], T0 + 30 * 24 * H)
    assert len(repeats) == 30 * 6 - 1
    assert all(n.reason == "repeat" for n in repeats)
    assert router.next_due() is not None
