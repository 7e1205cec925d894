"""Shared fixtures: parameters, a per-session results store, the theory scan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfval.params import load_params
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
def theory_scan(params, session_store):
    """The full default theory scan (computed once per session)."""
    from theory.scan import run_scan

    return run_scan(params, session_store, progress=False)


def pytest_addoption(parser):
    parser.addoption(
        "--full-grid",
        action="store_true",
        default=False,
        help="validation checks at all grid points (default: the marked points)",
    )


def validation_points(config) -> list[tuple[float, float]]:
    """Working points of the validation checks (V), by the --full-grid option."""
    from comparison.pipeline import marked_points
    from mfval.params import scan_points

    p = load_params(REPO / "params" / "default.yaml")
    return scan_points(p) if config.getoption("--full-grid") else marked_points(p)
