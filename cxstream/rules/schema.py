"""The JSON Schema of a rules file, for editors (yaml-language-server) and checks.

Put ``# yaml-language-server: $schema=./schema.json`` at the top of a rules file and
write the schema next to it with ``cxstream rules schema --out rules/schema.json``;
editors then complete keys, show each field's description and flag mistakes as you
type. ``cxstream rules check`` remains the authority: it also checks what a schema
cannot express (cross-references, KPI names, time zones).

>>> schema = rules_json_schema()
>>> sorted(schema["properties"])
['countries', 'defaults', 'inhibit_rules', 'receivers', 'route', 'rules', 'voucher_pools']
"""

from __future__ import annotations

import json
from datetime import time, timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from cxstream.rules.base import format_duration
from cxstream.rules.ruleset import RuleFile

__all__ = ["SCHEMA_ID", "rules_json_schema", "rules_json_schema_text"]

SCHEMA_ID = "https://cxstream.dev/schemas/rules.json"


class _RulesSchema(GenerateJsonSchema):
    """Writes durations and times of day in defaults as a rules file does (``30d``)."""

    def encode_default(self, dft: Any) -> Any:
        return super().encode_default(_as_written(dft))


def _as_written(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, time):
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, tuple | list):
        return [_as_written(v) for v in value]
    return value


def _closed(node: Any) -> None:
    """Mappings whose keys follow a pattern accept no other keys (``additionalProperties``
    is left open by default when only ``patternProperties`` are given)."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)


def rules_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one rules file."""
    schema = RuleFile.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_RulesSchema
    )
    _closed(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cxstream rules file",
        "description": "Alert and action rules, routing, receivers and silencing inputs of"
        " cxstream; see docs/rules.md.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def rules_json_schema_text() -> str:
    """The schema as the text ``cxstream rules schema`` writes (stable, ends in a newline)."""
    return json.dumps(rules_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
