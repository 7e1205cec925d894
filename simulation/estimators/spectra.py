"""Population-rate spectra from spike data (CV and Fano factor: :mod:`.estimators.cv`).

Pure functions of plain arrays; every backend's recording can be measured
with them. Input convention:

- ``steps``: integer time-step index of every spike (int array), counted
  from the start of the measurement window (0 <= step < n_steps). Spike
  times lie on the time grid, so the step index is exact; never bin by
  rounding a float time that may sit at a half step (that jitters spikes
  between bins and puts spectral lines at multiples of 1/(2 dt)).
- ``neurons``: index of the spiking neuron within its population (int).
- ``populations``: population index of every spike (int).
- ``sizes``: neurons per population.

Spectrum convention (nnmt's): the two-sided power spectral density of the
population-averaged rate r(t) = (spikes of the population in a step) /
(N dt), in 1/s: for independent Poisson trains at rate nu it is nu/N at
every frequency.

Estimator: the window is cut into ``n_segments`` non-overlapping segments
(Welch without overlap, so the segments are independent when they are much
longer than the correlation time of the activity); each segment's mean is
removed, a Hann taper applied, and the periodogram
``P(f) = dt^2 |sum_n w_n x_n e^{-2 pi i f n dt}|^2 / (T_seg <w^2>)`` taken;
``n_average`` adjacent frequency bins are averaged into one output bin. The
estimate is the mean over segments, its standard error the standard
deviation over segments divided by sqrt(n_segments). The two-sided PSD at
f > 0 is half the one-sided one; only f > 0 is returned.
"""

from __future__ import annotations

import math

import numpy as np


def _check_spikes(steps, populations, sizes, n_steps):
    steps = np.asarray(steps)
    populations = np.asarray(populations)
    if not np.issubdtype(steps.dtype, np.integer):
        raise TypeError(
            f"steps must be integer time-step indices, got dtype {steps.dtype} (bin spike "
            "times by their exact step index, not by rounding float times)"
        )
    if steps.shape != populations.shape:
        raise ValueError(f"steps {steps.shape} and populations {populations.shape} differ in shape")
    sizes = np.asarray(sizes, int)
    if np.any(sizes <= 0):
        raise ValueError(f"population sizes must be positive, got sizes = {sizes.tolist()}")
    n_steps = int(n_steps)
    if n_steps <= 0:
        raise ValueError(f"n_steps must be positive, got n_steps = {n_steps}")
    if steps.size and (steps.min() < 0 or steps.max() >= n_steps):
        raise ValueError(
            f"spike steps must lie in [0, n_steps = {n_steps}), got [{steps.min()}, {steps.max()}]"
        )
    if populations.size and (populations.min() < 0 or populations.max() >= sizes.size):
        raise ValueError(f"population index out of range for {sizes.size} populations")
    return steps, populations, sizes, n_steps


def population_counts(steps, populations, sizes, n_steps: int) -> np.ndarray:
    """Spike counts per step and population, shape (n_pop, n_steps)."""
    steps, populations, sizes, n_steps = _check_spikes(steps, populations, sizes, n_steps)
    flat = populations.astype(np.int64) * n_steps + steps.astype(np.int64)
    return np.bincount(flat, minlength=sizes.size * n_steps).reshape(sizes.size, n_steps)


def rate_spectrum(
    steps,
    populations,
    sizes,
    n_steps: int,
    dt: float,
    n_segments: int,
    n_average: int = 1,
) -> dict:
    """PSD of the population-averaged rates, with standard errors (module docstring).

    Parameters
    ----------
    steps, populations : int arrays (n_spikes,)
        Step index (0 <= step < n_steps) and population index of each spike.
    sizes : array (n_pop,)
        Neurons per population.
    n_steps : int
        Steps in the measurement window.
    dt : float
        Time step, s.
    n_segments : int
        Independent segments (>= 2); must divide n_steps.
    n_average : int
        Adjacent frequency bins averaged into one output bin.

    Returns
    -------
    dict: ``frequencies`` (Hz, (n_freq,)), ``psd``, ``psd_se`` (1/s,
    (n_pop, n_freq)), ``segment_psd`` (1/s, (n_segments, n_pop, n_freq)),
    ``rates`` (Hz, (n_pop,)), ``segment_s`` (s).
    """
    n_segments, n_average = int(n_segments), int(n_average)
    if n_segments < 2:
        raise ValueError(f"n_segments must be >= 2 for a standard error, got {n_segments}")
    if n_average < 1:
        raise ValueError(f"n_average must be >= 1, got n_average = {n_average}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive, got dt = {dt!r} s")
    if n_steps % n_segments:
        raise ValueError(f"n_segments = {n_segments} does not divide n_steps = {n_steps}")
    counts = population_counts(steps, populations, sizes, n_steps)
    sizes = np.asarray(sizes, float)
    rate = counts / (sizes[:, None] * dt)  # (n_pop, n_steps), Hz
    L = n_steps // n_segments
    seg = rate.reshape(sizes.size, n_segments, L).transpose(1, 0, 2)
    seg = seg - seg.mean(axis=2, keepdims=True)
    window = np.hanning(L + 2)[1:-1]  # no zero end points
    spec = np.fft.rfft(seg * window, axis=2)
    T = L * dt
    P = dt**2 * np.abs(spec) ** 2 / (T * np.mean(window**2))
    freqs = np.fft.rfftfreq(L, dt)
    P, freqs = P[..., 1:], freqs[1:]  # f > 0
    if L % 2 == 0:  # the Nyquist bin is real-valued: not comparable, drop it
        P, freqs = P[..., :-1], freqs[:-1]
    n_out = freqs.size // n_average
    P = P[..., : n_out * n_average].reshape(n_segments, sizes.size, n_out, n_average).mean(-1)
    freqs = freqs[: n_out * n_average].reshape(n_out, n_average).mean(-1)
    return {
        "frequencies": freqs,
        "psd": P.mean(axis=0),
        "psd_se": P.std(axis=0, ddof=1) / math.sqrt(n_segments),
        "segment_psd": P,
        "rates": counts.sum(axis=1) / (sizes * n_steps * dt),
        "segment_s": T,
    }


def mean_over_units(samples, units=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis and its SE from the spread of independent units.

    Parameters
    ----------
    samples : array (n_samples, ...)
        One value per sample (e.g. per spectrum segment).
    units : int array (n_samples,), optional
        Independent unit of each sample (e.g. the simulation chunk of each
        segment); every unit must hold the same number of samples. Default:
        every sample is its own unit.

    Returns
    -------
    (mean, se) arrays of shape ``samples.shape[1:]``: the mean over samples
    and std(ddof=1) / sqrt(n_units) of the unit means (for equal unit sizes
    this is the delete-one-unit jackknife SE of the mean).
    """
    samples = np.asarray(samples, float)
    if units is None:
        means = samples
    else:
        units = np.asarray(units)
        labels, sizes = np.unique(units, return_counts=True)
        if units.shape != samples.shape[:1] or np.any(sizes != sizes[0]):
            raise ValueError(
                f"units must label every sample with equally sized units, got sizes "
                f"{sizes.tolist()} for {samples.shape[0]} samples"
            )
        means = np.array([samples[units == u].mean(axis=0) for u in labels])
    n = means.shape[0]
    if n < 2:
        raise ValueError(f"a standard error needs >= 2 independent units, got {n}")
    return means.mean(axis=0), means.std(axis=0, ddof=1) / math.sqrt(n)


def band_power_ratio(spectrum: dict, f_low: float, f_high: float, reference) -> tuple:
    """Mean PSD over f_low <= f <= f_high divided by ``reference`` (n_pop,), with SE.

    Each segment's band mean is one sample; the SE is over the independent
    units ``spectrum.get("segment_unit")`` (see :func:`mean_over_units`;
    default: every segment).

    Returns
    -------
    (ratio, se) arrays of shape (n_pop,).
    """
    f = spectrum["frequencies"]
    sel = (f >= f_low) & (f <= f_high)
    if not sel.any():
        raise ValueError(f"no spectrum frequencies in [{f_low}, {f_high}] Hz")
    seg = spectrum["segment_psd"][:, :, sel].mean(axis=2) / np.asarray(reference, float)
    return mean_over_units(seg, spectrum.get("segment_unit"))
