"""The package's shape: one import name, no import circles, imports only down the layers.

The import graph is read from the *installed* package (each module found through
``importlib``, its source parsed; imports inside functions count too, since a lazy
import is still a dependency). Layers, lowest first:

=====  ==========================================  ====================================
layer  modules                                     job
=====  ==========================================  ====================================
0      ``mfval.config``, ``store``, ``tasks``,     parameters, results store, task
       ``io``                                      runner, atomic output files
1      ``mfval.theory``                            mean-field theory (nnmt)
2      ``mfval.simulation``                        specs, backends, measurements
3      ``mfval.comparison``                        rows, verdicts, calibration, report
4      ``mfval.figures``                           matplotlib figures
5      ``mfval.cli``                               the ``mfval`` command
=====  ==========================================  ====================================

A module imports only its own layer or lower ones. Inside a protocol
(``mfval.simulation.<protocol>``) the backends (``brian2``, ``nest``) and the
measurements (``measure``) import the protocol's ``spec`` only, never its ``tasks``
(the facade that dispatches, keys and stores); ``spec`` imports no other module of
its protocol.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, int], ...] = (
    ("mfval.cli", 5),
    ("mfval.figures", 4),
    ("mfval.comparison", 3),
    ("mfval.simulation", 2),
    ("mfval.theory", 1),
    ("mfval", 0),
)
#: top-level names the project must not install (they were its folders' names)
FOREIGN = ("theory", "simulation", "comparison", "params")
PROTOCOL_LEAVES = ("brian2", "nest", "measure")


def layer_of(module: str) -> int:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise KeyError(module)


def installed_packages() -> list[str]:
    """The packages that ``pyproject.toml`` installs."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return list(config["tool"]["setuptools"]["packages"])


def package_modules(packages: list[str]) -> dict[str, Path]:
    """module name -> source file, for every module of ``packages`` (found by importlib)."""
    modules = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, package
        folder = Path(next(iter(spec.submodule_search_locations)))
        for f in folder.glob("*.py"):
            name = package if f.stem == "__init__" else f"{package}.{f.stem}"
            modules[name] = f
    return modules


def imports_of(name: str, source: str, is_package: bool) -> set[str]:
    """Absolute names of everything ``source`` (module ``name``) imports, at any depth."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (a submodule import counts as the submodule)."""
    graph = {}
    for name, path in modules.items():
        targets = imports_of(name, path.read_text(), path.stem == "__init__")
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import against the layers or against a protocol's shape, as text."""
    bad = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(source):
                bad.append(
                    f"{source} -> {target} (layer {layer_of(target)} above {layer_of(source)})"
                )
            parts, tparts = source.split("."), target.split(".")
            same_protocol = (
                len(parts) == 4
                and parts[1] == "simulation"
                and tparts[:3] == parts[:3]
                and len(tparts) == 4
            )
            if not same_protocol:
                continue
            if parts[3] in PROTOCOL_LEAVES and tparts[3] != "spec":
                bad.append(f"{source} -> {target} (a backend or measurement imports spec only)")
            if parts[3] == "spec":
                bad.append(f"{source} -> {target} (spec imports nothing of its protocol)")
    return bad


@pytest.fixture(scope="module")
def graph():
    return import_graph(package_modules(installed_packages()))


def test_every_package_folder_is_installed():
    """Each folder with an ``__init__.py`` below the mapped folders is a listed package."""
    listed = set(installed_packages())
    roots = {"mfval": "mfval", "mfval.theory": "theory", "mfval.simulation": "simulation"}
    roots |= {"mfval.comparison": "comparison", "mfval.params": "params"}
    found = set()
    for package, folder in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((package, *rel)))
    assert found == listed


def test_no_import_circles(graph):
    assert import_cycles(graph) == []


def test_imports_follow_the_layers(graph):
    assert layer_violations(graph) == []


def test_no_foreign_top_level_imports():
    """No module imports ``theory`` & co. by their folder names (only ``mfval.*``)."""
    modules = package_modules(installed_packages())
    offenders = []
    for name, path in modules.items():
        for target in imports_of(name, path.read_text(), path.stem == "__init__"):
            if target.split(".")[0] in FOREIGN:
                offenders.append(f"{name} imports {target}")
    assert offenders == []


def test_checker_finds_a_circle_and_a_layer_violation():
    """The checks above can fail: a planted circle and planted upward imports are found."""
    graph = {
        "mfval.comparison.a": {"mfval.comparison.b"},
        "mfval.comparison.b": {"mfval.comparison.a"},
        "mfval.theory.x": {"mfval.simulation.network.spec"},
        "mfval.simulation.network.brian2": {"mfval.simulation.network.tasks"},
        "mfval.simulation.network.spec": {"mfval.simulation.network.measure"},
        "mfval.simulation.network.tasks": {"mfval.simulation.network.brian2"},
        "mfval.simulation.network.measure": set(),
    }
    assert import_cycles(graph) == [
        ["mfval.comparison.a", "mfval.comparison.b"],
        ["mfval.simulation.network.brian2", "mfval.simulation.network.tasks"],
    ]
    bad = layer_violations(graph)
    assert any("mfval.theory.x -> mfval.simulation" in b for b in bad)
    assert any("brian2 -> mfval.simulation.network.tasks" in b for b in bad)
    assert any("spec -> mfval.simulation.network.measure" in b for b in bad)


def test_one_import_name_outside_the_checkout(tmp_path):
    """From another folder: ``mfval.*`` imports, the folders' own names do not."""
    code = (
        "import importlib, sys\n"
        "import mfval.theory, mfval.simulation, mfval.comparison, mfval.params\n"
        "from mfval.config import default_params_path, load_params\n"
        "assert default_params_path().is_file(), default_params_path()\n"
        "load_params()\n"
        "for name in ('theory', 'simulation', 'comparison', 'params'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    sys.exit(f'{name} is importable')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
