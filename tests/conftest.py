"""Shared fixtures: parameters, a per-session results store, the theory scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfval.params import load_params
from mfval.store import ResultStore

REPO = Path(__file__).resolve().parents[1]


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
