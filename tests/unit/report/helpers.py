"""Shared builders of the report tests: contract events, a replay through the real engine
into an in-memory store, and rule files written to a directory and loaded as in
production."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cxstream.clock import ManualClock
from cxstream.config import DEFAULT_SERIES
from cxstream.decoding import EventDecoder
from cxstream.engine import Engine, EngineOptions
from cxstream.memory_store import MemoryStateStore
from cxstream.replay import Replayer
from cxstream.rules import RuleSet, load_rules

__all__ = [
    "BUCKET",
    "DAY",
    "MIDNIGHT",
    "RULES",
    "SHIPPED_RULES",
    "answer",
    "deliveries",
    "make_clock",
    "replay",
    "write_rules",
]

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_RULES = ROOT / "rules"
BUCKET = 900
#: The report day of most tests, and the end of it (the report's as_of).
DAY = date(2026, 3, 4)
MIDNIGHT = datetime(2026, 3, 5, tzinfo=UTC)

#: A small rule set: late rate judged against one expectation everywhere, NPS against
#: DE's targets (DE / app has its own), detractor rate without expectations.
RULES = """
rules:
  - type: kpi_alert
    name: late-rate
    kpi: late_rate
    windows: [1h, 1d]
    group_by: [[country], [country, carrier]]
    min_volume: 20
    expectations:
      - {target: 0.05, yellow_at: 0.08, red_at: 0.15}
    labels: {team: logistics}
  - type: kpi_alert
    name: nps-drop
    kpi: nps
    group_by: [[country], [country, channel]]
    min_volume: 5
    expectations:
      - {match: {country: DE}, target: 45, yellow_at: 40, red_at: 32}
      - {match: {country: DE, channel: app}, target: 30, yellow_at: 20, red_at: 10}
    labels: {team: cx}
  - type: kpi_alert
    name: detractor-rate
    kpi: detractor_rate
    group_by: [[country]]
route: {receiver: ops}
receivers:
  - name: ops
    configs: [{type: slack, channel: "#ops"}]
"""


def write_rules(directory: Path, text: str = RULES) -> RuleSet:
    """Write ``text`` as ``directory/rules.yaml`` and load the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(text, encoding="utf-8")
    return load_rules(directory)


def _at(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC).isoformat()


def deliveries(
    prefix: str,
    country: str,
    day: date,
    count: int,
    late: int,
    *,
    carrier: str = "dhl",
    channel: str = "web",
    segment: str = "regular",
) -> list[dict[str, Any]]:
    """``count`` orders delivered on ``day`` at 10:00 UTC, the first ``late`` of them after
    their promised date (placed three days before, shipped two days before)."""
    events: list[dict[str, Any]] = []
    for i in range(count):
        oid = f"{prefix}-{i}"
        base = {
            "kind": "logistics",
            "order_id": oid,
            "customer_id": f"c-{oid}",
            "country": country,
        }
        promised = day - timedelta(days=1) if i < late else day + timedelta(days=1)
        events += [
            {
                **base,
                "event_id": f"{oid}-placed",
                "ts": _at(day - timedelta(days=3), 9),
                "type": "order_placed",
                "promised_date": promised.isoformat(),
                "channel": channel,
                "segment": segment,
            },
            {
                **base,
                "event_id": f"{oid}-shipped",
                "ts": _at(day - timedelta(days=2), 9),
                "type": "shipped",
                "carrier": carrier,
            },
            {
                **base,
                "event_id": f"{oid}-delivered",
                "ts": _at(day, 10),
                "type": "delivered",
                "carrier": carrier,
            },
        ]
    return events


def answer(
    event_id: str,
    country: str,
    day: date,
    score: int,
    *,
    channel: str = "web",
    segment: str = "regular",
    hour: int = 12,
) -> dict[str, Any]:
    """A survey answer (without an order) given on ``day`` at ``hour`` UTC."""
    return {
        "kind": "feedback",
        "event_id": event_id,
        "ts": _at(day, hour),
        "customer_id": f"c-{event_id}",
        "score": score,
        "channel": channel,
        "country": country,
        "segment": segment,
    }


async def replay(
    events: Iterable[dict[str, Any]], out_dir: Path, store: MemoryStateStore | None = None
) -> MemoryStateStore:
    """Run ``events`` through the real engine (``cxstream replay`` without detection) into
    ``store``; the replay outputs go to ``out_dir``."""
    store = store if store is not None else MemoryStateStore()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "events.jsonl"
    ordered: Sequence[dict[str, Any]] = sorted(events, key=lambda e: str(e["ts"]))
    path.write_text("".join(json.dumps(e) + "\n" for e in ordered), encoding="utf-8")
    engine = Engine(
        store, EngineOptions(partitions=4, bucket_seconds=BUCKET, series=DEFAULT_SERIES)
    )
    await Replayer(engine, EventDecoder()).run([path], out_dir)
    return store


def make_clock(wall: datetime = datetime(2026, 3, 5, 7, 30, tzinfo=UTC)) -> ManualClock:
    """A wall clock standing at ``wall`` (the morning after the report day)."""
    return ManualClock(0.0, wall)
