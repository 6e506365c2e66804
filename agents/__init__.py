"""Faust agents that drive the cxstream engine from Kafka (installed as ``cxstream.agents``)."""

from __future__ import annotations

__all__: list[str] = []
