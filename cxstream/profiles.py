"""Customer profiles from CRM events: the newest event wins, field by field it carries.

The segment also keeps a short history of its changes, so that an answer is put in the
segment the customer had when answering (:meth:`CustomerProfile.segment_as_of`), even
when a later profile update was read before the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import from_json

from cxstream.events import CustomerEvent
from cxstream.history import History, dump_history, load_history, record_change, value_as_of

__all__ = ["CustomerProfile"]

_FIELDS = ("email", "name", "language", "segment", "country")
_LATEST_WINS = tuple(name for name in _FIELDS if name != "segment")


@dataclass(slots=True)
class CustomerProfile:
    """Contact details and preferences of one customer."""

    customer_id: str
    updated_at: datetime | None = None
    email: str | None = None
    name: str | None = None
    language: str | None = None
    segment: str | None = None
    country: str | None = None
    contact_opt_out: bool = False
    #: Segment changes; ``segment`` is the newest value.
    segments: History[str] = field(default_factory=list)

    def apply(self, event: CustomerEvent) -> bool:
        """Merge a profile event; an event older than the profile only adds its segment
        to the segment history.

        Returns whether the profile (or its segment history) changed.
        """
        changed = False
        if event.segment is not None and record_change(self.segments, event.ts, event.segment):
            self.segment = self.segments[-1][1]
            changed = True
        if self.updated_at is not None and event.ts < self.updated_at:
            return changed
        for name in _LATEST_WINS:
            value = getattr(event, name)
            if value is not None:
                setattr(self, name, value)
        if event.contact_opt_out is not None:
            self.contact_opt_out = event.contact_opt_out
        self.updated_at = event.ts
        return True

    def segment_as_of(self, as_of: datetime) -> str | None:
        """The segment the customer had at ``as_of`` (``None`` if none was known yet)."""
        return value_as_of(self.segments, as_of)

    def _plain_segments(self) -> History[str]:
        """The segment history that ``segment`` and ``updated_at`` alone stand for."""
        if self.segment is None or self.updated_at is None:
            return []
        return [(self.updated_at, self.segment)]

    def to_json(self) -> str:
        data: dict[str, object] = {
            name: getattr(self, name) for name in _FIELDS if getattr(self, name) is not None
        }
        if self.updated_at is not None:
            data["updated_at"] = self.updated_at.isoformat()
        if self.contact_opt_out:
            data["contact_opt_out"] = True
        if self.segments != self._plain_segments():
            data["segments"] = dump_history(self.segments)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    def as_tuple(self) -> tuple[Any, ...]:
        """Every field as one tuple of immutable values: a compact, independent copy that
        :meth:`from_tuple` turns back into an equal profile."""
        return (
            self.customer_id,
            self.updated_at,
            self.email,
            self.name,
            self.language,
            self.segment,
            self.country,
            self.contact_opt_out,
            tuple(self.segments),
        )

    @classmethod
    def from_tuple(cls, values: tuple[Any, ...]) -> CustomerProfile:
        """The inverse of :meth:`as_tuple` (a new profile whose history is its own)."""
        profile = cls(*values)
        profile.segments = list(profile.segments)
        return profile

    @classmethod
    def from_json(cls, customer_id: str, raw: str) -> CustomerProfile:
        data: dict[str, Any] = from_json(raw)
        updated = data.get("updated_at")
        profile = cls(
            customer_id=customer_id,
            updated_at=datetime.fromisoformat(updated) if updated else None,
            contact_opt_out=bool(data.get("contact_opt_out", False)),
        )
        for name in _FIELDS:
            setattr(profile, name, data.get(name))
        segments = data.get("segments")
        profile.segments = (
            load_history(segments, str) if segments is not None else profile._plain_segments()
        )
        return profile
