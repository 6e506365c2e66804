"""Silences: the model, its states, and the in-memory store (the Redis store shares the
behaviour; see tests/integration/test_silences_redis.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from cxstream.rules.silences import (
    MemorySilenceStore,
    Silence,
    SilenceNotFoundError,
    SilenceStore,
    new_silence,
)

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
H = timedelta(hours=1)


def make(*matchers: str, start: datetime = NOW, hours: float = 2) -> Silence:
    return new_silence(
        list(matchers), timedelta(hours=hours), "ana", "release", NOW, starts_at=start
    )


def test_a_silence_selects_alerts_by_all_its_matchers() -> None:
    silence = make("country=DE", 'kpi=~"nps|detractor_rate"')
    assert silence.mutes({"country": "DE", "kpi": "detractor_rate", "carrier": "dhl"})
    assert not silence.mutes({"country": "DE", "kpi": "late_rate"})
    assert [str(m) for m in silence.matchers] == ['country="DE"', 'kpi=~"nps|detractor_rate"']


def test_states_over_time() -> None:
    silence = make("country=DE", start=NOW + H)
    assert [silence.state(NOW + t * H) for t in (0, 1, 2.5, 3)] == [
        "pending",
        "active",
        "active",
        "expired",
    ]
    assert silence.active_at(NOW + H)
    assert not silence.active_at(NOW + 3 * H)


def test_expiring_ends_it_now_and_keeps_an_ended_silence_unchanged() -> None:
    silence = make("country=DE")
    ended = silence.expired_at(NOW + H)
    assert (ended.ends_at, ended.state(NOW + H)) == (NOW + H, "expired")
    assert ended.expired_at(NOW + 2 * H) is ended
    # A pending silence expired before its start ends at once.
    pending = make("country=DE", start=NOW + 5 * H).expired_at(NOW)
    assert (pending.starts_at, pending.ends_at) == (NOW, NOW)


def test_silences_are_validated() -> None:
    with pytest.raises(ValidationError, match=r"too_short|at least 1"):
        new_silence([], H, "ana", "x", NOW)
    with pytest.raises(ValidationError, match="not a matcher"):
        new_silence(["country"], H, "ana", "x", NOW)
    with pytest.raises(ValueError, match="longer than 0s"):
        new_silence(["a=b"], timedelta(0), "ana", "x", NOW)
    with pytest.raises(ValidationError, match="at least 1 character"):
        new_silence(["a=b"], H, "", "x", NOW)
    with pytest.raises(ValidationError, match="timezone"):
        Silence.model_validate({**make("a=b").model_dump(), "starts_at": datetime(2026, 3, 2, 9)})
    restored = Silence.model_validate_json(make("a=b").model_dump_json())
    assert restored.matchers[0].value == "b"


async def test_memory_store_lists_expires_and_keeps_expired_silences_for_a_while() -> None:
    store: SilenceStore = MemorySilenceStore(retention=timedelta(days=1))
    active = make("country=DE")
    pending = make("country=FR", start=NOW + 3 * H)
    short = make("country=NL", hours=0.5)
    for silence in (pending, active, short):
        await store.add(silence)
    at = NOW + H
    assert [s.id for s in await store.list_silences(at)] == [active.id, pending.id]
    # Ordered by start, then id.
    assert [s.id for s in await store.list_silences(at, include_expired=True)] == [
        *sorted([active.id, short.id]),
        pending.id,
    ]
    assert [s.id for s in await store.active(at)] == [active.id]
    ended = await store.expire(active.id, at)
    assert ended.ends_at == at
    assert await store.get(active.id) == ended
    assert await store.active(at) == []
    with pytest.raises(SilenceNotFoundError):
        await store.expire("nope", at)
    # After the retention, expired silences are no longer listed.
    later = NOW + timedelta(days=2)
    assert [s.id for s in await store.list_silences(later, include_expired=True)] == []
