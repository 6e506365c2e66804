"""Incidents that can be injected into the simulated shop to produce anomalies.

Each incident covers the event-time window ``[start, end)`` in one country; the
generator's configuration lists them in ``GeneratorConfig.incidents``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from cxstream.generator.calendar import to_utc

__all__ = ["AppNpsDropIncident", "CarrierDelayIncident", "Incident"]


class CarrierDelayIncident(BaseModel):
    """A carrier has trouble in one country during ``[start, end)``.

    Parcels of that carrier in that country that are in the network during the
    window (shipped before ``end`` and due on or after ``start``) arrive
    ``extra_delay_days`` later, many get a ``delivery_exception`` (``capacity``),
    and feedback on those orders scores lower and cites ``delivery_late``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["carrier_delay"] = "carrier_delay"
    country: str = Field(pattern=r"^[A-Z]{2}$")
    carrier: str = Field(pattern=r"^[a-z0-9_]+$")
    start: AwareDatetime
    end: AwareDatetime
    extra_delay_days: float = Field(default=3.0, gt=0.0, le=30.0)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    @model_validator(mode="after")
    def _check_window(self) -> CarrierDelayIncident:
        if self.end <= self.start:
            raise ValueError("incident end must be after its start")
        return self


class AppNpsDropIncident(BaseModel):
    """App-channel feedback in one country scores lower during ``[start, end)``.

    Every app answer given in the window has its latent score lowered by
    ``score_drop`` points and cites ``reason`` (e.g. a broken barcode scanner).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["app_nps_drop"] = "app_nps_drop"
    country: str = Field(pattern=r"^[A-Z]{2}$")
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(default="app_scan_failed", pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")
    score_drop: float = Field(default=4.0, ge=0.0, le=10.0)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    @model_validator(mode="after")
    def _check_window(self) -> AppNpsDropIncident:
        if self.end <= self.start:
            raise ValueError("incident end must be after its start")
        return self


#: Either kind of incident, told apart by its ``type`` field.
Incident = Annotated[CarrierDelayIncident | AppNpsDropIncident, Field(discriminator="type")]
