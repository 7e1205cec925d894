"""The scan's cache, its handling of infeasible points, and the results store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mfval.store import ResultStore
from mfval.theory.scan import point_key, run_points


def test_store_roundtrip_and_truncation(tmp_path):
    store = ResultStore(tmp_path)
    store.put("kind", "abc", {"x": np.arange(3)})
    np.testing.assert_array_equal(store.get("kind", "abc")["x"], np.arange(3))
    path = store.path("kind", "abc")
    path.write_bytes(path.read_bytes()[:-5])  # a half-written entry
    assert store.get("kind", "abc") is None
    assert not path.exists()  # removed, so it is recomputed
    assert store.get("kind", "never") is None


def test_store_get_or_compute_computes_once(tmp_path):
    store = ResultStore(tmp_path)
    calls = []
    compute = lambda: calls.append(1) or 42  # noqa: E731
    assert store.get_or_compute("k", "key", compute) == (42, False)
    assert store.get_or_compute("k", "key", compute) == (42, True)
    assert len(calls) == 1
    assert store.info()["k"]["entries"] == 1
    assert store.clear() == 1 and store.info()["k"]["entries"] == 0


def test_changed_parameter_changes_cached_result(params, tmp_path):
    store = ResultStore(tmp_path)
    point = [(10e-3, 10e-3)]
    first = run_points(point, params, store, workers=1, progress=False)[0]
    again = run_points(point, params, store, workers=1, progress=False)[0]
    assert again["tau_rate"][0] == first["tau_rate"][0]
    changed = {**params, "network": {**params["network"], "tau_s": 0.6e-3}}
    f = np.arange(1.0, 200.0)
    assert point_key(10e-3, 10e-3, changed["network"], f) != point_key(
        10e-3, 10e-3, params["network"], f
    )
    recomputed = run_points(point, changed, store, workers=1, progress=False)[0]
    assert recomputed["tau_rate"][0] != pytest.approx(first["tau_rate"][0], rel=1e-3)
    assert store.info()["theory"]["entries"] == 2


def test_scan_reports_infeasible_point_and_continues(params, tmp_path):
    store = ResultStore(tmp_path)
    results = run_points([(12e-3, 2e-3), (10e-3, 10e-3)], params, store, workers=2, progress=False)
    assert results[0]["status"] == "infeasible"
    assert "mu = 12 mV, sigma = 2 mV" in results[0]["error"]
    assert results[1]["status"] == "ok"


def test_scan_tables_have_documented_columns(theory_scan):
    scan, transfer = theory_scan
    for column in [
        "mu_mV",
        "sigma_mV",
        "nu_ext_exc_hz",
        "nu_ext_inh_hz",
        "rate_hz",
        "tau_rate_ms",
        "W_rate",
        "fit_error",
    ]:
        assert column in scan.columns
    assert len(scan) == 16 and (scan["status"] == "ok").all()
    for column in [
        "mu_mV",
        "sigma_mV",
        "frequency_hz",
        "tf_re_hz_per_mV",
        "tf_im_hz_per_mV",
        "fit_re_hz_per_mV",
        "fit_im_hz_per_mV",
    ]:
        assert column in transfer.columns
    assert len(transfer) == 16 * 199


def test_code_fingerprint_changes_with_source(tmp_path):
    from mfval.store import source_fingerprint

    pkg = tmp_path / "simulation"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.pyc.py").write_text("ignored")
    first = source_fingerprint([pkg])
    assert source_fingerprint([pkg]) == first
    (pkg / "__pycache__" / "a.cpython-311.pyc.py").write_text("still ignored")
    assert source_fingerprint([pkg]) == first
    (pkg / "a.py").write_text("x = 2\n")
    assert source_fingerprint([pkg]) != first
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "b.py").write_text("")
    assert source_fingerprint([pkg]) != first


def test_store_entry_depends_on_code(tmp_path, monkeypatch):
    import mfval.store as store_module

    store = ResultStore(tmp_path)
    store.put("network", "key", 1)
    assert store.get("network", "key") == 1
    assert store.info()["network"]["stale"] == 0
    # the simulation's source changes: the old entry is not read, but counted as stale
    monkeypatch.setattr(store_module, "code_fingerprint", lambda kind: "0" * 12)
    assert store.get("network", "key") is None
    assert store.info()["network"] == {
        "entries": 1,
        "bytes": store.info()["network"]["bytes"],
        "stale": 1,
    }


def test_simulation_and_theory_kinds_fingerprint_their_packages():
    from mfval.store import code_fingerprint, package_dir, source_fingerprint

    theory, simulation = package_dir("mfval.theory"), package_dir("mfval.simulation")
    assert code_fingerprint("theory") == source_fingerprint([theory])
    assert code_fingerprint("network") == source_fingerprint([theory, simulation])
    assert code_fingerprint("transfer") == code_fingerprint("network")


def test_written_files_respect_umask(tmp_path):
    import os

    from mfval.io import write_text

    old = os.umask(0o022)
    try:
        path = write_text("x", tmp_path / "a.txt")
        assert path.stat().st_mode & 0o777 == 0o644  # store entries: test_store_safety.py
        os.umask(0o027)
        assert write_text("y", tmp_path / "b.txt").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


#: (file of the package tree, text in it, replacement): edits that must leave stored results valid
PRESENTATION_EDITS = [
    ("mfval/cli/run.py", "main job", "the main job"),  # a help text
    ("mfval/cli/common.py", "results store", "the results store"),
    ("mfval/figures/figure5.py", "MASKED_COLOR = ", "MASKED_COLOR = '0.7' or "),  # a figure
    ("comparison/report.py", "## Figure", "## The figure"),  # report text
]
#: edits of code that computes stored results: equations, estimators, theory
COMPUTING_EDITS = [
    ("simulation/model/lif.py", "dv/dt", "dv/dt "),
    ("simulation/estimators/fourier.py", "def fourier_response(", "def fourier_response ("),
    ("simulation/network/measure.py", "def measure_rates(", "def measure_rates ("),
    ("theory/mean_field.py", "def working_point(", "def working_point ("),
]


@pytest.mark.parametrize("edits,changes", [(PRESENTATION_EDITS, False), (COMPUTING_EDITS, True)])
def test_fingerprint_covers_what_computes_only(tmp_path, monkeypatch, edits, changes):
    """A copy of the package tree: CLI/figure/report edits keep every kind's fingerprint;
    an edited equation, estimator, measurement or theory changes it (each edit alone)."""
    import shutil

    import mfval.store as store_module

    repo = Path(__file__).resolve().parents[1]
    copy = tmp_path / "tree"
    for folder in ("mfval", "theory", "simulation", "comparison"):
        shutil.copytree(repo / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    real = store_module.package_dir

    def copied(package):
        return copy / real(package).relative_to(repo)

    monkeypatch.setattr(store_module, "package_dir", copied)
    kinds = ("theory", "network", "transfer", "closed_loop_chunk")

    def fingerprints():
        store_module.code_fingerprint.cache_clear()
        return {k: store_module.code_fingerprint(k) for k in kinds}

    try:
        before = fingerprints()
        for path, old, new in edits:
            f = copy / path
            text = f.read_text()
            assert old in text, (path, old)
            f.write_text(text.replace(old, new, 1))
            after = fingerprints()
            if changes:
                assert after["network"] != before["network"], path
                assert after["transfer"] != before["transfer"], path
            else:
                assert after == before, path
            f.write_text(text)
    finally:
        store_module.code_fingerprint.cache_clear()
