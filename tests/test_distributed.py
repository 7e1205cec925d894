"""Scans on Dask and the results store under interruption (loopback only).

- A LocalCluster with 2 workers gives results identical to the in-process run
  (theory scan and a small network simulation with derived per-task seeds).
- Killing a scan midway and rerunning completes it, recomputing only the
  missing tasks; a truncated store entry is detected and recomputed.
- An unreachable scheduler gives a clear error quickly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from mfval.comparison.pipeline import RunSettings, simulation_tasks
from mfval.store import ResultStore
from mfval.tasks import close_client, open_client, run_tasks
from mfval.theory.scan import run_points, run_scan
from tests.conftest import REPO

POINTS = [(6e-3, 8e-3), (8e-3, 10e-3), (10e-3, 6e-3), (12e-3, 12e-3)]


def _small_network(params: dict) -> dict:
    """The default parameters with a smaller network (same in-degrees)."""
    network = {**params["network"], "N": np.array([800, 200])}
    return {**params, "network": network}


@pytest.fixture(scope="module")
def client():
    c = open_client(workers=2)
    yield c
    close_client(c)


@pytest.mark.slow
def test_local_cluster_equals_in_process(params, tmp_path, client):
    inproc = run_points(POINTS, params, ResultStore(tmp_path / "a"), workers=1, progress=False)
    dask = run_points(POINTS, params, ResultStore(tmp_path / "b"), progress=False, client=client)
    for a, b in zip(inproc, dask):
        for key in ("nu_ext", "firing_rates", "tau_rate", "W_rate", "transfer_function"):
            np.testing.assert_array_equal(a[key], b[key])

    small = _small_network(params)
    settings = RunSettings(
        network_points=[(10e-3, 10e-3), (12e-3, 12e-3)],
        transfer_points=[],
        network_options={"duration": 0.2, "warmup": 0.05},
    )
    tasks, _ = simulation_tasks(small, settings)
    serial = run_tasks(tasks, ResultStore(tmp_path / "c"), workers=1, progress=False)
    parallel = run_tasks(tasks, ResultStore(tmp_path / "d"), progress=False, client=client)
    for a, b in zip(serial, parallel):
        pd.testing.assert_frame_equal(
            a.drop(columns=[c for c in a.columns if c.endswith("_s")]),
            b.drop(columns=[c for c in b.columns if c.endswith("_s")]),
        )
    assert tasks[0].kwargs["spec"].seed != tasks[1].kwargs["spec"].seed  # per-task seeds


def _count_computed(stderr: str) -> tuple[int, int]:
    lines = [line for line in stderr.splitlines() if line.startswith("[theory")]
    cached = sum("(cached)" in line for line in lines)
    return len(lines) - cached, cached


def test_killed_scan_resumes_without_recomputing(tmp_path):
    store_dir = tmp_path / "store"
    cmd = [
        sys.executable,
        "-m",
        "mfval.cli",
        "theory",
        "--cache-dir",
        str(store_dir),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True, cwd=REPO
    )
    store = ResultStore(store_dir)
    deadline = time.time() + 300
    while time.time() < deadline and store.info().get("theory", {}).get("entries", 0) < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the client and its workers, mid-scan
    proc.wait()
    time.sleep(0.5)
    done = store.info()["theory"]["entries"]
    assert 3 <= done < 16, f"kill came too late to test resuming ({done} entries)"
    assert not (tmp_path / "out" / "theory_scan.csv").exists()

    # damage one finished entry: it must be detected and recomputed, never read
    victim = next(iter(sorted((store_dir / "theory").glob("*.pkl"))))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])

    rerun = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    computed, cached = _count_computed(rerun.stderr)
    assert cached == done - 1, rerun.stderr
    assert computed == 16 - (done - 1)
    assert pd.read_csv(tmp_path / "out" / "theory_scan.csv")["status"].eq("ok").all()


def test_unreachable_scheduler_fails_fast(tmp_path):
    start = time.perf_counter()
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "mfval.cli",
            "theory",
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--scheduler-timeout",
            "2",
            "--cache-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    elapsed = time.perf_counter() - start
    assert rerun.returncode == 3
    assert "tcp://127.0.0.1:9" in rerun.stderr and "no Dask scheduler answered" in rerun.stderr
    assert elapsed < 30
    assert "within 2 s" in rerun.stderr
    assert not (tmp_path / "out").exists()


def test_scan_with_cluster_matches_table(params, tmp_path, client):
    scan, transfer = run_scan(
        params, ResultStore(tmp_path), progress=False, client=client, points=POINTS
    )
    assert list(zip(scan["mu_mV"], scan["sigma_mV"])) == [(m * 1e3, s * 1e3) for m, s in POINTS]
    assert len(transfer) == len(POINTS) * 199
