"""The project's nnmt path gives the seed loop's numbers (same nnmt calls).

The fast path is compared with nnmt in tests/test_fast_theory.py.
"""

from __future__ import annotations

import numpy as np

from mfval.config import analysis_frequencies
from mfval.theory.mean_field import analyze_point
from mfval.theory.seed_loop import seed_scan


def test_pure_functions_equal_seed_loop(params):
    points = [(6e-3, 12e-3), (10e-3, 10e-3)]
    seed = seed_scan(params, points)
    f = analysis_frequencies(params)
    for ref, (mu, sigma) in zip(seed, points):
        mine = analyze_point(mu, sigma, params["network"], f, theory="nnmt")
        np.testing.assert_allclose(mine["nu_ext"], ref["nu_ext"], rtol=1e-12)
        np.testing.assert_allclose(mine["firing_rates"][0], ref["firing_rate"], rtol=1e-12)
        # the fit is iterative (scipy's curve_fit, ftol = 1.5e-8): round-off in its
        # input moves its result by up to ~1e-8 relative (measured 8e-9)
        np.testing.assert_allclose(mine["tau_rate"][0], ref["tau_rate"], rtol=1e-7)
        np.testing.assert_allclose(mine["W_rate"][0, 0], ref["W_rate"], rtol=1e-7)
        np.testing.assert_allclose(
            mine["transfer_function"][:, 0], ref["transfer_function"], rtol=1e-12
        )
        np.testing.assert_allclose(ref["frequencies"], f, rtol=1e-12)
