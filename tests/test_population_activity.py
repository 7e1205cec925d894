"""Unit tests of the population-activity measurements with synthetic spike data."""

from __future__ import annotations

import numpy as np
import pytest

from mfval.simulation.estimators.cv import fano_factors, isi_cv
from mfval.simulation.estimators.spectra import band_power_ratio, population_counts, rate_spectrum

DT = 1e-4


def poisson_population(rate_of_step, n, rng):
    """Spikes (steps, neurons) of n neurons with per-step rate rate_of_step (Hz)."""
    counts = rng.poisson(np.outer(np.full(n, DT), rate_of_step))  # (n, n_steps)
    neurons, steps = np.nonzero(counts)
    reps = counts[neurons, steps]
    return np.repeat(steps, reps).astype(np.int64), np.repeat(neurons, reps).astype(np.int64)


def test_poisson_spectrum_is_rate_over_n_with_honest_se():
    rng = np.random.default_rng(1)
    n, rate, n_steps = 100, 40.0, 200_000
    steps, _ = poisson_population(np.full(n_steps, rate), n, rng)
    sp = rate_spectrum(steps, np.zeros_like(steps), [n], n_steps, DT, n_segments=50)
    f, psd, se = sp["frequencies"], sp["psd"][0], sp["psd_se"][0]
    assert f[0] == pytest.approx(2.5) and f[-1] < 0.5 / DT
    expected = rate / n  # two-sided PSD of the population-averaged rate, 1/s
    # honest SE: estimates at frequencies three bins apart are independent samples
    # of the same value rate / N (the Hann taper correlates only neighbours), so
    # their scatter must equal the SE claimed for each of them (an SE off by 10 %
    # fails; with 666 samples the ratio is known to about 3 %)
    sub = slice(0, None, 3)
    assert np.std(psd[sub], ddof=1) / np.sqrt(np.mean(se[sub] ** 2)) == pytest.approx(1, abs=0.1)
    # z-scores: centred (their mean is slightly negative because each periodogram
    # value is exponentially distributed, skewness 2: E[z] ~ -2 / (2 sqrt(50)) = -0.14)
    z = (psd - expected) / se
    assert -0.35 < z.mean() < 0.05
    assert np.mean(np.abs(z[sub]) < 2) == pytest.approx(0.95, abs=0.03)
    # and the SE is that of 50 independent exponential periodograms
    assert se.mean() == pytest.approx(expected / np.sqrt(50), rel=0.05)
    # the level itself: all frequencies together, rate / N within 1 %
    assert psd.mean() == pytest.approx(expected, rel=0.01)
    assert sp["rates"][0] == pytest.approx(rate, rel=0.01)


def test_planted_sinusoid_gives_peak_at_its_frequency():
    rng = np.random.default_rng(2)
    n, n_steps, f0 = 200, 100_000, 150.0
    t = np.arange(n_steps) * DT
    steps, _ = poisson_population(30.0 * (1 + 0.5 * np.sin(2 * np.pi * f0 * t)), n, rng)
    sp = rate_spectrum(steps, np.zeros_like(steps), [n], n_steps, DT, n_segments=100)
    f, psd = sp["frequencies"], sp["psd"][0]
    assert f[np.argmax(psd)] == pytest.approx(f0)
    # a sinusoid a sin(w t) has two-sided power a^2/4 at +-f0, spread by the
    # Hann taper over a bandwidth 1.5 / T_seg; integrated power a^2 / 4
    a = 15.0
    band = np.abs(f - f0) <= 25
    power = (psd[band] - 30.0 / n).sum() * (f[1] - f[0])
    assert power == pytest.approx(a**2 / 4, rel=0.1)
    ratio, se = band_power_ratio(sp, 100, 200, [30.0 / n])
    in_band = np.sum((f >= 100) & (f <= 200))
    expected_ratio = 1 + a**2 / 4 / ((f[1] - f[0]) * in_band) / (30.0 / n)
    assert ratio[0] == pytest.approx(expected_ratio, rel=0.1) and se[0] > 0


def test_two_populations_are_binned_separately():
    steps = np.array([0, 0, 1, 5, 5, 5], np.int64)
    pops = np.array([0, 1, 1, 0, 0, 1])
    counts = population_counts(steps, pops, [10, 5], 6)
    assert counts.tolist() == [[1, 0, 0, 0, 0, 2], [1, 1, 0, 0, 0, 1]]


def test_float_times_are_refused():
    with pytest.raises(TypeError, match="integer"):
        population_counts(np.array([0.5, 1.5]), np.array([0, 0]), [1], 10)
    with pytest.raises(ValueError, match="n_steps"):
        population_counts(np.array([0, 12]), np.array([0, 0]), [1], 10)
    with pytest.raises(ValueError, match="n_segments"):
        rate_spectrum(np.array([0]), np.array([0]), [1], 10, DT, n_segments=3)


def test_cv_of_poisson_is_one_and_of_regular_trains_zero():
    rng = np.random.default_rng(3)
    steps, neurons = poisson_population(np.full(200_000, 20.0), 200, rng)
    cv = isi_cv(neurons, steps)
    assert cv.mean() == pytest.approx(1.0, abs=0.03)
    regular_steps = np.tile(np.arange(0, 100_000, 500), 50)
    regular_neurons = np.repeat(np.arange(50), 200)
    assert np.allclose(isi_cv(regular_neurons, regular_steps), 0.0)


def test_fano_of_poisson_is_one_and_of_regular_trains_zero():
    rng = np.random.default_rng(4)
    n_steps = 200_000
    steps, neurons = poisson_population(np.full(n_steps, 20.0), 200, rng)
    ff = fano_factors(neurons, steps, 200, n_steps, 1000)
    assert ff.mean() == pytest.approx(1.0, abs=0.05)
    regular_steps = np.tile(np.arange(0, n_steps, 500), 10)
    regular_neurons = np.repeat(np.arange(10), n_steps // 500)
    assert np.allclose(fano_factors(regular_neurons, regular_steps, 10, n_steps, 1000), 0.0)


def test_window_corrected_cv_does_not_depend_on_the_window_length():
    """Gamma renewal trains (CV 0.85, 22 Hz) in 0.5 s windows: pooled moments are unbiased.

    The mean of per-neuron CVs of such short windows is biased low (fewer
    intervals per neuron, long intervals cut by the window edges).
    """
    from mfval.simulation.estimators.cv import cv_from_moments, isi_cv, isi_window_moments

    rng = np.random.default_rng(3)
    cv, rate, dt, window = 0.85, 22.0, 1e-4, 0.5
    shape = 1 / cv**2
    n_neurons, n_steps = 8000, int(round(window / dt))
    # stationary trains: start 1 s before the window
    t = np.cumsum(rng.gamma(shape, 1 / (rate * shape), size=(n_neurons, 80)), axis=1) - 1.0
    assert np.all(t[:, -1] > window)
    neurons, times = np.nonzero((t >= 0) & (t < window))
    steps = np.floor(t[neurons, times] / dt).astype(np.int64)
    moments = isi_window_moments(neurons, steps, n_steps)
    groups = np.array_split(moments, 20)  # independent neurons: SE from groups
    values = np.array([cv_from_moments(g) for g in groups])
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(cv_from_moments(moments) - cv) < 4 * se
    assert se < 0.005
    # the mean of per-neuron CVs is biased by many SEs at this window length
    assert isi_cv(neurons, steps).mean() < cv - 10 * se
    # weights 1 / (n_steps - x): intervals of 2 and 5 steps in a window of 10 steps
    sums = isi_window_moments(np.array([1, 1, 1, 0]), np.array([0, 2, 7, 3]), 10)
    np.testing.assert_allclose(sums, [[1 / 8 + 1 / 5, 2 / 8 + 5 / 5, 4 / 8 + 25 / 5]])
