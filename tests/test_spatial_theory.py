"""Spatial (ring) theory: profile, per-mode connectivity, stability, onset, spectra.

Every check compares with something computed independently: nnmt's own
functions (boxcar profile, Lambert-W root, effective connectivity, delay
matrix), the non-spatial closed-loop theory at k = 0, closed forms of the
rank-one eigenvalue, and the Poisson limit nu / N.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfval.theory import spatial as sp
from mfval.theory.closed_loop import (
    closed_loop_point,
    lif_connectivity,
    lif_transfer,
    network_with_g,
    onset_from_transfer,
    rate_connectivity,
    rate_model_onset_lambertw,
)
from mfval.theory.mean_field import nnmt_arrays

POINT = (10e-3, 10e-3)
L = 1e-3
RADII = np.array([0.2e-3, 0.07e-3])
FIT = np.arange(1.0, 200.0, 6.0)  # reduced fit grid (speed)
NYQ = np.arange(0.0, 250.0, 1.0)  # reduced Nyquist grid: no mpmath below 255 Hz (speed)
FREQS = np.array([5.0, 50.0, 150.0, 200.0])


@pytest.fixture(scope="module")
def wp(params):
    from mfval.theory.mean_field import working_point_for

    return working_point_for(*POINT, params["network"])


@pytest.fixture(scope="module")
def stability(params):
    return sp.mode_stability(*POINT, params["network"], L, RADII, 6, FIT, NYQ, complex_roots=False)


# ----------------------------------------------------------------------------- profile, modes


def test_boxcar_profile_equals_nnmt():
    from nnmt.spatial import _ft_spatial_profile_boxcar

    for k in (0.0, 1.0, 5e3, 18.85e3, -18.85e3, 1e5):
        assert np.allclose(sp.boxcar_profile(k, RADII), _ft_spatial_profile_boxcar(k, RADII))
    k = np.linspace(-1e5, 1e5, 101)
    p = sp.boxcar_profile(k, RADII)
    assert p.shape == (101, 2)
    assert np.array_equal(p, p[::-1])  # even in k
    assert sp.boxcar_profile(0.0, 0.2e-3) == 1.0
    # first zero at k R = pi
    assert abs(sp.boxcar_profile(np.pi / 0.2e-3, 0.2e-3)) < 1e-15


def test_ring_wave_numbers_and_bad_input():
    k = sp.ring_wave_numbers(1e-3, 4)
    assert np.allclose(k, 2 * np.pi * np.arange(4) / 1e-3)
    assert sp.modes_up_to(1e-3, 2 * np.pi * 3 / 1e-3) == 4
    with pytest.raises(ValueError, match="n_modes"):
        sp.ring_wave_numbers(1e-3, 0)
    with pytest.raises(ValueError, match="ring_length"):
        sp.ring_wave_numbers(-1.0, 3)
    with pytest.raises(ValueError, match="radius"):
        sp.boxcar_profile(1.0, [-1e-4, 1e-4])
    with pytest.raises(ValueError, match="ring_length = 0.0003"):
        sp.check_ring(3e-4, RADII)  # 2 R_E = 0.4 mm: the box would wrap the ring
    with pytest.raises(ValueError, match="control"):
        sp.spatial_onset(*POINT, {}, L, RADII, "tau_m", (1, 2), FIT)


# ----------------------------------------------------------------------------- connectivity


def test_connectivity_at_k0_is_the_closed_loop_one_and_rank_one(params, wp):
    net = params["network"]
    a = nnmt_arrays(net)
    d = net["delay"]
    tf = lif_transfer(wp["mean_input"], wp["std_input"], FREQS, a)
    k = sp.ring_wave_numbers(L, 5)
    M = sp.lif_spatial_connectivity(tf, FREQS, a, d, k, RADII)
    assert M.shape == (5, FREQS.size, 2, 2)
    assert np.array_equal(M[0], lif_connectivity(tf, FREQS, a, d))  # exactly
    W = np.array([[1.0, -2.0], [1.0, -2.0]])
    Mr = sp.rate_spatial_connectivity(FREQS, 2e-3, W, d, k, RADII)
    assert np.array_equal(Mr[0], rate_connectivity(FREQS, 2e-3, W, d))
    # identical rows, rank one; the eigenvalue is tau_m N D sum_b J_b K_b p_b(k)
    assert np.allclose(M[:, :, 0, :], M[:, :, 1, :])
    lam = sp.mode_eigenvalues(M)
    assert np.allclose(lam, sp.rank_one_eigenvalue(tf, FREQS, a, d, k, RADII))
    assert np.allclose(np.linalg.det(M), 0.0, atol=1e-12 * np.abs(lam).max() ** 2)


def test_connectivity_equals_nnmt_route(params, wp):
    """nnmt's own pieces as its example spatial_patterns.py combines them."""
    import nnmt
    from nnmt.lif.exp import _effective_connectivity
    from nnmt.spatial import _ft_spatial_profile_boxcar

    net = params["network"]
    a = nnmt_arrays(net)
    tf = lif_transfer(wp["mean_input"], wp["std_input"], FREQS, a)
    Delay = np.full((2, 2), net["delay"])
    D = nnmt.network_properties._delay_dist_matrix(Delay, 0 * Delay, "none", 2 * np.pi * FREQS)
    k = 18.85e3
    ref = _effective_connectivity(tf, D, a.J, a.K, a.tau_m) * _ft_spatial_profile_boxcar(k, RADII)
    ours = sp.lif_spatial_connectivity(tf, FREQS, a, net["delay"], [k], RADII)[0]
    assert np.allclose(ours, ref, rtol=1e-12)


# ----------------------------------------------------------------------------- stability


def test_rate_roots_equal_nnmt_lambertw_and_solve_the_chareq(stability, params):
    from nnmt.linear_stability import _solve_chareq_lambertw_constant_delay

    net = params["network"]
    a = nnmt_arrays(net)
    tau, h0, d = stability["tau_rate"][0], stability["h0"], net["delay"]
    W = h0[:, None] * a.tau_m[:, None] * a.J * a.K
    k = stability["wave_number"]
    for n in range(k.size):
        p = sp.boxcar_profile(k[n], RADII)
        z = complex(_solve_chareq_lambertw_constant_delay(0, tau, d, W * p))
        s = stability["root_rate"][n]
        assert s.real == pytest.approx(z.real, rel=1e-10)
        assert abs(s.imag) == pytest.approx(abs(z.imag), rel=1e-10, abs=1e-9)
        c = np.linalg.eigvals(W * p)
        c = c[np.argmax(np.abs(c))]
        assert abs(1 + s * tau - c * np.exp(-s * d)) < 1e-9  # the characteristic equation
    # growth > 0 exactly where the rate model's Nyquist crossing exceeds 1
    assert np.array_equal(stability["root_rate"].real > 0, stability["crossing_rate"] > 1)


def test_nyquist_at_k0_is_the_closed_loop_onset_structure(stability, params):
    """The modes' crossings are c(k) / c(0) times the k = 0 one (c < 0) at one f_pi."""
    c = stability["coupling"]
    neg = c < 0
    assert neg[0] and neg[3]
    ratio = stability["crossing_lif"][neg] / stability["crossing_lif"][0]
    assert np.allclose(ratio, c[neg] / c[0], rtol=1e-9)
    f = stability["crossing_frequency_lif"][neg]
    assert np.allclose(f, f[0])
    # g = 5, L = 1 mm: mode 3 (k = 18.8 /mm) is the unstable one, for both models
    assert np.flatnonzero(stability["crossing_lif"] > 1).tolist() == [3]
    assert np.flatnonzero(stability["root_rate"].real > 0).tolist() == [3]


def test_transfer_at_complex_frequency_continues_the_real_one(params, wp):
    a = nnmt_arrays(params["network"])
    f = np.array([20.0, 196.0])
    real = lif_transfer(wp["mean_input"], wp["std_input"], f, a)
    laplace = sp.lif_transfer_laplace(wp["mean_input"], wp["std_input"], 2j * np.pi * f, a)
    assert np.allclose(laplace, real, rtol=1e-8)
    # analytic: Cauchy-Riemann, dN/ds = dN/d(i w) along both directions
    s0, h = complex(-30.0, 2 * np.pi * 150.0), 1e-2
    N = lambda s: sp.lif_transfer_laplace(wp["mean_input"], wp["std_input"], [s], a)[0, 0]  # noqa: E731
    assert (N(s0 + h) - N(s0 - h)) / (2 * h) == pytest.approx(
        (N(s0 + 1j * h) - N(s0 - 1j * h)) / (2j * h), rel=1e-5
    )


def test_lif_complex_root_agrees_with_nyquist(params, wp, stability):
    net = params["network"]
    a = nnmt_arrays(net)
    d = net["delay"]
    for n in (2, 3):  # stable, unstable
        p = sp.boxcar_profile(stability["wave_number"][n], RADII)
        s = sp.lif_mode_root(
            wp["mean_input"], wp["std_input"], a, d, p, [stability["root_rate"][n]]
        )
        assert abs(sp.lif_eigenvalue_laplace(s, *POINT, a, d, p) - 1) < 1e-6
        assert (s.real > 0) == (stability["crossing_lif"][n] > 1)
        assert 150 < s.imag / (2 * np.pi) < 250


# ----------------------------------------------------------------------------- onset


def test_onset_at_k0_equals_closed_loop_and_ring_modes_follow_closed_form(params):
    net = params["network"]
    out = sp.spatial_onset(*POINT, net, L, RADII, "g", (3.0, 9.0), FIT, 8, NYQ, n_grid=13)
    a = nnmt_arrays(net)
    tf = lif_transfer(*POINT, NYQ[1:], a)
    g0 = onset_from_transfer(NYQ[1:], tf, net, (4.05, 9.0))["g_c"]
    assert out["value_c_k0_lif"] == pytest.approx(g0, rel=1e-5)
    # rank one: mode n goes unstable when J_E (K_E p_E - g K_I p_I) = -J_E (g0 K_I - K_E)
    p = sp.boxcar_profile(sp.ring_wave_numbers(L, 8), RADII)
    K_E, K_I = a.K[0]
    g_n = (K_E * p[:, 0] + (g0 * K_I - K_E)) / (K_I * p[:, 1])
    g_n[p[:, 1] <= 0] = np.inf
    assert out["value_c_lif"] == pytest.approx(g_n.min(), rel=1e-5)
    assert out["mode_lif"] == int(np.argmin(g_n)) == 3
    assert out["k_star_lif_per_mm"] == pytest.approx(2 * np.pi * 3, rel=1e-12)
    assert out["value_c_cont_lif"] <= out["value_c_lif"]  # the ring's modes are a subset
    # rate model: k = 0 onset equals the non-spatial Lambert-W onset
    st = sp.mode_stability(*POINT, net, L, RADII, 1, FIT, NYQ, complex_roots=False)
    h0, tau = st["h0"], st["tau_rate"][0]

    def W_rate(g):
        b = nnmt_arrays(network_with_g(net, g))
        return h0[:, None] * b.tau_m[:, None] * b.J * b.K

    lw = rate_model_onset_lambertw(tau, W_rate, net["delay"], (4.05, 9.0))
    assert out["value_c_k0_rate"] == pytest.approx(lw["g_c"], rel=1e-5)
    assert out["value_c_rate"] < out["value_c_k0_rate"]
    assert math.isnan(out["value_c_semi"])  # no data given


def test_semi_empirical_onset_recovers_lif_from_its_own_samples(params):
    net = params["network"]
    a = nnmt_arrays(net)
    f_data = np.arange(0.0, 250.0, 2.0)  # from 0 Hz: the onset here is static (f* = 0)
    N_data = lif_transfer(*POINT, f_data, a)[:, 0]
    out = sp.spatial_onset(
        *POINT, net, L, RADII, "radius_ratio", (1.0, 0.1), FIT, 8, NYQ, (f_data, N_data), 10
    )
    assert out["value_c_semi"] == pytest.approx(out["value_c_lif"], abs=2e-3)
    assert out["mode_semi"] == out["mode_lif"]
    assert out["f_star_semi_hz"] == pytest.approx(out["f_star_lif_hz"], abs=0.5)
    assert 0.1 < out["value_c_lif"] < 1.0
    assert out["f_star_lif_hz"] == 0.0  # p_I < 0 turns inhibition into excitation at k*
    assert out["stable_windows_lif"][0][0] == 1.0
    assert math.isnan(out["value_c_semi_se"]) and out["n_valid_semi"] == 0  # no SE given
    # with standard errors: a Monte Carlo SE that shrinks with the errors
    se = 0.02 * np.abs(N_data)
    ses = []
    for scale in (1.0, 0.1):
        o = sp.spatial_onset(
            *POINT, net, L, RADII, "g", (3.0, 6.0), FIT, 8, NYQ,
            (f_data, N_data, scale * se, scale * se), 7, k_max=1e3, n_draws=12,
        )  # fmt: skip
        assert o["n_valid_semi"] == 12 and o["value_c_semi"] == pytest.approx(4.13, abs=0.01)
        ses.append(o["value_c_semi_se"])
    assert 0 < ses[1] < 0.3 * ses[0] < 0.05


# ----------------------------------------------------------------------------- spectra


def test_spectra_k0_equal_closed_loop_and_tend_to_poisson(params):
    net = params["network"]
    f = np.array([10.0, 100.0, 180.0])
    g4 = network_with_g(net, 4.0)  # stable for every mode at L = 1 mm (g_c = 4.13)
    pt = sp.spatial_point(*POINT, g4, L, RADII, 4, f, FIT)
    ref = closed_loop_point(*POINT, g4, f, FIT)
    assert np.array_equal(pt["psd_lif_modes"][0], ref["psd_lif"])
    assert np.array_equal(pt["psd_rate_modes"][0], ref["psd_rate"])
    # k -> -k: same spectra (even profile)
    a = nnmt_arrays(g4)
    M = sp.lif_spatial_connectivity(pt["transfer"], f, a, g4["delay"], [-2e4, 2e4], RADII)
    P = sp.spatial_power_spectra(pt["firing_rates"], M, a, pt["population_size"])
    assert np.array_equal(P[0], P[1])
    # far above the network's time scales: nu / N for every mode (rate model, 1 MHz)
    far = sp.rate_spatial_connectivity([1e6], pt["tau_rate"], pt["W_rate"], g4["delay"],
                                       pt["wave_numbers"], RADII)  # fmt: skip
    P = sp.spatial_power_spectra(pt["firing_rates"], far, a, pt["population_size"])
    assert np.allclose(P[:, 0], pt["firing_rates"] / pt["population_size"], rtol=1e-3)
    # LIF theory at 5 kHz (|lambda| small but not 0): within 5 % of nu / N for every mode
    tf = lif_transfer(*POINT, [5000.0], a)
    far = sp.lif_spatial_connectivity(tf, [5000.0], a, g4["delay"], pt["wave_numbers"], RADII)
    P = sp.spatial_power_spectra(pt["firing_rates"], far, a, pt["population_size"])
    assert np.allclose(P[:, 0], pt["firing_rates"] / pt["population_size"], rtol=0.05)
    # an independent route to one mode's spectrum: (1 - M)^-1 A (1 - M)^-H by hand
    M = sp.lif_spatial_connectivity(pt["transfer"], f, a, g4["delay"], pt["wave_numbers"], RADII)
    A = np.diag(pt["firing_rates"] / pt["population_size"])
    Q = np.linalg.inv(np.eye(2) - M[3, 2])
    assert np.allclose(np.diag(Q @ A @ Q.conj().T).real, pt["psd_lif_modes"][3, 2])
    table = sp.spatial_theory_table(pt, g4)
    assert list(table.columns[:7]) == [
        "g",
        "population",
        "mode",
        "wave_number_per_mm",
        "frequency_hz",
        "psd_lif_per_s",
        "psd_rate_per_s",
    ]
    assert len(table) == 2 * 4 * f.size and (table["g"] == 4.0).all()


def test_mode_stability_table_columns(params):
    t = sp.mode_stability_table(*POINT, params["network"], L, RADII, 2, FIT, NYQ, False)
    assert {"mode", "wave_number_per_mm", "model", "growth_rate_per_s", "frequency_hz",
            "eigenvalue_abs_at_crossing"} <= set(t.columns)  # fmt: skip
    assert sorted(t["model"].unique()) == ["lif", "rate"] and len(t) == 4
    assert t.loc[t.model == "lif", "growth_rate_per_s"].isna().all()  # not solved


# ----------------------------------------------------------------------------- tasks


def test_spatial_tasks_keys_and_result(params):
    from mfval.theory.spatial_tasks import (
        DEFAULT_RING,
        ring_setting,
        spatial_onset_task,
        spatial_theory,
        spatial_theory_task,
    )

    t = spatial_theory_task(*POINT, params)
    assert t.kind == "spatial_theory" and t.kwargs["ring"]["n_modes"] == DEFAULT_RING["n_modes"]
    other = [
        spatial_theory_task(*POINT, params, g=4.5),
        spatial_theory_task(*POINT, params, {**DEFAULT_RING, "ring_length": 2e-3}),
        spatial_theory_task(*POINT, params, transfer_data=([1.0, 2.0], [1.0 + 1j, 2.0])),
        spatial_onset_task(*POINT, params, "g", (3.0, 9.0)),
        spatial_onset_task(*POINT, params, "delay", (0.5e-3, 3e-3)),
        spatial_onset_task(*POINT, params, "delay", (0.5e-3, 3e-3), n_draws=10),
    ]
    assert len({t.key} | {o.key for o in other}) == 7
    assert spatial_theory_task(*POINT, params).key == t.key  # same setting, same key
    with pytest.raises(ValueError, match="ring_length"):
        ring_setting({**DEFAULT_RING, "ring_length": 0.1e-3})
    with pytest.raises(ValueError, match="n_modes"):
        ring_setting({**DEFAULT_RING, "n_modes": 0})
    with pytest.raises(ValueError, match="control"):
        spatial_onset_task(*POINT, params, "width", (1.0, 2.0))
    ring = {**DEFAULT_RING, "n_modes": 4}
    out = spatial_theory(*POINT, params["network"], ring, [50.0, 150.0], FIT, 4.0,
                         complex_roots=False, nyquist_frequencies=NYQ)  # fmt: skip
    assert len(out["spectra"]) == 2 * 4 * 2 and out["spectra"]["stable_lif"].all()
    assert out["stability"]["stable"].all()  # rate model too (g_c = 4.55)
    assert len(out["stability"]) == 2 * 4 and out["g"] == pytest.approx(4.0)
