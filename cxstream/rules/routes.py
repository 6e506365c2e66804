"""The routing tree and inhibit rules, as in Alertmanager.

A :class:`Route` sends the alerts its ``matchers`` select to a ``receiver``, grouped by
the labels in ``group_by`` and timed by ``group_wait``, ``group_interval`` and
``repeat_interval``. Child routes refine it; an alert goes to the first child that
matches (depth first) and, if that child has ``continue: true``, also to the following
matching siblings. An alert no child matches stays with the parent. The root route
matches every alert and must name a receiver; children inherit what they leave out.

An :class:`InhibitRule` mutes the alerts matching ``target_matchers`` while an alert
matching ``source_matchers`` fires with the same values of the ``equal`` labels.

>>> root = Route.model_validate({
...     "receiver": "cx-ops",
...     "group_by": ["rule", "country"],
...     "routes": [{"matchers": ['kpi=~"late_rate|exception_rate"'], "receiver": "logistics"}],
... })
>>> [(r.path, r.receiver, r.group_by) for r in resolve_routes(root)]
[('0', 'cx-ops', ('rule', 'country')), ('0.0', 'logistics', ('rule', 'country'))]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from cxstream.rules.base import Duration, LabelName, Name, RulesModel
from cxstream.rules.matchers import Matcher, MatcherText

__all__ = [
    "DEFAULT_GROUP_INTERVAL",
    "DEFAULT_GROUP_WAIT",
    "DEFAULT_REPEAT_INTERVAL",
    "GROUP_BY_ALL",
    "InhibitRule",
    "ResolvedRoute",
    "Route",
    "resolve_routes",
]

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
#: ``group_by: ["..."]`` groups by every label (each distinct alert on its own).
GROUP_BY_ALL = "..."


class Route(RulesModel):
    """A node of the routing tree."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    receiver: Name | None = Field(None, description="receiver of the alerts (root: required)")
    matchers: tuple[MatcherText, ...] = Field(
        (), description='label conditions an alert must meet, e.g. country=DE, kpi=~"nps|.*_rate"'
    )
    group_by: tuple[str, ...] | None = Field(
        None, description="labels whose values form a group; ['...'] for every label"
    )
    group_wait: Duration | None = Field(
        None, description="wait before the first notification of a new group (default 30s)"
    )
    group_interval: Duration | None = Field(
        None, description="wait between notifications about changes of a group (default 5m)"
    )
    repeat_interval: Duration | None = Field(
        None, description="resend an unchanged firing group after this long (default 4h)"
    )
    continue_: bool = Field(
        False,
        alias="continue",
        description="after matching this route, go on matching the following siblings",
    )
    routes: tuple[Route, ...] = Field((), description="child routes, tried in order")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.group_by is not None:
            if GROUP_BY_ALL in self.group_by and len(self.group_by) > 1:
                raise ValueError("group_by '...' (every label) cannot be combined with labels")
            for label in self.group_by:
                if label != GROUP_BY_ALL and not label.isidentifier():
                    raise ValueError(f"group_by label {label!r} is not a label name")
            if len(set(self.group_by)) != len(self.group_by):
                raise ValueError("group_by repeats a label")
        if self.group_interval is not None and self.group_interval <= timedelta(0):
            raise ValueError("group_interval must be longer than 0s")
        if self.repeat_interval is not None and self.repeat_interval <= timedelta(0):
            raise ValueError("repeat_interval must be longer than 0s")
        return self


@dataclass(frozen=True, slots=True)
class ResolvedRoute:
    """A route with everything it inherits filled in; ``path`` is its position in the
    tree (``"0"`` the root, ``"0.2.1"`` the second child of the root's third child)."""

    path: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    continue_: bool
    children: tuple[str, ...]

    @property
    def groups_by_all(self) -> bool:
        return self.group_by == (GROUP_BY_ALL,)


def resolve_routes(root: Route) -> Iterator[ResolvedRoute]:
    """Every route of the tree, depth first, with inherited settings applied.

    A root without a receiver raises ``ValueError``.
    """
    if root.receiver is None:
        raise ValueError("the root route must name a receiver")

    def walk(route: Route, path: str, parent: ResolvedRoute | None) -> Iterator[ResolvedRoute]:
        def pick(
            value: timedelta | None, inherited: timedelta | None, default: timedelta
        ) -> timedelta:
            if value is not None:
                return value
            return inherited if inherited is not None else default

        resolved = ResolvedRoute(
            path=path,
            receiver=route.receiver or (parent.receiver if parent else ""),
            matchers=route.matchers if parent else (),
            group_by=route.group_by
            if route.group_by is not None
            else (parent.group_by if parent else ()),
            group_wait=pick(
                route.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT
            ),
            group_interval=pick(
                route.group_interval,
                parent.group_interval if parent else None,
                DEFAULT_GROUP_INTERVAL,
            ),
            repeat_interval=pick(
                route.repeat_interval,
                parent.repeat_interval if parent else None,
                DEFAULT_REPEAT_INTERVAL,
            ),
            continue_=route.continue_,
            children=tuple(f"{path}.{i}" for i in range(len(route.routes))),
        )
        yield resolved
        for i, child in enumerate(route.routes):
            yield from walk(child, f"{path}.{i}", resolved)

    return walk(root, "0", None)


class InhibitRule(RulesModel):
    """Mute target alerts while a matching source alert fires with equal labels."""

    source_matchers: tuple[MatcherText, ...] = Field(
        min_length=1, description="what the inhibiting (source) alert must match"
    )
    target_matchers: tuple[MatcherText, ...] = Field(
        min_length=1, description="what the inhibited (target) alerts must match"
    )
    equal: tuple[LabelName, ...] = Field(
        (), description="labels whose values source and target must share"
    )
    name: Name | None = Field(None, description="optional name, shown in explanations")
