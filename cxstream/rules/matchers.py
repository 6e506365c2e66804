"""Label matchers in Alertmanager's syntax: ``name=value``, ``!=``, ``=~`` and ``!~``.

Routes, inhibit rules and silences select alerts by their labels with matchers. In a
rule file a matcher is one string, the value optionally in double quotes::

    severity="critical"
    country!=DE
    kpi=~"nps|detractor_rate"
    carrier!~"dhl|dpd"

Regular expressions are anchored at both ends (``=~"nps"`` does not match
``nps_app``). A label an alert does not have counts as the empty string, so
``carrier=""`` matches alerts without a carrier and ``carrier=~".+"`` those with one.

>>> m = parse_matcher('kpi=~"nps|detractor_rate"')
>>> m.name, m.op, m.value
('kpi', '=~', 'nps|detractor_rate')
>>> m.matches({"kpi": "nps"}), m.matches({"kpi": "nps_app"})
(True, False)
>>> str(parse_matcher("country != DE"))
'country!="DE"'
>>> parse_matcher('carrier=""').matches({})
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema, model_validator

from cxstream.rules.base import LabelName, RulesModel

__all__ = [
    "MATCHER_HINT",
    "Matcher",
    "MatcherOp",
    "MatcherText",
    "matches_all",
    "parse_matcher",
]

MatcherOp = Literal["=", "!=", "=~", "!~"]

#: What a matcher looks like, for error hints.
MATCHER_HINT = (
    "a matcher is <label><op><value> with op one of =, !=, =~, !~, e.g. country=DE or"
    ' kpi=~"nps|detractor_rate"'
)
_SYNTAX = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")
_PATTERN = r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*("([^"\\]|\\.)*"|[^"]*)\s*$'


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(f"(?:{pattern})")


class Matcher(RulesModel):
    """One label condition: ``name op value``."""

    name: LabelName
    op: MatcherOp
    value: str

    @model_validator(mode="after")
    def _valid_regex(self) -> Self:
        if self.op in ("=~", "!~"):
            try:
                _compiled(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from exc
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label is ``""``)."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = _compiled(self.value).fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher string (see the module docstring); ``ValueError`` if it is not one."""
    match = _SYNTAX.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a matcher: {MATCHER_HINT}")
    name, op, raw = match.groups()
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, str):
            raise ValueError(f"{text!r} is not a matcher: the quoted value is not closed properly")
    elif '"' in raw:
        example = f'{name}{op}"..."'
        raise ValueError(f"{text!r} is not a matcher: quote the whole value, e.g. {example}")
    else:
        value = raw
    return Matcher.model_validate({"name": name, "op": op, "value": value})


def _coerce(value: object) -> object:
    return parse_matcher(value) if isinstance(value, str) else value


MatcherText = Annotated[
    Matcher,
    BeforeValidator(_coerce),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _PATTERN,
            "description": MATCHER_HINT,
            "examples": ["country=DE", 'kpi=~"nps|detractor_rate"', 'severity!="info"'],
        }
    ),
]
"""A :class:`Matcher` written as a string in a rule file."""


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher (true for no matchers)."""
    return all(m.matches(labels) for m in matchers)
