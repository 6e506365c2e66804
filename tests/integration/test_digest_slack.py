"""The morning digest, end to end: decided from replayed events, posted to Slack once.

A generated stream with a late carrier is replayed with a ``report_digest`` rule; the
digest the detection stage decides at 08:00 Berlin time is delivered by the real
slack-sdk client to the local Slack Web API server: a message listing the red cells
first, the grid as a PNG in its thread, and nothing more when the same action is
dispatched again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxstream.config import Settings
from cxstream.decoding import EventDecoder
from cxstream.detection_setup import detection_stage
from cxstream.engine import Engine, EngineOptions
from cxstream.firing import MemoryFiringAlerts
from cxstream.generator import GeneratorConfig, generate_lines, write_jsonl
from cxstream.generator.incidents import CarrierDelayIncident
from cxstream.memory_store import MemoryStateStore
from cxstream.notify.dispatch import ActionDispatcher
from cxstream.notify.idempotency import MemoryIdempotencyStore
from cxstream.notify.settings import SlackSettings
from cxstream.notify.slack import SlackNotifier
from cxstream.records import ActionRecord
from cxstream.replay import Replayer
from cxstream.rules import RuleSet
from tests.servers.slack_api import TEST_TOKEN, FakeSlackServer

pytestmark = pytest.mark.integration

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rules() -> RuleSet:
    return RuleSet.model_validate(
        {
            "rules": [
                {
                    "type": "kpi_alert",
                    "name": "late-rate",
                    "kpi": "late_rate",
                    "windows": ["1d"],
                    "group_by": [["country"], ["country", "carrier"]],
                    "min_volume": 20,
                    "expectations": [{"target": 0.05, "yellow_at": 0.08, "red_at": 0.15}],
                },
                {
                    "type": "report_digest",
                    "name": "morning",
                    "receiver": "cx-leads",
                    "at": "08:00",
                    "time_zone": "Europe/Berlin",
                },
            ],
            "route": {"receiver": "cx-leads"},
            "receivers": [
                {"name": "cx-leads", "configs": [{"type": "slack", "channel": "#ops-alerts"}]}
            ],
        }
    )


async def _digests(tmp_path: Path) -> list[ActionRecord]:
    events = tmp_path / "events.jsonl"
    config = GeneratorConfig(
        start=datetime(2026, 3, 2, tzinfo=UTC),
        days=5,
        seed=3,
        orders_per_day=1500,
        incidents=(
            CarrierDelayIncident(
                country="DE",
                carrier="dhl",
                start=datetime(2026, 3, 3, 4, tzinfo=UTC),
                end=datetime(2026, 3, 7, tzinfo=UTC),
                extra_delay_days=1.0,
            ),
        ),
    )
    write_jsonl(generate_lines(config), events)
    settings = Settings()
    store = MemoryStateStore()
    firing = MemoryFiringAlerts()
    replayer = Replayer(
        Engine(store, EngineOptions.from_settings(settings)),
        EventDecoder(),
        stage=detection_stage(
            settings, store, rule_set=_rules(), firing=firing, report_url="http://cx.test:6066"
        ),
        firing=firing,
    )
    await replayer.run([events], tmp_path / "out")
    lines = (tmp_path / "out" / "actions.jsonl").read_text().splitlines()
    actions = [ActionRecord.model_validate(json.loads(line)) for line in lines]
    return [a for a in actions if a.type == "digest"]


async def test_the_morning_digest_reaches_slack_once_with_the_red_cells_first(
    slack_server: FakeSlackServer, tmp_path: Path
) -> None:
    digests = await _digests(tmp_path)
    # The data starts at midnight on Mon 2 March: digests from Monday to Friday, 07:00 UTC.
    assert [d.at for d in digests] == [datetime(2026, 3, d, 7, tzinfo=UTC) for d in (2, 3, 4, 5, 6)]
    friday = digests[-1]

    settings = SlackSettings(token=TEST_TOKEN, base_url=slack_server.base_url, timeout_s=5)
    dispatcher = ActionDispatcher(
        {"slack": SlackNotifier(settings)},
        MemoryIdempotencyStore(),
        receivers={"cx-leads": "slack"},
    )
    try:
        first = await dispatcher.dispatch(friday)
        again = await dispatcher.dispatch(friday)
    finally:
        await dispatcher.aclose()
    assert (first.status, again.status) == ("sent", "duplicate")

    [post] = slack_server.succeeded("chat.postMessage")
    assert post.args["channel"] in {"#ops-alerts", "ops-alerts", "C0OPS"}
    sections = [b["text"]["text"] for b in post.args["blocks"] if b["type"] == "section"]
    red = next(text for text in sections if text.startswith("*Red"))
    assert "*DE* · Late-delivery rate" in red
    assert "*DE / dhl* · Late-delivery rate" in red  # where in DE: the late carrier
    assert all(not text.startswith("*Yellow") for text in sections[: sections.index(red)])
    buttons = [b for b in post.args["blocks"] if b["type"] == "actions"]
    assert buttons[0]["elements"][0]["url"] == "http://cx.test:6066/report?window=1d"

    assert first.delivery is not None
    [file_id] = first.delivery.files
    grid = slack_server.files[file_id]
    assert grid.completed
    assert grid.data is not None
    assert grid.data.startswith(PNG_MAGIC)
    assert (grid.thread_ts, grid.filename) == (first.delivery.ts, "cx-report-2026-03-06.png")
