"""What the detection stage watches: one :class:`Watch` per KPI alert rule.

A watch names the KPIs, the window sizes, the segment levels (``group_by``) and the
detector and alerting settings of one rule; :func:`default_watches` is the built-in
watch used without rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from cxstream.alerting import AlertingConfig
from cxstream.config import Dimension
from cxstream.detection import DetectionConfig
from cxstream.rules.kpi_rules import FixedThreshold, KpiAlertRule
from cxstream.windows import WindowSpec

__all__ = ["DEFAULT_LEVELS", "Watch", "default_watches"]

#: Segment levels watched by default: each country, and each country by one more dimension.
DEFAULT_LEVELS: tuple[tuple[Dimension, ...], ...] = (
    ("country",),
    ("country", "channel"),
    ("country", "segment"),
    ("country", "carrier"),
    ("country", "region"),
)


@dataclass(frozen=True, slots=True)
class Watch:
    """What one KPI alert rule asks the stage to watch."""

    rule: str
    windows: tuple[WindowSpec, ...]
    levels: tuple[tuple[Dimension, ...], ...] = DEFAULT_LEVELS
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    threshold: FixedThreshold | None = None
    _level_keys: frozenset[frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_level_keys", frozenset(frozenset(lv) for lv in self.levels))

    @classmethod
    def from_rule(cls, rule: KpiAlertRule, bucket_seconds: int, lateness: timedelta) -> Watch:
        """What a KPI alert rule watches."""
        return cls(
            rule=rule.name,
            windows=rule.window_specs(bucket_seconds, lateness),
            levels=rule.group_by,
            detection=rule.detection_config(),
            alerting=rule.alerting_config(),
            threshold=rule.threshold,
        )

    def watches(self, dims: Mapping[str, str]) -> bool:
        """Whether a series with these dimensions is at one of the watched levels."""
        return frozenset(dims) in self._level_keys


def default_watches(bucket_seconds: int = 900, lateness: timedelta | None = None) -> list[Watch]:
    """The built-in watch: the default KPIs over hourly and daily windows."""
    late = lateness if lateness is not None else timedelta(minutes=10)
    specs = tuple(
        WindowSpec(size=size, allowed_lateness=late, bucket_seconds=bucket_seconds)
        for size in (timedelta(hours=1), timedelta(days=1))
    )
    return [Watch("kpi_deviation", specs)]
