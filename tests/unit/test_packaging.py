"""The wheel ships every package of the source tree, and the worker under cxstream.agents."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools: dict[str, object] = data["tool"]["setuptools"]
    return setuptools


def test_every_package_directory_is_listed_for_the_wheel() -> None:
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "cxstream").rglob("__init__.py")
    }
    assert on_disk <= set(_declared()["packages"])  # type: ignore[arg-type]


def test_agents_ship_inside_the_cxstream_namespace() -> None:
    declared = _declared()
    assert "cxstream.agents" in declared["packages"]  # type: ignore[operator]
    assert declared["package-dir"] == {"cxstream": "cxstream", "cxstream.agents": "agents"}
    assert "agents" not in declared["packages"]  # type: ignore[operator]
