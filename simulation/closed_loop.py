"""Closed-loop protocol: the E-I network's population-rate spectra, CVs and Fano factors.

Runs the network of :mod:`simulation.network` at a working point (optionally
with another relative inhibition g, external rates re-derived so that
(mu, sigma) stay fixed, see :mod:`theory.closed_loop`) and measures its
recording with the pure functions of :mod:`simulation.population_activity`.

The store holds the recording (spikes as integer steps), so the
measurement settings can change without simulating again.

Adapter: the recording comes from
``simulation.network.simulate_network(..., return_details=True)`` (spike
neuron indices and grid times); :func:`recording_from_details` converts it
into integer step indices counted from the start of the measurement window
(the times are exact multiples of dt; the conversion checks that), and
:func:`measure_spectra` measures any such recording.

Planted error (``delay_scale``): the recurrent delay of the simulation only
is multiplied by this factor; the theory keeps the parameter file's delay.
Open-loop checks cannot see it (rates and transfer function do not depend
on the delay), the spectra must.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd

from mfval.params import stable_hash
from mfval.tasks import Task
from simulation.population_activity import (
    band_power_ratio,
    fano_factors,
    isi_cv,
    mean_with_se,
    rate_spectrum,
)

#: bump when the content of a closed-loop result changes
CLOSED_LOOP_SCHEMA = 1

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


def recording_from_details(
    details: dict, network: dict, dt: float, warmup: float, duration: float
) -> dict:
    """Spikes of the measurement window as integer steps (adapter for ``simulate_network``).

    Returns
    -------
    dict: ``steps`` (int64, from the window start), ``neurons`` (index within
    the population), ``populations`` (int), ``sizes`` (n_pop,), ``names``,
    ``n_steps``, ``dt`` (s).
    """
    t = np.asarray(details["spike_t"], float)
    exact = t / dt
    steps = np.rint(exact).astype(np.int64)
    if steps.size and np.max(np.abs(exact - steps)) > 1e-6:
        raise ValueError(f"spike times are not on the time grid of dt = {dt!r} s")
    first = int(round(warmup / dt))
    n_steps = int(round(duration / dt))
    keep = (steps >= first) & (steps < first + n_steps)
    sizes = np.asarray(network["N"], int)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    i = np.asarray(details["spike_i"], np.int64)[keep]
    pops = np.searchsorted(offsets, i, side="right") - 1
    return {
        "steps": steps[keep] - first,
        "neurons": i - offsets[pops],
        "populations": pops,
        "sizes": sizes,
        "names": list(network["populations"]),
        "n_steps": n_steps,
        "dt": float(dt),
    }


def _peak(spectrum: dict, band) -> tuple[np.ndarray, np.ndarray]:
    """Frequency of the PSD maximum inside ``band`` and its SE, per population.

    SE: delete-a-group jackknife over 10 groups of segments, at least the
    bin's resolution df / sqrt(12).
    """
    f = spectrum["frequencies"]
    sel = np.nonzero((f >= band[0]) & (f <= band[1]))[0]
    seg = spectrum["segment_psd"][:, :, sel]
    n_seg = seg.shape[0]
    peak = f[sel][np.argmax(seg.mean(axis=0), axis=1)]
    n_groups = min(10, n_seg)
    groups = np.array_split(np.arange(n_seg), n_groups)
    jack = np.array(
        [f[sel][np.argmax(np.delete(seg, g, axis=0).mean(axis=0), axis=1)] for g in groups]
    )
    se = np.sqrt((n_groups - 1) / n_groups * ((jack - jack.mean(axis=0)) ** 2).sum(axis=0))
    # resolution floor: the peak lies anywhere inside its bin (uniform, width df)
    resolution = (f[1] - f[0]) / math.sqrt(12)
    return peak, np.maximum(se, resolution)


def measure_spectra(recording: dict, measure: dict | None = None) -> dict:
    """Spectra and irregularity of one recording (pure).

    Parameters
    ----------
    recording : dict
        As from :func:`recording_from_details`.
    measure : dict, optional
        Overrides of :data:`DEFAULT_MEASURE`.

    Returns
    -------
    dict: ``spectrum`` (see :func:`rate_spectrum`) and ``stats``, a list of
    one dict per population with ``population, rate_hz, cv, cv_se, fano,
    fano_se, variance_ratio, variance_ratio_se, band_ratio, band_ratio_se,
    peak_frequency_hz, peak_frequency_se_hz, poisson_psd_per_s,
    psd_aggregate_per_s, psd_aggregate_se_per_s`` (mean PSD over the aggregate
    band), ``plateau_ratio, plateau_ratio_se`` (mean PSD over the plateau band
    over rate / N).
    """
    m = {**DEFAULT_MEASURE, **(measure or {})}
    dt, n_steps = recording["dt"], recording["n_steps"]
    seg_steps = int(round(m["segment"] / dt))
    if seg_steps < 2 or n_steps % seg_steps:
        raise ValueError(
            f"segment = {m['segment']!r} s must hold >= 2 steps and divide the window "
            f"({n_steps} steps of {dt!r} s)"
        )
    spectrum = rate_spectrum(
        recording["steps"],
        recording["populations"],
        recording["sizes"],
        n_steps,
        dt,
        n_steps // seg_steps,
    )
    sizes = np.asarray(recording["sizes"], float)
    poisson = spectrum["rates"] / sizes
    var_ratio, var_ratio_se = band_power_ratio(spectrum, 0.0, math.inf, poisson)
    band_ratio, band_ratio_se = band_power_ratio(spectrum, *m["band"], poisson)
    peak, peak_se = _peak(spectrum, m["band"])
    aggregate, aggregate_se = band_power_ratio(spectrum, *m["aggregate_band"], np.ones_like(sizes))
    plateau, plateau_se = band_power_ratio(spectrum, *m["plateau_band"], poisson)
    fano_steps = int(round(m["fano_window"] / dt))
    stats = []
    for p, name in enumerate(recording["names"]):
        sel = recording["populations"] == p
        cv = isi_cv(recording["neurons"][sel], recording["steps"][sel])
        ff = fano_factors(
            recording["neurons"][sel], recording["steps"][sel], int(sizes[p]), n_steps, fano_steps
        )
        cv_mean, cv_se = mean_with_se(cv)
        ff_mean, ff_se = mean_with_se(ff)
        stats.append(
            {
                "population": name,
                "rate_hz": float(spectrum["rates"][p]),
                "cv": cv_mean,
                "cv_se": cv_se,
                "cv_n_neurons": int(cv.size),
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
            }
        )
    return {"spectrum": spectrum, "stats": stats}


def params_for(params: dict, g: float | None = None, delay_scale: float = 1.0) -> dict:
    """Parameters with relative inhibition g (theory.closed_loop) and scaled delay."""
    from theory.closed_loop import network_with_g

    out = {k: copy.deepcopy(params[k]) for k in ("network", "simulation") if k in params}
    if g is not None:
        out["network"] = network_with_g(out["network"], g)
    delay_scale = float(delay_scale)
    if not (math.isfinite(delay_scale) and delay_scale > 0):
        raise ValueError(f"delay_scale must be positive, got delay_scale = {delay_scale!r}")
    out["network"]["delay"] = float(out["network"]["delay"]) * delay_scale
    return out


def simulate_closed_loop(
    mu: float,
    sigma: float,
    params: dict,
    seed: int,
    g: float | None = None,
    delay_scale: float = 1.0,
    duration: float | None = None,
    warmup: float | None = None,
    **network_options,
) -> dict:
    """Simulate the network at (mu, sigma) and return its recording (task function).

    Parameters
    ----------
    mu, sigma : float
        Working point, V (external rates from the theory at this g).
    params : dict
        Loaded parameters (SI).
    seed : int
    g : float, optional
        Relative inhibition (default: the parameter file's W).
    delay_scale : float
        Planted-error hook: factor on the simulated recurrent delay only.
    duration, warmup : float, optional
        s; defaults from ``params['simulation']``.
    **network_options
        Passed to :func:`simulation.network.simulate_network`.

    Returns
    -------
    dict: ``network`` (DataFrame of simulate_network: rates with SE, ...),
    ``recording`` (see :func:`recording_from_details`; compact integer
    dtypes), ``mu``, ``sigma`` (V), ``g``, ``delay_s``, ``seed``,
    ``duration_s``. Measure it with :func:`closed_loop_tables`.
    """
    from simulation.network import simulate_network, theory_for_point
    from theory.closed_loop import relative_inhibition

    sim_params = params_for(params, g, delay_scale)
    theory_params = params_for(params, g, 1.0)
    theory = theory_for_point(mu, sigma, theory_params)
    duration = float(params["simulation"]["network_duration"] if duration is None else duration)
    warmup = float(params["simulation"]["network_warmup"] if warmup is None else warmup)
    frame, details = simulate_network(
        mu,
        sigma,
        sim_params,
        duration=duration,
        warmup=warmup,
        seed=seed,
        theory=theory,
        return_details=True,
        **network_options,
    )
    dt = float(params["simulation"]["dt"])
    recording = recording_from_details(details, sim_params["network"], dt, warmup, duration)
    recording["steps"] = recording["steps"].astype(np.int32)
    recording["neurons"] = recording["neurons"].astype(np.int32)
    recording["populations"] = recording["populations"].astype(np.int8)
    return {
        "network": frame,
        "recording": recording,
        "mu": float(mu),
        "sigma": float(sigma),
        "g": relative_inhibition(theory_params["network"]),
        "delay_s": float(sim_params["network"]["delay"]),
        "seed": int(seed),
        "duration_s": duration,
    }


def closed_loop_tables(result: dict, measure: dict | None = None) -> dict:
    """Measure a :func:`simulate_closed_loop` result: spectra and statistics tables.

    Returns
    -------
    dict: ``spectra`` (long DataFrame: mu_mV, sigma_mV, g, population,
    frequency_hz, psd_per_s, psd_se_per_s; two-sided, 1/s), ``stats``
    (DataFrame, one row per population: the columns of
    :func:`measure_spectra` and mu_mV, sigma_mV, g, rate_se_hz,
    theory_rate_hz, delay_s, seed, duration_s, n_segments).
    """
    rec = result["recording"]
    measured = measure_spectra(rec, measure)
    spec = measured["spectrum"]
    mu_mV, sigma_mV = result["mu"] * 1e3, result["sigma"] * 1e3
    spectra = pd.concat(
        [
            pd.DataFrame(
                {
                    "mu_mV": mu_mV,
                    "sigma_mV": sigma_mV,
                    "g": result["g"],
                    "population": name,
                    "frequency_hz": spec["frequencies"],
                    "psd_per_s": spec["psd"][p],
                    "psd_se_per_s": spec["psd_se"][p],
                }
            )
            for p, name in enumerate(rec["names"])
        ],
        ignore_index=True,
    )
    stats = pd.DataFrame(measured["stats"])
    stats.insert(0, "g", result["g"])
    stats.insert(0, "sigma_mV", sigma_mV)
    stats.insert(0, "mu_mV", mu_mV)
    stats["rate_se_hz"] = result["network"]["rate_se_hz"].to_numpy()
    stats["theory_rate_hz"] = result["network"]["theory_rate_hz"].to_numpy()
    stats["delay_s"] = result["delay_s"]
    stats["seed"] = result["seed"]
    stats["duration_s"] = result["duration_s"]
    stats["n_segments"] = spec["segment_psd"].shape[0]
    return {"spectra": spectra, "stats": stats}


def closed_loop_key(mu, sigma, params, seed, **options) -> str:
    from simulation.network import brian2_version

    return stable_hash(
        "closed_loop",
        CLOSED_LOOP_SCHEMA,
        {"brian2": brian2_version(), "numpy": np.__version__},
        params["network"],
        params["simulation"],
        float(mu),
        float(sigma),
        int(seed),
        {k: v for k, v in sorted(options.items()) if k != "report"},
    )


def closed_loop_task(mu: float, sigma: float, params: dict, seed: int, **options) -> Task:
    """Store task (kind ``closed_loop``) running :func:`simulate_closed_loop`.

    ``options``: g, delay_scale, duration, warmup, and options of
    :func:`simulation.network.simulate_network` (plain data).
    """
    plain = {k: params[k] for k in ("network", "simulation") if k in params}
    g = options.get("g")
    label = f"closed loop mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV"
    if g is not None:
        label += f" g={g:g}"
    if options.get("delay_scale", 1.0) != 1.0:
        label += f" delay x{options['delay_scale']:g}"
    return Task(
        kind="closed_loop",
        key=closed_loop_key(mu, sigma, plain, seed, **options),
        func=simulate_closed_loop,
        kwargs={
            "mu": float(mu),
            "sigma": float(sigma),
            "params": plain,
            "seed": int(seed),
            **options,
        },
        label=label,
    )
