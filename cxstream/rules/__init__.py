"""Typed alerting and action rules, loaded from ``rules/*.yaml``."""
