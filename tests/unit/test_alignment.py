"""Feedback waits for lagging logistics and customer streams, but never for long.

Covers :class:`EventTimeAligner` with a :class:`ManualClock`: feedback ahead of a
lagging reference stream is held and released once the stream has passed it; caught-up
streams never hold anything back; held feedback goes after ``max_idle_s`` without
progress or when more than ``max_held`` events wait; events of one input stream are
released in the order they arrived; revoking streams gives back the held events' tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.alignment import EventTimeAligner
from cxstream.clock import ManualClock
from cxstream.config import Settings
from cxstream.decoding import Envelope, KafkaOrigin
from cxstream.events import event_adapter

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FEEDBACK = "cx.feedback/0"
LOGISTICS = "cx.logistics/0"
CUSTOMERS = "cx.customers/0"


class Positions:
    """Numbers the envelopes of each stream from 0, like Kafka offsets."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def envelope(self, kind: str, minutes: float, stream: str) -> Envelope:
        seq = self.next.get(stream, 0)
        self.next[stream] = seq + 1
        payload: dict[str, Any] = {
            "kind": kind,
            "event_id": f"{stream}@{seq}",
            "ts": T0 + timedelta(minutes=minutes),
            "customer_id": "c-1",
        }
        if kind == "feedback":
            payload.update(score=5, channel="app", country="DE")
        elif kind == "logistics":
            payload.update(order_id="o-1", type="in_transit", country="DE")
        event = event_adapter.validate_python(payload)
        topic, partition = stream.split("/")
        return Envelope(event, KafkaOrigin(topic, int(partition), seq), stream, seq)

    def feedback(self, minutes: float, stream: str = FEEDBACK) -> tuple[Envelope, str]:
        env = self.envelope("feedback", minutes, stream)
        return env, f"tok:{stream}@{env.seq}"

    def logistics(self, minutes: float, stream: str = LOGISTICS) -> tuple[Envelope, str]:
        env = self.envelope("logistics", minutes, stream)
        return env, f"tok:{stream}@{env.seq}"

    def customer(self, minutes: float, stream: str = CUSTOMERS) -> tuple[Envelope, str]:
        env = self.envelope("customer", minutes, stream)
        return env, f"tok:{stream}@{env.seq}"


def make(
    lags: dict[str, int | None], **kwargs: Any
) -> tuple[EventTimeAligner[str], ManualClock, Positions]:
    clock = ManualClock()
    aligner: EventTimeAligner[str] = EventTimeAligner(
        lambda stream: lags.get(stream), clock=clock, **kwargs
    )
    return aligner, clock, Positions()


def tokens(released: list[tuple[Envelope, str]]) -> list[str]:
    return [token for _, token in released]


def test_feedback_ahead_of_a_lagging_logistics_stream_is_held_until_it_passes() -> None:
    lags: dict[str, int | None] = {LOGISTICS: 500}
    aligner, _, at = make(lags)
    assert tokens(aligner.offer([at.logistics(0)])) == ["tok:cx.logistics/0@0"]
    answer = at.feedback(30)
    assert aligner.offer([answer]) == []
    assert aligner.held == 1
    assert tokens(aligner.offer([at.logistics(20)])) == ["tok:cx.logistics/0@1"]
    assert aligner.held == 1
    released = aligner.offer([at.logistics(30)])
    assert tokens(released) == ["tok:cx.logistics/0@2", "tok:cx.feedback/0@0"]
    assert released[1][0] is answer[0]
    assert aligner.held == 0


def test_reference_events_come_first_then_released_feedback() -> None:
    aligner, _, at = make({LOGISTICS: 10})
    aligner.offer([at.logistics(0)])
    released = aligner.offer([at.feedback(5), at.logistics(6), at.logistics(7)])
    assert tokens(released) == [
        "tok:cx.logistics/0@1",
        "tok:cx.logistics/0@2",
        "tok:cx.feedback/0@0",
    ]


def test_caught_up_streams_hold_feedback_only_for_the_grace_period() -> None:
    aligner, clock, at = make({LOGISTICS: 0, CUSTOMERS: 0})
    aligner.expect([LOGISTICS, CUSTOMERS])
    aligner.offer([at.logistics(10), at.customer(10)])
    # Not ahead of what the caught-up streams delivered: straight through.
    assert tokens(aligner.offer([at.feedback(5)])) == ["tok:cx.feedback/0@0"]
    # Ahead of them: a logistics event may still be in flight, so it waits briefly...
    assert aligner.offer([at.feedback(60 * 24 * 30)]) == []
    clock.advance(0.4)
    assert aligner.offer([]) == []
    # ...but never longer than the grace period.
    clock.advance(0.1)
    assert tokens(aligner.offer([])) == ["tok:cx.feedback/0@1"]
    assert aligner.held == 0


def test_caught_up_stream_delivering_the_missing_event_releases_feedback_at_once() -> None:
    aligner, _, at = make({LOGISTICS: 0})
    aligner.expect([LOGISTICS])
    aligner.offer([at.logistics(10)])
    assert aligner.offer([at.feedback(30)]) == []
    assert tokens(aligner.offer([at.logistics(31)])) == [
        "tok:cx.logistics/0@1",
        "tok:cx.feedback/0@0",
    ]


def test_no_reference_streams_means_no_waiting() -> None:
    aligner, _, at = make({})
    assert tokens(aligner.offer([at.feedback(10), at.feedback(5)])) == [
        "tok:cx.feedback/0@0",
        "tok:cx.feedback/0@1",
    ]


def test_expected_lagging_stream_without_data_holds_feedback() -> None:
    aligner, _, at = make({LOGISTICS: 3})
    aligner.expect([LOGISTICS])
    assert aligner.offer([at.feedback(0)]) == []
    assert aligner.held == 1


def test_stream_with_unknown_lag_counts_as_lagging() -> None:
    aligner, _, at = make({LOGISTICS: None})
    aligner.offer([at.logistics(0)])
    assert aligner.offer([at.feedback(1)]) == []


def test_feedback_is_released_when_the_lagging_stream_catches_up() -> None:
    lags: dict[str, int | None] = {LOGISTICS: 100}
    aligner, _, at = make(lags)
    aligner.offer([at.logistics(0)])
    assert aligner.offer([at.feedback(50)]) == []
    assert tokens(aligner.offer([at.logistics(50)])) == [
        "tok:cx.logistics/0@1",
        "tok:cx.feedback/0@0",
    ]


def test_slowest_lagging_stream_decides() -> None:
    aligner, _, at = make({LOGISTICS: 5, CUSTOMERS: 5})
    aligner.offer([at.logistics(100), at.customer(10)])
    assert aligner.offer([at.feedback(20)]) == []
    assert tokens(aligner.offer([at.customer(25)])) == [
        "tok:cx.customers/0@1",
        "tok:cx.feedback/0@0",
    ]


def test_held_feedback_is_released_after_max_idle_without_progress() -> None:
    aligner, clock, at = make({LOGISTICS: 100}, max_idle_s=2.0)
    aligner.offer([at.logistics(0)])
    assert aligner.offer([at.feedback(50)]) == []
    clock.advance(1.9)
    assert aligner.offer([]) == []
    clock.advance(0.1)
    assert tokens(aligner.offer([])) == ["tok:cx.feedback/0@0"]


def test_progress_of_the_reference_stream_postpones_the_idle_release() -> None:
    aligner, clock, at = make({LOGISTICS: 100}, max_idle_s=2.0)
    aligner.offer([at.logistics(0)])
    aligner.offer([at.feedback(50)])
    for minute in (10, 20, 30):
        clock.advance(1.5)
        released = aligner.offer([at.logistics(minute)])
        assert "tok:cx.feedback/0@0" not in tokens(released)
    clock.advance(1.5)
    assert aligner.offer([]) == []
    clock.advance(0.5)
    assert tokens(aligner.offer([])) == ["tok:cx.feedback/0@0"]


def test_old_reference_events_are_not_progress() -> None:
    aligner, clock, at = make({LOGISTICS: 100}, max_idle_s=2.0)
    aligner.offer([at.logistics(30)])
    aligner.offer([at.feedback(50)])
    clock.advance(1.5)
    aligner.offer([at.logistics(10)])  # a straggler, older than what was read
    clock.advance(0.5)
    assert tokens(aligner.offer([])) == ["tok:cx.feedback/0@0"]


def test_a_held_event_blocks_later_events_of_its_stream() -> None:
    aligner, _, at = make({LOGISTICS: 100})
    aligner.offer([at.logistics(20)])
    released = aligner.offer([at.feedback(60), at.feedback(10), at.feedback(15)])
    assert released == []
    released = aligner.offer([at.logistics(60)])
    assert tokens(released) == [
        "tok:cx.logistics/0@1",
        "tok:cx.feedback/0@0",
        "tok:cx.feedback/0@1",
        "tok:cx.feedback/0@2",
    ]


def test_feedback_streams_are_released_independently() -> None:
    other = "cx.feedback/1"
    aligner, _, at = make({LOGISTICS: 100})
    aligner.offer([at.logistics(20)])
    released = aligner.offer([at.feedback(60), at.feedback(10, other)])
    assert tokens(released) == ["tok:cx.feedback/1@0"]
    assert aligner.held == 1


def test_forget_returns_the_tokens_of_held_events_of_revoked_streams() -> None:
    other = "cx.feedback/1"
    aligner, _, at = make({LOGISTICS: 100})
    aligner.offer([at.logistics(0)])
    aligner.offer([at.feedback(10), at.feedback(11), at.feedback(12, other)])
    assert aligner.held == 3
    assert aligner.forget([FEEDBACK, "cx.feedback/7"]) == [
        "tok:cx.feedback/0@0",
        "tok:cx.feedback/0@1",
    ]
    assert aligner.held == 1
    assert tokens(aligner.release_all()) == ["tok:cx.feedback/1@0"]
    assert aligner.held == 0


def test_forgotten_lagging_stream_no_longer_holds_feedback() -> None:
    aligner, _, at = make({LOGISTICS: 100})
    aligner.expect([LOGISTICS])
    aligner.offer([at.logistics(0)])
    assert aligner.offer([at.feedback(10)]) == []
    assert aligner.forget([LOGISTICS]) == []
    assert tokens(aligner.offer([])) == ["tok:cx.feedback/0@0"]


def test_max_held_releases_the_oldest_arrivals() -> None:
    aligner, _, at = make({LOGISTICS: 100}, max_held=3)
    aligner.offer([at.logistics(0)])
    released = aligner.offer([at.feedback(m) for m in (10, 11, 12, 13, 14)])
    assert tokens(released) == ["tok:cx.feedback/0@0", "tok:cx.feedback/0@1"]
    assert aligner.held == 3


def test_release_all_empties_the_aligner_in_stream_order() -> None:
    aligner, _, at = make({LOGISTICS: 100})
    aligner.offer([at.logistics(0)])
    aligner.offer([at.feedback(m) for m in (30, 10, 20)])
    assert tokens(aligner.release_all()) == [
        "tok:cx.feedback/0@0",
        "tok:cx.feedback/0@1",
        "tok:cx.feedback/0@2",
    ]
    assert aligner.offer([]) == []


@settings(deadline=None, max_examples=80)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("feedback"), st.sampled_from(["cx.feedback/0", "cx.feedback/1"]),
                      st.integers(0, 100)),
            st.tuples(st.just("logistics"), st.just(LOGISTICS), st.integers(0, 100)),
            st.tuples(st.just("tick"), st.just(""), st.integers(0, 3)),
            st.tuples(st.just("catch_up"), st.just(""), st.integers(0, 1)),
        ),
        max_size=40,
    ),
    max_held=st.integers(1, 10),
)  # fmt: skip
def test_every_event_comes_out_once_in_stream_order(
    steps: list[tuple[str, str, int]], max_held: int
) -> None:
    lags: dict[str, int | None] = {LOGISTICS: 10}
    aligner, clock, at = make(lags, max_held=max_held, max_idle_s=2.0)
    offered: list[str] = []
    released: list[tuple[Envelope, str]] = []
    for kind, stream, value in steps:
        batch: list[tuple[Envelope, str]] = []
        if kind == "feedback":
            batch.append(at.feedback(value, stream))
        elif kind == "logistics":
            batch.append(at.logistics(value, stream))
        elif kind == "tick":
            clock.advance(value)
        else:
            lags[LOGISTICS] = 10 * value
        offered.extend(token for _, token in batch)
        released.extend(aligner.offer(batch))
        assert aligner.held <= max_held
        assert aligner.held == len(offered) - len(released)
    released.extend(aligner.release_all())
    assert sorted(tokens(released)) == sorted(offered)
    last_seq: dict[str, int] = {}
    for env, _ in released:
        assert env.seq > last_seq.get(env.stream, -1), "released out of stream order"
        last_seq[env.stream] = env.seq


def test_the_worker_aligner_takes_its_waits_from_the_settings() -> None:
    config = Settings(join_grace_s=0.1, join_hold_s=3.0)
    clock = ManualClock()
    aligner: EventTimeAligner[str] = EventTimeAligner.from_settings(
        config, lambda stream: 0, clock=clock
    )
    assert (aligner.caught_up_grace_s, aligner.max_idle_s) == (0.1, 3.0)
    at = Positions()
    aligner.expect([LOGISTICS])
    aligner.offer([at.logistics(10)])
    assert aligner.offer([at.feedback(60)]) == []
    clock.advance(0.1)
    assert tokens(aligner.offer([])) == ["tok:cx.feedback/0@0"]
