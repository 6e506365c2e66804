"""Report digests: when they are due, what they carry, how they read in Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cxstream.notify.payloads import DigestDetail, parse_detail
from cxstream.notify.slack_digest import MAX_CELLS_PER_COLOUR, digest_message
from cxstream.planning.digests import DigestPlanner
from cxstream.report.model import Report, ReportCell, ReportColumn, ReportRow
from cxstream.rules.ruleset import RuleSet

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def rule_set(**digest: Any) -> RuleSet:
    rule = {
        "type": "report_digest",
        "name": "morning",
        "receiver": "cx-leads",
        "at": "08:00",
        "time_zone": "Europe/Berlin",
        **digest,
    }
    return RuleSet.model_validate(
        {
            "rules": [rule],
            "receivers": [
                {"name": "cx-leads", "configs": [{"type": "slack", "channel": "#cx-leads"}]}
            ],
        }
    )


def cell(status: str, kpi: str = "late_rate", value: float = 0.2) -> ReportCell:
    return ReportCell.model_validate({"kpi": kpi, "value": value, "status": status})


def row(country: str, *cells: ReportCell) -> ReportRow:
    return ReportRow(
        series=f"country={country}",
        segment={"country": country},
        label=country,
        level="country",
        cells=list(cells),
    )


def child(country: str, carrier: str, *cells: ReportCell) -> ReportRow:
    return ReportRow(
        series=f"country={country},carrier={carrier}",
        segment={"country": country, "carrier": carrier},
        label=f"{country} / {carrier}",
        level="country+carrier",
        cells=list(cells),
    )


class FakeReports:
    """Records what was asked; answers with a fixed grid."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, datetime | None]] = []

    async def build(
        self, window: str = "1d", country: str | None = None, *, as_of: datetime | None = None
    ) -> Report:
        self.asked.append((window, country, as_of))
        at = as_of or MONDAY
        return Report(
            generated_at=datetime.now(UTC),
            as_of=at,
            window=window,
            window_start=at - timedelta(days=1),
            columns=[
                ReportColumn(kpi="late_rate", title="Late", unit="share", higher_is_worse=True)
            ],
            rows=(
                [row("DE", cell("green")), row("FR", cell("red")), row("NL", cell("yellow"))]
                if country is None
                else [
                    row(country, cell("red")),
                    child(country, "colissimo", cell("red")),
                    child(country, "dpd", cell("green")),
                ]
            ),
        )


async def test_a_digest_is_decided_once_when_the_watermark_passes_its_local_time() -> None:
    reports = FakeReports()
    planner = DigestPlanner(rule_set(), reports, partitions=1, report_url="http://cx:6066/")
    state: dict[str, str] = {}
    # 06:00 UTC is 07:00 in Berlin (winter time): the first call only starts the clock.
    actions, fields = await planner.due([0], MONDAY + timedelta(hours=6), state)
    assert actions == []
    state.update(fields)
    actions, fields = await planner.due([0], MONDAY + timedelta(hours=6, minutes=59), state)
    assert actions == []
    state.update(fields)
    actions, fields = await planner.due([0], MONDAY + timedelta(hours=7, minutes=1), state)
    state.update(fields)
    assert [a.type for a in actions] == ["digest"]
    digest = actions[0]
    assert digest.at == MONDAY + timedelta(hours=7)
    # The overview, then the drill-down of the one red country.
    assert reports.asked == [
        ("1d", None, MONDAY + timedelta(hours=7)),
        ("1d", "FR", MONDAY + timedelta(hours=7)),
    ]
    detail = parse_detail(digest)
    assert isinstance(detail, DigestDetail)
    assert detail.channel == "#cx-leads"
    assert detail.report_url == "http://cx:6066/report?window=1d"
    assert detail.report.generated_at == digest.at  # the same in a replay as in the worker
    # Red segments of a red country follow it; green ones do not.
    assert [r.label for r in detail.report.rows] == ["DE", "FR", "FR / colissimo", "NL"]
    again, _ = await planner.due([0], MONDAY + timedelta(hours=9), state)
    assert again == []


async def test_a_first_watermark_past_the_time_still_decides_it_from_the_data_start() -> None:
    """A replay whose first batch reaches past 08:00 decides the 08:00 digest as one whose
    first batch ended before it (the data started at 06:00 in Berlin)."""
    planner = DigestPlanner(rule_set(), FakeReports(), partitions=1)
    data_start = MONDAY + timedelta(hours=5)
    actions, fields = await planner.due([0], MONDAY + timedelta(hours=8), {}, since=data_start)
    assert [a.at for a in actions] == [MONDAY + timedelta(hours=7)]
    assert fields == {"digest|morning": (MONDAY + timedelta(hours=8)).isoformat()}
    # Data starting after the scheduled time: nothing for before it.
    late, _ = await planner.due(
        [0], MONDAY + timedelta(hours=8), {}, since=MONDAY + timedelta(hours=7, minutes=30)
    )
    assert late == []


async def test_the_action_id_depends_only_on_rule_and_scheduled_time() -> None:
    first = DigestPlanner(rule_set(), FakeReports(), partitions=1)
    second = DigestPlanner(rule_set(), FakeReports(), partitions=1)
    at = MONDAY + timedelta(hours=7)
    a = await first.decide(first.rules[0], at)
    b = await second.decide(second.rules[0], at)
    c = await second.decide(second.rules[0], at + timedelta(days=1))
    assert a.action_id == b.action_id != c.action_id


async def test_after_downtime_only_the_latest_digest_goes_out() -> None:
    planner = DigestPlanner(rule_set(), FakeReports(), partitions=1)
    state = {"digest|morning": MONDAY.isoformat()}
    actions, fields = await planner.due([0], MONDAY + timedelta(days=3, hours=12), state)
    assert [a.at for a in actions] == [MONDAY + timedelta(days=3, hours=7)]
    assert fields == {"digest|morning": (MONDAY + timedelta(days=3, hours=12)).isoformat()}


async def test_weekdays_countries_and_owner_partition_are_respected() -> None:
    rules = rule_set(weekdays=["sat"], countries=["FR"])
    planner = DigestPlanner(rules, FakeReports(), partitions=4)
    owner = planner.owner_of(planner.rules[0])
    others = [p for p in range(4) if p != owner]
    state = {"digest|morning": MONDAY.isoformat()}
    saturday = MONDAY + timedelta(days=5, hours=12)
    assert await planner.due(others, saturday, state) == ([], {})
    actions, _ = await planner.due([owner], saturday, state)
    assert [a.at.weekday() for a in actions] == [5]
    report = Report.model_validate(actions[0].detail["report"])
    assert [r.label for r in report.rows] == ["FR", "FR / colissimo"]


def test_digest_rules_check_their_receiver() -> None:
    with pytest.raises(ValueError, match="unknown receiver 'cx-lead'"):
        rule_set(receiver="cx-lead")
    with pytest.raises(ValueError, match="unknown time zone"):
        rule_set(time_zone="Europe/Berln")


def test_the_message_lists_red_before_yellow_and_caps_the_list() -> None:
    at = MONDAY + timedelta(hours=7)
    rows = [row("NL", cell("yellow")), row("FR", cell("red", value=0.31))]
    rows += [row(f"X{i}", cell("red")) for i in range(MAX_CELLS_PER_COLOUR + 3)]
    report = Report(
        generated_at=at,
        as_of=at,
        window="1d",
        window_start=at - timedelta(days=1),
        columns=[ReportColumn(kpi="late_rate", title="Late", unit="share", higher_is_worse=True)],
        rows=rows,
    )
    message = digest_message(report, channel="#cx-leads", report_url="http://cx/report")
    texts = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    red = next(t for t in texts if t.startswith("*Red"))
    yellow = next(t for t in texts if t.startswith("*Yellow"))
    assert texts.index(red) < texts.index(yellow)
    assert "*FR* · Late-delivery rate *31.0%*" in red
    assert "_and 4 more_" in red
    assert "*NL*" in yellow
    assert message.text.startswith(f"CX traffic light (1d): {MAX_CELLS_PER_COLOUR + 4} red")
    buttons = [b for b in message.blocks if b["type"] == "actions"]
    assert buttons[0]["elements"][0]["url"] == "http://cx/report"


def test_segment_values_are_escaped_for_mrkdwn() -> None:
    at = MONDAY
    hostile = ReportRow(
        series="country=DE,carrier=x",
        segment={"country": "DE", "carrier": "<!channel>"},
        label="DE / <!channel>",
        level="country+carrier",
        cells=[cell("red")],
    )
    report = Report(
        generated_at=at,
        as_of=at,
        window="1d",
        window_start=at,
        columns=[ReportColumn(kpi="late_rate", title="Late", unit="share", higher_is_worse=True)],
        rows=[hostile],
    )
    message = digest_message(report, channel="#c", report_url=None)
    assert "<!channel>" not in str(message.blocks)
