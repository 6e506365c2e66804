"""Realistic synthetic CX event stream for demos, tests and benchmarks.

Simulates a multi-country online shop and emits the three contract event kinds
(see ``EVENTS.md``) in event-time order:

* ``customer``: a stable customer population; a CRM profile is emitted when a
  customer first appears and occasionally updated afterwards (latest wins).
* ``logistics``: each order's lifecycle, from ``order_placed`` through shipping
  and delivery to an optional return and refund, with consistent ids, carriers,
  promised dates and moving ETAs.
* ``feedback``: post-delivery (and post-refund, and support) survey answers whose
  score distribution depends on the country's base NPS and strongly on what
  actually happened to the order (lateness, exceptions, damage, wrong item).

Order volume follows a daily and weekly rhythm in each country's local time, and
the baseline carries realistic day-to-day noise. Incidents (a carrier delay, an
app NPS drop) can be injected for a time window to produce anomalies a detector
should find. A few warm-up days are simulated but not emitted, so the stream
starts in steady state. Output is deterministic for a seed and streamed day by
day with a carry-over buffer, so a month of data never has to sit in memory.

:func:`generate_events` yields the events; :func:`generate_lines` adds malformed
raw lines for dead-letter demos; :func:`write_jsonl` writes either to (gzipped)
JSON Lines.
"""

from cxstream.generator.config import GeneratorConfig
from cxstream.generator.incidents import AppNpsDropIncident, CarrierDelayIncident, Incident
from cxstream.generator.output import generate_events, generate_lines, write_jsonl
from cxstream.generator.profiles import CarrierProfile, CountryProfile, default_countries

__all__ = [
    "AppNpsDropIncident",
    "CarrierDelayIncident",
    "CarrierProfile",
    "CountryProfile",
    "GeneratorConfig",
    "Incident",
    "default_countries",
    "generate_events",
    "generate_lines",
    "write_jsonl",
]
