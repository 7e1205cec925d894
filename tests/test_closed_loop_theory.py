"""Closed-loop theory: nnmt's spectra with the delay, eigenvalue, onset three ways."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfval.theory.closed_loop import (
    closed_loop_point,
    critical_eigenvalue,
    delay_matrix,
    interpolate_transfer,
    lif_connectivity,
    lif_transfer,
    network_with_g,
    onset_from_transfer,
    rate_connectivity,
    rate_model_onset_lambertw,
    relative_inhibition,
    semi_empirical_onset,
)
from mfval.theory.mean_field import nnmt_arrays

POINT = (10e-3, 10e-3)
FREQS = np.array([5.0, 50.0, 150.0, 200.0, 400.0])


@pytest.fixture(scope="module")
def point(params):
    fit_freqs = np.arange(1.0, 200.0, 6.0)  # reduced fit grid (speed)
    return closed_loop_point(*POINT, params["network"], FREQS, fit_freqs)


def test_delay_matrix_is_exp_minus_i_omega_d():
    D = delay_matrix(1.5e-3, [0.0, 100.0], 2)
    assert D.shape == (2, 2, 2)
    assert np.allclose(D[1], np.exp(-2j * np.pi * 100.0 * 1.5e-3))
    with pytest.raises(ValueError, match="delay"):
        delay_matrix(-1.0, [1.0], 2)


def test_spectra_equal_nnmt_network_route(params, point):
    """Same numbers as nnmt's model API with Delay, Delay_sd, delay_dist set."""
    import nnmt
    import nnmt.lif.exp as lif_exp

    a = nnmt_arrays(params["network"])
    net = nnmt.models.Plain(
        network_params={
            "J": a.J,
            "K": a.K,
            "J_ext": a.J_ext,
            "K_ext": a.K_ext,
            "tau_m": a.tau_m,
            "tau_s": a.tau_s,
            "tau_r": a.tau_r,
            "V_th_rel": a.V_th_rel,
            "V_0_rel": a.V_0_rel,
            "N": np.asarray(params["network"]["N"], float),
            "nu_ext": point["nu_ext"],
            "Delay": np.full((2, 2), params["network"]["delay"]),
            "Delay_sd": np.zeros((2, 2)),
            "delay_dist": "none",
        },
        analysis_params={"omegas": 2 * np.pi * FREQS},
    )
    lif_exp.working_point(net)
    lif_exp.transfer_function(net, method="shift")
    nnmt.network_properties.delay_dist_matrix(net)
    lif_exp.effective_connectivity(net)
    psd = lif_exp.power_spectra(net)
    assert np.allclose(psd, point["psd_lif"], rtol=1e-6)
    assert np.allclose(lif_exp.cvs(net), point["cv"], rtol=1e-6)


def test_rank_one_eigenvalue_and_poisson_limit(params, point):
    a = nnmt_arrays(params["network"])
    d = params["network"]["delay"]
    lam = (
        a.tau_m[0]
        * (a.J[0] * a.K[0]).sum()
        * point["transfer"][:, 0]
        * np.exp(-2j * np.pi * FREQS * d)
    )
    assert np.allclose(point["eigenvalue_lif"], lam)
    # a population spectrum is nu/N + (rank-one feedback): directly from 1/(1 - M)
    M = lif_connectivity(point["transfer"], FREQS, a, d)
    A = np.diag(point["firing_rates"] / point["population_size"])
    for k in range(FREQS.size):
        Q = np.linalg.inv(np.eye(2) - M[k])
        assert np.allclose(np.diag(Q @ A @ Q.conj().T).real, point["psd_lif"][k])
    # high-frequency limit nu / N (|lambda| -> 0)
    far = closed_loop_point(*POINT, params["network"], [5000.0], [1.0, 10.0, 100.0])
    assert np.allclose(far["psd_lif"][0], far["firing_rates"] / far["population_size"], rtol=0.05)


def test_network_with_g(params):
    net = network_with_g(params["network"], 7.5)
    assert relative_inhibition(net) == pytest.approx(7.5)
    assert np.allclose(net["W_ext"], params["network"]["W_ext"])  # external weights fixed
    assert relative_inhibition(params["network"]) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="g must be positive"):
        network_with_g(params["network"], -1.0)


def test_rate_model_onset_three_independent_ways(params, point):
    """Grid crossing of the eigenvalue, Lambert W, and the closed form agree."""
    net = params["network"]
    tau, d = float(point["tau_rate"][0]), float(net["delay"])
    h0 = float(point["h0"][0])
    f = np.arange(1.0, 1000.0, 0.25)
    grid = onset_from_transfer(f, h0 / (1 + 2j * np.pi * f * tau), net)
    a = nnmt_arrays(net)

    def W_rate(g):
        b = nnmt_arrays(network_with_g(net, g))
        return h0 * b.tau_m[:, None] * b.J * b.K

    lw = rate_model_onset_lambertw(tau, W_rate, d)
    # closed form: w tau_rate... phase condition w d + arctan(w tau) = pi, |W| = sqrt(1 + (w tau)^2)
    from scipy.optimize import brentq

    w = brentq(lambda w: w * d + math.atan(w * tau) - math.pi, 1.0, math.pi / d)
    w_crit = math.sqrt(1 + (w * tau) ** 2)
    # W eigenvalue = h0 tau_m J_E (K_E - g K_I)  ->  g_c
    g_closed = (w_crit / (h0 * a.tau_m[0] * a.J[0, 0]) + a.K[0, 0]) / a.K[0, 1]
    assert grid["g_c"] == pytest.approx(g_closed, rel=1e-4)
    assert lw["g_c"] == pytest.approx(g_closed, rel=1e-6)
    assert grid["f_star"] == pytest.approx(w / (2 * np.pi), rel=1e-3)
    assert lw["f_star"] == pytest.approx(w / (2 * np.pi), rel=1e-6)


def test_semi_empirical_onset_recovers_theory_from_its_own_samples(params):
    net = params["network"]
    a = nnmt_arrays(net)
    f_fine = np.arange(100.0, 400.0, 1.0)
    tf_fine = lif_transfer(10e-3, 10e-3, f_fine, a)[:, 0]
    exact = onset_from_transfer(f_fine, tf_fine, net)
    f_data = np.arange(100.0, 401.0, 25.0)
    N_data = lif_transfer(10e-3, 10e-3, f_data, a)[:, 0]
    se = 0.01 * np.abs(N_data)
    semi = semi_empirical_onset(f_data, N_data, se, se, net, n_draws=40)
    assert semi["g_c"] == pytest.approx(exact["g_c"], rel=0.01)
    assert semi["f_star"] == pytest.approx(exact["f_star"], abs=3.0)
    assert 0 < semi["g_c_se"] < 0.2 and semi["n_valid"] == 40
    # the interpolation never extrapolates
    assert np.isnan(interpolate_transfer([50.0], f_data, N_data)).all()


def test_rate_connectivity_shape_and_critical_eigenvalue():
    W = np.array([[2.0, -3.0], [2.0, -3.0]])
    M = rate_connectivity([0.0, 100.0], 2e-3, W, 1.5e-3)
    assert M.shape == (2, 2, 2)
    assert np.allclose(critical_eigenvalue(M)[0], -1.0)  # rank one: trace
