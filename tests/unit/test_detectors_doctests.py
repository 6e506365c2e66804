"""The examples in the detectors' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "cxstream.detectors.base",
    "cxstream.detectors.calibration",
    "cxstream.detectors.gate",
    "cxstream.detectors.novelty",
    "cxstream.detectors.seasonal",
    "cxstream.detectors.level_shift",
    "cxstream.detectors.rate",
    "cxstream.detectors.default",
    "cxstream.nab",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0 or name == "cxstream.detectors.__init__"
