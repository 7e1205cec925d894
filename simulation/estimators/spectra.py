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


def hann_taper(n_samples: int) -> np.ndarray:
    """The taper of :func:`rate_spectrum`: Hann without its zero end points, (n_samples,)."""
    n_samples = int(n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got n_samples = {n_samples}")
    return np.hanning(n_samples + 2)[1:-1]


def periodogram_bin_correlation(n_samples: int, max_lag: int = 4) -> np.ndarray:
    """Correlation of tapered periodogram ordinates ``lag`` bins apart, lag = 0 .. max_lag.

    For a Gaussian process whose spectrum is flat over a few bins, the tapered
    Fourier coefficients of one segment at bins k and k + l have the correlation
    c_l = sum_n w_n^2 e^{-2 pi i l n / L} / sum_n w_n^2 (w: the taper of
    :func:`rate_spectrum`, L = ``n_samples``), and the periodogram ordinates
    (their squared moduli) the correlation |c_l|^2 (Isserlis). For the Hann taper
    |c_1|^2 = 4/9 and |c_2|^2 = 1/36 (0 beyond): adjacent bins of the estimator
    are not independent. Segments do not overlap, so the mean over segments
    keeps these correlations.

    Parameters
    ----------
    n_samples : int
        Samples (time steps) per segment.
    max_lag : int
        Largest lag (bins).

    Returns
    -------
    array (max_lag + 1,): the correlation at lag 0 (1), 1, ..., max_lag.
    """
    w2 = hann_taper(n_samples) ** 2
    n = np.arange(w2.size)
    lags = np.arange(int(max_lag) + 1)
    c = np.array([np.sum(w2 * np.exp(-2j * np.pi * lag * n / w2.size)) for lag in lags])
    return np.abs(c / w2.sum()) ** 2


def _band(frequencies, band) -> np.ndarray:
    f = np.asarray(frequencies, float)
    sel = np.nonzero((f >= band[0]) & (f <= band[1]))[0]
    if sel.size < 3:
        raise ValueError(f"band = {tuple(band)} Hz holds fewer than 3 spectrum frequencies")
    return sel


def spectral_centroid(psd, frequencies, band) -> np.ndarray:
    """Power-weighted mean frequency (Hz) of ``psd`` over ``band`` (Hz), along the last axis.

    ``psd``: (..., n_freq), 1/s; returns shape ``psd.shape[:-1]``.
    """
    sel = _band(frequencies, band)
    f = np.asarray(frequencies, float)[sel]
    p = np.asarray(psd, float)[..., sel]
    return (p * f).sum(axis=-1) / p.sum(axis=-1)


def peak_frequency(psd, frequencies, band) -> np.ndarray:
    """Frequency (Hz) of the maximum of ``psd`` in ``band``, between bins, along the last axis.

    The bin of the maximum and its two neighbours define a parabola in log PSD
    (exact for a Gaussian peak); its vertex, clipped to half a bin, is the peak.
    At an edge of the band the bin frequency itself is returned.
    """
    sel = _band(frequencies, band)
    f = np.asarray(frequencies, float)[sel]
    p = np.log(np.maximum(np.asarray(psd, float)[..., sel], np.finfo(float).tiny))
    i = np.argmax(p, axis=-1)
    inner = (i > 0) & (i < f.size - 1)
    j = np.clip(i, 1, f.size - 2)
    a = np.take_along_axis(p, (j - 1)[..., None], -1)[..., 0]
    b = np.take_along_axis(p, j[..., None], -1)[..., 0]
    c = np.take_along_axis(p, (j + 1)[..., None], -1)[..., 0]
    curvature = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature < 0, 0.5 * (a - c) / curvature, 0.0)
    df = f[1] - f[0]
    return np.where(inner, f[j] + np.clip(shift, -0.5, 0.5) * df, f[i])


def jackknife_over_units(samples, units, statistic) -> tuple[np.ndarray, np.ndarray, int]:
    """``statistic`` of the mean over samples, with its delete-one-unit jackknife SE.

    Parameters
    ----------
    samples : array (n_samples, ...)
        E.g. segment spectra, (n_segments, n_pop, n_freq).
    units : int array (n_samples,)
        Independent unit of each sample (e.g. the chunk of each segment), >= 2 units.
    statistic : callable
        Of the mean over samples (shape ``samples.shape[1:]``), returning an array.

    Returns
    -------
    (value, se, dof): the statistic of the mean over all samples, its jackknife
    SE over the units and the degrees of freedom n_units - 1.
    """
    samples = np.asarray(samples, float)
    units = np.asarray(units)
    labels = np.unique(units)
    if units.shape != samples.shape[:1] or labels.size < 2:
        raise ValueError(
            f"units must label every sample and hold >= 2 units, got {labels.size} units for "
            f"{samples.shape[0]} samples"
        )
    value = np.asarray(statistic(samples.mean(axis=0)), float)
    leave_out = np.array([statistic(samples[units != u].mean(axis=0)) for u in labels], float)
    n = labels.size
    se = np.sqrt((n - 1) / n * ((leave_out - leave_out.mean(axis=0)) ** 2).sum(axis=0))
    return value, se, n - 1
