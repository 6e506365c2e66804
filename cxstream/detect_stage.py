"""The detection stage: close event-time windows, score every watched segment, raise alerts.

Both drivers run it after the engine has written a batch: replay after each batch,
the worker on a timer. :meth:`DetectionStage.advance` takes the stream's watermark
(see :mod:`cxstream.watermarks`); for every window that closed since the last call
it reads the window's counters of the segments this stage owns, scores each
watched KPI with the segment's own detectors (:class:`~cxstream.detection.SeriesMonitor`),
names the sub-segment that explains a deviation (:mod:`cxstream.drilldown`), and
turns the result into alert state changes (:class:`~cxstream.alerting.AlertTracker`).

What is watched is a list of :class:`~cxstream.watches.Watch` es (one per KPI alert
rule): which KPIs, over which window sizes, at which segment levels (``group_by``),
with which detector and alerting settings. Detections become alert conditions in
:mod:`cxstream.alert_conditions`; alert messages get their charts' history and report
link from :mod:`cxstream.alert_context`.

Late events: before the trackers advance, the stage reads the notes the engine left
for events that may have come after their window was judged
(:mod:`cxstream.late_events`) and reports how they changed judged windows
(:mod:`cxstream.corrections`); the notes are forgotten at the next commit.

Ownership and checkpoints: every series has an owner partition
(:func:`~cxstream.checkpoints.owner_of`, by country); the stage works for the owner
partitions it was :meth:`assigned <DetectionStage.assign>`; :meth:`DetectionStage.commit`
writes their model state, window positions and active alerts to the checkpoint store
in one write per owner. A stage that takes an owner over resumes from that
checkpoint. The driver stores the alert lines :meth:`~DetectionStage.advance` returned
*before* it commits: after a crash in between, the windows are scored again from the
previous checkpoint and give the same lines with the same ids, which downstream
deduplicates.

Report digests ride on the same watermark: with a
:class:`~cxstream.planning.digests.DigestPlanner`, each advance also decides the
``report_digest`` rules that came due, and their position is part of the owner's
checkpoint.

Windows start where the data starts: the first time an owner advances, its trackers
begin at the earliest bucket of its series, so a worker and a replay of the same
events judge the same windows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cxstream.alert_conditions import detected_conditions, threshold_conditions
from cxstream.alert_context import AlertContext
from cxstream.alerting import AlertTracker
from cxstream.checkpoints import CheckpointStore
from cxstream.corrections import affected_windows, corrections_of
from cxstream.detection import Detection, SeriesMonitor
from cxstream.late_events import LateEvent
from cxstream.records import ActionRecord, AlertRecord, CorrectionRecord
from cxstream.rules.routing import Router
from cxstream.rules.ruleset import RuleSet
from cxstream.rules.silences import Silence, SilenceStore
from cxstream.series_directory import SeriesDirectory
from cxstream.store import StateStore
from cxstream.watches import DEFAULT_LEVELS, Watch, default_watches
from cxstream.windows import (
    Window,
    WindowSpec,
    WindowTracker,
    bucket_range,
    window_counters,
    window_name,
)

if TYPE_CHECKING:
    from cxstream.planning.digests import DigestPlanner

__all__ = [
    "DEFAULT_LEVELS",
    "DetectionStage",
    "StageResult",
    "Watch",
    "default_watches",
    "window_name",
]

log = logging.getLogger("cxstream.detection")

_STATUS_ORDER = {"firing": 0, "resolved": 1}

#: Closed windows of one watch judged at once, however far the watermark moved; beyond
#: it only those holding data (and those resolving firing alerts) are (1000 hourly
#: windows: 41 days).
MAX_WINDOWS_JUDGED_AT_ONCE = 1000


@dataclass(slots=True, eq=False)
class _Slot:
    """One watch at one window size, for one owner partition."""

    watch: Watch
    spec: WindowSpec
    prefix: str
    tracker: WindowTracker | None
    monitor: SeriesMonitor
    alerts: AlertTracker
    restored: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Owner:
    slots: list[_Slot]
    raw: dict[str, str]
    router: Router | None = None


@dataclass(slots=True)
class StageResult:
    """What one :meth:`DetectionStage.advance` decided: alert state changes, the
    notifications the routing decided for them (``slack_alert`` actions), and
    corrections of judged windows."""

    alerts: list[AlertRecord] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    #: How late events changed the KPIs of windows judged before they arrived.
    corrections: list[CorrectionRecord] = field(default_factory=list)


class DetectionStage:
    """Windows, detectors and alerts of the owner partitions assigned to this process."""

    def __init__(
        self,
        store: StateStore,
        checkpoints: CheckpointStore,
        watches: Sequence[Watch],
        *,
        partitions: int,
        rule_set: RuleSet | None = None,
        silences: SilenceStore | None = None,
        digests: DigestPlanner | None = None,
        report_url: str | None = None,
    ) -> None:
        names = [w.rule for w in watches]
        if len(set(names)) != len(names):
            raise ValueError(f"watch rule names must be unique, got {names}")
        self.store = store
        self.checkpoints = checkpoints
        self.watches = tuple(watches)
        self.partitions = partitions
        self.rule_set = rule_set if rule_set is not None and rule_set.route is not None else None
        self.silences = silences
        self.digests = digests
        #: Recent windows and the report link for the alert messages.
        self.context = AlertContext(report_url)
        self._owners: dict[int, _Owner] = {}
        self.windows_closed = 0
        #: Closed windows not judged: empty ones after a jump of the watermark.
        self.windows_skipped = 0
        self.detections = 0
        self.corrections = 0
        self._pending: dict[int, dict[str, str]] = {}
        #: Series whose detector state changed since the last commit, per owner (their
        #: state is serialised at the commit, once however many windows were judged).
        self._dirty: dict[int, set[tuple[_Slot, str]]] = {}
        #: Late-event notes dealt with, forgotten at the next commit.
        self._late_done: dict[int, set[str]] = {}
        #: The start of the earliest bucket of data this stage began tracking windows at
        #: (a digest rule seen for the first time counts its scheduled times from there).
        self._data_start: datetime | None = None
        #: The series some watch watches, by owner (every owner has a slot per watch).
        self._directory = SeriesDirectory(
            partitions, keep=lambda dims: any(w.watches(dims) for w in self.watches)
        )

    @property
    def owners(self) -> list[int]:
        return sorted(self._owners)

    async def assign(self, owners: Iterable[int]) -> None:
        """Take these owner partitions over, from their checkpoints."""
        for owner in sorted(set(owners) - self._owners.keys()):
            raw = await self.checkpoints.load(owner)
            slots = []
            for watch in self.watches:
                for spec in watch.windows:
                    prefix = f"{watch.rule}|{window_name(spec)}|"
                    tracker_state = raw.get(prefix + "tracker")
                    tracker = (
                        WindowTracker.from_state(spec, json.loads(tracker_state))
                        if tracker_state
                        else None
                    )
                    alerts = AlertTracker(watch.rule, watch.alerting)
                    if alerts_state := raw.get(prefix + "alerts"):
                        alerts.restore(json.loads(alerts_state))
                    monitor = SeriesMonitor(watch.detection)
                    slots.append(_Slot(watch, spec, prefix, tracker, monitor, alerts))
            router: Router | None = None
            if self.rule_set is not None:
                router_state = raw.get("router")
                router = (
                    Router.from_state(self.rule_set, json.loads(router_state))
                    if router_state
                    else Router(self.rule_set)
                )
            self._owners[owner] = _Owner(slots, raw, router)

    def revoke(self, owners: Iterable[int]) -> None:
        """Let these owner partitions go (their state is in the last checkpoint; what was
        not committed is judged again by the next owner)."""
        for owner in owners:
            self._owners.pop(owner, None)
            self._pending.pop(owner, None)
            self._dirty.pop(owner, None)
            self._late_done.pop(owner, None)

    async def commit(self) -> None:
        """Write the checkpoints of what :meth:`advance` judged. Call it once the alert
        lines it returned are safely stored; safe to repeat after a failure."""
        for owner, dirty in self._dirty.items():
            fields = self._pending.setdefault(owner, {})
            for slot, sid in dirty:
                fields[slot.prefix + "s|" + sid] = json.dumps(
                    slot.monitor.to_state(sid), separators=(",", ":")
                )
        self._dirty.clear()
        for owner in sorted(self._pending):
            await self.checkpoints.save(owner, self._pending[owner])
            del self._pending[owner]
        for owner in sorted(self._late_done):
            if done := self._late_done[owner]:
                await self.store.forget_late(owner, sorted(done))
            del self._late_done[owner]

    async def advance(self, watermark: datetime) -> StageResult:
        """Close the windows the watermark passed: the alert state changes, and the
        notifications routing decided up to the end of the last closed window."""
        result = StageResult()
        if not self._owners:
            return result
        late = await self.store.late_events(self.owners)
        silences: list[Silence] = []
        if self.silences is not None and self.rule_set is not None:
            silences = await self.silences.list_silences(watermark)
        listed = False
        for owner_id in sorted(self._owners):
            owner = self._owners[owner_id]
            done = self._late_done.setdefault(owner_id, set())
            notes = {k: v for k, v in late.get(owner_id, {}).items() if k not in done}
            mine: Mapping[str, Mapping[str, str]] = {}
            if notes or any(
                slot.tracker is None or slot.tracker.closes_by(watermark) for slot in owner.slots
            ):
                # The series are needed only when windows close or late events came.
                if not listed:
                    self._directory.update(await self.store.series())
                    listed = True
                mine = self._directory.owned(owner_id)
            if notes:
                # Before the trackers advance: notes of windows judged only now are in
                # their judgement already.
                result.corrections += await self._correct(owner, mine, notes)
                done.update(notes)
            alerts = await self._advance_owner(owner_id, owner, mine, watermark)
            alerts.sort(key=_alert_order)
            result.alerts += alerts
            result.actions += self._route(owner_id, owner, alerts, silences)
        if self.digests is not None:
            # After every owner advanced: the start of the data is known then.
            for owner_id in sorted(self._owners):
                owner = self._owners[owner_id]
                digests, fields = await self.digests.due(
                    [owner_id], watermark, owner.raw, since=self._data_start
                )
                result.actions += digests
                owner.raw.update(fields)
                self._pending.setdefault(owner_id, {}).update(fields)
        result.alerts.sort(key=_alert_order)
        result.actions.sort(key=lambda a: (a.at, a.action_id))
        result.corrections.sort(key=lambda c: (c.window_start, c.rule, c.correction_id))
        return result

    async def _correct(
        self, owner: _Owner, mine: Mapping[str, Mapping[str, str]], raw: Mapping[str, str]
    ) -> list[CorrectionRecord]:
        """Corrections of the owner's judged windows that noted late events changed."""
        notes = [LateEvent.from_json(event_id, note) for event_id, note in raw.items()]
        found = []
        for slot in owner.slots:
            if slot.tracker is None:
                continue
            watched = {sid for sid, dims in mine.items() if slot.watch.watches(dims)}
            if windows := affected_windows(slot.tracker, notes, watched):
                found.append((slot, windows))
        if not found:
            return []
        ranges = [
            bucket_range(window, slot.spec.bucket_seconds)
            for slot, windows in found
            for window, _ in windows
        ]
        sids = sorted({sid for _, windows in found for _, sid in windows})
        data = await self.store.read_buckets(
            sids, min(r[0] for r in ranges), max(r[1] for r in ranges)
        )
        out: list[CorrectionRecord] = []
        for slot, windows in found:
            out += corrections_of(
                slot.watch.rule,
                slot.spec,
                windows,
                buckets_by_series=data,
                dims=mine,
                kpis=slot.watch.detection.kpis,
            )
        self.corrections += len(out)
        return out

    def _route(
        self, owner_id: int, owner: _Owner, alerts: list[AlertRecord], silences: list[Silence]
    ) -> list[ActionRecord]:
        """Route an owner's alerts up to the end of its last closed window (not up to the
        watermark: the same events then give the same notifications however often the
        stage is advanced)."""
        router = owner.router
        ends = [slot.tracker.closed_until for slot in owner.slots if slot.tracker is not None]
        now = max((e for e in ends if e is not None), default=None)
        if router is None or now is None:
            return []
        if router.now is not None and now <= router.now and not alerts:
            return []
        notifications = router.process(alerts, now, silences)
        state = json.dumps(router.to_state(), separators=(",", ":"), default=str)
        if owner.raw.get("router") != state:
            owner.raw["router"] = state
            self._pending.setdefault(owner_id, {})["router"] = state
        return [self.context.enrich(n.action()) for n in notifications]

    async def _advance_owner(
        self,
        owner_id: int,
        owner: _Owner,
        mine: Mapping[str, Mapping[str, str]],
        watermark: datetime,
    ) -> list[AlertRecord]:
        if any(slot.tracker is None for slot in owner.slots):
            if not mine:
                return []
            buckets = await self.store.read_buckets(sorted(mine))
            first = min((min(b) for b in buckets.values() if b), default=None)
            if first is None:
                return []
            for slot in owner.slots:
                if slot.tracker is None:
                    start = datetime.fromtimestamp(first * slot.spec.bucket_seconds, tz=UTC)
                    slot.tracker = WindowTracker(slot.spec, start=start)
                    if self._data_start is None or start < self._data_start:
                        self._data_start = start
        closed: list[tuple[_Slot, range]] = []
        for slot in owner.slots:
            assert slot.tracker is not None
            span = slot.tracker.advance_indices(watermark)
            if span:
                closed.append((slot, span))
        if not closed:
            return []
        ranges = [
            bucket_range(slot.spec.window(k), slot.spec.bucket_seconds)
            for slot, span in closed
            for k in (span[0], span[-1])
        ]
        first_bucket = min(r[0] for r in ranges)
        last_bucket = max(r[1] for r in ranges)
        data = await self.store.read_buckets(sorted(mine), first_bucket, last_bucket)
        out: list[AlertRecord] = []
        fields: dict[str, str] = {}
        for slot, span in closed:
            watched = {sid: dims for sid, dims in mine.items() if slot.watch.watches(dims)}
            touched: set[str] = set()
            for window in self._windows_to_judge(slot, span, data):
                self.windows_closed += 1
                out += self._judge_window(slot, owner, window, watched, data, touched)
            dirty = self._dirty.setdefault(owner_id, set())
            dirty.update((slot, sid) for sid in touched)
            assert slot.tracker is not None
            fields[slot.prefix + "tracker"] = json.dumps(slot.tracker.to_state())
            fields[slot.prefix + "alerts"] = json.dumps(
                slot.alerts.to_state(), separators=(",", ":"), default=str
            )
        owner.raw.update(fields)
        self._pending.setdefault(owner_id, {}).update(fields)
        return out

    def _windows_to_judge(
        self, slot: _Slot, span: range, data: Mapping[str, Mapping[int, object]]
    ) -> Iterator[Window]:
        """The closed windows ``span`` of ``slot`` to judge, in order: all of them, unless
        there are more than :data:`MAX_WINDOWS_JUDGED_AT_ONCE` (the watermark jumped far
        ahead, e.g. to an implausible event time). Then only the windows holding data, and
        after each the windows that still count toward resolving a firing alert; the
        windows between, judged, would change nothing. Evaluated lazily: the alert state
        is that after the windows judged before."""
        spec = slot.spec
        if len(span) <= MAX_WINDOWS_JUDGED_AT_ONCE:
            for k in span:
                yield spec.window(k)
            return
        with_data = sorted(
            {
                k
                for buckets in data.values()
                for bucket in buckets
                for k in spec.indices_for_bucket(bucket)
                if k in span
            }
        )
        log.warning(
            "event time jumped %d windows of %s ahead at once (%s to %s); judging the %d "
            "that hold data",
            len(span),
            window_name(spec),
            spec.window(span[0]).start.isoformat(),
            spec.window(span[-1]).end.isoformat(),
            len(with_data),
            extra={"stage": "detection"},
        )
        k = span.start
        for next_with_data in [*with_data, span.stop]:
            while k < next_with_data and slot.alerts.active:
                yield spec.window(k)  # counts toward resolving what is firing
                k += 1
            self.windows_skipped += max(0, next_with_data - k)
            if next_with_data < span.stop:
                yield spec.window(next_with_data)
            k = next_with_data + 1

    def _judge_window(
        self,
        slot: _Slot,
        owner: _Owner,
        window: Window,
        watched: Mapping[str, Mapping[str, str]],
        data: Mapping[str, Mapping[int, Mapping[str, float]]],
        touched: set[str],
    ) -> list[AlertRecord]:
        bucket_seconds = slot.spec.bucket_seconds
        counters: dict[str, dict[str, float]] = {}
        detections: dict[str, list[Detection]] = {}
        if slot.watch.threshold is not None:
            conditions, scored = threshold_conditions(
                slot.watch, bucket_seconds, window, watched, data
            )
            return slot.alerts.update(window, conditions, scored | conditions.keys())
        for sid in sorted(watched):
            c = window_counters(data.get(sid, {}), window, bucket_seconds)
            if not c:
                continue
            counters[sid] = c
            if sid not in slot.restored:
                slot.restored.add(sid)
                if state := owner.raw.get(slot.prefix + "s|" + sid):
                    slot.monitor.from_state(sid, json.loads(state))
            found = slot.monitor.observe(sid, window, c)
            if found:
                touched.add(sid)
                detections[sid] = found
                self.detections += len(found)
                for d in found:
                    self.context.remember(slot.watch.rule, slot.spec.size_seconds, sid, d)
        conditions = detected_conditions(slot.watch, window, watched, counters, detections)
        scored = {f"{sid}|{d.kpi}" for sid, found in detections.items() for d in found}
        return slot.alerts.update(window, conditions, scored | conditions.keys())


def _alert_order(record: AlertRecord) -> tuple[datetime, int, str, str]:
    return (record.at, _STATUS_ORDER[record.status], record.rule, record.alert_id)
