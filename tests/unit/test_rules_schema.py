"""The JSON Schema of rule files: committed copy up to date, accepts the default rules,
rejects the mistakes an editor should flag.

The schema is checked with a small validator for the JSON Schema keywords the schema
uses (``$ref``, ``type``, ``properties``, ``required``, ``additionalProperties``,
``patternProperties``, ``propertyNames``, ``items``, ``enum``, ``const``, ``pattern``,
numeric and length bounds, ``anyOf``, ``oneOf``), so the test needs no extra package.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxstream.rules.schema import rules_json_schema, rules_json_schema_text

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def errors(schema: dict[str, Any], value: Any, root: dict[str, Any], at: str = "") -> list[str]:
    """Where ``value`` breaks ``schema`` (empty: it is valid)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return errors(root["$defs"][name], value, root, at)
    out: list[str] = []
    if "type" in schema and not _is_type(value, schema["type"]):
        return [f"{at}: not {schema['type']}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{at}: not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            out.append(f"{at}: too short")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{at}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{at}: above maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            out.append(f"{at}: not above exclusiveMinimum")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{at}: too few items")
        if "items" in schema:
            for i, item in enumerate(value):
                out += errors(schema["items"], item, root, f"{at}[{i}]")
    if isinstance(value, dict):
        out += [f"{at}: missing {k}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        names = schema.get("propertyNames")
        for key, item in value.items():
            if names is not None:
                out += errors(names, key, root, f"{at}.{key} (key)")
            if key in props:
                out += errors(props[key], item, root, f"{at}.{key}")
                continue
            matched = [p for p in patterns if re.search(p, key)]
            for pattern in matched:
                out += errors(patterns[pattern], item, root, f"{at}.{key}")
            if matched:
                continue
            extra = schema.get("additionalProperties", True)
            if extra is False:
                out.append(f"{at}.{key}: not allowed")
            elif isinstance(extra, dict):
                out += errors(extra, item, root, f"{at}.{key}")
    for keyword in ("anyOf", "oneOf"):
        if keyword not in schema:
            continue
        found = [errors(s, value, root, at) for s in schema[keyword]]
        passing = sum(not f for f in found)
        if passing == 0:
            # The errors of the alternative the discriminator names (else the closest
            # one) say what is wrong.
            tag = schema.get("discriminator", {})
            key = value.get(tag.get("propertyName")) if isinstance(value, dict) else None
            ref = tag.get("mapping", {}).get(key)
            if ref is not None:
                closest = errors({"$ref": ref}, value, root, at)
            else:
                closest = min(found, key=len)
            out += [f"{at}: matches no alternative of {keyword}", *closest]
        elif keyword == "oneOf" and passing > 1:
            out.append(f"{at}: matches {passing} alternatives of oneOf")
    return out


def yaml_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yaml"))


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = (RULES_DIR / "schema.json").read_text(encoding="utf-8")
    assert committed == rules_json_schema_text(), (
        "rules/schema.json is out of date: run cxstream rules schema --out rules/schema.json"
    )


def test_every_default_rules_file_points_editors_at_the_schema() -> None:
    assert yaml_files()
    for path in yaml_files():
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=./schema.json", path


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.name)
def test_the_schema_accepts_the_default_rules(path: Path) -> None:
    schema = rules_json_schema()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert errors(schema, data, schema) == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"rules": [{"type": "kpi_alert", "name": "n", "kpi": "nps", "windoes": ["1h"]}]},
            ".windoes: not allowed",
        ),
        (
            {"rules": [{"type": "kpi_alert", "name": "n", "kpi": "nps", "windows": ["1 day"]}]},
            "windows[0]: does not match",
        ),
        ({"rules": [{"type": "kpi_alrt", "name": "n"}]}, "matches no alternative of oneOf"),
        ({"route": {"receiver": "ops", "matchers": ["country"]}}, "matchers[0]: does not match"),
        ({"countries": {"de": {"time_zone": "Europe/Berlin"}}}, ".de: not allowed"),
        (
            {"receivers": [{"name": "x", "configs": [{"type": "slack", "channel": "ops"}]}]},
            "channel: does not match",
        ),
        (
            {"rules": [{"type": "delay_notice", "name": "d", "quiet_hours": {"de": {}}}]},
            "(key): does not match",
        ),
        ({"route": {"receiver": "ops", "continu": True}}, ".continu: not allowed"),
    ],
)
def test_the_schema_rejects_typical_mistakes(document: dict[str, Any], expected: str) -> None:
    schema = rules_json_schema()
    found = errors(schema, document, schema)
    assert any(expected in e for e in found), found


def test_the_schema_is_plain_json_with_descriptions() -> None:
    schema = json.loads(rules_json_schema_text())
    rule = schema["$defs"]["KpiAlertRule"]
    assert rule["additionalProperties"] is False
    assert rule["properties"]["windows"]["items"]["pattern"] == "^([0-9]+[wdhms])+$"
    assert schema["$defs"]["Route"]["properties"]["continue"]["type"] == "boolean"
    assert schema["$defs"]["ApologyRule"]["properties"]["per_customer_within"]["default"] == "30d"
