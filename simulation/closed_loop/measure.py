"""Closed-loop measurements: pure functions of network Recordings, with SEs.

Per chunk (:func:`measure_chunk`): population-rate spectra, ISI CVs and Fano factors
in the measurement window; pooled over chunks (:func:`pool_chunks`,
:func:`closed_loop_tables`) with standard errors from the spread between chunks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mfval.simulation.estimators.cv import (
    cv_from_moments,
    isi_window_moments,
    window_count_moments,
)
from mfval.simulation.estimators.spectra import (
    band_power_ratio,
    jackknife_over_units,
    mean_over_units,
    peak_frequency,
    periodogram_bin_correlation,
    rate_spectrum,
    spectral_centroid,
)
from mfval.simulation.estimators.windows import spike_window

#: settings used by the per-chunk measurement (they enter a chunk's store key)
CHUNK_MEASURE_KEYS = ("segment", "fano_window")


#: measurement settings (plain data; they enter the store key)
DEFAULT_MEASURE = {
    # segment length of the spectrum estimate (s): resolution 1 / segment
    "segment": 0.1,
    # frequency band of the oscillation order parameter (Hz); it brackets the
    # predicted oscillation frequencies f* (~200 Hz at d = 1.5 ms) by a factor 2
    "band": (100.0, 400.0),
    # spike-count window of the Fano factor (s)
    "fano_window": 0.1,
    # band (Hz) of the aggregate spectrum check: mean PSD over the band, where
    # nnmt's transfer function is expected to hold (w sqrt(tau_m tau_s) <= 3)
    "aggregate_band": (10.0, 300.0),
    # band (Hz) where the spectrum should have reached its Poisson value rate / N
    "plateau_band": (2000.0, 4500.0),
}


def recording_window(recording, spec) -> dict:
    """Spikes of the measurement window of a network Recording, as integer steps.

    Parameters
    ----------
    recording : mfval.simulation.model.recording.Recording
    spec : mfval.simulation.network.NetworkSpec

    Returns
    -------
    dict: ``steps`` (0 .. n_steps - 1, from the window start), ``neurons``
    (index within the population), ``populations`` (int), ``sizes``
    (n_pop,), ``names``, ``n_steps``, ``dt`` (s).
    """
    from mfval.simulation.model.recording import SPIKE_STEP_CONVENTION

    recording.require("spike_step", SPIKE_STEP_CONVENTION)
    n = spec.duration_steps
    k, keep = spike_window(np.asarray(recording.spike_step, np.int64), spec.warmup_steps, n)
    sizes = np.asarray(spec.network["N"], int)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    i = np.asarray(recording.spike_sender, np.int64)[keep]
    pops = np.searchsorted(offsets, i, side="right") - 1
    return {
        "steps": k,
        "neurons": i - offsets[pops],
        "populations": pops,
        "sizes": sizes,
        "names": list(spec.network["populations"]),
        "n_steps": int(n),
        "dt": float(spec.dt),
    }


def measure_window(window: dict, measure: dict | None = None) -> dict:
    """Per-chunk measurement of one recording window (pure); pooled by :func:`pool_chunks`.

    Parameters
    ----------
    window : dict
        As from :func:`recording_window`.
    measure : dict, optional
        Overrides of :data:`DEFAULT_MEASURE` (``segment`` and ``fano_window``
        are used here).

    Returns
    -------
    dict: ``segment_psd`` (1/s, (n_segments, n_pop, n_freq)), ``frequencies``
    (Hz), ``segment_s`` (s), ``counts`` (spikes in the window, (n_pop,)),
    ``n_steps``, ``dt`` (s), ``sizes``, ``names``, ``isi_moments`` (per
    population, :func:`mfval.simulation.estimators.cv.isi_window_moments`),
    ``count_moments`` (per population,
    :func:`mfval.simulation.estimators.cv.window_count_moments` in windows of
    ``fano_window``), ``rate_se_hz`` ((n_pop,), nan: set by :func:`measure_chunk`).
    """
    m = {**DEFAULT_MEASURE, **(measure or {})}
    dt, n_steps = window["dt"], window["n_steps"]
    seg_steps = int(round(m["segment"] / dt))
    if seg_steps < 2 or n_steps % seg_steps:
        raise ValueError(
            f"segment = {m['segment']!r} s must hold >= 2 steps and divide the window "
            f"({n_steps} steps of {dt!r} s)"
        )
    spectrum = rate_spectrum(
        window["steps"],
        window["populations"],
        window["sizes"],
        n_steps,
        dt,
        n_steps // seg_steps,
    )
    sizes = np.asarray(window["sizes"], int)
    fano_steps = int(round(m["fano_window"] / dt))
    isi, counts = [], []
    for p in range(sizes.size):
        sel = window["populations"] == p
        neurons, steps = window["neurons"][sel], window["steps"][sel]
        isi.append(isi_window_moments(neurons, steps, n_steps))
        counts.append(window_count_moments(neurons, steps, int(sizes[p]), n_steps, fano_steps))
    return {
        "segment_psd": spectrum["segment_psd"],
        "frequencies": spectrum["frequencies"],
        "segment_s": spectrum["segment_s"],
        "counts": np.bincount(window["populations"], minlength=sizes.size),
        "n_steps": int(n_steps),
        "dt": float(dt),
        "sizes": sizes,
        "names": list(window["names"]),
        "isi_moments": isi,
        "count_moments": counts,
        "rate_se_hz": np.full(sizes.size, np.nan),
    }


def _pooled_statistic(per_chunk: list, statistic) -> tuple[float, float]:
    """``statistic`` of per-neuron sums pooled over chunks, with its SE.

    Parameters
    ----------
    per_chunk : list of arrays (n_neurons, k)
        Per-neuron sums of each chunk.
    statistic : callable
        Of the total (k,) of the sums.

    SE: delete-one-chunk jackknife (chunks are independent realizations;
    neurons of one chunk share their network); with a single chunk,
    delete-a-group jackknife over 10 groups of neurons (approximate: the
    neurons of one network are weakly correlated through shared input).
    """
    if len(per_chunk) >= 2:
        units = np.array([np.sum(c, axis=0) for c in per_chunk])
    else:
        rows = np.asarray(per_chunk[0], float)
        if rows.shape[0] < 2:
            return statistic(rows.sum(axis=0)), math.nan
        units = np.array([g.sum(axis=0) for g in np.array_split(rows, min(10, rows.shape[0]))])
    total = units.sum(axis=0)
    n = units.shape[0]
    leave_out = np.array([statistic(total - u) for u in units])
    se = math.sqrt((n - 1) / n * np.sum((leave_out - leave_out.mean()) ** 2))
    return float(statistic(total)), float(se)


def _fano(total) -> float:
    """Pooled Fano factor: summed count variances over summed mean counts."""
    return float(total[0] / total[1]) if total[1] > 0 else math.nan


def _peak(spectrum: dict, band) -> tuple[np.ndarray, np.ndarray]:
    """Frequency of the PSD maximum inside ``band`` and its SE, per population.

    SE: delete-a-group jackknife, the groups being the chunks of a pooled
    measurement (``spectrum['segment_chunk']``, >= 2 chunks) or else 10
    groups of consecutive segments; at least the bin's resolution df / sqrt(12).
    """
    f = spectrum["frequencies"]
    sel = np.nonzero((f >= band[0]) & (f <= band[1]))[0]
    seg = spectrum["segment_psd"][:, :, sel]
    n_seg = seg.shape[0]
    peak = f[sel][np.argmax(seg.mean(axis=0), axis=1)]
    chunk = np.asarray(spectrum.get("segment_chunk", np.zeros(n_seg, int)))
    if np.unique(chunk).size >= 2:
        groups = [np.nonzero(chunk == c)[0] for c in np.unique(chunk)]
    else:
        groups = np.array_split(np.arange(n_seg), min(10, n_seg))
    n_groups = len(groups)
    jack = np.array(
        [f[sel][np.argmax(np.delete(seg, g, axis=0).mean(axis=0), axis=1)] for g in groups]
    )
    se = np.sqrt((n_groups - 1) / n_groups * ((jack - jack.mean(axis=0)) ** 2).sum(axis=0))
    # resolution floor: the peak lies anywhere inside its bin (uniform, width df)
    resolution = (f[1] - f[0]) / math.sqrt(12)
    return peak, np.maximum(se, resolution)


def _resonance_shape(spectrum: dict, band) -> dict:
    """Spectral centroid and interpolated peak frequency of the band (Hz), with SEs.

    Per population, of the pooled spectrum
    (:func:`mfval.simulation.estimators.spectra.spectral_centroid`,
    :func:`~mfval.simulation.estimators.spectra.peak_frequency`); SEs by the
    delete-one-chunk jackknife (>= 2 chunks), else over 10 groups of consecutive
    segments, as :func:`_peak`.
    """
    f = spectrum["frequencies"]
    seg = spectrum["segment_psd"]
    chunk = np.asarray(spectrum.get("segment_chunk", np.zeros(seg.shape[0], int)))
    if np.unique(chunk).size < 2:
        chunk = np.repeat(np.arange(10), [g.size for g in np.array_split(np.arange(len(seg)), 10)])
    out = {}
    for name, statistic in (
        ("centroid", lambda psd: spectral_centroid(psd, f, band)),
        ("peak_fit", lambda psd: peak_frequency(psd, f, band)),
    ):
        value, se, _ = jackknife_over_units(seg, chunk, statistic)
        out[f"{name}_hz"], out[f"{name}_se_hz"] = value, se
    return out


def pool_chunks(chunks: list[dict], measure: dict | None = None) -> dict:
    """Spectra and irregularity pooled over independent chunks (pure).

    The chunks (from :func:`measure_window` / :func:`measure_chunk`) are
    independent realizations of the same network (own seeds) with windows
    of equal length. Spectrum segments of every chunk are pooled (mean over
    all segments); CV and Fano factors are pooled over the neurons of every
    chunk. Standard errors: with >= 2 chunks, from the spread between chunks
    (delete-one-chunk jackknife; for means over equal chunks std(ddof=1) /
    sqrt(n_chunks) of the chunk means), so that within-chunk correlations and
    the quenched disorder of each realization are included; with one chunk
    as for a single recording (segments, or 10 groups of segments for the
    peak frequency; 10 groups of neurons for CV and Fano; blocks for the rate).

    CV: of the interval distribution pooled over the neurons of every chunk,
    with window-corrected moments
    (:func:`mfval.simulation.estimators.cv.isi_window_moments`), so that it
    does not depend on the chunk length (the mean of per-neuron CVs of 1 s
    windows is biased low, by -1.6 % against a 10 s window at (10, 10) mV).
    Fano factor: summed count variances over summed mean counts.

    Parameters
    ----------
    chunks : list of dict
        Per-chunk measurements (at least one).
    measure : dict, optional
        Overrides of :data:`DEFAULT_MEASURE`.

    Returns
    -------
    dict
        ``spectrum`` (as :func:`mfval.simulation.estimators.spectra.rate_spectrum`,
        pooled, with ``segment_chunk`` and ``n_chunks``) and ``stats``, a list of
        one dict per population with ``population, rate_hz, rate_se_hz, cv,
        cv_se, cv_n_neurons, fano, fano_se, variance_ratio, variance_ratio_se,
        band_ratio, band_ratio_se, peak_frequency_hz, peak_frequency_se_hz,
        poisson_psd_per_s, psd_aggregate_per_s, psd_aggregate_se_per_s`` (mean
        PSD over the aggregate band), ``plateau_ratio, plateau_ratio_se`` (mean
        PSD over the plateau band over rate / N), ``centroid_hz, centroid_se_hz,
        peak_fit_hz, peak_fit_se_hz`` (spectral centroid and interpolated peak
        frequency of the oscillation band ``band``, :func:`_resonance_shape`).
    """
    m = {**DEFAULT_MEASURE, **(measure or {})}
    if not chunks:
        raise ValueError("pool_chunks needs at least one chunk")
    first = chunks[0]
    for c in chunks[1:]:
        if (
            c["n_steps"] != first["n_steps"]
            or c["dt"] != first["dt"]
            or not np.array_equal(c["sizes"], first["sizes"])
            or not np.allclose(c["frequencies"], first["frequencies"])
        ):
            raise ValueError("chunks differ in window length, dt, population sizes or frequencies")
    n_chunks = len(chunks)
    segment_psd = np.concatenate([c["segment_psd"] for c in chunks])
    segment_chunk = np.repeat(np.arange(n_chunks), [c["segment_psd"].shape[0] for c in chunks])
    units = segment_chunk if n_chunks >= 2 else None
    psd, psd_se = mean_over_units(segment_psd, units)
    sizes = np.asarray(first["sizes"], float)
    window_s = first["n_steps"] * first["dt"]
    chunk_rates = np.array([c["counts"] for c in chunks]) / (sizes * window_s)
    if n_chunks >= 2:
        rates, rate_se = mean_over_units(chunk_rates)
    else:
        rates, rate_se = chunk_rates[0], np.asarray(first["rate_se_hz"], float)
    spectrum = {
        "frequencies": first["frequencies"],
        "psd": psd,
        "psd_se": psd_se,
        "segment_psd": segment_psd,
        "segment_unit": units,
        "segment_chunk": segment_chunk,
        "n_chunks": n_chunks,
        "rates": rates,
        "segment_s": first["segment_s"],
    }
    poisson = rates / sizes
    var_ratio, var_ratio_se = band_power_ratio(spectrum, 0.0, math.inf, poisson)
    band_ratio, band_ratio_se = band_power_ratio(spectrum, *m["band"], poisson)
    peak, peak_se = _peak(spectrum, m["band"])
    shape = _resonance_shape(spectrum, m["band"])
    aggregate, aggregate_se = band_power_ratio(spectrum, *m["aggregate_band"], np.ones_like(sizes))
    plateau, plateau_se = band_power_ratio(spectrum, *m["plateau_band"], poisson)
    stats = []
    for p, name in enumerate(first["names"]):
        cv_mean, cv_se = _pooled_statistic([c["isi_moments"][p] for c in chunks], cv_from_moments)
        ff_mean, ff_se = _pooled_statistic([c["count_moments"][p] for c in chunks], _fano)
        stats.append(
            {
                "population": name,
                "rate_hz": float(rates[p]),
                "rate_se_hz": float(rate_se[p]),
                "cv": cv_mean,
                "cv_se": cv_se,
                "cv_n_neurons": int(sum(len(c["isi_moments"][p]) for c in chunks)),
                "fano": ff_mean,
                "fano_se": ff_se,
                "variance_ratio": float(var_ratio[p]),
                "variance_ratio_se": float(var_ratio_se[p]),
                "band_ratio": float(band_ratio[p]),
                "band_ratio_se": float(band_ratio_se[p]),
                "peak_frequency_hz": float(peak[p]),
                "peak_frequency_se_hz": float(peak_se[p]),
                "poisson_psd_per_s": float(poisson[p]),
                "psd_aggregate_per_s": float(aggregate[p]),
                "psd_aggregate_se_per_s": float(aggregate_se[p]),
                "plateau_ratio": float(plateau[p]),
                "plateau_ratio_se": float(plateau_se[p]),
                **{key: float(value[p]) for key, value in shape.items()},
            }
        )
    return {"spectrum": spectrum, "stats": stats}


def measure_spectra(windows, measure: dict | None = None) -> dict:
    """Spectra and irregularity of one recording window or of independent chunks (pure).

    Parameters
    ----------
    windows : dict or list of dict
        As from :func:`recording_window` (a list: independent chunks).
    measure : dict, optional
        Overrides of :data:`DEFAULT_MEASURE`.

    Returns
    -------
    dict: as :func:`pool_chunks`.
    """
    windows = [windows] if isinstance(windows, dict) else list(windows)
    return pool_chunks([measure_window(w, measure) for w in windows], measure)


def measure_chunk(recording, spec, measure: dict | None = None) -> dict:
    """:func:`measure_window` of a chunk's Recording, with the block SE of its rates (pure)."""
    from mfval.simulation.network.measure import measure_rates

    out = measure_window(recording_window(recording, spec), measure)
    rates = measure_rates(recording, spec)
    out["rate_se_hz"] = np.array([rates[name][1] for name in out["names"]])
    return out


def closed_loop_tables(chunks: list[dict], specs: list, measure: dict | None = None) -> dict:
    """Spectra and statistics tables of the pooled chunks of one measurement (pure).

    Parameters
    ----------
    chunks : list of dict
        :func:`measure_chunk` of each chunk.
    specs : list of NetworkSpec
        The chunks' specs (same network, working point and durations).

    Returns
    -------
    dict: ``spectra`` (long DataFrame: mu_mV, sigma_mV, g, population,
    frequency_hz, psd_per_s, psd_se_per_s; two-sided, 1/s), ``stats``
    (DataFrame, one row per population: the columns of :func:`pool_chunks`
    and mu_mV, sigma_mV, g, theory_rate_hz, delay_s, seed (of the first
    chunk), duration_s (measured time over all chunks), n_chunks,
    chunk_duration_s, n_segments, simulator), ``bin_correlation`` (correlation of
    the spectrum's ordinates 0, 1, 2, ... bins apart,
    :func:`mfval.simulation.estimators.spectra.periodogram_bin_correlation`).
    """
    from mfval.theory.closed_loop import relative_inhibition

    if len(chunks) != len(specs) or not specs:
        raise ValueError(f"got {len(chunks)} chunk measurements for {len(specs)} specs")
    spec = specs[0]
    measured = pool_chunks(chunks, measure)
    spec_psd = measured["spectrum"]
    mu_mV, sigma_mV = spec.mu * 1e3, spec.sigma * 1e3
    g = relative_inhibition(spec.network)
    spectra = pd.concat(
        [
            pd.DataFrame(
                {
                    "mu_mV": mu_mV,
                    "sigma_mV": sigma_mV,
                    "g": g,
                    "population": name,
                    "frequency_hz": spec_psd["frequencies"],
                    "psd_per_s": spec_psd["psd"][p],
                    "psd_se_per_s": spec_psd["psd_se"][p],
                }
            )
            for p, name in enumerate(chunks[0]["names"])
        ],
        ignore_index=True,
    )
    stats = pd.DataFrame(measured["stats"])
    stats.insert(0, "g", g)
    stats.insert(0, "sigma_mV", sigma_mV)
    stats.insert(0, "mu_mV", mu_mV)
    stats["theory_rate_hz"] = list(spec.theory_rates)
    stats["delay_s"] = float(spec.network["delay"])
    stats["seed"] = int(spec.seed)
    stats["duration_s"] = float(sum(s.duration for s in specs))
    stats["n_chunks"] = len(specs)
    stats["chunk_duration_s"] = float(spec.duration)
    stats["n_segments"] = spec_psd["segment_psd"].shape[0]
    stats["simulator"] = spec.simulator
    seg_steps = int(round(spec_psd["segment_s"] / spec.dt))
    return {
        "spectra": spectra,
        "stats": stats,
        "bin_correlation": periodogram_bin_correlation(seg_steps),
    }


def measure_closed_loop(recordings, specs, measure: dict | None = None) -> dict:
    """Tables of closed-loop Recordings (one, or the chunks of one measurement; pure).

    ``recordings`` and ``specs``: a Recording and its spec, or lists of them;
    see :func:`closed_loop_tables`.
    """
    if not isinstance(recordings, (list, tuple)):
        recordings, specs = [recordings], [specs]
    chunks = [measure_chunk(r, s, measure) for r, s in zip(recordings, specs, strict=True)]
    return closed_loop_tables(chunks, list(specs), measure)
