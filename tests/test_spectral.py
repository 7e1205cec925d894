"""The spike-time estimator of N(f) and the low-pass fit, on synthetic data (no Brian2)."""

from __future__ import annotations

import numpy as np
import pytest

from mfval.simulation.estimators.fourier import (
    fit_low_pass,
    fourier_response,
    log_frequencies,
    whole_cycle_frequencies,
)

K_SE = 4.0  # tolerance in standard errors, fixed in advance


def sinusoidal_poisson(rng, n_per_freq, freqs, nu0, resp_amp, resp_phase, t0, T, m=20):
    """Inhomogeneous Poisson spikes with rate nu0 + a cos(w t + phi), by thinning."""
    nu_max = nu0 + np.max(resp_amp)
    times, neurons = [], []
    group = np.repeat(np.arange(freqs.size), n_per_freq)
    sub = np.tile(np.arange(n_per_freq) % m, freqs.size)
    for i in range(group.size):
        f, a, ph = freqs[group[i]], resp_amp[group[i]], resp_phase[group[i]]
        n = rng.poisson(nu_max * (t0 + T))
        t = np.sort(rng.uniform(0, t0 + T, n))
        rate = nu0 + a * np.cos(2 * np.pi * f * t + ph)
        t = t[rng.uniform(0, nu_max, n) < rate]
        times.append(t)
        neurons.append(np.full(t.size, i))
    return np.concatenate(times), np.concatenate(neurons), group, sub


def test_whole_cycle_frequencies():
    f = log_frequencies(1.0, 200.0, 12, 4.0)
    assert f.size == 12
    assert f[0] == 1.0 and f[-1] == 200.0
    np.testing.assert_allclose(f * 4.0, np.round(f * 4.0))
    np.testing.assert_allclose(whole_cycle_frequencies([0.01, 1.3], 2.0), [0.5, 1.5])


@pytest.mark.parametrize("t0, T", [(0.2, 2.0), (0.13, 1.9)])
def test_recovers_known_sinusoid(t0, T):
    """Amplitude and phase of a known rate modulation come back within K_SE SEs.

    The second window holds a non-integer number of cycles: the explicit
    mean removal must still give an unbiased estimate.
    """
    rng = np.random.default_rng(1)
    freqs = np.array([1.0, 7.5, 40.0, 200.0])
    dmu = np.array([0.5, 1.0, 2.0, 1.0])  # modulation amplitudes (arbitrary unit)
    N_true = np.array([8.0, 6.0 * np.exp(-0.5j), 2.0 * np.exp(-1.2j), 3.0 * np.exp(2.5j)])
    resp = np.abs(N_true) * dmu
    times, neurons, group, sub = sinusoidal_poisson(
        rng, 400, freqs, 20.0, resp, np.angle(N_true), t0, T
    )
    r = fourier_response(times, neurons, group, sub, freqs, dmu, t0, T)
    assert np.all(r["amp_se"] < 0.2 * np.abs(N_true))  # the check has power
    z_amp = (r["amp"] - np.abs(N_true)) / r["amp_se"]
    dphi = np.angle(r["N"] / N_true)
    z_phase = dphi / r["phase_se"]
    assert np.all(np.abs(z_amp) < K_SE), z_amp
    assert np.all(np.abs(z_phase) < K_SE), z_phase
    # rate estimate: 20 Hz within its SE
    assert np.all(np.abs(r["rate"] - 20.0) < K_SE * r["rate_se"])
    # Poisson prediction of the SE of Re N: sqrt(2 nu0 / (n T)) / dmu
    se_poisson = np.sqrt(2 * 20.0 / (400 * T)) / dmu
    np.testing.assert_allclose(r["se_re"], se_poisson, rtol=0.6)


def test_standard_errors_are_calibrated():
    """Over independent repetitions, the spread of the estimates matches the SEs."""
    rng = np.random.default_rng(7)
    freqs = np.array([3.0, 50.0])
    N_true = np.array([5.0 + 0j, 2.0 - 2.0j])
    z = []
    for _ in range(30):
        times, neurons, group, sub = sinusoidal_poisson(
            rng, 100, freqs, 10.0, np.abs(N_true), np.angle(N_true), 0.0, 1.0
        )
        r = fourier_response(times, neurons, group, sub, freqs, 1.0, 0.0, 1.0)
        z.append((r["N"].real - N_true.real) / r["se_re"])
        z.append((r["N"].imag - N_true.imag) / r["se_im"])
    z = np.concatenate(z)
    # 120 z-scores; std 1 expected (t-distribution with 19 dof: ~1.06)
    assert 0.8 < z.std() < 1.3, z.std()
    assert abs(z.mean()) < 4 / np.sqrt(z.size)


def test_mean_removal_matters_for_partial_cycles():
    """Without modulation, a partial-cycle window gives N ~ 0 (no rate leak)."""
    rng = np.random.default_rng(3)
    freqs = np.array([1.3])
    times, neurons, group, sub = sinusoidal_poisson(
        rng, 400, freqs, 30.0, np.zeros(1), np.zeros(1), 0.0, 2.0
    )
    r = fourier_response(times, neurons, group, sub, freqs, 1.0, 0.0, 2.0)
    assert abs(r["N"][0].real) < K_SE * r["se_re"][0]
    assert abs(r["N"][0].imag) < K_SE * r["se_im"][0]


@pytest.mark.parametrize("method", ["amplitude", "complex"])
def test_fit_low_pass_recovers_parameters(method):
    rng = np.random.default_rng(5)
    f = log_frequencies(1.0, 200.0, 12, 4.0)
    h0, tau = 7.8, 2.0e-3
    N = h0 / (1 + 2j * np.pi * f * tau)
    se = 0.03 * np.abs(N)
    noisy = N + rng.normal(0, se) + 1j * rng.normal(0, se)
    fit = fit_low_pass(f, noisy, np.abs(se), method=method, tau_m=5e-3, J=0.1756e-3, K=400)
    assert abs(fit["tau_rate_s"] - tau) < K_SE * fit["tau_rate_se_s"]
    assert abs(fit["h0"] - h0) < K_SE * fit["h0_se"]
    assert fit["tau_rate_se_s"] < 0.2 * tau
    assert fit["dof"] == (10 if method == "amplitude" else 22)
    np.testing.assert_allclose(fit["W_rate"], fit["h0"] * 5e-3 * 0.1756e-3 * 400)
    # chi2 of a correct model: dof +- a few sqrt(2 dof)
    assert fit["chi2"] < fit["dof"] + 5 * np.sqrt(2 * fit["dof"])


def test_antithetic_arms_cancel_their_common_spikes():
    """Stacked arms with signs +1/-1: identical spike trains give exactly N = 0.

    The thinning with the same uniforms couples the two arms (common random
    numbers), so the estimate of a coupled +-modulated pair recovers N with a
    smaller SE than the + arm alone, and within K_SE SEs.
    """
    freqs = np.array([2.0, 30.0])
    N_true = np.array([6.0 * np.exp(-0.3j), 3.0 * np.exp(-1.0j)])
    t0, T = 0.1, 2.0

    def arm(sign):
        rng = np.random.default_rng(5)  # the same noise in both arms
        phase = np.angle(N_true) + (0.0 if sign > 0 else np.pi)  # -dmu: opposite phase
        return sinusoidal_poisson(rng, 200, freqs, 20.0, np.abs(N_true), phase, t0, T)

    plus, minus = arm(1.0), arm(-1.0)
    n = plus[2].size
    group, sub = np.tile(plus[2], 2), np.tile(plus[3], 2)
    sign = np.repeat([1.0, -1.0], n)

    same = fourier_response(
        np.concatenate([plus[0], plus[0]]),
        np.concatenate([plus[1], plus[1] + n]),
        group, sub, freqs, 1.0, t0, T, neuron_sign=sign,
    )  # fmt: skip
    np.testing.assert_allclose(same["N"], 0.0, atol=1e-12)
    assert np.all(same["rate"] > 15.0)

    pair = fourier_response(
        np.concatenate([plus[0], minus[0]]),
        np.concatenate([plus[1], minus[1] + n]),
        group, sub, freqs, 1.0, t0, T, neuron_sign=sign,
    )  # fmt: skip
    single = fourier_response(plus[0], plus[1], plus[2], plus[3], freqs, 1.0, t0, T)
    assert np.all(pair["amp_se"] < single["amp_se"])
    z = np.abs(pair["N"] - N_true) / np.hypot(pair["se_re"], pair["se_im"])
    assert np.all(z < K_SE), z
    with pytest.raises(ValueError, match="neuron_sign"):
        fourier_response(plus[0], plus[1], plus[2], plus[3], freqs, 1.0, t0, T, neuron_sign=sign)
