"""Loading a rules directory, and checking it with every problem located and explained.

Every ``*.yaml`` / ``*.yml`` file of the directory (not its subdirectories) is one
:class:`~cxstream.rules.ruleset.RuleFile`: any of the top-level keys ``rules``,
``route``, ``receivers``, ``inhibit_rules``, ``voucher_pools``, ``defaults`` and
``countries``. The files are merged, in name order, into one
:class:`~cxstream.rules.ruleset.RuleSet`; ``route`` and ``defaults`` may each be given
in one file only, a country in one file only.

:func:`check_rules` returns every problem, each with its file, line, column, the path
of the value (``rules[2].windows[0]``), a message and a hint. Problems inside files are
all reported at once; the cross-references between files (unknown receivers, repeated
names, ...) are checked once every file is valid on its own. :func:`load_rules` returns
the rule set or raises :class:`RulesError` holding the same problems.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import Node

from cxstream.rules.problems import explain, format_path
from cxstream.rules.ruleset import RuleFile, RuleSet, reference_problems
from cxstream.rules.yaml_source import (
    Position,
    YamlIssueError,
    node_at,
    parse_yaml,
    position_of,
)

__all__ = ["RULE_FILE_SUFFIXES", "RuleProblem", "RulesError", "check_rules", "load_rules"]

RULE_FILE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One problem of a rules directory, and how to fix it.

    ``line`` and ``column`` are 1-based (``None`` when the problem is not in one place,
    e.g. an empty directory); ``path`` is where in the file's data, as
    ``rules[0].windows[1]``.
    """

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.path}: {self.message} (hint: {self.hint})"


class RulesError(ValueError):
    """A rules directory with problems; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the rules:\n{lines}")


@dataclass(slots=True)
class _Origin:
    """Where an item of the merged rule set was written."""

    file: str
    node: Node | None
    path: tuple[str | int, ...]


@dataclass(slots=True)
class _Merged:
    values: dict[str, list[Any]] = field(default_factory=dict)
    origins: dict[str, list[_Origin]] = field(default_factory=dict)
    single: dict[str, tuple[Any, _Origin]] = field(default_factory=dict)
    countries: dict[str, tuple[Any, _Origin]] = field(default_factory=dict)


_LISTS = ("rules", "receivers", "inhibit_rules", "voucher_pools")
_SINGLE = ("route", "defaults")


def _problem(
    file: str, position: Position | None, path: Iterable[str | int], message: str, hint: str
) -> RuleProblem:
    return RuleProblem(
        file,
        position.line if position else None,
        position.column if position else None,
        format_path(tuple(path)),
        message,
        hint,
    )


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise FileNotFoundError(f"rules directory not found: {directory}")
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in RULE_FILE_SUFFIXES
    )


def _read(path: Path, problems: list[RuleProblem]) -> tuple[RuleFile, Node | None] | None:
    """One file, validated on its own; ``None`` (and problems) if it is not valid."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(
            _problem(name, None, (), f"not UTF-8 text: {exc.reason}", "save the file as UTF-8")
        )
        return None
    try:
        doc = parse_yaml(text)
    except YamlIssueError as exc:
        problems.append(_problem(name, exc.issue.position, (), exc.issue.message, exc.issue.hint))
        return None
    for issue in doc.issues:
        problems.append(_problem(name, issue.position, issue.path, issue.message, issue.hint))
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        problems.append(
            _problem(
                name,
                position_of(doc.node) if doc.node is not None else None,
                (),
                f"the top level is {type(data).__name__}, not a mapping",
                "start with top-level keys: rules, route, receivers, inhibit_rules,"
                " voucher_pools, defaults, countries",
            )
        )
        return None
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for error in errors:
            if _follows_from_others(error, errors):
                continue
            found = explain(RuleFile, error)
            node = node_at(doc.node, found.path, key=found.key)
            position = position_of(node) if node is not None else None
            problems.append(_problem(name, position, found.path, found.message, found.hint))
        return None
    return parsed, doc.node


def _follows_from_others(error: ErrorDetails, errors: Sequence[ErrorDetails]) -> bool:
    """A too-short list whose items had errors (dropped items make it short)."""
    loc = error["loc"]
    return error["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in errors
    )


def _merge(
    name: str, parsed: RuleFile, node: Node | None, merged: _Merged, problems: list[RuleProblem]
) -> None:
    for key in _LISTS:
        items = getattr(parsed, key)
        merged.values.setdefault(key, []).extend(items)
        merged.origins.setdefault(key, []).extend(
            _Origin(name, node_at(node, (key, i)), (key, i)) for i in range(len(items))
        )
    for key in _SINGLE:
        value = getattr(parsed, key)
        if value is None:
            continue
        origin = _Origin(name, node_at(node, (key,)), (key,))
        if key in merged.single:
            first = merged.single[key][1].file
            problems.append(
                _problem(
                    name,
                    position_of(origin.node) if origin.node else None,
                    (key,),
                    f"'{key}' is already defined in {first}",
                    f"keep a single '{key}:' in one file",
                )
            )
            continue
        merged.single[key] = (value, origin)
    for country, settings in parsed.countries.items():
        origin = _Origin(name, node_at(node, ("countries", country)), ("countries", country))
        if country in merged.countries:
            first = merged.countries[country][1].file
            problems.append(
                _problem(
                    name,
                    position_of(origin.node) if origin.node else None,
                    origin.path,
                    f"country {country} is already configured in {first}",
                    "configure each country once",
                )
            )
            continue
        merged.countries[country] = (settings, origin)


def _locate(
    loc: tuple[str | int, ...], merged: _Merged, directory: Path
) -> tuple[str, Node | None, tuple[str | int, ...]]:
    """File, node and in-file path of a rule-set location."""
    head = loc[0] if loc else ""
    origin: _Origin | None = None
    rest: tuple[str | int, ...] = ()
    if head in _LISTS and len(loc) > 1 and isinstance(loc[1], int):
        origin, rest = merged.origins[str(head)][loc[1]], loc[2:]
    elif head in merged.single:
        origin, rest = merged.single[str(head)][1], loc[1:]
    elif head == "countries" and len(loc) > 1 and str(loc[1]) in merged.countries:
        origin, rest = merged.countries[str(loc[1])][1], loc[2:]
    if origin is None:
        return str(directory), None, loc
    return origin.file, node_at(origin.node, rest), (*origin.path, *rest)


def _load(directory: Path) -> tuple[RuleSet | None, list[RuleProblem]]:
    problems: list[RuleProblem] = []
    files = _files(directory)
    if not files:
        problems.append(
            _problem(
                str(directory),
                None,
                (),
                "no rule files (*.yaml, *.yml) in this directory",
                "point the command at the rules directory, e.g. rules/",
            )
        )
        return None, problems
    merged = _Merged()
    valid = True
    for path in files:
        read = _read(path, problems)
        if read is None:
            valid = False
            continue
        _merge(str(path), read[0], read[1], merged, problems)
    if not valid or problems:
        return None, _ordered(problems)
    parts: dict[str, Any] = {key: tuple(merged.values.get(key, ())) for key in _LISTS}
    parts["countries"] = {c: s for c, (s, _) in merged.countries.items()}
    parts.update({key: value for key, (value, _) in merged.single.items()})
    for reference in reference_problems(RuleSet.model_construct(**parts)):
        file, node, where = _locate(reference.loc, merged, directory)
        position = position_of(node) if node is not None else None
        problems.append(_problem(file, position, where, reference.message, reference.hint))
    if problems:
        return None, _ordered(problems)
    return RuleSet(**parts), []


def _ordered(problems: list[RuleProblem]) -> list[RuleProblem]:
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0, p.path))


def check_rules(directory: str | Path) -> list[RuleProblem]:
    """Every problem of the rules in ``directory``, ordered by file and line (empty: the
    rules are valid). ``FileNotFoundError`` if the directory does not exist."""
    return _load(Path(directory))[1]


def load_rules(directory: str | Path) -> RuleSet:
    """The rule set of ``directory``; :class:`RulesError` with every problem if it has
    any, ``FileNotFoundError`` if the directory does not exist."""
    rule_set, problems = _load(Path(directory))
    if rule_set is None:
        raise RulesError(problems)
    return rule_set
