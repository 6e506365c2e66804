"""KPI definitions: what a window's summed counters say about a segment.

Every KPI is a ratio of two counters (see :mod:`cxstream.counters`) of one window of
one series: ``value = scale * (numerator - minus) / denominator``. The denominator is
the volume the KPI rests on; a KPI whose denominator is 0 in a window has no value
there and is skipped.

Some KPIs are *proportions*: their numerator counts a subset of the units their
denominator counts, in the same window and from the same events (detractors out of
answers, late deliveries out of deliveries). For those a :class:`KpiValue` also
carries ``successes`` and ``trials``, so that a volume-aware detector (see
:class:`~cxstream.detectors.RateDetector`) can tell sampling noise from a real change.

- ``nps``: 100 (promoters - detractors) / responses, in points; higher is better;
- ``detractor_rate``: detractors / responses (proportion);
- ``reason_share:<code>``: reason:<code> / responses (proportion), one per reason;
- ``effort_mean``: effort_sum / effort_n (Customer Effort Score, 1 very easy, 7 very hard);
- ``late_detractor_share``: detractors_late / detractors_linked (proportion);
- ``late_rate``: delivered_late / delivered (proportion);
- ``predicted_late_rate``: predicted_late / shipped;
- ``exception_rate``: exceptions / shipped;
- ``mean_delay_days``: delay_days / delivered_late;
- ``refund_days``: refund_hours / refunds_timed / 24;
- ``response_rate``: responses / delivered (a counted rate: answers come days after
  their delivery, so the two counts of one window are not the same orders).

For all but NPS and the response rate a higher value is worse.

NPS is given in points (-100 to 100), as the headline figures show it. It is a
difference of two shares, not a proportion, so it has no successes/trials; its
volume-aware counterpart is ``detractor_rate``.

``predicted_late_rate`` and ``exception_rate`` are rates per shipped order. An order is
counted as predicted late once, when its eta (a carrier scan or prediction) first moves
past the promised date; etas and exceptions concern orders on their way, so shipped
orders are the population at risk. Placed orders would also count orders still in the
warehouse, whose number follows the ordering rhythm rather than the carriers' load.
Both numerators count events that happen in later windows than the shipment they
belong to (and an order can have several exceptions), so the ratio can exceed 1. They
are *counted rates*: small counts of events per unit of volume, whose chance
variation depends on the volume just as a proportion's does. While the count does not
exceed the volume they carry ``successes`` and ``trials`` too, so that one exception
among twenty shipments is judged as the chance event it is; otherwise they are scored
as plain values.

``late_detractor_share`` is the share of the detractors whose order is known that
had a late order: it rises when lateness explains more of the detractors.

>>> kpis = compute_kpis({"responses": 10, "promoters": 5, "detractors": 2, "reason:price": 1})
>>> sorted(kpis)
['detractor_rate', 'nps', 'reason_share:price']
>>> kpis["nps"].value, kpis["nps"].higher_is_worse
(30.0, False)
>>> d = kpis["detractor_rate"]
>>> d.value, d.successes, d.trials, d.volume
(0.2, 2, 10, 10)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "KPI_NAMES",
    "REASON_SHARE_PREFIX",
    "Kpi",
    "KpiValue",
    "UnknownKpiError",
    "compute_kpis",
    "parse_kpi",
    "reason_share",
]

#: Prefix of the per-reason share KPIs, e.g. ``reason_share:delivery_late``.
REASON_SHARE_PREFIX = "reason_share:"
_REASON_COUNTER = "reason:"
_REASON_CODE = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class Kpi:
    """How one KPI is computed from a window's summed counters.

    ``value = scale * (numerator - minus) / denominator``; ``denominator`` is the
    volume the KPI rests on. ``proportion`` says that ``numerator`` counts a subset of
    the units ``denominator`` counts (then ``minus`` is ``None`` and ``scale`` 1).

    >>> parse_kpi("late_rate").compute({"delivered": 40, "delivered_late": 6}).value
    0.15
    >>> parse_kpi("late_rate").compute({"delivered_late": 6}) is None
    True
    """

    name: str
    numerator: str
    denominator: str
    higher_is_worse: bool = True
    proportion: bool = False
    counted: bool = False
    minus: str | None = None
    scale: float = 1.0
    unit: str = "share"
    description: str = ""

    def __post_init__(self) -> None:
        if self.proportion and (self.minus is not None or self.scale != 1.0):
            raise ValueError(f"KPI {self.name!r}: a proportion has no 'minus' and scale 1")

    def compute(self, counters: Mapping[str, float]) -> KpiValue | None:
        """The KPI's value in a window with these counters, or ``None`` if its
        denominator is 0 there."""
        denominator = counters.get(self.denominator, 0.0)
        if denominator <= 0:
            return None
        numerator = counters.get(self.numerator, 0.0)
        if self.minus is not None:
            numerator -= counters.get(self.minus, 0.0)
        value = self.scale * numerator / denominator
        volume = round(denominator)
        if self.proportion or self.counted:
            successes = round(numerator)
            if 0 <= successes <= volume:
                return KpiValue(self, value, volume, successes, volume)
        return KpiValue(self, value, volume)


@dataclass(frozen=True, slots=True)
class KpiValue:
    """One KPI's value in one window, with the volume it rests on.

    ``successes`` out of ``trials`` are set for proportions (``None`` otherwise, and for
    the rare window whose counts do not form a proportion, e.g. an answer that gave
    the same reason twice).
    """

    kpi: Kpi
    value: float
    volume: int
    successes: int | None = None
    trials: int | None = None

    @property
    def name(self) -> str:
        return self.kpi.name

    @property
    def higher_is_worse(self) -> bool:
        return self.kpi.higher_is_worse


_DEFINITIONS: tuple[Kpi, ...] = (
    Kpi(
        "nps",
        "promoters",
        "responses",
        higher_is_worse=False,
        minus="detractors",
        scale=100.0,
        unit="points",
        description="Net Promoter Score: % promoters minus % detractors",
    ),
    Kpi(
        "detractor_rate",
        "detractors",
        "responses",
        proportion=True,
        description="share of answers scoring 0-6",
    ),
    Kpi(
        "effort_mean",
        "effort_sum",
        "effort_n",
        unit="score",
        description="mean Customer Effort Score (1 very easy, 7 very hard)",
    ),
    Kpi(
        "late_detractor_share",
        "detractors_late",
        "detractors_linked",
        proportion=True,
        description="share of detractors with a known order whose order was late",
    ),
    Kpi(
        "late_rate",
        "delivered_late",
        "delivered",
        proportion=True,
        description="share of deliveries after the promised date",
    ),
    Kpi(
        "predicted_late_rate",
        "predicted_late",
        "shipped",
        counted=True,
        description="orders newly predicted late (eta past the promise) per shipped order",
    ),
    Kpi(
        "exception_rate",
        "exceptions",
        "shipped",
        counted=True,
        description="delivery exceptions per shipped order",
    ),
    Kpi(
        "mean_delay_days",
        "delay_days",
        "delivered_late",
        unit="days",
        description="mean days past the promised date of late deliveries",
    ),
    Kpi(
        "refund_days",
        "refund_hours",
        "refunds_timed",
        scale=1.0 / 24.0,
        unit="days",
        description="mean days from a return's receipt to its refund",
    ),
    Kpi(
        "response_rate",
        "responses",
        "delivered",
        higher_is_worse=False,
        counted=True,
        description="survey answers per delivered order (both counted in the window)",
    ),
)
_BY_NAME: dict[str, Kpi] = {kpi.name: kpi for kpi in _DEFINITIONS}

#: The KPIs with a fixed name; besides them there is one ``reason_share:<code>`` per reason.
KPI_NAMES: tuple[str, ...] = tuple(_BY_NAME)


class UnknownKpiError(ValueError):
    """A KPI name that is neither a known KPI nor ``reason_share:<code>``."""


@lru_cache(maxsize=4096)
def _reason_share(code: str) -> Kpi:
    return Kpi(
        f"{REASON_SHARE_PREFIX}{code}",
        f"{_REASON_COUNTER}{code}",
        "responses",
        proportion=True,
        description=f"share of answers giving the reason {code!r}",
    )


def reason_share(code: str) -> Kpi:
    """The share of answers giving the reason ``code``.

    >>> reason_share("delivery_late").numerator
    'reason:delivery_late'
    """
    if not _REASON_CODE.fullmatch(code):
        raise UnknownKpiError(
            f"invalid reason code {code!r} in KPI '{REASON_SHARE_PREFIX}{code}': codes are"
            f" lower-case letters, digits and '_' (e.g. {REASON_SHARE_PREFIX}delivery_late)"
        )
    return _reason_share(code)


def parse_kpi(name: str) -> Kpi:
    """The KPI called ``name``; :class:`UnknownKpiError` (a ``ValueError``) with the
    known names if there is none.

    >>> parse_kpi("reason_share:delivery_late").denominator
    'responses'
    >>> try:
    ...     parse_kpi("late_rat")
    ... except UnknownKpiError as error:
    ...     print(error)
    unknown KPI 'late_rat' (did you mean 'late_rate'?); known KPIs are nps, ...
    """
    kpi = _BY_NAME.get(name)
    if kpi is not None:
        return kpi
    if name.startswith(REASON_SHARE_PREFIX):
        return reason_share(name[len(REASON_SHARE_PREFIX) :])
    close = difflib.get_close_matches(name.lower(), [*KPI_NAMES, REASON_SHARE_PREFIX], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownKpiError(
        f"unknown KPI {name!r}{hint}; known KPIs are {', '.join(KPI_NAMES)}"
        f" and {REASON_SHARE_PREFIX}<code> for a reason code such as delivery_late"
    )


def compute_kpis(
    counters: Mapping[str, float], names: Iterable[str] | None = None
) -> dict[str, KpiValue]:
    """The KPIs of a window with these summed counters, by name.

    Without ``names``: every fixed KPI (in :data:`KPI_NAMES` order), then the share of
    every reason present in the counters (by code). KPIs whose denominator is 0 are
    left out. Unknown names raise :class:`UnknownKpiError` before anything is computed.

    >>> counters = {"responses": 4, "detractors": 1, "reason:price": 1, "delivered": 0}
    >>> list(compute_kpis(counters))
    ['nps', 'detractor_rate', 'reason_share:price']
    >>> list(compute_kpis(counters, ["late_rate", "reason_share:app_crash"]))
    ['reason_share:app_crash']
    """
    if names is None:
        codes = sorted(k[len(_REASON_COUNTER) :] for k in counters if k.startswith(_REASON_COUNTER))
        kpis = [*_DEFINITIONS, *(_reason_share(code) for code in codes)]
    else:
        kpis = [parse_kpi(name) for name in names]
    out: dict[str, KpiValue] = {}
    for kpi in kpis:
        value = kpi.compute(counters)
        if value is not None:
            out[kpi.name] = value
    return out
