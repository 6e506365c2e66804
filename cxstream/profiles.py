"""Customer profiles from CRM events: the newest event wins, field by field it carries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from cxstream.events import CustomerEvent

__all__ = ["CustomerProfile"]

_FIELDS = ("email", "name", "language", "segment", "country")


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

    def apply(self, event: CustomerEvent) -> bool:
        """Merge a profile event; an event older than the profile is ignored.

        Returns whether the profile changed.
        """
        if self.updated_at is not None and event.ts < self.updated_at:
            return False
        for name in _FIELDS:
            value = getattr(event, name)
            if value is not None:
                setattr(self, name, value)
        if event.contact_opt_out is not None:
            self.contact_opt_out = event.contact_opt_out
        self.updated_at = event.ts
        return True

    def to_json(self) -> str:
        data: dict[str, object] = {
            name: getattr(self, name) for name in _FIELDS if getattr(self, name) is not None
        }
        if self.updated_at is not None:
            data["updated_at"] = self.updated_at.isoformat()
        if self.contact_opt_out:
            data["contact_opt_out"] = True
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, customer_id: str, raw: str) -> CustomerProfile:
        data = json.loads(raw)
        updated = data.get("updated_at")
        profile = cls(
            customer_id=customer_id,
            updated_at=datetime.fromisoformat(updated) if updated else None,
            contact_opt_out=bool(data.get("contact_opt_out", False)),
        )
        for name in _FIELDS:
            setattr(profile, name, data.get(name))
        return profile
