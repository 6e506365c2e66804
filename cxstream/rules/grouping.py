"""Alert groups and when they notify: Alertmanager's group_wait, group_interval,
repeat_interval and send_resolved, driven by event time.

An :class:`AlertGroup` holds the alerts that one route sends to one receiver with the
same values of the route's ``group_by`` labels. It is evaluated at *ticks*: the first
``group_wait`` after the group was created, then every ``group_interval``. At a tick,
with the alerts that are not muted (silenced or inhibited):

* a first notification goes out if any alert fires;
* an update goes out if an alert fires that the last notification did not include
  (a new alert, or one whose severity changed), if every alert of a group that had
  notified firing alerts has resolved, or (with ``send_resolved``) if an alert resolved
  since the last notification;
* otherwise the last notification is repeated once ``repeat_interval`` has passed since
  it, as long as alerts fire.

Resolved alerts leave the group after the tick that saw them; an empty group is
removed, and a new alert of the same labels starts a new group (with a new
``group_wait``). Nothing here reads a clock: ticks are event times passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cxstream.records import ActionRecord, AlertRecord, action_id

__all__ = [
    "AlertGroup",
    "Notification",
    "NotificationReason",
    "SentState",
    "decide",
    "next_grid_tick",
]

NotificationReason = Literal["first", "update", "repeat", "resolved"]


@dataclass(frozen=True, slots=True)
class SentState:
    """What the last notification of a group held: when, the firing alerts (as
    ``alert_id/severity``) and the resolved alert ids."""

    at: datetime
    firing: frozenset[str]
    resolved: frozenset[str]


def _fingerprint(alert: AlertRecord) -> str:
    return f"{alert.alert_id}/{alert.severity}"


def decide(
    last: SentState | None,
    visible: Sequence[AlertRecord],
    at: datetime,
    repeat_interval: timedelta,
    send_resolved: bool,
) -> NotificationReason | None:
    """Why the group notifies at ``at`` with these unmuted alerts (``None``: it does not)."""
    if not visible:
        return None
    firing = {_fingerprint(a) for a in visible if a.status == "firing"}
    resolved = {a.alert_id for a in visible if a.status == "resolved"}
    if last is None:
        return "first" if firing else None
    if not firing <= last.firing:
        return "update"
    if not firing:
        return "resolved" if last.firing else None
    if send_resolved and not resolved <= last.resolved:
        return "update"
    if at - last.at >= repeat_interval:
        return "repeat"
    return None


def next_grid_tick(
    first_tick: datetime, interval: timedelta, bound: datetime, *, strict: bool
) -> datetime:
    """The first tick ``first_tick + k * interval`` (k >= 0) at or after ``bound``
    (after it, if ``strict``).

    >>> from datetime import UTC
    >>> t0 = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
    >>> next_grid_tick(t0, timedelta(minutes=5), datetime(2026, 3, 2, 10, 7, tzinfo=UTC),
    ...                strict=False).time()
    datetime.time(10, 10, 30)
    """
    if bound < first_tick or (bound == first_tick and not strict):
        return first_tick
    k = (bound - first_tick) // interval
    tick = first_tick + k * interval
    if tick < bound or (strict and tick == bound):
        tick += interval
    return tick


@dataclass(frozen=True, slots=True)
class Notification:
    """One decided notification of a group to its receiver.

    ``key`` is deterministic: the route path, receiver, group key and group start,
    and the sequence number of the notification within the group.
    """

    key: str
    route: str
    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    sequence: int
    at: datetime
    reason: NotificationReason
    firing: tuple[AlertRecord, ...]
    resolved: tuple[AlertRecord, ...]
    channels: tuple[str, ...] = ()

    @property
    def status(self) -> Literal["firing", "resolved"]:
        return "firing" if self.firing else "resolved"

    @property
    def rule(self) -> str:
        """The rule of the alerts, or ``routing`` when they come from several rules."""
        rules = {a.rule for a in (*self.firing, *self.resolved)}
        return rules.pop() if len(rules) == 1 else "routing"

    def action(self) -> ActionRecord:
        """The ``slack_alert`` action of this notification (idempotent id)."""
        subject, _, sequence = self.key.rpartition("#")
        return ActionRecord(
            action_id=action_id(self.rule, f"group:{subject}", sequence),
            type="slack_alert",
            at=self.at,
            rule=self.rule,
            detail={
                "receiver": self.receiver,
                "channel": self.channels[0] if self.channels else "",
                "channels": list(self.channels),
                "route": self.route,
                "group_key": self.group_key,
                "group_labels": dict(self.group_labels),
                "sequence": self.sequence,
                "reason": self.reason,
                "status": self.status,
                "alert_ids": [a.alert_id for a in self.firing],
                "resolved_alert_ids": [a.alert_id for a in self.resolved],
                "alerts": [a.as_dict() for a in (*self.firing, *self.resolved)],
                # The group's first message, updated in place when the group resolves.
                "update_of": (
                    action_id(self.rule, f"group:{subject}", "1")
                    if self.reason == "resolved" and self.sequence > 1
                    else None
                ),
            },
        )


@dataclass(slots=True)
class AlertGroup:
    """The state of one group: identity, tick schedule, its alert ids, what it sent."""

    route: str
    receiver: str
    group_key: str
    labels: dict[str, str]
    started: datetime
    first_tick: datetime
    next_tick: datetime | None
    sequence: int = 0
    alert_ids: list[str] = field(default_factory=list)
    last: SentState | None = None

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.route, self.receiver, self.group_key)

    def key(self, sequence: int) -> str:
        return (
            f"{self.route}|{self.receiver}|{self.group_key}|{self.started.isoformat()}#{sequence}"
        )

    def add(self, alert_id: str) -> None:
        if alert_id not in self.alert_ids:
            self.alert_ids.append(alert_id)

    def discard(self, alert_ids: Iterable[str]) -> None:
        gone = set(alert_ids)
        self.alert_ids = [a for a in self.alert_ids if a not in gone]

    def to_state(self) -> dict[str, Any]:
        last = self.last
        return {
            "route": self.route,
            "receiver": self.receiver,
            "group_key": self.group_key,
            "labels": dict(self.labels),
            "started": self.started.isoformat(),
            "first_tick": self.first_tick.isoformat(),
            "next_tick": None if self.next_tick is None else self.next_tick.isoformat(),
            "sequence": self.sequence,
            "alert_ids": list(self.alert_ids),
            "last": None
            if last is None
            else {
                "at": last.at.isoformat(),
                "firing": sorted(last.firing),
                "resolved": sorted(last.resolved),
            },
        }
