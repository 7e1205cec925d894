"""Spatial ring measurements: pure functions of network Recordings of ring chunks, with SEs.

Per chunk (:func:`measure_spatial_chunk`, the stored result of a ``spatial_chunk``
task): the activity modes A_n(t) of every population
(:mod:`mfval.simulation.estimators.modes`, positions of the chunk's ring), their
two-sided PSD at +f and -f per segment, spike counts and window-corrected ISI
moments. Pooled over independent chunks (:func:`pool_spatial_chunks`,
:func:`spatial_tables`): spectra with SEs from the spread between chunks, the peak
(n*, f*) over the modes n >= 1, the travelling direction and phase velocity, rates,
CVs and the order parameter. :func:`space_time_raster` gives the plain arrays of a
space-time raster.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mfval.simulation.estimators.cv import cv_from_moments, isi_window_moments
from mfval.simulation.estimators.modes import (
    jackknife_se,
    mode_activity,
    mode_spectrum,
    wave_numbers,
)
from mfval.simulation.estimators.spectra import mean_over_units
from mfval.simulation.estimators.windows import spike_window

#: measurement settings (plain data; they enter a chunk's store key)
DEFAULT_MEASURE = {
    # ring modes n = 0 .. n_modes - 1
    "n_modes": 16,
    # segment of the spectra (s): resolution 1 / segment
    "segment": 0.1,
    # spectra kept up to this frequency (Hz), both signs
    "f_max": 1000.0,
    # band of the peak search and of the order parameter (Hz): the closed loop's band,
    # bracketing the predicted f* (~200 Hz at d = 1.5 ms) by a factor 2
    "peak_band": (100.0, 400.0),
    # band where every mode should have reached rate / N (Hz)
    "plateau_band": (2000.0, 4500.0),
}

#: |direction asymmetry| / SE above which a direction is called (else 0: standing or mixed)
DIRECTION_Z = 2.0


def check_measure(measure: dict, n_steps: int, dt: float) -> dict:
    """Measurement settings (:data:`DEFAULT_MEASURE` with overrides), checked for a window.

    Raises
    ------
    ValueError
        Naming the setting and its value: a segment that does not divide the
        window of ``n_steps`` steps of ``dt`` s, fewer than 1 mode, a band
        whose ends are not increasing, f_max not positive.
    """
    m = {**DEFAULT_MEASURE, **(measure or {})}
    unknown = sorted(set(m) - set(DEFAULT_MEASURE))
    if unknown:
        raise ValueError(
            f"unknown measurement settings {unknown} (known: {sorted(DEFAULT_MEASURE)})"
        )
    seg_steps = int(round(float(m["segment"]) / dt))
    if seg_steps < 2 or n_steps % seg_steps:
        raise ValueError(
            f"segment = {m['segment']!r} s must hold >= 2 steps and divide the window "
            f"({n_steps} steps of {dt!r} s)"
        )
    if int(m["n_modes"]) < 1:
        raise ValueError(f"n_modes must be >= 1, got n_modes = {m['n_modes']!r}")
    for band in ("peak_band", "plateau_band"):
        lo, hi = (float(x) for x in m[band])
        if not (0 <= lo < hi):
            raise ValueError(f"{band} must be (low, high) with 0 <= low < high, got {m[band]!r}")
        m[band] = (lo, hi)
    if not float(m["f_max"]) > 0:
        raise ValueError(f"f_max must be positive, got f_max = {m['f_max']!r} Hz")
    return m


def _ring_of(spec):
    ring = getattr(spec, "connectivity", None)
    if ring is None:
        raise ValueError("the spec has no ring connectivity (spatial measurement of a ring run)")
    return ring


def ring_window(recording, spec) -> dict:
    """Spikes of the measurement window with the position of every spiking neuron.

    Parameters
    ----------
    recording : mfval.simulation.model.recording.Recording
    spec : mfval.simulation.network.spec.NetworkSpec
        A chunk spec with a ring connectivity rule.

    Returns
    -------
    dict: ``steps`` (int, 0 .. n_steps - 1), ``neurons`` (index within the
    population), ``populations`` (int), ``positions`` (m), ``sizes``,
    ``names``, ``n_steps``, ``dt`` (s), ``length`` (m).
    """
    from mfval.simulation.model.recording import SPIKE_STEP_CONVENTION

    recording.require("spike_step", SPIKE_STEP_CONVENTION)
    ring = _ring_of(spec)
    n = spec.duration_steps
    k, keep = spike_window(np.asarray(recording.spike_step, np.int64), spec.warmup_steps, n)
    sizes = np.asarray(spec.network["N"], int)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    i = np.asarray(recording.spike_sender, np.int64)[keep]
    pops = np.searchsorted(offsets, i, side="right") - 1
    neurons = i - offsets[pops]
    return {
        "steps": k,
        "neurons": neurons,
        "populations": pops,
        "positions": (neurons + 0.5) * (ring.length / sizes[pops]),
        "sizes": sizes,
        "names": list(spec.network["populations"]),
        "n_steps": int(n),
        "dt": float(spec.dt),
        "length": float(ring.length),
    }


def measure_ring_window(window: dict, measure: dict | None = None) -> dict:
    """Per-chunk measurement of one ring window (pure); pooled by :func:`pool_spatial_chunks`.

    Parameters
    ----------
    window : dict
        As from :func:`ring_window` (``positions``: the exact position of the
        neuron of every spike, m).
    measure : dict, optional
        Overrides of :data:`DEFAULT_MEASURE`.

    Returns
    -------
    dict: ``frequencies`` (Hz, (n_freq,), 0 < f <= f_max), ``wave_numbers``
    (1/m, (n_modes,)), ``psd_positive``, ``psd_negative`` (1/s, (n_segments,
    n_pop, n_modes, n_freq)): PSD of A_n at +f and -f, ``plateau`` (1/s,
    (n_segments, n_pop, n_modes): mean two-sided PSD over the plateau band),
    ``segment_counts`` ((n_segments, n_pop) spikes), ``counts`` ((n_pop,)),
    ``isi_moments`` (per population), ``n_steps``, ``dt``, ``sizes``,
    ``names``, ``length``, ``segment_s``.
    """
    dt, n_steps = window["dt"], window["n_steps"]
    m = check_measure(measure, n_steps, dt)
    seg_steps = int(round(m["segment"] / dt))
    n_seg = n_steps // seg_steps
    k = wave_numbers(int(m["n_modes"]), window["length"])
    sizes = np.asarray(window["sizes"], int)
    pos, neg, plateau, isi = [], [], [], []
    seg_counts = np.zeros((n_seg, sizes.size), np.int64)
    for p in range(sizes.size):
        sel = window["populations"] == p
        steps = window["steps"][sel]
        activity = mode_activity(steps, window["positions"][sel], n_steps, dt, k) / sizes[p]
        spec = mode_spectrum(activity, dt, n_seg)
        f = spec["frequencies"]
        lo, hi = m["plateau_band"]
        band = (f >= lo) & (f <= hi)
        plateau.append(
            0.5 * (spec["positive"][..., band] + spec["negative"][..., band]).mean(axis=-1)
            if band.any()
            else np.full(spec["positive"].shape[:2], np.nan)
        )
        keep = f <= m["f_max"]
        pos.append(spec["positive"][..., keep])
        neg.append(spec["negative"][..., keep])
        seg_counts[:, p] = np.bincount(steps // seg_steps, minlength=n_seg)
        isi.append(isi_window_moments(window["neurons"][sel], steps, n_steps))
    return {
        "frequencies": f[keep],
        "wave_numbers": k,
        "psd_positive": np.stack(pos, axis=1),
        "psd_negative": np.stack(neg, axis=1),
        "plateau": np.stack(plateau, axis=1),
        "segment_counts": seg_counts,
        "counts": seg_counts.sum(axis=0),
        "isi_moments": isi,
        "n_steps": int(n_steps),
        "dt": float(dt),
        "sizes": sizes,
        "names": list(window["names"]),
        "length": float(window["length"]),
        "segment_s": float(seg_steps * dt),
    }


def measure_spatial_chunk(recording, spec, measure: dict | None = None) -> dict:
    """:func:`measure_ring_window` of a chunk's Recording (pure)."""
    return measure_ring_window(ring_window(recording, spec), measure)


def _pooled_cv(per_unit: list) -> tuple[float, float]:
    """CV of the pooled interval moments and its jackknife SE over the units."""
    units = np.array([np.sum(u, axis=0) for u in per_unit])
    total = units.sum(axis=0)
    value = float(cv_from_moments(total))
    if units.shape[0] < 2:
        return value, math.nan
    return value, jackknife_se([cv_from_moments(total - u) for u in units])


def _peak(psd, f, band) -> tuple[np.ndarray, np.ndarray]:
    """Mode index (>= 1) and frequency index of the maximum of psd (n_pop, n_modes, n_freq)."""
    sel = np.nonzero((f >= band[0]) & (f <= band[1]))[0]
    sub = psd[:, 1:, :][:, :, sel]
    flat = sub.reshape(sub.shape[0], -1).argmax(axis=1)
    n_idx, f_idx = np.unravel_index(flat, sub.shape[1:])
    return n_idx + 1, sel[f_idx]


def _order(psd, f, band, poisson) -> np.ndarray:
    """Band-mean PSD over rate / N, per population: (largest over n >= 1, mode 0), (2, n_pop)."""
    sel = (f >= band[0]) & (f <= band[1])
    means = psd[:, :, sel].mean(axis=2)
    return np.stack([means[:, 1:].max(axis=1), means[:, 0]]) / poisson


def pool_spatial_chunks(chunks: list[dict], measure: dict | None = None) -> dict:
    """Mode spectra, peak, direction, rates and CVs pooled over independent chunks (pure).

    Standard errors from the spread between chunks (>= 2 chunks: mean over
    chunks with std / sqrt(n), delete-one-chunk jackknife for the peak, the
    order parameter, the direction asymmetry and the CV); with one chunk from
    10 groups of segments (correlated through the chunk's network: approximate).

    Peak (n*, f*): maximum of the direction-averaged PSD over the modes
    n >= 1 and the frequencies of ``peak_band``; its SE from the jackknife,
    at least the bin's resolution df / sqrt(12) (f*) or 1 / sqrt(12) (n*).
    Order parameter: the largest band mean (``peak_band``) of a mode n >= 1
    over the Poisson level rate / N (1 for independent Poisson trains; as
    :func:`mfval.simulation.estimators.spectra.band_power_ratio`, the input of
    :func:`mfval.comparison.sweep.estimate_onset`); ``order_parameter_mode0``
    the same for the mode n = 0 (the non-spatial oscillation of the network).
    Direction: asymmetry (P(-f) - P(+f)) / (P(-f) + P(+f)) at (n*, f*)
    (> 0: waves towards +x); ``direction`` +1 / -1 when it is more than
    :data:`DIRECTION_Z` SE from 0, else 0 (standing or of varying direction);
    ``travelling_index``: mean over chunks of the chunk's |asymmetry| at (n*,
    f*) (near 1: each chunk holds a travelling wave, whatever its direction;
    near 0: standing waves or noise). Phase velocity 2 pi f* / k*, mm/s
    (magnitude; the direction is ``direction``).

    Returns
    -------
    dict
        ``spectrum`` (``frequencies`` Hz, ``wave_numbers`` 1/m, ``psd``,
        ``psd_se``, ``psd_plus_x``, ``psd_minus_x``, ``asymmetry``,
        ``asymmetry_se`` ((n_pop, n_modes, n_freq)), ``rates`` Hz, ``n_chunks``,
        ``n_segments``) and ``stats``, one dict per population: ``population,
        rate_hz, rate_se_hz, cv, cv_se`` (pooled window-corrected ISI CV),
        ``peak_mode, peak_mode_se, peak_wave_number_per_mm, peak_frequency_hz,
        peak_frequency_se_hz, peak_at_band_edge`` (f* within one bin of an end
        of ``peak_band``: no resonance inside the band), ``peak_psd_per_s,
        peak_ratio, peak_ratio_se`` (PSD at (n*, f*) over rate / N), ``direction,
        direction_asymmetry, direction_asymmetry_se, travelling_index,
        phase_velocity_mm_per_s, order_parameter, order_parameter_se,
        order_parameter_mode0, order_parameter_mode0_se, poisson_psd_per_s``
        (rate / N, 1/s), ``plateau_ratio, plateau_ratio_se`` (mean PSD of all
        modes over ``plateau_band`` over rate / N: 1 when normalised right).
    """
    m = {**DEFAULT_MEASURE, **(measure or {})}
    if not chunks:
        raise ValueError("pool_spatial_chunks needs at least one chunk")
    first = chunks[0]
    for c in chunks[1:]:
        if (
            c["n_steps"] != first["n_steps"]
            or c["dt"] != first["dt"]
            or c["length"] != first["length"]
            or not np.array_equal(c["sizes"], first["sizes"])
            or c["psd_positive"].shape != first["psd_positive"].shape
        ):
            raise ValueError("chunks differ in window, dt, ring, population sizes or modes")
    f, k = first["frequencies"], first["wave_numbers"]
    sizes = np.asarray(first["sizes"], float)
    pos = np.concatenate([c["psd_positive"] for c in chunks])
    neg = np.concatenate([c["psd_negative"] for c in chunks])
    plateau = np.concatenate([c["plateau"] for c in chunks])
    seg_counts = np.concatenate([c["segment_counts"] for c in chunks]).astype(float)
    n_seg = pos.shape[0]
    n_chunks = len(chunks)
    if n_chunks >= 2:
        unit = np.repeat(np.arange(n_chunks), [c["psd_positive"].shape[0] for c in chunks])
    else:
        unit = np.repeat(np.arange(min(10, n_seg)), n_seg // min(10, n_seg))
        if unit.size != n_seg:
            unit = np.arange(n_seg)
    groups = [np.nonzero(unit == u)[0] for u in np.unique(unit)]
    seg_rates = seg_counts / (sizes * first["segment_s"])
    rates, rate_se = mean_over_units(seg_rates, unit)
    poisson = rates / sizes
    both = 0.5 * (pos + neg)
    psd, psd_se = mean_over_units(both, unit)
    plus_x, minus_x = neg.mean(axis=0), pos.mean(axis=0)
    asym = (plus_x - minus_x) / (plus_x + minus_x)
    group_asym = np.array(
        [(neg[g].mean(0) - pos[g].mean(0)) / (neg[g].mean(0) + pos[g].mean(0)) for g in groups]
    )
    asym_se = group_asym.std(axis=0, ddof=1) / math.sqrt(len(groups))
    plateau_ratio, plateau_se = mean_over_units(plateau.mean(axis=2) / poisson, unit)
    band = m["peak_band"]
    n_star, f_star = _peak(psd, f, band)
    order = _order(psd, f, band, poisson)
    # jackknife over the groups (chunks): leave one out, find the peak again
    jack_n, jack_f, jack_order, jack_ratio = [], [], [], []
    for g in groups:
        rest = np.setdiff1d(np.arange(n_seg), g)
        psd_j = both[rest].mean(axis=0)
        poisson_j = seg_rates[rest].mean(axis=0) / sizes
        n_j, f_j = _peak(psd_j, f, band)
        jack_n.append(n_j)
        jack_f.append(f[f_j])
        jack_order.append(_order(psd_j, f, band, poisson_j))
        jack_ratio.append(psd_j[np.arange(sizes.size), n_j, f_j] / poisson_j)
    jack_n, jack_f = np.array(jack_n, float), np.array(jack_f)
    jack_order, jack_ratio = np.array(jack_order), np.array(jack_ratio)
    df = f[1] - f[0]
    stats = []
    for p, name in enumerate(first["names"]):
        n_p, f_p = int(n_star[p]), int(f_star[p])
        a = float(asym[p, n_p, f_p])
        a_se = float(asym_se[p, n_p, f_p])
        direction = int(np.sign(a)) if abs(a) > DIRECTION_Z * a_se else 0
        cv, cv_se = _pooled_cv(
            [c["isi_moments"][p] for c in chunks]
            if n_chunks >= 2
            else np.array_split(np.asarray(first["isi_moments"][p]), 10)
        )
        stats.append(
            {
                "population": name,
                "rate_hz": float(rates[p]),
                "rate_se_hz": float(rate_se[p]),
                "cv": cv,
                "cv_se": cv_se,
                "peak_mode": n_p,
                "peak_mode_se": max(jackknife_se(jack_n[:, p]), 1 / math.sqrt(12)),
                "peak_wave_number_per_mm": float(k[n_p] * 1e-3),
                "peak_frequency_hz": float(f[f_p]),
                "peak_frequency_se_hz": max(jackknife_se(jack_f[:, p]), df / math.sqrt(12)),
                "peak_at_band_edge": bool(f[f_p] - df < band[0] or f[f_p] + df > band[1]),
                "peak_psd_per_s": float(psd[p, n_p, f_p]),
                "peak_ratio": float(psd[p, n_p, f_p] / poisson[p]),
                "peak_ratio_se": jackknife_se(jack_ratio[:, p]),
                "direction": direction,
                "direction_asymmetry": a,
                "direction_asymmetry_se": a_se,
                "travelling_index": float(np.mean(np.abs(group_asym[:, p, n_p, f_p]))),
                "phase_velocity_mm_per_s": float(2 * np.pi * f[f_p] / k[n_p] * 1e3),
                "order_parameter": float(order[0, p]),
                "order_parameter_se": jackknife_se(jack_order[:, 0, p]),
                "order_parameter_mode0": float(order[1, p]),
                "order_parameter_mode0_se": jackknife_se(jack_order[:, 1, p]),
                "poisson_psd_per_s": float(poisson[p]),
                "plateau_ratio": float(plateau_ratio[p]),
                "plateau_ratio_se": float(plateau_se[p]),
            }
        )
    spectrum = {
        "frequencies": f,
        "wave_numbers": k,
        "psd": psd,
        "psd_se": psd_se,
        "psd_plus_x": plus_x,
        "psd_minus_x": minus_x,
        "asymmetry": asym,
        "asymmetry_se": asym_se,
        "rates": rates,
        "n_chunks": n_chunks,
        "n_segments": n_seg,
    }
    return {"spectrum": spectrum, "stats": stats}


def spatial_tables(chunks: list[dict], spec, measure: dict | None = None) -> dict:
    """Spectra and summary tables of the pooled chunks of one ring measurement (pure).

    Parameters
    ----------
    chunks : list of dict
        :func:`measure_spatial_chunk` of each chunk (in the order of ``spec.chunks``).
    spec : mfval.simulation.spatial.spec.SpatialSpec
    measure : dict, optional
        Overrides of :data:`DEFAULT_MEASURE`.

    Returns
    -------
    dict: ``spectra`` (long DataFrame: mu_mV, sigma_mV, g, population, mode,
    wave_number_per_mm, frequency_hz (> 0), psd_per_s, psd_se_per_s (the
    mean of +f and -f, two-sided, 1/s), psd_plus_x_per_s (power at -f: waves
    towards +x), psd_minus_x_per_s (at +f), direction_asymmetry,
    direction_asymmetry_se) and ``summary`` (one row per population:
    mu_mV, sigma_mV, g, ring_length_mm, radius_E_mm, radius_I_mm (nominal),
    the columns of :func:`pool_spatial_chunks`'s stats, theory_rate_hz,
    n_chunks, chunk_duration_s, duration_s, n_segments, seed, simulator).
    """
    from mfval.theory.closed_loop import relative_inhibition

    if len(chunks) != len(spec.chunks):
        raise ValueError(f"got {len(chunks)} chunk measurements for {len(spec.chunks)} chunks")
    pooled = pool_spatial_chunks(chunks, measure)
    s = pooled["spectrum"]
    f, k = s["frequencies"], s["wave_numbers"]
    g = relative_inhibition(spec.network)
    head = {"mu_mV": spec.mu * 1e3, "sigma_mV": spec.sigma * 1e3, "g": g}
    n_modes = k.size
    frames = []
    for p, name in enumerate(chunks[0]["names"]):
        frames.append(
            pd.DataFrame(
                {
                    **head,
                    "population": name,
                    "mode": np.repeat(np.arange(n_modes), f.size),
                    "wave_number_per_mm": np.repeat(k * 1e-3, f.size),
                    "frequency_hz": np.tile(f, n_modes),
                    "psd_per_s": s["psd"][p].ravel(),
                    "psd_se_per_s": s["psd_se"][p].ravel(),
                    "psd_plus_x_per_s": s["psd_plus_x"][p].ravel(),
                    "psd_minus_x_per_s": s["psd_minus_x"][p].ravel(),
                    "direction_asymmetry": s["asymmetry"][p].ravel(),
                    "direction_asymmetry_se": s["asymmetry_se"][p].ravel(),
                }
            )
        )
    spectra = pd.concat(frames, ignore_index=True)
    summary = pd.DataFrame(pooled["stats"])
    names = list(chunks[0]["names"])
    ring_cols = {"ring_length_mm": spec.ring.length * 1e3}
    for name, r in zip(names, spec.ring.radius):
        ring_cols[f"radius_{name}_mm"] = r * 1e3
    for i, (col, value) in enumerate({**head, **ring_cols}.items()):
        summary.insert(i, col, value)
    summary["theory_rate_hz"] = list(spec.chunks[0].theory_rates)
    summary["n_chunks"] = len(spec.chunks)
    summary["chunk_duration_s"] = float(spec.chunks[0].duration)
    summary["duration_s"] = spec.duration
    summary["n_segments"] = s["n_segments"]
    summary["seed"] = int(spec.seed)
    summary["simulator"] = spec.chunks[0].simulator
    return {"spectra": spectra, "summary": summary}


def measure_spatial(recordings, spec, measure: dict | None = None) -> dict:
    """:func:`spatial_tables` of the Recordings of every chunk of ``spec`` (pure)."""
    chunks = [
        measure_spatial_chunk(r, c, measure) for r, c in zip(recordings, spec.chunks, strict=True)
    ]
    return spatial_tables(chunks, spec, measure)


def space_time_raster(recording, spec, t_start: float = 0.0, t_stop: float | None = None) -> dict:
    """Plain arrays of a space-time raster of one chunk (pure).

    Parameters
    ----------
    recording : Recording
        Of one ring chunk.
    spec : NetworkSpec
        The chunk's spec (with its ring connectivity rule).
    t_start, t_stop : float
        Window in s from the start of the measurement window (default: all of it).

    Returns
    -------
    dict: ``times`` (s from the start of the measurement window, detection
    times), ``positions`` (m), ``population`` (int index), ``names``,
    ``length`` (m).
    """
    w = ring_window(recording, spec)
    t = w["steps"] * w["dt"]
    t_stop = math.inf if t_stop is None else float(t_stop)
    keep = (t >= float(t_start)) & (t < t_stop)
    return {
        "times": t[keep],
        "positions": w["positions"][keep],
        "population": w["populations"][keep],
        "names": w["names"],
        "length": w["length"],
    }
