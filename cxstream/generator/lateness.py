"""How late parcels arrive: lateness distributions and per-carrier late rates.

A country's late rate covers both exception shipments (most of which arrive late) and
plain late ones; carriers differ by their ``late_factor``.
"""

from __future__ import annotations

from cxstream.generator.profiles import CountryProfile

__all__ = ["EXCEPTION_LATE", "EXCEPTION_LATE_SHARE", "PLAIN_LATE", "plain_late_rates"]

#: Extra lateness of an exception shipment (days after the promised date).
EXCEPTION_LATE = ((0, 1, 2, 3), (0.2, 0.65, 0.9, 1.0))
#: Share of exception shipments that arrive late (``EXCEPTION_LATE`` above 0).
EXCEPTION_LATE_SHARE = 0.8
#: Lateness of an ordinary late shipment.
PLAIN_LATE = ((1, 2, 3), (0.62, 0.89, 1.0))


def plain_late_rates(profile: CountryProfile) -> dict[str, float]:
    """Per carrier, the late rate of shipments without an exception.

    Carrier factors are renormalised so that the country's overall late rate, exception
    shipments included, stays ``profile.late_rate``.
    """
    mean_factor = sum(c.weight * c.late_factor for c in profile.carriers) / sum(
        c.weight for c in profile.carriers
    )
    late_from_exceptions = profile.exception_rate * EXCEPTION_LATE_SHARE
    return {
        c.name: max(
            0.0,
            (profile.late_rate * c.late_factor / mean_factor - late_from_exceptions)
            / (1.0 - profile.exception_rate),
        )
        for c in profile.carriers
    }
