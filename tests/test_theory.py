"""Pure theory functions: checked against independent formulas, not against themselves."""

from __future__ import annotations

import numpy as np
import pytest

import mfval.theory.nnmt_compat  # noqa: F401
from mfval.theory.mean_field import (
    InfeasibleWorkingPointError,
    analyze_point,
    external_rates_for_fixed_input,
    fit_low_pass,
    nnmt_arrays,
    transfer_function,
    working_point,
)


@pytest.fixture(scope="module")
def arrays(params):
    return nnmt_arrays(params["network"])


def test_numpy2_compat_step_restores_complex_alias():
    assert getattr(np, "complex_") is np.complex128  # noqa: B009


def test_weights_converted_as_in_nnmt(arrays, params):
    net = params["network"]
    # J = tau_s W / C: 0.5 ms * 87.8 pA / 250 pF = 0.1756 mV
    assert arrays.J[0, 0] == pytest.approx(0.5e-3 * 87.8e-12 / 250e-12)
    assert arrays.J[0, 1] / arrays.J[0, 0] == pytest.approx(net["W"][0, 1] / net["W"][0, 0])


@pytest.mark.parametrize("mu, sigma", [(6e-3, 6e-3), (10e-3, 10e-3), (12e-3, 8e-3)])
def test_external_rates_reproduce_requested_input(arrays, mu, sigma):
    nu_ext = external_rates_for_fixed_input(mu, sigma, arrays)
    wp = working_point(nu_ext, arrays)
    nu = wp["firing_rates"]
    # independent evaluation of the input statistics (design: nnmt conventions)
    tau_m = arrays.tau_m[0]
    mean = tau_m * (np.sum(arrays.K[0] * arrays.J[0] * nu) + np.sum(arrays.J_ext[0] * nu_ext))
    var = tau_m * (
        np.sum(arrays.K[0] * arrays.J[0] ** 2 * nu) + np.sum(arrays.J_ext[0] ** 2 * nu_ext)
    )
    assert mean == pytest.approx(mu, rel=1e-6)
    assert np.sqrt(var) == pytest.approx(sigma, rel=1e-6)
    np.testing.assert_allclose(wp["mean_input"], mu, rtol=1e-6)
    np.testing.assert_allclose(wp["std_input"], sigma, rtol=1e-6)
    assert np.all(nu_ext > 0)


def test_infeasible_point_names_mu_and_sigma(arrays):
    with pytest.raises(InfeasibleWorkingPointError, match=r"mu = 12 mV, sigma = 2 mV"):
        external_rates_for_fixed_input(12e-3, 2e-3, arrays)


def test_nonpositive_sigma_rejected(arrays):
    with pytest.raises(ValueError, match="sigma"):
        external_rates_for_fixed_input(10e-3, 0.0, arrays)


def test_fit_reproduces_synthetic_low_pass(arrays):
    f = np.arange(1.0, 200.0)
    tau, h0 = 2.5e-3, 7000.0
    synthetic = (h0 / (1 + 2j * np.pi * f * tau))[:, None] * np.ones(2)
    fit = fit_low_pass(synthetic, f, arrays)
    np.testing.assert_allclose(fit["tau_rate"], tau, rtol=1e-6)
    np.testing.assert_allclose(fit["h0"], h0, rtol=1e-6)
    np.testing.assert_allclose(fit["fit"], synthetic, rtol=1e-6)
    assert np.all(fit["fit_error"] < 1e-6)
    np.testing.assert_allclose(fit["W_rate"], h0 * arrays.tau_m[0] * arrays.J * arrays.K, rtol=1e-6)


def test_synaptic_filter_conventions_differ_by_exact_factor(arrays):
    f = np.array([0.5, 1.0, 10.0, 100.0, 199.0])
    with_filter = transfer_function(10e-3, 10e-3, f, arrays, synaptic_filter=True)
    without = transfer_function(10e-3, 10e-3, f, arrays, synaptic_filter=False)
    expected = 1.0 / (1.0 + 2j * np.pi * f * arrays.tau_s[0])
    np.testing.assert_allclose(with_filter[:, 0] / without[:, 0], expected, rtol=1e-12)


def test_low_frequency_limit_is_rate_slope(arrays):
    """N(f -> 0) equals d nu / d mu, checked by a finite difference of the rate."""
    from mfval.theory.nnmt_compat import lif_exp

    def rate(mu):
        return lif_exp._firing_rate_shift(
            mu,
            10e-3,
            arrays.V_0_rel[0],
            arrays.V_th_rel[0],
            arrays.tau_m[0],
            arrays.tau_r[0],
            arrays.tau_s[0],
        )

    h = 1e-6
    slope = (rate(10e-3 + h) - rate(10e-3 - h)) / (2 * h)
    n_low = transfer_function(10e-3, 10e-3, [0.01], arrays)[0, 0]
    assert n_low.real == pytest.approx(float(np.ravel(slope)[0]), rel=1e-3)
    assert abs(n_low.imag) < 1e-3 * abs(n_low.real)


def test_analyze_point_is_consistent(params):
    r = analyze_point(10e-3, 10e-3, params["network"], np.arange(1.0, 20.0))
    assert r["transfer_function"].shape == (19, 2)
    assert r["W_rate"].shape == (2, 2)
    assert r["firing_rates"][0] == pytest.approx(r["firing_rates"][1])
    assert 0 < r["cv"][0] < 1.5
