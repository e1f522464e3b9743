"""Every docstring example in the package runs (STYLE.md: public entry points carry one)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import freshrec

MODULES = sorted(info.name for info in pkgutil.walk_packages(freshrec.__path__, prefix="freshrec."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
