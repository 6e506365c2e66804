"""Reading rule files as YAML while keeping where each value was written.

Rule files are parsed into a node tree (PyYAML's composer) and only then into plain
Python values, so that a validation error's location (``rules.2.windows.0``) can be
mapped back to a line and column. The loader follows YAML 1.2 for plain scalars, as
editors (yaml-language-server) do: only ``true``/``false`` are booleans (``NO``, the
country code of Norway, stays a string) and ``21:30`` is a string, not the
sexagesimal number 1290 that YAML 1.1 makes of it.

>>> doc = parse_yaml("countries:\\n  NO: {time_zone: Europe/Oslo}\\nquiet: 21:30\\n")
>>> doc.data
{'countries': {'NO': {'time_zone': 'Europe/Oslo'}}, 'quiet': '21:30'}
>>> node = node_at(doc.node, ("countries", "NO", "time_zone"))
>>> node.start_mark.line + 1, node.start_mark.column + 1
(2, 19)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Position",
    "YamlDocument",
    "YamlIssue",
    "YamlIssueError",
    "node_at",
    "parse_yaml",
    "position_of",
]

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _RulesLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans and numbers."""


_RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RulesLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_RulesLoader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"), list("-+0123456789")
)
_RulesLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class YamlIssue:
    """A problem found while reading YAML (syntax, duplicate key)."""

    position: Position | None
    message: str
    hint: str
    path: tuple[str | int, ...] = ()


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed file: its node tree (``None`` when empty), the plain data, and problems
    that do not stop parsing (duplicate keys: the last one wins, as in YAML loaders)."""

    node: Node | None
    data: Any
    issues: tuple[YamlIssue, ...] = ()


def _position(mark: Any) -> Position | None:
    return None if mark is None else Position(mark.line + 1, mark.column + 1)


def position_of(node: Node) -> Position:
    """Where ``node`` starts."""
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _duplicate_keys(node: Node, path: tuple[str | int, ...]) -> Iterator[YamlIssue]:
    if isinstance(node, MappingNode):
        seen: dict[str, Node] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                if key.value in seen:
                    first = position_of(seen[key.value])
                    yield YamlIssue(
                        position_of(key),
                        f"key {key.value!r} appears twice in this mapping (first on line"
                        f" {first.line}); the last one would win",
                        "remove or merge one of them",
                        (*path, key.value),
                    )
                seen[key.value] = key
                yield from _duplicate_keys(value, (*path, key.value))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, i))


class YamlIssueError(ValueError):
    """A file that is not valid YAML."""

    def __init__(self, issue: YamlIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; :class:`YamlIssueError` for syntax errors."""
    loader = _RulesLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise YamlIssueError(
            YamlIssue(
                _position(mark),
                f"not valid YAML: {problem}{context}",
                "check the indentation and quoting here; values with ': ' or '#' need quotes",
            )
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlIssueError(YamlIssue(None, f"not valid YAML: {exc}", "fix the syntax")) from exc
    finally:
        loader.dispose()
    issues = tuple(_duplicate_keys(node, ())) if node is not None else ()
    return YamlDocument(node, data, issues)


def node_at(root: Node | None, path: Sequence[str | int], *, key: bool = False) -> Node | None:
    """The deepest node along ``path`` (keys of mappings, indices of sequences).

    Stops at the last node found when the path leaves the document (a missing key).
    With ``key=True`` a last element naming a mapping key gives the key's node, not
    its value's. The element ``"[key]"`` after a key also selects that key's node.
    """
    node = root
    if node is None:
        return None
    key_node: Node | None = None
    for i, element in enumerate(path):
        if element == "[key]" and key_node is not None:
            return key_node
        if isinstance(node, MappingNode):
            found = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, ScalarNode) and k.value == str(element)
                ),
                None,
            )
            if found is None:
                return node
            key_node, value = found
            if key and i == len(path) - 1:
                return key_node
            node = value
        elif isinstance(node, SequenceNode) and isinstance(element, int):
            if not 0 <= element < len(node.value):
                return node
            node = node.value[element]
            key_node = None
        else:
            return node
    return node
