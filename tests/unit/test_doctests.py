"""The examples in the docstrings of cxstream's modules run and hold.

Every module of the package is searched for docstring examples; the detectors and the
NAB scorer are covered by their own doctest module.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import cxstream

#: Covered by test_detectors_doctests.py.
ELSEWHERE = ("cxstream.detectors", "cxstream.nab")
#: Modules whose examples document the engine's building blocks; they must keep some.
MUST_HAVE_EXAMPLES = {
    "cxstream.alignment",
    "cxstream.clock",
    "cxstream.decoding",
    "cxstream.events",
    "cxstream.figures",
    "cxstream.keys",
    "cxstream.partitioning",
    "cxstream.retry",
    "cxstream.series",
}


def module_names() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(cxstream.__path__, "cxstream."):
        if info.name.endswith("__main__") or info.name.startswith(ELSEWHERE):
            continue
        names.append(info.name)
    return sorted(names)


def examples_in(module: ModuleType) -> int:
    finder = doctest.DocTestFinder()
    return sum(len(test.examples) for test in finder.find(module))


def modules_with_examples() -> list[str]:
    return [name for name in module_names() if examples_in(importlib.import_module(name))]


def test_the_documented_modules_still_have_examples() -> None:
    assert set(modules_with_examples()) >= MUST_HAVE_EXAMPLES


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 0
    assert result.failed == 0
