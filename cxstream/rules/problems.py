"""Turning validation errors into problems a person can fix: a path, a message, a hint.

Pydantic reports an error at a location such as ``("rules", 0, "kpi_alert", "windoes")``.
:func:`explain` follows that location through the model types to tell field names from
union tags (``kpi_alert`` above is the chosen rule type, not a key in the file), which
gives the path as written in the file (``rules[0].windoes``) and what was allowed there,
for hints such as *did you mean 'windows'?*.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from cxstream.rules.base import DURATION_HINT
from cxstream.rules.matchers import MATCHER_HINT

__all__ = ["Explained", "explain", "format_path"]

_PATTERN_HINTS = {
    r"^[a-z0-9][a-z0-9_-]{0,63}$": "names are lower-case letters, digits, '_' and '-', e.g. cx-ops",
    r"^[A-Z]{2}$": "use an upper-case ISO 3166-1 country code such as DE",
    r"^[a-z]{2}$": "use a lower-case ISO 639-1 language code such as de",
    r"^[a-z0-9][a-z0-9_]{0,63}$": "reason codes are lower-case snake_case, e.g. delivery_late",
    r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$": "label names are letters, digits and '_', e.g. team",
    r"^#[a-z0-9][a-z0-9._-]{0,79}$": "a Slack channel with its '#', e.g. #cx-alerts",
    r"^[a-z][a-z0-9_]{0,63}$": "give the NAME of a secret held in the settings"
    " (lower_snake_case), never the secret itself",
}
_MESSAGE_HINTS = (
    ("is not a duration", DURATION_HINT),
    ("is not a matcher", MATCHER_HINT),
    ("is not a time of day", "write times as a quoted HH:MM, e.g. '21:30'"),
    ("unknown KPI", "use one of the known KPIs above, or reason_share:<code> for a reason code"),
    ("unknown time zone", "use an IANA time zone name such as Europe/Berlin"),
    ("invalid reason code", "reason codes are lower-case snake_case, e.g. delivery_late"),
)
#: Messages of these kinds read "<what> is wrong: <how to fix it>"; the part after the
#: first ": " becomes the hint.
_SPLIT_AT_COLON = (
    "is not a duration",
    "is not a matcher",
    "is not a time of day",
    "unknown time zone",
)
_DID_YOU_MEAN = re.compile(r"\s*\(did you mean ('[^']*')\?\)")


@dataclass(frozen=True, slots=True)
class Explained:
    """Where an error is (as a path into the file's data) and how to fix it."""

    path: tuple[str | int, ...]
    message: str
    hint: str
    key: bool = False


@dataclass(frozen=True, slots=True)
class _Step:
    element: str | int
    kind: Literal["field", "index", "key", "keyname", "tag", "skip"]
    owner: Any


def _unwrap(tp: Any) -> tuple[Any, str | None]:
    """Strip ``Annotated`` and ``Optional``; return the type and a union discriminator."""
    discriminator: str | None = None
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            base, *meta = typing.get_args(tp)
            for m in meta:
                if isinstance(m, FieldInfo) and isinstance(m.discriminator, str):
                    discriminator = m.discriminator
            tp = base
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, discriminator


def _union_members(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return []


def _tags(members: Sequence[Any], discriminator: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(discriminator)
            if field is not None:
                for value in typing.get_args(field.annotation):
                    out[str(value)] = member
    return out


def _field_map(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {(f.alias or name): f for name, f in model.model_fields.items()}


def _field_type(field: FieldInfo) -> Any:
    if field.discriminator is not None:
        return Annotated[field.annotation, FieldInfo(discriminator=field.discriminator)]
    return field.annotation


def _walk(root: Any, loc: Sequence[str | int]) -> tuple[list[_Step], Any]:
    steps: list[_Step] = []
    tp: Any = root
    for element in loc:
        tp, discriminator = _unwrap(tp)
        members = _union_members(tp)
        if members:
            tags = _tags(members, discriminator or "type")
            if isinstance(element, str) and element in tags:
                steps.append(_Step(element, "tag", tp))
                tp = tags[element]
            else:
                steps.append(_Step(element, "skip", tp))
            continue
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = _field_map(tp).get(str(element))
            steps.append(_Step(element, "field", tp))
            tp = _field_type(field) if field is not None else None
        elif origin in (tuple, list) and isinstance(element, int):
            steps.append(_Step(element, "index", tp))
            args = typing.get_args(tp)
            tp = args[0] if args else None
        elif origin is dict:
            key_type, value_type = typing.get_args(tp)
            if element == "[key]":
                steps.append(_Step(element, "keyname", tp))
                tp = key_type
            else:
                steps.append(_Step(element, "key", tp))
                tp = value_type
        else:
            steps.append(_Step(element, "skip", tp))
    return steps, tp


def format_path(path: Sequence[str | int]) -> str:
    """``("rules", 0, "windows")`` as ``rules[0].windows``."""
    out = ""
    for element in path:
        if isinstance(element, int):
            out += f"[{element}]"
        elif element == "[key]":
            out += " (key)"
        else:
            out += f".{element}" if out else str(element)
    return out or "(top level)"


def _did_you_mean(word: str, options: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    listed = ", ".join(options)
    if close:
        return f"did you mean {close[0]!r}? ({what}: {listed})"
    return f"{what}: {listed}"


def _literal_values(tp: Any) -> list[str]:
    tp, _ = _unwrap(tp)
    if typing.get_origin(tp) is Literal:
        return [str(v) for v in typing.get_args(tp)]
    return []


def _hint(error: ErrorDetails, steps: list[_Step], final: Any, message: str) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    owner = steps[-1].owner if steps else None
    if kind == "extra_forbidden" and isinstance(owner, type) and issubclass(owner, BaseModel):
        return _did_you_mean(str(steps[-1].element), list(_field_map(owner)), "allowed keys")
    if kind == "missing" and isinstance(owner, type) and issubclass(owner, BaseModel):
        field = _field_map(owner).get(str(steps[-1].element))
        about = f" ({field.description})" if field is not None and field.description else ""
        return f"add '{steps[-1].element}:'{about}"
    if kind == "union_tag_invalid":
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        return _did_you_mean(str(ctx.get("tag", "")), expected, "types")
    if kind == "union_tag_not_found":
        _, discriminator = _unwrap(final)
        tags = list(_tags(_union_members(_unwrap(final)[0]), discriminator or "type"))
        return f"add 'type:' with one of {', '.join(tags)}" if tags else "add 'type:'"
    if kind == "literal_error":
        options = _literal_values(final)
        if options == ["True"]:
            return "this cannot be turned off; remove the key or set it to true"
        if isinstance(value, str) and options:
            return _did_you_mean(value, options, "allowed values")
        return f"allowed values: {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return _PATTERN_HINTS.get(pattern, f"the value must match {pattern}")
    if kind == "string_type" and isinstance(value, int | float | bool):
        return f"quote the value to make it text: '{value}'"
    if kind in ("int_parsing", "int_type", "float_parsing", "float_type", "int_from_float"):
        return "write a plain number, e.g. 20 or 0.5"
    bounds = {
        "less_than_equal": ("le", "at most"),
        "less_than": ("lt", "below"),
        "greater_than_equal": ("ge", "at least"),
        "greater_than": ("gt", "above"),
    }
    if kind in bounds:
        name, words = bounds[kind]
        return f"use a value {words} {ctx.get(name)}"
    if kind == "too_short":
        return f"give at least {ctx.get('min_length', 1)} item(s)"
    if kind.startswith("url_"):
        return "write a full URL such as https://tickets.example.com/hooks/cx"
    if kind in ("bool_parsing", "bool_type"):
        return "write true or false"
    if kind in ("tuple_type", "list_type"):
        return "write a list: one '- item' per line, or [a, b]"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "write a mapping of keys to values here (key: value on separate lines)"
    for needle, hint in _MESSAGE_HINTS:
        if needle in message:
            return hint
    if isinstance(owner, type) and issubclass(owner, BaseModel) and steps:
        field = _field_map(owner).get(str(steps[-1].element))
        if field is not None and field.description:
            return f"expected {field.description}"
    return "see docs/rules.md for this setting"


def explain(root: Any, error: ErrorDetails) -> Explained:
    """The path, message and hint of one pydantic error of a value of type ``root``."""
    steps, final = _walk(root, error["loc"])
    path: tuple[str | int, ...] = tuple(
        s.element for s in steps if s.kind in ("field", "index", "key", "keyname")
    )
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "union_tag_invalid":
        path = (*path, "type")
    hint = _hint(error, steps, final, message)
    for needle in _SPLIT_AT_COLON:
        at = message.find(needle)
        cut = message.find(": ", at) if at >= 0 else -1
        if cut >= 0:
            message, hint = message[:cut], message[cut + 2 :]
            break
    close = _DID_YOU_MEAN.search(message)
    if close is not None:
        message = message[: close.start()] + message[close.end() :]
        hint = f"did you mean {close.group(1)}? {hint}"
    return Explained(path, message, hint, key=error["type"] == "extra_forbidden")
