"""Report digests: when a ``report_digest`` rule is due, decide its ``digest`` action.

The detection stage asks :class:`DigestPlanner` at every watermark which digests came
due. A digest rule belongs to one owner partition (that of its name), so exactly one
worker decides it; its position (the last watermark it was asked at) is a field of
that owner's detection checkpoint, so a restarted or rebalanced worker neither sends a
digest twice nor skips one. The decision is an :class:`~cxstream.records.ActionRecord`
of type ``digest`` whose id is derived from the rule and the scheduled time, carrying
the whole report as of that scheduled time, so a replay of the same events decides the
same digests as the worker did. Below each red country the digest lists that
country's segments that are red too (by channel, customer segment, carrier), so it
says where a problem is and not only in which country.

When the watermark jumps over several scheduled times at once (a worker down for two
days), only the latest is sent: yesterday's morning report is no use today.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from cxstream.partitioning import partition_for
from cxstream.records import ActionRecord, action_id
from cxstream.report.model import Report, ReportRow
from cxstream.rules.base import format_duration
from cxstream.rules.digest_rules import ReportDigestRule
from cxstream.rules.ruleset import RuleSet

__all__ = ["DIGEST_FIELD_PREFIX", "DigestPlanner", "ReportSource"]

log = logging.getLogger("cxstream.planning.digests")

#: Checkpoint field of a digest rule's position: ``digest|<rule name>``.
DIGEST_FIELD_PREFIX = "digest|"


class ReportSource(Protocol):
    """Builds the traffic-light report as of an event time."""

    async def build(
        self, window: str = "1d", country: str | None = None, *, as_of: datetime | None = None
    ) -> Report: ...


class DigestPlanner:
    """Decides the digests of the owner partitions it is asked about."""

    def __init__(
        self,
        rule_set: RuleSet,
        reports: ReportSource,
        *,
        partitions: int,
        report_url: str | None = None,
    ) -> None:
        self.rule_set = rule_set
        self.reports = reports
        self.partitions = partitions
        self.report_url = report_url.rstrip("/") if report_url else None

    @property
    def rules(self) -> tuple[ReportDigestRule, ...]:
        return self.rule_set.digest_rules

    def owner_of(self, rule: ReportDigestRule) -> int:
        return partition_for(f"digest:{rule.name}", self.partitions)

    async def due(
        self,
        owners: Iterable[int],
        watermark: datetime,
        state: Mapping[str, str],
        *,
        since: datetime | None = None,
    ) -> tuple[list[ActionRecord], dict[str, str]]:
        """The digests due at ``watermark`` for rules of ``owners``, and the checkpoint
        fields to write once they are published (``state``: the owners' fields).

        A rule without a position in ``state`` starts at ``since`` (the start of the data
        the engine counted; so a replay decides the same first digest whether its first
        batch ends before the scheduled time or after it), else at ``watermark``."""
        mine = set(owners)
        actions: list[ActionRecord] = []
        fields: dict[str, str] = {}
        for rule in self.rules:
            if self.owner_of(rule) not in mine:
                continue
            key = DIGEST_FIELD_PREFIX + rule.name
            previous = state.get(key)
            if previous is not None:
                after = datetime.fromisoformat(previous)
            elif since is not None and since < watermark:
                after = since
            else:
                # First time: start from now (no digest for times before the engine ran).
                fields[key] = watermark.isoformat()
                continue
            if watermark <= after:
                continue
            fields[key] = watermark.isoformat()
            scheduled = rule.occurrences(after, watermark, self.rule_set.defaults.time_zone)
            if not scheduled:
                continue
            if len(scheduled) > 1:
                log.info(
                    "digest %s: %d scheduled times passed at once, sending the latest",
                    rule.name,
                    len(scheduled),
                    extra={"stage": "digest"},
                )
            actions.append(await self.decide(rule, scheduled[-1]))
        return actions, fields

    async def decide(self, rule: ReportDigestRule, at: datetime) -> ActionRecord:
        """The digest action of ``rule`` for the scheduled time ``at``."""
        window = format_duration(rule.window)
        report = await self.reports.build(window, None, as_of=at)
        wanted = set(rule.countries)
        rows: list[ReportRow] = []
        for row in report.rows:
            country = row.segment.get("country")
            if wanted and country not in wanted:
                continue
            rows.append(row)
            if country is None or set(row.segment) != {"country"} or not _red(row):
                continue
            # A red country: the segments of it that are red too, so that the digest
            # says where (``DE / dhl``), not only that (``DE``).
            inside = await self.reports.build(window, country, as_of=at)
            rows += [r for r in inside.rows if r.series != row.series and _red(r)]
        report = report.model_copy(update={"rows": rows, "generated_at": at})
        receiver = self.rule_set.receiver(rule.receiver)
        channels = receiver.slack_channels
        url = f"{self.report_url}/report?window={window}" if self.report_url else None
        return ActionRecord(
            action_id=action_id(rule.name, "digest", at.isoformat()),
            type="digest",
            at=at,
            rule=rule.name,
            detail={
                "receiver": rule.receiver,
                "channel": channels[0] if channels else "",
                "window": window,
                "scheduled_for": at.isoformat(),
                "report_url": url,
                "report": report.model_dump(mode="json"),
            },
        )


def _red(row: ReportRow) -> bool:
    return any(cell.status == "red" for cell in row.cells)
