"""Regression tests of the mean-field predictions against stored golden values.

The golden file ``tests/golden/theory_default.json`` was produced by
``scripts/make_golden.py`` with the seed example's own nnmt loop
(``theory/seed_loop.py``) and records the versions of nnmt, numpy and scipy.
A fresh scan with the project's code must agree with it to a relative
tolerance of RTOL = 1e-6:

- the two code paths call the same nnmt functions with the same numbers,
  so on one machine they agree to ~1e-14 (floating-point round-off);
- the self-consistent rates come from an iterative solver that stops at
  increments of 1e-7 Hz (nnmt's ``eps_tol``), i.e. < 2e-8 relative for the
  smallest rate here (6 Hz), and the fit converges to scipy's default
  ``ftol`` of 1.5e-8;
- so 1e-6 is 50 times above what numerics can move on another platform, and
  10^4 times below any change that matters physically (the simulation's
  errors are >= 1e-3). A new nnmt, numpy or scipy that moves a prediction
  by more fails here, naming the working point and the quantity.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import REPO

RTOL = 1e-6
GOLDEN = json.loads((REPO / "tests" / "golden" / "theory_default.json").read_text())
SCALARS = ["nu_ext_exc_hz", "nu_ext_inh_hz", "rate_hz", "tau_rate_ms", "W_rate", "fit_error"]
CURVES = ["tf_re_hz_per_mV", "tf_im_hz_per_mV", "fit_re_hz_per_mV", "fit_im_hz_per_mV"]


def _point_id(point) -> str:
    return f"mu{point['mu_mV']:g}-sigma{point['sigma_mV']:g}"


def test_golden_file_is_complete():
    assert len(GOLDEN["points"]) == 16
    assert set(GOLDEN["versions"]) == {"nnmt", "numpy", "scipy"}
    n = len(GOLDEN["frequency_hz"])
    for point in GOLDEN["points"]:
        for key in CURVES:
            assert len(point[key]) == n


def test_frequencies_match(params):
    from mfval.config import analysis_frequencies

    np.testing.assert_allclose(analysis_frequencies(params), GOLDEN["frequency_hz"], rtol=1e-12)


@pytest.mark.parametrize("golden", GOLDEN["points"], ids=_point_id)
def test_scan_matches_golden(theory_scan, golden):
    scan, transfer = theory_scan
    row = scan[
        np.isclose(scan["mu_mV"], golden["mu_mV"])
        & np.isclose(scan["sigma_mV"], golden["sigma_mV"])
    ]
    assert len(row) == 1, f"working point {_point_id(golden)} missing from the scan"
    row = row.iloc[0]
    moved = []
    for key in SCALARS:
        if not np.isclose(row[key], golden[key], rtol=RTOL, atol=0):
            moved.append(f"{key}: scan {row[key]!r} vs golden {golden[key]!r}")
    curves = transfer[
        np.isclose(transfer["mu_mV"], golden["mu_mV"])
        & np.isclose(transfer["sigma_mV"], golden["sigma_mV"])
    ]
    for key in CURVES:
        fresh, stored = curves[key].to_numpy(), np.asarray(golden[key])
        # tolerance relative to the curve's amplitude (imaginary parts cross zero)
        scale = np.abs(np.asarray(golden[CURVES[0]]) + 1j * np.asarray(golden[CURVES[1]]))
        bad = np.abs(fresh - stored) > RTOL * scale
        if bad.any():
            i = int(np.argmax(bad))
            moved.append(
                f"{key} at {GOLDEN['frequency_hz'][i]:g} Hz: scan {fresh[i]!r} vs golden "
                f"{stored[i]!r} ({int(bad.sum())} frequencies moved)"
            )
    assert not moved, (
        f"prediction moved at (mu, sigma) = ({golden['mu_mV']:g}, {golden['sigma_mV']:g}) mV "
        f"(golden made with {GOLDEN['versions']}):\n  " + "\n  ".join(moved)
    )
