"""Spatial Fourier modes of population activity on a ring and their temporal spectra.

Pure functions of plain arrays (the input convention of
:mod:`mfval.simulation.estimators.spectra`: integer step index of every spike,
never a rounded float time).

Activity mode n of a population of N neurons at positions x_j on a ring of
length L (wave number k_n = 2 pi n / L):

    A_n(t) = (1 / (N dt)) * sum over the spikes of the bin at t of exp(-i k_n x_j)

(A_0 is the population-averaged rate of :func:`rate_spectrum`). Its two-sided
PSD (1/s, same estimator and normalisation as
:func:`mfval.simulation.estimators.spectra.rate_spectrum`: segments, mean
removed, Hann taper) reaches the Poisson value rate / N for every n at
frequencies far above the network's time scales; with positions shuffled it
is rate / N at every frequency. A complex mode has different power at +f and
-f: with numpy's sign convention (X(f) = sum x e^{-2 pi i f t}) a wave
travelling towards +x, rate ~ 1 + cos(k_n x - 2 pi f0 t), puts its power at
f = -f0, one towards -x at +f0.
"""

from __future__ import annotations

import math

import numpy as np

from mfval.simulation.estimators.spectra import _check_spikes


def wave_numbers(n_modes: int, length: float) -> np.ndarray:
    """k_n = 2 pi n / L for n = 0 .. n_modes - 1, 1/m (``length`` in m)."""
    return 2.0 * np.pi * np.arange(int(n_modes)) / float(length)


def mode_activity(steps, positions, n_steps: int, dt: float, k) -> np.ndarray:
    """Activity modes A_n(t) of one population, shape (n_modes, n_steps), 1/s (complex).

    Parameters
    ----------
    steps : int array (n_spikes,)
        Step index of every spike (0 <= step < n_steps).
    positions : float array (n_spikes,)
        Position of the spiking neuron, m.
    n_steps : int
        Steps in the window.
    dt : float
        Time step, s.
    k : float array (n_modes,)
        Wave numbers, 1/m.

    The population size N enters through the caller: divide by N (the
    function returns ``sum exp(-i k x) / dt`` per bin).
    """
    steps = np.asarray(steps)
    _check_spikes(steps, np.zeros(steps.shape, int), [1], n_steps)
    positions = np.asarray(positions, float)
    k = np.asarray(k, float)
    out = np.empty((k.size, int(n_steps)), complex)
    for n, kn in enumerate(k):
        phase = kn * positions
        re = np.bincount(steps, weights=np.cos(phase), minlength=n_steps)
        im = np.bincount(steps, weights=-np.sin(phase), minlength=n_steps)
        out[n] = (re + 1j * im) / dt
    return out


def mode_spectrum(activity, dt: float, n_segments: int) -> dict:
    """Two-sided PSD per mode at +f and -f, per segment (module docstring).

    Parameters
    ----------
    activity : complex array (n_modes, n_steps)
        :func:`mode_activity` divided by N, 1/s.
    dt : float
        Time step, s.
    n_segments : int
        Non-overlapping segments (>= 1), must divide n_steps.

    Returns
    -------
    dict: ``frequencies`` (Hz, f > 0 below Nyquist, (n_freq,)),
    ``positive``, ``negative`` (1/s, (n_segments, n_modes, n_freq)): the
    PSD at +f and at -f; ``segment_s`` (s).
    """
    activity = np.asarray(activity, complex)
    n_modes, n_steps = activity.shape
    n_segments = int(n_segments)
    if n_segments < 1 or n_steps % n_segments:
        raise ValueError(f"n_segments = {n_segments} does not divide n_steps = {n_steps}")
    L = n_steps // n_segments
    seg = activity.reshape(n_modes, n_segments, L).transpose(1, 0, 2)
    seg = seg - seg.mean(axis=2, keepdims=True)
    window = np.hanning(L + 2)[1:-1]
    spec = np.fft.fft(seg * window, axis=2)
    P = dt**2 * np.abs(spec) ** 2 / (L * dt * np.mean(window**2))
    m = np.arange(1, (L + 1) // 2)  # 0 < f < Nyquist
    return {
        "frequencies": m / (L * dt),
        "positive": P[..., m],
        "negative": P[..., L - m],
        "segment_s": L * dt,
    }


def jackknife_se(values) -> float:
    """Delete-one jackknife SE from leave-one-out values (n >= 2), else nan."""
    values = np.asarray(values, float)
    n = values.size
    if n < 2:
        return math.nan
    return float(math.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2)))
