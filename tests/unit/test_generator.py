"""Tests of the synthetic event stream: contract, consistency, realism and incidents."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cxstream.generator import (
    AppNpsDropIncident,
    CarrierDelayIncident,
    GeneratorConfig,
    generate_events,
    generate_lines,
    write_jsonl,
)

START = datetime(2026, 3, 2, tzinfo=UTC)
SNAKE = re.compile(r"^[a-z0-9][a-z0-9_]*$")

LOGISTICS_TYPES = {
    "order_placed",
    "shipped",
    "in_transit",
    "delivery_exception",
    "out_for_delivery",
    "delivered",
    "return_registered",
    "return_received",
    "refund_issued",
}

# field -> (required, check)
Check = tuple[bool, Any]


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _is_ts(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        parsed = datetime.fromisoformat(v)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _is_date(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_int_in(lo: int, hi: int) -> Any:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_country(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[A-Z]{2}", v) is not None


def _is_reasons(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and SNAKE.match(x) for x in v)


COMMON: dict[str, Check] = {"event_id": (True, _is_str), "ts": (True, _is_ts)}
CONTRACT: dict[str, dict[str, Check]] = {
    "feedback": {
        **COMMON,
        "customer_id": (True, _is_str),
        "order_id": (False, _is_str),
        "score": (True, _is_int_in(0, 10)),
        "reasons": (False, _is_reasons),
        "effort": (False, _is_int_in(1, 7)),
        "channel": (True, _is_str),
        "country": (True, _is_country),
        "region": (False, _is_str),
        "segment": (False, _is_str),
        "touchpoint": (False, _is_str),
        "comment": (False, _is_str),
        "language": (False, lambda v: isinstance(v, str) and len(v) == 2),
    },
    "logistics": {
        **COMMON,
        "order_id": (True, _is_str),
        "customer_id": (True, _is_str),
        "type": (True, lambda v: v in LOGISTICS_TYPES),
        "country": (True, _is_country),
        "region": (False, _is_str),
        "carrier": (False, _is_str),
        "origin": (False, _is_str),
        "promised_date": (False, _is_date),
        "eta": (False, _is_ts),
        "channel": (False, _is_str),
        "segment": (False, _is_str),
        "reason": (False, _is_str),
    },
    "customer": {
        **COMMON,
        "customer_id": (True, _is_str),
        "email": (False, _is_str),
        "name": (False, _is_str),
        "language": (False, lambda v: isinstance(v, str) and len(v) == 2),
        "segment": (False, _is_str),
        "country": (False, _is_country),
        "contact_opt_out": (False, lambda v: isinstance(v, bool)),
    },
}


def contract_errors(event: Any) -> list[str]:
    """Why ``event`` is not a contract event (empty if it is)."""
    if not isinstance(event, dict):
        return ["not an object"]
    spec = CONTRACT.get(event.get("kind"))  # type: ignore[arg-type]
    if spec is None:
        return [f"unknown kind {event.get('kind')!r}"]
    errors = [f"unknown field {k}" for k in event if k != "kind" and k not in spec]
    for name, (required, check) in spec.items():
        if name not in event:
            if required:
                errors.append(f"missing {name}")
        elif not check(event[name]):
            errors.append(f"bad {name}: {event[name]!r}")
    return errors


def ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["ts"])


def nps(scores: list[int]) -> float:
    return 100.0 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def is_late(delivered: dict[str, Any]) -> bool:
    return bool(delivered["ts"][:10] > delivered["promised_date"])


@pytest.fixture(scope="module")
def base_events() -> list[dict[str, Any]]:
    cfg = GeneratorConfig(days=7, orders_per_day=1200, duplicate_rate=0.01, warmup_days=3)
    return list(generate_events(cfg))


@pytest.fixture(scope="module")
def cold_events() -> list[dict[str, Any]]:
    """A stream without warm-up: every order's whole lifecycle is in it."""
    cfg = GeneratorConfig(days=4, orders_per_day=600, warmup_days=0, duplicate_rate=0.0)
    return list(generate_events(cfg))


INC_START = START + timedelta(days=4)
INC_END = START + timedelta(days=6)


@pytest.fixture(scope="module")
def incident_events() -> list[dict[str, Any]]:
    cfg = GeneratorConfig(
        days=10,
        orders_per_day=1200,
        incidents=(
            CarrierDelayIncident(country="DE", carrier="dhl", start=INC_START, end=INC_END),
            AppNpsDropIncident(country="NL", start=INC_START, end=INC_END),
        ),
    )
    return list(generate_events(cfg))


# -- determinism and format ---------------------------------------------------------------


def test_deterministic_for_a_seed() -> None:
    cfg = GeneratorConfig(days=2, orders_per_day=200, warmup_days=1)
    first = list(generate_events(cfg))
    assert first == list(generate_events(cfg))
    other = list(generate_events(cfg.model_copy(update={"seed": 8})))
    assert first != other


def test_ts_non_decreasing_tz_aware_and_in_window(base_events: list[dict[str, Any]]) -> None:
    end = START + timedelta(days=7)
    previous = START
    for event in base_events:
        assert event["ts"].endswith("Z")
        t = ts(event)
        assert t.utcoffset() == timedelta(0)
        assert previous <= t < end
        previous = t


def test_every_event_follows_the_contract(
    base_events: list[dict[str, Any]], incident_events: list[dict[str, Any]]
) -> None:
    for event in [*base_events, *incident_events[::5]]:
        assert contract_errors(event) == [], event
    assert json.loads(json.dumps(base_events[:100])) == base_events[:100]


def test_events_validate_against_the_product_models(base_events: list[dict[str, Any]]) -> None:
    events_module = pytest.importorskip("cxstream.events")
    for event in base_events[::7]:
        events_module.event_adapter.validate_json(json.dumps(event))


def test_event_ids_unique_except_adjacent_duplicates(base_events: list[dict[str, Any]]) -> None:
    seen: dict[str, dict[str, Any]] = {}
    duplicates = 0
    for i, event in enumerate(base_events):
        eid = event["event_id"]
        if eid in seen:
            duplicates += 1
            assert event == seen[eid]
            assert base_events[i - 1]["event_id"] == eid
        seen[eid] = event
    originals = len(seen)
    assert 0.006 < duplicates / originals < 0.014


def test_default_duplicate_rate_present() -> None:
    events = list(generate_events(GeneratorConfig(days=1, orders_per_day=2000)))
    ids = Counter(e["event_id"] for e in events)
    dups = sum(n - 1 for n in ids.values())
    assert 0.0008 < dups / len(ids) < 0.004


# -- consistency -------------------------------------------------------------------------


def test_order_lifecycles_are_consistent(cold_events: list[dict[str, Any]]) -> None:
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in cold_events:
        if e["kind"] == "logistics":
            orders[e["order_id"]].append(e)
    rank = {
        "order_placed": 0,
        "shipped": 1,
        "in_transit": 2,
        "delivery_exception": 2,
        "out_for_delivery": 3,
        "delivered": 4,
        "return_registered": 5,
        "return_received": 6,
        "refund_issued": 7,
    }
    delivered = 0
    for events in orders.values():
        first = events[0]
        assert first["type"] == "order_placed"
        assert "carrier" not in first
        assert _is_date(first["promised_date"])
        for key in ("customer_id", "country", "region", "channel", "segment"):
            assert len({e[key] for e in events}) == 1
        by_type = {e["type"]: e for e in events}
        assert len(by_type) == len(events)
        ordered = sorted(events, key=lambda e: (ts(e), rank[e["type"]]))
        assert [rank[e["type"]] for e in ordered] == sorted(rank[e["type"]] for e in events)
        carriers = {e["carrier"] for e in events if e["type"] != "order_placed"}
        assert len(carriers) <= 1
        for e in events[1:]:
            assert "carrier" in e
        if "delivered" in by_type:
            delivered += 1
            d = by_type["delivered"]
            assert {"shipped", "out_for_delivery"} <= by_type.keys()
            assert ts(by_type["order_placed"]) < ts(by_type["shipped"]) < ts(d)
            assert d["promised_date"] == first["promised_date"]
            placed_day = ts(first).date()
            promised = date.fromisoformat(first["promised_date"])
            assert 1 <= (promised - placed_day).days <= 6
    assert delivered > 1000


def test_every_customer_has_a_profile_before_use(base_events: list[dict[str, Any]]) -> None:
    profiled: set[str] = set()
    for e in base_events:
        if e["kind"] == "customer":
            profiled.add(e["customer_id"])
            assert e["email"] == f"{e['customer_id']}@example.com"
        else:
            assert e["customer_id"] in profiled


def test_customer_population(base_events: list[dict[str, Any]]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    updates = 0
    for e in base_events:
        if e["kind"] == "customer":
            updates += e["customer_id"] in latest
            latest[e["customer_id"]] = e
    profiles = list(latest.values())
    assert updates > 0
    native = {"DE": "de", "AT": "de", "CH": "de", "NL": "nl", "FR": "fr", "PL": "pl"}
    matching = sum(p["language"] == native[p["country"]] for p in profiles)
    assert matching / len(profiles) > 0.85
    assert {p["language"] for p in profiles} >= {"de", "nl", "fr", "pl", "en"}
    opt_out = sum(p["contact_opt_out"] for p in profiles) / len(profiles)
    assert 0.01 < opt_out < 0.04
    segments = Counter(p["segment"] for p in profiles)
    assert 0.015 < segments["vip"] / len(profiles) < 0.05
    assert segments["new"] > 0
    assert segments["regular"] > segments["new"]


def test_feedback_shape(base_events: list[dict[str, Any]]) -> None:
    feedback = [e for e in base_events if e["kind"] == "feedback"]
    delivered = sum(e.get("type") == "delivered" for e in base_events)
    assert 0.18 < len(feedback) / delivered < 0.35
    for e in feedback:
        if e["score"] <= 8:
            assert 1 <= len(e["reasons"]) <= 3
            assert len(set(e["reasons"])) == len(e["reasons"])
        else:
            assert "reasons" not in e
    effort = sum("effort" in e for e in feedback) / len(feedback)
    assert 0.5 < effort < 0.7
    without_order = [e for e in feedback if "order_id" not in e]
    assert 0.01 < len(without_order) / len(feedback) < 0.08
    assert {e["channel"] for e in feedback} == {"web", "app", "email"}
    assert any("comment" in e for e in feedback)
    countries = {e["country"] for e in feedback}
    assert countries == {"DE", "AT", "CH", "NL", "FR", "PL"}


# -- realism -----------------------------------------------------------------------------


def test_daily_and_weekly_rhythm(base_events: list[dict[str, Any]]) -> None:
    placed = [ts(e) for e in base_events if e.get("type") == "order_placed"]
    by_hour = Counter(t.hour for t in placed)
    night = sum(by_hour[h] for h in (1, 2, 3, 4))
    evening = sum(by_hour[h] for h in (17, 18, 19, 20))
    assert night * 4 < evening
    by_weekday = Counter(t.weekday() for t in placed)
    assert by_weekday[5] < by_weekday[6]  # Saturday quieter than Sunday
    by_country = Counter(e["country"] for e in base_events if e.get("type") == "order_placed")
    assert by_country["DE"] > by_country["FR"] > by_country["CH"]


def test_late_share_within_configured_range(base_events: list[dict[str, Any]]) -> None:
    cfg = GeneratorConfig()
    configured = [c.late_rate for c in cfg.countries]
    delivered = [e for e in base_events if e.get("type") == "delivered"]
    share = sum(map(is_late, delivered)) / len(delivered)
    assert min(configured) - 0.01 <= share <= max(configured) + 0.01
    exceptions = sum(e.get("type") == "delivery_exception" for e in base_events)
    assert 0.005 < exceptions / len(delivered) < 0.04


def test_problems_lower_scores(base_events: list[dict[str, Any]]) -> None:
    delivered = {e["order_id"]: e for e in base_events if e.get("type") == "delivered"}
    late_scores: list[int] = []
    ok_scores: list[int] = []
    late_reasons = 0
    for e in base_events:
        if e["kind"] != "feedback" or e.get("touchpoint") != "delivery":
            continue
        d = delivered.get(e["order_id"])
        if d is None:
            continue
        if is_late(d):
            late_scores.append(e["score"])
            late_reasons += "delivery_late" in e.get("reasons", ())
        else:
            ok_scores.append(e["score"])
    assert nps(late_scores) < nps(ok_scores) - 40
    assert late_reasons / len(late_scores) > 0.7


def test_countries_differ_in_nps(base_events: list[dict[str, Any]]) -> None:
    scores: dict[str, list[int]] = defaultdict(list)
    for e in base_events:
        if e["kind"] == "feedback":
            scores[e["country"]].append(e["score"])
    happy = scores["CH"] + scores["AT"] + scores["PL"]  # base NPS 48..52
    grumpy = scores["FR"] + scores["NL"]  # base NPS 30..38
    assert nps(happy) > nps(grumpy) + 3


# -- incidents ---------------------------------------------------------------------------


def test_carrier_delay_raises_late_and_reason_share(
    incident_events: list[dict[str, Any]],
) -> None:
    affected_until = INC_END + timedelta(days=5)
    carrier_of: dict[str, str] = {}
    late: dict[tuple[str, bool], list[bool]] = defaultdict(list)
    for e in incident_events:
        if e.get("type") == "shipped":
            carrier_of[e["order_id"]] = e["carrier"]
        if e.get("type") == "delivered" and e["country"] == "DE":
            t = ts(e)
            if t >= affected_until:
                continue
            late[(e["carrier"], t >= INC_START)].append(is_late(e))
    share = {k: sum(v) / len(v) for k, v in late.items()}
    assert share[("dhl", True)] > 0.25
    assert share[("dhl", False)] < 0.1
    assert share[("dpd", True)] < 0.15

    reason: dict[bool, list[bool]] = defaultdict(list)
    for e in incident_events:
        if e["kind"] != "feedback" or e["country"] != "DE" or e.get("score", 10) > 8:
            continue
        if carrier_of.get(e.get("order_id", "")) != "dhl" or e["touchpoint"] != "delivery":
            continue
        t = ts(e)
        if t < affected_until:
            reason[t >= INC_START].append("delivery_late" in e["reasons"])
    inside = sum(reason[True]) / len(reason[True])
    outside = sum(reason[False]) / len(reason[False])
    assert inside > outside + 0.25

    exceptions = Counter(
        INC_START <= ts(e) < INC_END
        for e in incident_events
        if e.get("type") == "delivery_exception" and e.get("carrier") == "dhl"
    )
    assert exceptions[True] > 5 * exceptions[False]


def test_app_nps_drop_hits_app_not_web(incident_events: list[dict[str, Any]]) -> None:
    scores: dict[tuple[str, bool], list[int]] = defaultdict(list)
    scan: dict[tuple[str, bool], list[bool]] = defaultdict(list)
    for e in incident_events:
        if e["kind"] != "feedback" or e["country"] != "NL":
            continue
        key = (e["channel"], INC_START <= ts(e) < INC_END)
        scores[key].append(e["score"])
        scan[key].append("app_scan_failed" in e.get("reasons", ()))
    assert nps(scores[("app", True)]) < nps(scores[("app", False)]) - 30
    assert nps(scores[("web", True)]) > nps(scores[("app", True)]) + 40
    assert sum(scan[("app", True)]) / len(scan[("app", True)]) > 0.5
    assert sum(scan[("app", False)]) == 0
    assert sum(scan[("web", True)]) == 0


# -- configuration and output ------------------------------------------------------------


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        GeneratorConfig(start=datetime(2026, 3, 2))  # naive
    with pytest.raises(ValidationError):
        CarrierDelayIncident(country="DE", carrier="dhl", start=INC_END, end=INC_START)
    with pytest.raises(ValidationError):
        GeneratorConfig(unknown=1)  # type: ignore[call-arg]
    cfg = GeneratorConfig.model_validate(
        {"incidents": [{"type": "app_nps_drop", "country": "DE", "start": START, "end": INC_END}]}
    )
    assert isinstance(cfg.incidents[0], AppNpsDropIncident)
    local = GeneratorConfig(start=datetime.fromisoformat("2026-03-02T01:00:00+01:00"))
    assert local.start == START
    assert local.start.tzinfo == UTC


def test_generate_lines_adds_malformed_lines_only() -> None:
    cfg = GeneratorConfig(days=1, orders_per_day=400, invalid_rate=0.02)
    lines = list(generate_lines(cfg))
    valid = [x for x in lines if isinstance(x, dict)]
    broken = [x for x in lines if isinstance(x, str)]
    assert valid == list(generate_events(cfg))
    assert 0.01 < len(broken) / len(valid) < 0.03
    for line in broken:
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        assert contract_errors(parsed), line


def test_write_jsonl_gzip_round_trip(tmp_path: Path) -> None:
    cfg = GeneratorConfig(days=1, orders_per_day=300, invalid_rate=0.01)
    items = list(generate_lines(cfg))
    gz_path = tmp_path / "out" / "events.jsonl.gz"
    assert write_jsonl(items, gz_path) == len(items)
    with gzip.open(gz_path, "rt", encoding="utf-8") as fh:
        read = fh.read().split("\n")
    assert read[-1] == ""
    assert len(read) - 1 == len(items)
    for item, line in zip(items, read, strict=False):
        if isinstance(item, str):
            assert line == item
        else:
            assert json.loads(line) == item
    plain = tmp_path / "events.jsonl"
    assert write_jsonl(iter(items[:10]), plain) == 10
    assert plain.read_text(encoding="utf-8").count("\n") == 10
