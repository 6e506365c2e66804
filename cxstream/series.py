"""Segment series: which slice of the traffic a rolling aggregate describes.

A series is a combination of dimension values, e.g. ``{"country": "DE",
"channel": "app"}``; the empty combination is the whole shop. Its id is a
stable, Redis-hash-tag-safe string used in keys and files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote, unquote

from cxstream.config import DIMENSIONS, Dimension

__all__ = [
    "ALL_SERIES_ID",
    "series_dims",
    "series_for_values",
    "series_id",
    "series_ids_for",
]

ALL_SERIES_ID = "all"
_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


def series_id(dims: Mapping[str, str]) -> str:
    """The id of the series with these dimension values (order independent).

    >>> series_id({"channel": "app", "country": "DE"})
    'country=DE,channel=app'
    >>> series_id({})
    'all'
    """
    if not dims:
        return ALL_SERIES_ID
    parts = [f"{d}={quote(dims[d], safe=_SAFE)}" for d in DIMENSIONS if d in dims]
    return ",".join(parts)


def series_dims(sid: str) -> dict[str, str]:
    """Inverse of :func:`series_id`.

    >>> series_dims("country=DE,channel=app")
    {'country': 'DE', 'channel': 'app'}
    """
    if sid == ALL_SERIES_ID:
        return {}
    out: dict[str, str] = {}
    for part in sid.split(","):
        name, _, value = part.partition("=")
        out[name] = unquote(value)
    return out


@lru_cache(maxsize=65536)
def series_for_values(
    combos: tuple[tuple[Dimension, ...], ...],
    country: str | None,
    region: str | None,
    channel: str | None,
    segment: str | None,
    carrier: str | None,
) -> tuple[tuple[str, dict[str, str]], ...]:
    """Cached :func:`series_ids_for` for the five known dimensions (the hot path)."""
    values = {
        "country": country,
        "region": region,
        "channel": channel,
        "segment": segment,
        "carrier": carrier,
    }
    return tuple(series_ids_for(combos, values))


def series_ids_for(
    combos: Iterable[tuple[Dimension, ...]], values: Mapping[str, str | None]
) -> list[tuple[str, dict[str, str]]]:
    """Series an event with these dimension values contributes to.

    A combination is skipped when one of its dimensions is unknown for the event
    (feedback without an order has no carrier).

    >>> [s for s, _ in series_ids_for([(), ("country", "carrier")], {"country": "DE"})]
    ['all']
    """
    out: list[tuple[str, dict[str, str]]] = []
    for combo in combos:
        dims: dict[str, str] = {}
        for d in combo:
            v = values.get(d)
            if not v:
                break
            dims[d] = v
        else:
            out.append((series_id(dims), dims))
    return out
