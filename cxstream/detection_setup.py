"""Build the detection stage that fits a state store, the settings and the rules.

The worker and ``cxstream replay`` both call :func:`detection_stage`, so they watch
the same KPIs with the same windows and detectors and route alerts the same way. With
a rule set (``rules_dir``), each KPI alert rule is one watch and its route tree turns
alerts into notifications; without, a built-in watch covers the usual KPIs. Model
checkpoints go where the state goes: into the same Redis for a Redis store, into
memory otherwise.
"""

from __future__ import annotations

from datetime import timedelta

from cxstream.checkpoints import CheckpointStore, MemoryCheckpointStore, RedisCheckpointStore
from cxstream.config import Settings
from cxstream.detect_stage import DetectionStage
from cxstream.firing import FiringAlerts, MemoryFiringAlerts, RedisFiringAlerts
from cxstream.memory_store import MemoryStateStore
from cxstream.planning import (
    ActionPlanner,
    MemoryPlannerState,
    MemoryProfileReader,
    RedisPlannerState,
    RedisProfileReader,
)
from cxstream.planning.digests import DigestPlanner
from cxstream.redis_store import RedisStateStore
from cxstream.report.build import ReportBuilder
from cxstream.report.sources import StoreReportSource
from cxstream.rules import RuleSet, load_rules
from cxstream.rules.silences import SilenceStore
from cxstream.store import StateStore
from cxstream.watches import Watch, default_watches

__all__ = [
    "action_planner",
    "checkpoint_store_for",
    "detection_stage",
    "digest_planner",
    "firing_alerts_for",
    "load_rule_set",
    "watches_for",
]


def action_planner(
    settings: Settings, store: StateStore, rule_set: RuleSet | None
) -> ActionPlanner | None:
    """The customer action planner for these rules (``None`` without customer rules),
    keeping its records beside the state: in the store's Redis, or in memory."""
    if rule_set is None or not (
        rule_set.delay_notice_rules or rule_set.apology_rules or rule_set.vip_task_rules
    ):
        return None
    partitions = settings.partitions
    if isinstance(store, RedisStateStore):
        return ActionPlanner(
            rule_set,
            RedisPlannerState(store.client, key_prefix=settings.key_prefix),
            partitions=partitions,
            profiles=RedisProfileReader(
                store.client, key_prefix=settings.key_prefix, partitions=partitions
            ),
        )
    if isinstance(store, MemoryStateStore):
        return ActionPlanner(
            rule_set,
            MemoryPlannerState(store),
            partitions=partitions,
            profiles=MemoryProfileReader(store),
        )
    raise TypeError(f"no planner state for a {type(store).__name__}")


def firing_alerts_for(settings: Settings, store: StateStore) -> FiringAlerts:
    """Where the firing alerts are shared: the store's Redis, or this process."""
    if isinstance(store, RedisStateStore):
        return RedisFiringAlerts(store.client, settings.key_prefix)
    return MemoryFiringAlerts()


def checkpoint_store_for(settings: Settings, store: StateStore) -> CheckpointStore:
    """Checkpoints beside the state: the store's Redis, or this process's memory."""
    if isinstance(store, RedisStateStore):
        return RedisCheckpointStore(store.client, settings.key_prefix)
    return MemoryCheckpointStore()


def load_rule_set(settings: Settings) -> RuleSet | None:
    """The rules of ``settings.rules_dir`` (``None`` when unset); raises
    :class:`~cxstream.rules.RulesError` naming every problem of an invalid rule set."""
    if settings.rules_dir is None:
        return None
    return load_rules(settings.rules_dir)


def watches_for(settings: Settings, rule_set: RuleSet | None = None) -> list[Watch]:
    """What to watch: the rule set's KPI alert rules, else the built-in watch."""
    lateness = timedelta(seconds=settings.allowed_lateness_s)
    if rule_set is not None and rule_set.kpi_rules:
        return [Watch.from_rule(r, settings.bucket_seconds, lateness) for r in rule_set.kpi_rules]
    return default_watches(settings.bucket_seconds, lateness)


def digest_planner(
    settings: Settings,
    store: StateStore,
    rule_set: RuleSet | None,
    *,
    firing: FiringAlerts | None = None,
    silences: SilenceStore | None = None,
    report_url: str | None = None,
) -> DigestPlanner | None:
    """The planner of the rule set's report digests (``None`` without digest rules): the
    traffic-light report over ``store``, with its firing alerts and silences."""
    if rule_set is None or not rule_set.digest_rules:
        return None
    source = StoreReportSource(store, settings.bucket_seconds, firing=firing, silences=silences)
    return DigestPlanner(
        rule_set,
        ReportBuilder(source, rule_set),
        partitions=settings.partitions,
        report_url=report_url,
    )


def detection_stage(
    settings: Settings,
    store: StateStore,
    checkpoints: CheckpointStore | None = None,
    rule_set: RuleSet | None = None,
    silences: SilenceStore | None = None,
    *,
    firing: FiringAlerts | None = None,
    report_url: str | None = None,
) -> DetectionStage:
    """The detection stage over ``store`` for these settings and rules (with the report
    digests of the rules; ``firing`` is where the reports read the firing alerts)."""
    return DetectionStage(
        store,
        checkpoints if checkpoints is not None else checkpoint_store_for(settings, store),
        watches_for(settings, rule_set),
        partitions=settings.partitions,
        rule_set=rule_set,
        silences=silences,
        digests=digest_planner(
            settings, store, rule_set, firing=firing, silences=silences, report_url=report_url
        ),
        report_url=report_url,
    )
