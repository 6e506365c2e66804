"""Fixtures of the report tests: a small shop replayed into an in-memory store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cxstream.memory_store import MemoryStateStore
from cxstream.rules import RuleSet

from .helpers import DAY, answer, deliveries, replay, write_rules


def shop_events() -> list[dict[str, Any]]:
    """DE: 40 deliveries on DAY, 8 late (dhl via app 6 of 20, dpd via web 2 of 20), and
    20 three days earlier (1 late); 20 answers on DAY (app NPS 30, web NPS -20).
    FR: 30 deliveries, 1 late. AT: 10 deliveries (below min_volume), 5 late."""
    events = [
        *deliveries("de-dhl", "DE", DAY, 20, 6, carrier="dhl", channel="app"),
        *deliveries("de-dpd", "DE", DAY, 20, 2, carrier="dpd", channel="web"),
        *deliveries("de-old", "DE", DAY - timedelta(days=3), 20, 1, carrier="dhl"),
        *deliveries("fr", "FR", DAY, 30, 1, carrier="ups"),
        *deliveries("at", "AT", DAY, 10, 5, carrier="dpd"),
    ]
    app_scores = [10] * 5 + [8] * 3 + [3] * 2
    web_scores = [9] * 3 + [7] * 2 + [0] * 5
    events += [answer(f"a{i}", "DE", DAY, s, channel="app") for i, s in enumerate(app_scores)]
    events += [answer(f"w{i}", "DE", DAY, s, channel="web") for i, s in enumerate(web_scores)]
    return events


@pytest.fixture
async def shop(tmp_path: Path) -> MemoryStateStore:
    return await replay(shop_events(), tmp_path / "shop")


@pytest.fixture
def rule_set(tmp_path: Path) -> RuleSet:
    return write_rules(tmp_path / "rules")
