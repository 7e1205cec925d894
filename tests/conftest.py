"""Shared fixtures: parameters, a per-session results store, the theory scan.

Exit codes of ``pytest -m validation`` (pytest's own, plus two mapped here):
0 every check passed (or was not judged, with its reason); 1 a check failed;
2 bad input (a :class:`mfval.config.ParameterError`, e.g. a bad
``params/validation.yaml``); 3 the Dask scheduler did not answer. (pytest
itself uses 2 for an interrupted session, 4 for a usage error and 5 when no
test was collected.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfval.config import load_params
from mfval.store import ResultStore

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYNEST_QUIET", "1")  # NEST (optional extra): no banner


@pytest.fixture(scope="session")
def params() -> dict:
    return load_params(REPO / "params" / "default.yaml")


@pytest.fixture(scope="session")
def session_store(tmp_path_factory) -> ResultStore:
    """A results store shared by the tests of one session (fresh each session)."""
    return ResultStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def validation_store() -> ResultStore:
    """The results store of ``pytest -m validation`` (:func:`validation_store_dir`).

    A slow test that simulates exactly a task of the validation run (same
    parameters, seed and code, hence the same store key) computes it here, so
    that the README's ``pytest && pytest -m validation`` simulates it once.
    """
    return ResultStore(validation_store_dir())


@pytest.fixture(scope="session")
def theory_scan(params, session_store):
    """The full default theory scan (computed once per session)."""
    from mfval.theory.scan import run_scan

    return run_scan(params, session_store, progress=False)


def run_side_by_side(store: ResultStore, kind: str, jobs: dict) -> dict:
    """Results of ``jobs`` (name -> (top-level function, keyword arguments)), computed once.

    The jobs run side by side in worker processes (the usable cores; in
    process on one core) as tasks of ``store`` (a session's store: the key is
    ``kind`` and the name only), so the slow tests of a module simulate
    everything they need in one parallel batch and then judge the results.
    """
    from mfval.config import stable_hash
    from mfval.tasks import Task, run_tasks

    tasks = [
        Task(kind=kind, key=stable_hash(kind, name), func=func, kwargs=kwargs, label=name)
        for name, (func, kwargs) in jobs.items()
    ]
    return dict(zip(jobs, run_tasks(tasks, store, progress=False)))


def pytest_addoption(parser):
    parser.addoption(
        "--full-grid",
        action="store_true",
        default=False,
        help="validation checks at all grid points (default: the marked points)",
    )


#: exit codes for errors that are not failed checks (see module docstring)
EXIT_BAD_INPUT = 2
EXIT_SCHEDULER_UNREACHABLE = 3
_errors: set[int] = set()


def pytest_runtest_makereport(item, call):
    if call.excinfo is None:
        return
    from mfval.config import ParameterError
    from mfval.tasks import SchedulerUnreachableError

    if call.excinfo.errisinstance(ParameterError):
        _errors.add(EXIT_BAD_INPUT)
    elif call.excinfo.errisinstance(SchedulerUnreachableError):
        _errors.add(EXIT_SCHEDULER_UNREACHABLE)


def pytest_sessionfinish(session, exitstatus):
    if _errors and exitstatus in (0, 1):
        session.exitstatus = max(_errors)


def validation_store_dir() -> Path:
    """Store of ``pytest -m validation``: its own, never the user's ``mfval run`` store.

    ``$MFVAL_VALIDATION_CACHE_DIR`` if set (point it at a shared store to
    reuse results on purpose), else the folder of the default store with
    ``-validation`` appended (e.g. ``~/.cache/mfval-validation``).
    """
    from mfval.store import default_cache_dir

    env = os.environ.get("MFVAL_VALIDATION_CACHE_DIR")
    if env:
        return Path(env)
    default = default_cache_dir()
    return default.with_name(default.name + "-validation")


def validation_points(config) -> list[tuple[float, float]]:
    """Working points of the validation checks (V), by the --full-grid option."""
    from mfval.comparison.pipeline import marked_points
    from mfval.config import scan_points

    p = load_params(REPO / "params" / "default.yaml")
    return scan_points(p) if config.getoption("--full-grid") else marked_points(p)
