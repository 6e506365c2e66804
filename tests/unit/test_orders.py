"""Order state built from logistics events only moves forward and answers "as of" questions.

Covers: late or repeated events never move an order back (stage, milestone times),
promised date and eta follow the newest event, lateness as of a time (with the promise
known then), predicted lateness, the carrier and first sighting as of a time, the
bounded histories of carrier and promise whatever order their events arrive in,
exception history, and the JSON round trip the state store relies on (compact, and
tolerant of JSON written without the histories).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.events import LOGISTICS_TYPES, LogisticsEvent
from cxstream.history import HISTORY_LIMIT, History, record_change, value_as_of
from cxstream.orders import STAGES, OrderState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROMISED = date(2026, 3, 4)


def ev(kind: str, at: datetime, **fields: Any) -> LogisticsEvent:
    data: dict[str, Any] = {
        "kind": "logistics",
        "event_id": f"{kind}-{at.isoformat()}",
        "ts": at,
        "order_id": "o-1",
        "customer_id": "c-1",
        "type": kind,
        "country": "DE",
    }
    data.update(fields)
    return LogisticsEvent.model_validate(data, strict=False)


def order_with(*events: LogisticsEvent) -> OrderState:
    state = OrderState("o-1")
    for event in events:
        state.apply(event)
    return state


def day(n: int, hour: int = 12) -> datetime:
    """Noon (UTC) of March ``n`` 2026."""
    return datetime(2026, 3, n, hour, tzinfo=UTC)


# -- forward only -------------------------------------------------------------------------------


def test_shipped_after_delivered_keeps_the_order_delivered() -> None:
    state = order_with(ev("order_placed", day(2)), ev("shipped", day(3)), ev("delivered", day(4)))
    first = state.apply(ev("shipped", day(3, 18), carrier="dhl"))
    assert state.delivered
    assert state.delivered_at == day(4)
    assert state.stage == STAGES["delivered"]
    assert state.shipped_at == day(3)
    assert first is False


def test_milestones_arriving_out_of_order_end_in_the_same_state() -> None:
    events = [
        ev("order_placed", day(2), promised_date="2026-03-04"),
        ev("shipped", day(3), carrier="dhl"),
        ev("in_transit", day(3, 20)),
        ev("delivered", day(5)),
    ]
    in_order = order_with(*events)
    reversed_order = order_with(*reversed(events))
    assert reversed_order.stage == in_order.stage == STAGES["delivered"]
    for name in ("placed_at", "shipped_at", "delivered_at", "first_seen_at", "promised_date"):
        assert getattr(reversed_order, name) == getattr(in_order, name), name


def test_duplicate_delivered_keeps_the_first_delivery_time() -> None:
    state = OrderState("o-1")
    assert state.apply(ev("delivered", day(4))) is True
    assert state.apply(ev("delivered", day(6))) is False
    assert state.delivered_at == day(4)


def test_late_arriving_earlier_delivery_is_the_delivery_time() -> None:
    state = OrderState("o-1")
    state.apply(ev("delivered", day(6)))
    assert state.apply(ev("delivered", day(4))) is False
    assert state.delivered_at == day(4)


def test_first_milestone_is_reported_once_per_kind() -> None:
    state = OrderState("o-1")
    firsts = [state.apply(ev(kind, day(2))) for kind in ("order_placed", "order_placed")]
    assert firsts == [True, False]
    assert state.apply(ev("refund_issued", day(9))) is True
    assert state.apply(ev("refund_issued", day(10))) is False


@settings(deadline=None, max_examples=60)
@given(
    kinds=st.lists(st.sampled_from(LOGISTICS_TYPES), min_size=1, max_size=12),
    hours=st.lists(st.integers(0, 24 * 20), min_size=12, max_size=12),
)
def test_stage_never_decreases_and_is_the_furthest_milestone(
    kinds: list[str], hours: list[int]
) -> None:
    state = OrderState("o-1")
    previous = 0
    for kind, hour in zip(kinds, hours, strict=False):
        state.apply(ev(kind, T0 + timedelta(hours=hour)))
        assert state.stage >= previous
        previous = state.stage
    assert state.stage == max(STAGES[k] for k in kinds)


@settings(deadline=None, max_examples=60)
@given(hours=st.permutations(list(range(0, 240, 12))))
def test_milestone_time_is_the_earliest_whatever_the_arrival_order(hours: list[int]) -> None:
    state = OrderState("o-1")
    for hour in hours:
        state.apply(ev("delivered", T0 + timedelta(hours=hour)))
    assert state.delivered_at == T0
    assert state.first_seen_at == T0


def test_customer_and_country_come_from_the_first_event_that_has_them() -> None:
    state = order_with(
        ev("order_placed", day(2), region="BY", channel="app", segment="vip"),
        ev("shipped", day(3), customer_id="c-other", country="AT", region="W", segment="x"),
    )
    assert (state.customer_id, state.country) == ("c-1", "DE")
    assert (state.region, state.channel, state.segment) == ("BY", "app", "vip")


# -- promised date and eta -------------------------------------------------------------------


def test_promised_date_follows_the_newer_event() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"),
        ev("delivery_exception", day(3), promised_date="2026-03-06", reason="weather"),
    )
    assert state.promised_date == date(2026, 3, 6)
    assert state.promised_at == day(3)


def test_promised_date_of_an_older_event_is_ignored() -> None:
    state = order_with(
        ev("delivery_exception", day(3), promised_date="2026-03-06", reason="weather"),
        ev("order_placed", day(2), promised_date="2026-03-04"),
    )
    assert state.promised_date == date(2026, 3, 6)
    assert state.promised_at == day(3)


def test_eta_follows_the_newer_event_only() -> None:
    newer_eta = datetime(2026, 3, 5, 15, tzinfo=UTC)
    state = order_with(
        ev("in_transit", day(3), eta="2026-03-05T15:00:00Z"),
        ev("shipped", day(2), eta="2026-03-03T10:00:00Z"),
    )
    assert state.eta == newer_eta
    assert state.eta_at == day(3)


# -- lateness -----------------------------------------------------------------------------------


def test_late_days_without_a_promise_is_unknown() -> None:
    state = order_with(ev("order_placed", day(2)), ev("delivered", day(9)))
    assert state.late_days() is None
    assert state.late_days(as_of=day(20)) is None
    assert state.was_late(as_of=day(20)) is False


def test_delivered_on_the_promised_date_is_on_time() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"),
        ev("delivered", datetime(2026, 3, 4, 23, 30, tzinfo=UTC)),
    )
    assert state.late_days() == 0
    assert state.was_late() is False


def test_delivered_early_has_negative_late_days() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"), ev("delivered", day(3))
    )
    assert state.late_days() == -1
    assert state.was_late() is False


def test_delivered_two_days_after_the_promise_is_two_days_late() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"), ev("delivered", day(6))
    )
    assert state.late_days() == 2
    assert state.was_late() is True
    assert state.late_days(as_of=day(20)) == 2


def test_undelivered_order_is_late_as_of_a_time_past_the_promise() -> None:
    state = order_with(ev("order_placed", day(2), promised_date="2026-03-04"))
    assert state.late_days() is None
    assert state.late_days(as_of=day(4)) == 0
    assert state.was_late(as_of=day(4)) is False
    assert state.late_days(as_of=day(7)) == 3
    assert state.was_late(as_of=day(7)) is True


def test_lateness_as_of_a_time_before_the_delivery_ignores_the_delivery() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"), ev("delivered", day(8))
    )
    assert state.late_days(as_of=day(3)) == -1
    assert state.was_late(as_of=day(3)) is False
    assert state.late_days(as_of=day(6)) == 2
    assert state.late_days(as_of=day(10)) == 4


def test_predicted_late_when_the_eta_moves_past_the_promise() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"),
        ev("in_transit", day(3), eta="2026-03-04T18:00:00Z"),
    )
    assert state.predicted_late() is False
    state.apply(ev("delivery_exception", day(3, 20), eta="2026-03-05T10:00:00Z"))
    assert state.predicted_late() is True
    state.apply(ev("delivered", day(5)))
    assert state.predicted_late() is False


def test_not_predicted_late_without_a_promise_or_an_eta() -> None:
    assert (
        order_with(ev("in_transit", day(3), eta="2026-03-09T10:00:00Z")).predicted_late() is False
    )
    assert (
        order_with(ev("order_placed", day(2), promised_date="2026-03-04")).predicted_late() is False
    )


# -- as of -------------------------------------------------------------------------------------


def test_known_at_is_the_first_event_time() -> None:
    state = order_with(ev("shipped", day(3)), ev("order_placed", day(2)))
    assert state.known_at(day(2)) is True
    assert state.known_at(day(2) - timedelta(seconds=1)) is False
    assert OrderState("o-new").known_at(day(30)) is False


def test_carrier_is_known_from_its_first_event_on() -> None:
    state = order_with(ev("order_placed", day(2)), ev("shipped", day(3), carrier="dhl"))
    assert state.carrier == "dhl"
    assert state.carrier_as_of(day(2, 23)) is None
    assert state.carrier_as_of(day(3)) == "dhl"
    assert state.carrier_as_of(day(9)) == "dhl"


def test_exceptions_are_recorded_with_a_bounded_history() -> None:
    state = order_with(ev("delivery_exception", day(3)))
    assert state.exceptions == ["unspecified"]
    for i in range(10):
        state.apply(ev("delivery_exception", day(3, 13) + timedelta(minutes=i), reason=f"r{i}"))
    assert len(state.exceptions) == 8
    assert state.exceptions[-1] == "r9"
    assert state.exceptions[0] == "r2"


# -- persistence ----------------------------------------------------------------------------------


def test_json_round_trip_of_a_full_order() -> None:
    plus_two = timezone(timedelta(hours=2))
    state = order_with(
        ev(
            "order_placed",
            datetime(2026, 3, 2, 9, tzinfo=plus_two),
            promised_date="2026-03-04",
            region="BY",
            channel="app",
            segment="vip",
        ),
        ev("shipped", day(3), carrier="dhl", eta="2026-03-05T10:00:00+01:00"),
        ev("delivery_exception", day(4), reason="weather"),
        ev("delivered", day(6)),
        ev("return_registered", day(7)),
        ev("return_received", day(9)),
        ev("refund_issued", day(10)),
    )
    state.predicted_late_flagged = True
    restored = OrderState.from_json("o-1", state.to_json())
    assert restored == state
    assert restored.placed_at is not None
    assert restored.placed_at.utcoffset() == timedelta(hours=2)
    assert restored.late_days() == state.late_days() == 2


def test_json_round_trip_of_an_empty_order() -> None:
    state = OrderState("o-1")
    assert OrderState.from_json("o-1", state.to_json()) == state


@settings(deadline=None, max_examples=60)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(LOGISTICS_TYPES),
            st.integers(0, 24 * 14),
            st.sampled_from([None, "dhl", "ups"]),
            st.sampled_from([None, "2026-03-04", "2026-03-08"]),
            st.sampled_from([None, "2026-03-05T10:00:00Z", "2026-03-03T10:00:00-05:00"]),
        ),
        max_size=10,
    )
)
def test_json_round_trip_preserves_any_state(
    steps: list[tuple[str, int, str | None, str | None, str | None]],
) -> None:
    state = OrderState("o-1")
    for kind, hour, carrier, promised, eta in steps:
        fields = {"carrier": carrier, "promised_date": promised, "eta": eta}
        state.apply(ev(kind, T0 + timedelta(hours=hour), **fields))
    restored = OrderState.from_json("o-1", state.to_json())
    assert restored == state
    assert restored.to_json() == state.to_json()


def test_carrier_as_of_a_time_is_the_carrier_known_then() -> None:
    state = order_with(
        ev("shipped", day(3), carrier="dhl"),
        ev("out_for_delivery", day(6), carrier="dpd"),
    )
    assert state.carrier_as_of(day(4)) == "dhl"


def test_lateness_as_of_a_time_uses_the_promise_known_then() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"),
        ev("delivery_exception", day(8), promised_date="2026-03-12", reason="weather"),
    )
    assert state.late_days(as_of=day(6)) == 2


def test_carrier_handover_is_answered_as_of_a_time() -> None:
    state = order_with(
        ev("order_placed", day(2)),
        ev("shipped", day(3), carrier="dhl"),
        ev("out_for_delivery", day(6), carrier="dpd"),
    )
    assert state.carrier == "dpd"
    assert state.carrier_at == day(3)
    assert [state.carrier_as_of(day(n)) for n in (2, 3, 5, 6, 9)] == [
        None,
        "dhl",
        "dhl",
        "dpd",
        "dpd",
    ]


def test_late_event_with_an_older_carrier_does_not_replace_the_current_one() -> None:
    state = order_with(
        ev("out_for_delivery", day(6), carrier="dpd"), ev("shipped", day(3), carrier="dhl")
    )
    assert state.carrier == "dpd"
    assert state.carrier_at == day(3)
    assert state.carrier_as_of(day(4)) == "dhl"


def test_lateness_as_of_a_time_before_any_promise_is_unknown() -> None:
    state = order_with(
        ev("order_placed", day(2)), ev("shipped", day(4), promised_date="2026-03-05")
    )
    assert state.late_days(as_of=day(3)) is None
    assert state.late_days(as_of=day(7)) == 2


def test_lateness_at_delivery_uses_the_promise_known_at_the_time_asked() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"),
        ev("delivery_exception", day(3), promised_date="2026-03-06", reason="weather"),
        ev("delivered", day(7)),
    )
    assert state.late_days() == 1
    assert state.late_days(as_of=day(8)) == 1
    assert state.late_days(as_of=day(2, 18)) == -2
    assert state.promised_as_of(day(2, 18)) == date(2026, 3, 4)
    assert state.promised_as_of(day(1)) is None


def test_repeated_scans_with_the_same_carrier_and_promise_keep_one_entry() -> None:
    state = order_with(
        *(
            ev("in_transit", day(3) + timedelta(hours=h), carrier="dhl", promised_date="2026-03-06")
            for h in (5, 0, 9, 2, 30)
        )
    )
    assert state.carriers == [(day(3), "dhl")]
    assert state.promises == [(day(3), date(2026, 3, 6))]
    stored = json.loads(state.to_json())
    assert "carriers" not in stored
    assert "promises" not in stored


def test_histories_are_bounded_and_keep_the_time_first_known() -> None:
    carriers = ["dhl", "dpd", "ups", "gls", "dhl", "hermes"]
    state = order_with(
        *(ev("in_transit", day(2 + i), carrier=c) for i, c in enumerate(carriers)),
    )
    assert len(state.carriers) == HISTORY_LIMIT
    assert state.carrier == "hermes"
    assert state.carrier_at == day(2)
    assert state.carrier_as_of(day(1)) is None
    assert state.carrier_as_of(day(2)) is not None
    for i in range(2, len(carriers)):
        assert state.carrier_as_of(day(2 + i)) == carriers[i]


def test_json_of_an_order_with_a_handover_and_a_new_promise_round_trips() -> None:
    state = order_with(
        ev("order_placed", day(2), promised_date="2026-03-04"),
        ev("shipped", day(3), carrier="dhl"),
        ev("delivery_exception", day(6), carrier="dpd", promised_date="2026-03-09"),
    )
    stored = json.loads(state.to_json())
    assert len(stored["carriers"]) == 2
    assert len(stored["promises"]) == 2
    restored = OrderState.from_json("o-1", state.to_json())
    assert restored == state
    assert (restored.carrier_as_of(day(5)), restored.carrier_as_of(day(7))) == ("dhl", "dpd")
    assert (restored.late_days(as_of=day(5)), restored.late_days(as_of=day(7))) == (1, -2)


def test_json_without_the_histories_still_loads() -> None:
    stored = {
        "customer_id": "c-1",
        "carrier": "dpd",
        "carrier_at": day(3).isoformat(),
        "promised_date": "2026-03-04",
        "promised_at": day(2).isoformat(),
        "first_seen_at": day(2).isoformat(),
        "stage": 2,
    }
    state = OrderState.from_json("o-1", json.dumps(stored))
    assert state.carrier_as_of(day(2)) is None
    assert state.carrier_as_of(day(4)) == "dpd"
    assert state.late_days(as_of=day(6)) == 2
    assert state.late_days(as_of=day(1)) is None
    assert OrderState.from_json("o-1", state.to_json()) == state
    assert set(json.loads(state.to_json())) == set(stored)
    state.apply(ev("out_for_delivery", day(5), carrier="ups", promised_date="2026-03-09"))
    assert (state.carrier_as_of(day(4)), state.carrier_as_of(day(5))) == ("dpd", "ups")
    assert state.late_days(as_of=day(4, 1)) == 0


def test_json_with_a_promise_but_no_promise_time_still_answers_lateness() -> None:
    stored = {"promised_date": "2026-03-04", "first_seen_at": day(2).isoformat()}
    state = OrderState.from_json("o-1", json.dumps(stored))
    assert state.late_days(as_of=day(6)) == 2


# -- histories ------------------------------------------------------------------------------------


def at(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


def truth(observations: list[tuple[int, str]], hour: int) -> str | None:
    """The value of the latest observation at or before ``hour``."""
    known = [(h, v) for h, v in observations if h <= hour]
    return max(known)[1] if known else None


def test_same_time_observations_let_the_last_recorded_win() -> None:
    history: History[str] = []
    for hour, value in [(1, "a"), (3, "b"), (3, "c"), (5, "d"), (3, "a")]:
        record_change(history, at(hour), value)
    assert history == [(at(1), "a"), (at(5), "d")]
    assert record_change(history, at(5), "a") is True
    assert history == [(at(1), "a")]


@settings(deadline=None, max_examples=100)
@given(
    observations=st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from("abc")), unique_by=lambda o: o[0], max_size=12
    )
)
def test_history_of_observations_in_time_order_answers_exactly(
    observations: list[tuple[int, str]],
) -> None:
    history: History[str] = []
    for hour, value in sorted(observations):
        record_change(history, at(hour), value, limit=1000)
    assert all(a[0] < b[0] and a[1] != b[1] for a, b in itertools.pairwise(history))
    for hour in range(-1, 42):
        assert value_as_of(history, at(hour)) == truth(observations, hour)


@settings(deadline=None, max_examples=150)
@given(
    observations=st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from("abc")), unique_by=lambda o: o[0], max_size=12
    ),
    data=st.data(),
)
def test_later_observations_do_not_change_the_value_as_of_an_earlier_time(
    observations: list[tuple[int, str]], data: st.DataObject
) -> None:
    """What the engine relies on: the value as of ``t`` is the same whether the history has
    also seen observations after ``t`` or not, whatever order they arrived in."""
    arrival = data.draw(st.permutations(observations))
    t = data.draw(st.integers(-1, 41))
    everything: History[str] = []
    up_to_t: History[str] = []
    bounded: History[str] = []
    for hour, value in arrival:
        record_change(everything, at(hour), value, limit=1000)
        record_change(bounded, at(hour), value)
        if hour <= t:
            record_change(up_to_t, at(hour), value, limit=1000)
    expected = value_as_of(up_to_t, at(t))
    assert value_as_of(everything, at(t)) == expected
    assert (expected is None) == (truth(observations, t) is None)
    assert len(bounded) <= HISTORY_LIMIT
    if len(everything) <= HISTORY_LIMIT:
        assert bounded == everything


@pytest.mark.parametrize("hours", [[], [4], [4, 9, 13, 30]])
def test_value_as_of_an_empty_or_short_history(hours: list[int]) -> None:
    history: History[str] = []
    for i, hour in enumerate(hours):
        record_change(history, at(hour), f"v{i}")
    assert value_as_of(history, at(0)) is None
    for i, hour in enumerate(hours):
        assert value_as_of(history, at(hour)) == f"v{i}"
        assert value_as_of(history, at(hour + 1)) == f"v{i}"
