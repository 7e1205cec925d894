"""Every docstring example of the installed package runs (collected by ``python -m pytest``).

The modules are those of every package that ``pyproject.toml`` installs, found through
importlib (so the editable install's folder mapping works, and a new package is
collected once it is listed). Each docstring with an example is one test, named by the
object it documents. Modules of the optional NEST extra are skipped when NEST is not
installed; so are the docstrings of ``scripts/readme_numbers.py`` (collected too).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL
#: modules that need an optional extra: (module suffix, the extra's import name)
OPTIONAL = ((".nest", "nest"), ("nest_support", "nest"))


def module_names() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    names = []
    for package in config["tool"]["setuptools"]["packages"]:
        folder = Path(next(iter(importlib.import_module(package).__path__)))
        for f in sorted(folder.glob("*.py")):
            if f.stem == "__main__":
                continue
            names.append(package if f.stem == "__init__" else f"{package}.{f.stem}")
    return names


def needs_missing_extra(name: str) -> str | None:
    for suffix, extra in OPTIONAL:
        if name.endswith(suffix) and importlib.util.find_spec(extra) is None:
            return extra
    return None


def collect() -> list:
    finder = doctest.DocTestFinder(exclude_empty=True)
    params = []
    for name in module_names():
        extra = needs_missing_extra(name)
        if extra:
            params.append(pytest.param(None, id=name, marks=pytest.mark.skip(f"needs {extra}")))
            continue
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                params.append(pytest.param(test, id=test.name))
    spec = importlib.util.spec_from_file_location(
        "readme_numbers", REPO / "scripts" / "readme_numbers.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for test in finder.find(script, "scripts.readme_numbers"):
        if test.examples:
            params.append(pytest.param(test, id=test.name))
    return params


DOCTESTS = collect()


@pytest.mark.parametrize("test", DOCTESTS)
def test_docstring_example(test):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    lines: list[str] = []
    runner.run(test, out=lines.append, clear_globs=True)
    assert runner.failures == 0, "".join(lines)


def test_examples_are_collected():
    assert sum(p.values[0] is not None for p in DOCTESTS) >= 20
