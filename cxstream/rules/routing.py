"""The routing engine: alerts in, notification decisions out (pure, no I/O, no clock).

:class:`Router` gives every alert its labels (:func:`alert_labels`: the rule's labels,
the segment's dimensions, ``rule``, ``kpi``, ``severity`` and ``level``), finds its
routes in the tree (depth first; ``continue`` goes on to the following siblings), and
keeps it in one :class:`~cxstream.rules.grouping.AlertGroup` per (route, receiver,
``group_by`` values). :meth:`Router.process` takes alert state changes and an event
time ``now``, evaluates the groups' ticks in event-time order up to ``now`` and returns
the notifications decided (see :mod:`cxstream.rules.grouping` for when). Silences and
inhibit rules are applied at each tick, so a silence that ends or an inhibiting alert
that resolves lets the muted alerts through at the next tick.

An alert whose labels change (e.g. its severity) moves to the groups its new labels
route to; it leaves the others without a resolved notification. A rule's ``receiver``
replaces the receiver of every route its alerts match.

The state (:meth:`Router.to_state`) is a JSON-serialisable dict; a router rebuilt with
:meth:`Router.from_state` decides exactly what the original would have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict

from cxstream.records import AlertRecord
from cxstream.rules.grouping import AlertGroup, Notification, SentState, decide, next_grid_tick
from cxstream.rules.kpi_rules import KpiAlertRule, level_label
from cxstream.rules.matchers import matches_all
from cxstream.rules.routes import ResolvedRoute, resolve_routes
from cxstream.rules.ruleset import RuleSet
from cxstream.rules.silences import Silence

__all__ = ["Router", "alert_labels", "group_key"]

_STATE_VERSION = 1


def alert_labels(alert: AlertRecord, rule: KpiAlertRule | None = None) -> dict[str, str]:
    """The labels routes, inhibit rules and silences match an alert by.

    >>> from datetime import UTC, datetime
    >>> alert = AlertRecord(alert_id="a", rule="late", status="firing", kpi="late_rate",
    ...     at=datetime(2026, 3, 2, tzinfo=UTC), segment={"country": "FR", "carrier": "dpd"},
    ...     value=0.3, expected=0.1, score=0.9, severity="critical")
    >>> alert_labels(alert)
    {'country': 'FR', 'carrier': 'dpd', 'rule': 'late', 'kpi': 'late_rate', \
'severity': 'critical', 'level': 'country+carrier'}
    """
    labels = dict(rule.labels) if rule is not None else {}
    labels.update(alert.segment)
    labels.update(
        rule=alert.rule,
        kpi=alert.kpi,
        severity=alert.severity,
        level=level_label(alert.segment),
    )
    return labels


def group_key(labels: Mapping[str, str], group_by: Sequence[str], by_all: bool) -> str:
    """The key of the group an alert with ``labels`` joins: ``{name="value",...}``."""
    names = sorted(labels) if by_all else [n for n in group_by if n in labels]
    return "{" + ",".join(f'{n}="{labels[n]}"' for n in names) + "}"


class _SentModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    at: AwareDatetime
    firing: list[str]
    resolved: list[str]


class _GroupModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    route: str
    receiver: str
    group_key: str
    labels: dict[str, str]
    started: AwareDatetime
    first_tick: AwareDatetime
    next_tick: AwareDatetime | None
    sequence: int
    alert_ids: list[str]
    last: _SentModel | None


class _StateModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int
    now: AwareDatetime | None
    alerts: list[AlertRecord]
    groups: list[_GroupModel]


class Router:
    """Routes, groups, mutes and times alert notifications for one rule set."""

    def __init__(self, rule_set: RuleSet) -> None:
        if rule_set.route is None:
            raise ValueError("the rule set has no route")
        self.rule_set = rule_set
        self._routes: dict[str, ResolvedRoute] = {r.path: r for r in resolve_routes(rule_set.route)}
        self._receivers = {r.name: r for r in rule_set.receivers}
        self._rules = {r.name: r for r in rule_set.kpi_rules}
        self._alerts: dict[str, AlertRecord] = {}
        self._labels: dict[str, dict[str, str]] = {}
        self._groups: dict[tuple[str, str, str], AlertGroup] = {}
        self._now: datetime | None = None

    # -- matching ------------------------------------------------------------------------
    def labels(self, alert: AlertRecord) -> dict[str, str]:
        """The labels of ``alert`` (with its rule's labels)."""
        return alert_labels(alert, self._rules.get(alert.rule))

    def match(self, labels: Mapping[str, str]) -> list[ResolvedRoute]:
        """The routes an alert with ``labels`` goes to, in tree order."""

        def visit(route: ResolvedRoute) -> list[ResolvedRoute]:
            found: list[ResolvedRoute] = []
            for path in route.children:
                child = self._routes[path]
                if not matches_all(child.matchers, labels):
                    continue
                found.extend(visit(child))
                if not child.continue_:
                    break
            return found or [route]

        return visit(self._routes["0"])

    # -- processing ----------------------------------------------------------------------
    @property
    def now(self) -> datetime | None:
        """The event time processed up to."""
        return self._now

    def groups(self) -> list[AlertGroup]:
        """The current groups (for inspection)."""
        return list(self._groups.values())

    def next_due(self) -> datetime | None:
        """The earliest scheduled tick of any group (``None``: none is scheduled)."""
        ticks = [g.next_tick for g in self._groups.values() if g.next_tick is not None]
        return min(ticks) if ticks else None

    def process(
        self,
        alerts: Iterable[AlertRecord],
        now: datetime,
        silences: Sequence[Silence] = (),
    ) -> list[Notification]:
        """Take ``alerts`` (in event-time order of their ``at``), evaluate every tick up to
        and including ``now`` and return the notifications decided, in time order.

        An alert's ticks strictly before its ``at`` are evaluated before it joins; an
        alert older than the time already processed joins at that time. ``silences``
        are applied by their own ``starts_at``/``ends_at`` at each tick.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        out: list[Notification] = []
        if self._now is not None:
            self._reschedule(self._now, strict=True)
        for alert in sorted(alerts, key=lambda a: a.at):
            at = alert.at if self._now is None else max(alert.at, self._now)
            if at > now:
                raise ValueError(f"alert {alert.alert_id} at {alert.at} is after now ({now})")
            out.extend(self._run_ticks(at, silences, strict=True))
            self._receive(alert, at)
            self._now = at
        out.extend(self._run_ticks(now, silences, strict=False))
        self._now = now if self._now is None else max(self._now, now)
        return out

    def _receive(self, alert: AlertRecord, at: datetime) -> None:
        aid = alert.alert_id
        known = aid in self._alerts
        if alert.status == "resolved" and not known:
            return
        labels = self.labels(alert)
        targets: list[tuple[ResolvedRoute, str, str]] = []
        override = self._rules[alert.rule].receiver if alert.rule in self._rules else None
        for route in self.match(labels):
            receiver = override or route.receiver
            key = group_key(labels, route.group_by, route.groups_by_all)
            if (route.path, receiver, key) not in {(r.path, rc, k) for r, rc, k in targets}:
                targets.append((route, receiver, key))
        wanted = {(r.path, rc, k) for r, rc, k in targets}
        for ident, held in list(self._groups.items()):
            if ident not in wanted and aid in held.alert_ids:
                held.discard([aid])
                if not held.alert_ids:
                    del self._groups[ident]
        self._alerts[aid] = alert
        self._labels[aid] = labels
        for route, receiver, key in targets:
            ident = (route.path, receiver, key)
            existing = self._groups.get(ident)
            if existing is not None:
                existing.add(aid)
                continue
            if alert.status == "resolved":
                continue
            first = at + route.group_wait
            group = AlertGroup(
                route.path,
                receiver,
                key,
                dict(labels)
                if route.groups_by_all
                else {n: labels[n] for n in route.group_by if n in labels},
                started=at,
                first_tick=first,
                next_tick=first,
            )
            group.add(aid)
            self._groups[ident] = group
        self._forget_unused()
        self._reschedule(at, strict=False)

    def _reschedule(self, bound: datetime, *, strict: bool) -> None:
        """Bring every group's next tick back to its first grid tick from ``bound`` (a
        change may matter at the next regular tick)."""
        for group in self._groups.values():
            route = self._routes[group.route]
            tick = next_grid_tick(group.first_tick, route.group_interval, bound, strict=strict)
            if group.next_tick is None or tick < group.next_tick:
                group.next_tick = tick

    def _forget_unused(self) -> None:
        used = {aid for g in self._groups.values() for aid in g.alert_ids}
        for aid in [a for a in self._alerts if a not in used]:
            del self._alerts[aid]
            self._labels.pop(aid, None)

    def _run_ticks(
        self, bound: datetime, silences: Sequence[Silence], *, strict: bool
    ) -> list[Notification]:
        out: list[Notification] = []
        while True:
            due = [
                g
                for g in self._groups.values()
                if g.next_tick is not None
                and (g.next_tick < bound or (not strict and g.next_tick == bound))
            ]
            if not due:
                return out
            group = min(due, key=lambda g: (g.next_tick, g.ident))
            assert group.next_tick is not None
            notification = self._tick(group, group.next_tick, silences)
            if notification is not None:
                out.append(notification)

    def _muted(self, aid: str, at: datetime, silences: Sequence[Silence]) -> bool:
        labels = self._labels[aid]
        if any(s.active_at(at) and s.mutes(labels) for s in silences):
            return True
        for rule in self.rule_set.inhibit_rules:
            if not matches_all(rule.target_matchers, labels):
                continue
            for source_id, source in self._alerts.items():
                if source_id == aid or source.status != "firing":
                    continue
                source_labels = self._labels[source_id]
                if matches_all(rule.source_matchers, source_labels) and all(
                    source_labels.get(n, "") == labels.get(n, "") for n in rule.equal
                ):
                    return True
        return False

    def _tick(
        self, group: AlertGroup, at: datetime, silences: Sequence[Silence]
    ) -> Notification | None:
        route = self._routes[group.route]
        receiver = self._receivers[group.receiver]
        alerts = [self._alerts[aid] for aid in group.alert_ids]
        visible = [a for a in alerts if not self._muted(a.alert_id, at, silences)]
        reason = decide(group.last, visible, at, route.repeat_interval, receiver.send_resolved)
        notification: Notification | None = None
        if reason is not None:
            firing = tuple(a for a in visible if a.status == "firing")
            resolved = tuple(a for a in visible if a.status == "resolved")
            if firing or (resolved and receiver.send_resolved):
                group.sequence += 1
                notification = Notification(
                    key=group.key(group.sequence),
                    route=group.route,
                    receiver=group.receiver,
                    group_key=group.group_key,
                    group_labels=dict(group.labels),
                    sequence=group.sequence,
                    at=at,
                    reason=reason,
                    firing=firing,
                    resolved=resolved if receiver.send_resolved else (),
                    channels=receiver.slack_channels,
                )
            group.last = SentState(
                at,
                frozenset(f"{a.alert_id}/{a.severity}" for a in firing),
                frozenset(a.alert_id for a in resolved),
            )
        group.discard(a.alert_id for a in alerts if a.status == "resolved")
        if not group.alert_ids:
            del self._groups[group.ident]
        self._forget_unused()
        if not group.alert_ids:
            return notification
        group.next_tick = self._quiet_until(group, at, silences)
        return notification

    def _quiet_until(
        self, group: AlertGroup, at: datetime, silences: Sequence[Silence]
    ) -> datetime | None:
        """The next tick at which the group could notify if nothing else changes: its
        repeat time or a silence boundary (changes of alerts reschedule it anyway)."""
        route = self._routes[group.route]
        candidates = [t for s in silences for t in (s.starts_at, s.ends_at)]
        if group.last is not None and group.last.firing:
            # An overdue repeat means no alert of the group is visible: only a silence
            # boundary or a change of alerts (which reschedules) can alter that.
            candidates.append(group.last.at + route.repeat_interval)
        elif group.last is None:
            candidates.append(at + route.group_interval)
        candidates = [t for t in candidates if t > at]
        if not candidates:
            return None
        return next_grid_tick(group.first_tick, route.group_interval, min(candidates), strict=False)

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the groups, their alerts and what they sent."""
        return {
            "version": _STATE_VERSION,
            "now": None if self._now is None else self._now.isoformat(),
            "alerts": [a.as_dict() for a in self._alerts.values()],
            "groups": [g.to_state() for g in self._groups.values()],
        }

    @classmethod
    def from_state(cls, rule_set: RuleSet, state: Mapping[str, Any]) -> Self:
        """A router for ``rule_set`` continuing from :meth:`to_state` output. Groups of
        routes or receivers that no longer exist are dropped."""
        checked = _StateModel.model_validate(dict(state))
        if checked.version != _STATE_VERSION:
            raise ValueError(f"unsupported router state version {checked.version}")
        router = cls(rule_set)
        router._now = checked.now
        for alert in checked.alerts:
            router._alerts[alert.alert_id] = alert
            router._labels[alert.alert_id] = router.labels(alert)
        for g in checked.groups:
            if g.route not in router._routes or g.receiver not in router._receivers:
                continue
            last = g.last
            group = AlertGroup(
                g.route,
                g.receiver,
                g.group_key,
                dict(g.labels),
                started=g.started,
                first_tick=g.first_tick,
                next_tick=g.next_tick,
                sequence=g.sequence,
                alert_ids=[a for a in g.alert_ids if a in router._alerts],
                last=None
                if last is None
                else SentState(last.at, frozenset(last.firing), frozenset(last.resolved)),
            )
            if group.alert_ids:
                router._groups[group.ident] = group
        router._forget_unused()
        return router
