"""cxstream: real-time alert engine for customer-experience operations."""

__all__: list[str] = []
