"""KPIs computed from a window's summed counters hold their hand-computed values.

Covers :func:`compute_kpis` on counters worked out by hand (NPS in points, rates,
means, reason shares), successes/trials of the proportions only, KPIs whose denominator
is 0 left out, choosing KPIs by name, and unknown names rejected with a readable message.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.kpis import (
    KPI_NAMES,
    REASON_SHARE_PREFIX,
    UnknownKpiError,
    compute_kpis,
    parse_kpi,
    reason_share,
)
from cxstream.rules.kpi_rules import KpiAlertRule

#: One window of one segment: 20 answers, 40 shipped and 30 delivered orders.
COUNTERS: dict[str, float] = {
    "responses": 20,
    "promoters": 9,
    "passives": 5,
    "detractors": 6,
    "effort_n": 8,
    "effort_sum": 28,
    "reason:delivery_late": 4,
    "reason:price": 2,
    "det_reason:delivery_late": 3,
    "linked": 15,
    "late_linked": 5,
    "detractors_linked": 5,
    "detractors_late": 3,
    "placed": 50,
    "shipped": 40,
    "delivered": 30,
    "delivered_late": 6,
    "delay_days": 15,
    "exceptions": 4,
    "exception:weather": 4,
    "predicted_late": 8,
    "returns": 3,
    "refunds": 2,
    "refund_hours": 60,
    "refunds_timed": 2,
}

#: name -> (value, volume, successes, trials), worked out by hand from COUNTERS.
EXPECTED: dict[str, tuple[float, int, int | None, int | None]] = {
    "nps": (15.0, 20, None, None),  # 100 * (9 - 6) / 20
    "detractor_rate": (0.3, 20, 6, 20),
    "effort_mean": (3.5, 8, None, None),  # 28 / 8
    "late_detractor_share": (0.6, 5, 3, 5),
    "late_rate": (0.2, 30, 6, 30),
    "predicted_late_rate": (0.2, 40, 8, 40),  # 8 / 40, a counted rate
    "exception_rate": (0.1, 40, 4, 40),
    "mean_delay_days": (2.5, 6, None, None),  # 15 / 6
    "refund_days": (1.25, 2, None, None),  # 60 h / 2 / 24
    "response_rate": (20 / 30, 30, 20, 30),  # 20 answers / 30 deliveries, a counted rate
    "reason_share:delivery_late": (0.2, 20, 4, 20),
    "reason_share:price": (0.1, 20, 2, 20),
}


def test_every_kpi_has_its_hand_computed_value() -> None:
    kpis = compute_kpis(COUNTERS)
    assert list(kpis) == list(EXPECTED)
    for name, (value, volume, successes, trials) in EXPECTED.items():
        got = kpis[name]
        assert got.name == name
        assert got.value == pytest.approx(value), name
        assert (got.volume, got.successes, got.trials) == (volume, successes, trials), name


def test_a_counted_rate_above_one_is_a_plain_value() -> None:
    (kpi,) = compute_kpis({"shipped": 10, "exceptions": 14}, ["exception_rate"]).values()
    assert (kpi.value, kpi.successes, kpi.trials) == (1.4, None, None)


def test_only_nps_and_the_response_rate_are_better_when_higher() -> None:
    kpis = compute_kpis(COUNTERS)
    better = [name for name, kpi in kpis.items() if not kpi.higher_is_worse]
    assert better == ["nps", "response_rate"]


def test_nps_is_in_points_and_can_be_negative() -> None:
    kpis = compute_kpis({"responses": 4, "promoters": 0, "detractors": 3})
    assert kpis["nps"].value == -75.0
    assert kpis["detractor_rate"].successes == 3


def test_kpis_without_volume_are_left_out() -> None:
    feedback_only = {"responses": 10, "promoters": 4, "detractors": 1, "delivered": 0}
    assert list(compute_kpis(feedback_only)) == ["nps", "detractor_rate"]
    assert compute_kpis({}) == {}
    # Late deliveries without any delivery in the window: no late rate, but a mean delay.
    assert list(compute_kpis({"delivered_late": 1, "delay_days": 3})) == ["mean_delay_days"]
    assert compute_kpis({"reason:price": 2}) == {}


def test_a_reason_share_per_reason_present_and_none_for_detractor_reasons() -> None:
    counters = {"responses": 8, "reason:app_crash": 2, "reason:other": 0, "det_reason:price": 1}
    kpis = compute_kpis(counters)
    assert [n for n in kpis if n.startswith(REASON_SHARE_PREFIX)] == [
        "reason_share:app_crash",
        "reason_share:other",
    ]
    assert kpis["reason_share:app_crash"].value == 0.25
    assert kpis["reason_share:other"].value == 0.0


def test_chosen_names_in_the_given_order() -> None:
    names = ["late_rate", "reason_share:price", "nps", "reason_share:absent", "late_rate"]
    kpis = compute_kpis(COUNTERS, names)
    assert list(kpis) == ["late_rate", "reason_share:price", "nps", "reason_share:absent"]
    assert kpis["reason_share:absent"].value == 0.0


def test_counts_that_are_no_proportion_give_no_successes() -> None:
    # An answer listing the same reason twice counts it twice.
    kpi = compute_kpis({"responses": 1, "reason:price": 2})["reason_share:price"]
    assert kpi.value == 2.0
    assert (kpi.successes, kpi.trials) == (None, None)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000))
def test_nps_and_detractor_rate_stay_in_range(
    promoters: int, passives: int, detractors: int
) -> None:
    responses = promoters + passives + detractors
    counters = {"responses": responses, "promoters": promoters, "detractors": detractors}
    kpis = compute_kpis(counters)
    if responses == 0:
        assert kpis == {}
        return
    assert -100.0 <= kpis["nps"].value <= 100.0
    rate = kpis["detractor_rate"]
    assert (rate.successes, rate.trials, rate.volume) == (detractors, responses, responses)
    assert kpis["nps"].value == pytest.approx(100.0 * (promoters / responses - rate.value))


def test_every_fixed_name_parses_to_itself() -> None:
    for name in KPI_NAMES:
        assert parse_kpi(name).name == name
    assert parse_kpi("reason_share:delivery_late") == reason_share("delivery_late")


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("late_rat", ["unknown KPI 'late_rat'", "did you mean 'late_rate'?", "nps, detractor"]),
        ("csat", ["unknown KPI 'csat'", "reason_share:<code>"]),
        ("NPS", ["unknown KPI 'NPS'", "did you mean 'nps'?"]),
        ("reason_share:", ["invalid reason code", "reason_share:delivery_late"]),
        ("reason_share:Delivery Late", ["'Delivery Late'", "lower-case"]),
    ],
)
def test_unknown_names_are_rejected_readably(name: str, fragments: list[str]) -> None:
    with pytest.raises(UnknownKpiError) as caught:
        parse_kpi(name)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_unknown_names_are_rejected_before_anything_is_computed() -> None:
    with pytest.raises(UnknownKpiError, match="late_ratio"):
        compute_kpis(COUNTERS, ["nps", "late_ratio"])


def test_the_response_rate_is_answers_per_delivery_and_better_when_higher() -> None:
    (kpi,) = compute_kpis({"delivered": 200, "responses": 50}, ["response_rate"]).values()
    assert (kpi.value, kpi.successes, kpi.trials, kpi.higher_is_worse) == (0.25, 50, 200, False)
    rule = KpiAlertRule.model_validate(
        {
            "type": "kpi_alert",
            "name": "response-rate",
            "kpi": "response_rate",
            "windows": ["1d"],
            "expectations": [{"target": 0.25, "yellow_at": 0.18, "red_at": 0.12}],
        }
    )
    assert [rule.expectation_status({}, v) for v in (0.3, 0.15, 0.1)] == ["green", "yellow", "red"]
