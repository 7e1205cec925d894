"""Closed-loop protocol: the E-I network's population-rate spectra, CVs and Fano factors.

Built on the network protocol's three layers (:mod:`simulation.network`):
the spec (:func:`closed_loop_spec`: a :class:`simulation.network.NetworkSpec`
at a working point, optionally with another relative inhibition g, external
rates re-derived so that (mu, sigma) stay fixed, see
:mod:`theory.closed_loop`), a backend run into a
:class:`simulation.recording.Recording` (Brian2 or NEST; the raw recording is
kept in the results store, kind ``network_recording``, so new measurements do
not re-simulate), and the pure measurement :func:`measure_closed_loop` of a
recording with the functions of :mod:`simulation.population_activity`.

Window: as :mod:`simulation.network_measure` (detection steps w + 1 .. w + n
after the warm-up of w steps; spikes binned by their exact integer step).

Planted error (``delay_scale``): the recurrent delay of the simulated network
only is multiplied by this factor; the theory (external rates, predictions)
keeps the parameter file's delay. Open-loop checks cannot see it (rates and
transfer function do not depend on the delay), the spectra must.
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
CLOSED_LOOP_SCHEMA = 2

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
    recording : simulation.recording.Recording
    spec : simulation.network.NetworkSpec

    Returns
    -------
    dict: ``steps`` (0 .. n_steps - 1, from the window start), ``neurons``
    (index within the population), ``populations`` (int), ``sizes``
    (n_pop,), ``names``, ``n_steps``, ``dt`` (s).
    """
    from simulation.recording import SPIKE_STEP_CONVENTION

    recording.require("spike_step", SPIKE_STEP_CONVENTION)
    w, n = spec.warmup_steps, spec.duration_steps
    k = np.asarray(recording.spike_step, np.int64) - (w + 1)
    keep = (k >= 0) & (k < n)
    sizes = np.asarray(spec.network["N"], int)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    i = np.asarray(recording.spike_sender, np.int64)[keep]
    pops = np.searchsorted(offsets, i, side="right") - 1
    return {
        "steps": k[keep],
        "neurons": i - offsets[pops],
        "populations": pops,
        "sizes": sizes,
        "names": list(spec.network["populations"]),
        "n_steps": int(n),
        "dt": float(spec.dt),
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
        As from :func:`recording_window`.
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


def closed_loop_spec(
    mu: float,
    sigma: float,
    params: dict,
    seed: int,
    g: float | None = None,
    delay_scale: float = 1.0,
    duration: float | None = None,
    warmup: float | None = None,
    simulator: str = "brian2",
    backend: dict | None = None,
):
    """The :class:`simulation.network.NetworkSpec` of one closed-loop run (checked).

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
    simulator, backend
        As :func:`simulation.network.make_network_spec`.
    """
    from simulation.network import make_network_spec, theory_for_point

    theory = theory_for_point(mu, sigma, params_for(params, g, 1.0))
    return make_network_spec(
        mu,
        sigma,
        params_for(params, g, delay_scale),
        seed,
        duration=duration,
        warmup=warmup,
        theory=theory,
        simulator=simulator,
        backend=backend,
    )


def measure_closed_loop(recording, spec, measure: dict | None = None) -> dict:
    """Spectra and statistics tables of a closed-loop Recording (pure).

    Returns
    -------
    dict: ``spectra`` (long DataFrame: mu_mV, sigma_mV, g, population,
    frequency_hz, psd_per_s, psd_se_per_s; two-sided, 1/s), ``stats``
    (DataFrame, one row per population: the columns of
    :func:`measure_spectra` and mu_mV, sigma_mV, g, rate_se_hz (block SE of
    :func:`simulation.network_measure.measure_rates`), theory_rate_hz,
    delay_s, seed, duration_s, n_segments, simulator).
    """
    from simulation.network_measure import measure_rates
    from theory.closed_loop import relative_inhibition

    rec = recording_window(recording, spec)
    measured = measure_spectra(rec, measure)
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
            for p, name in enumerate(rec["names"])
        ],
        ignore_index=True,
    )
    rates = measure_rates(recording, spec)
    stats = pd.DataFrame(measured["stats"])
    stats.insert(0, "g", g)
    stats.insert(0, "sigma_mV", sigma_mV)
    stats.insert(0, "mu_mV", mu_mV)
    stats["rate_se_hz"] = [rates[name][1] for name in rec["names"]]
    stats["theory_rate_hz"] = list(spec.theory_rates)
    stats["delay_s"] = float(spec.network["delay"])
    stats["seed"] = int(spec.seed)
    stats["duration_s"] = float(spec.duration)
    stats["n_segments"] = spec_psd["segment_psd"].shape[0]
    stats["simulator"] = spec.simulator
    return {"spectra": spectra, "stats": stats}


def run_closed_loop_task(spec, measure: dict | None = None, store=None) -> dict:
    """Task function: the spec's Recording (stored, simulated on a miss), measured."""
    from simulation.network import stored_recording

    return measure_closed_loop(stored_recording(spec, store), spec, measure)


def simulate_closed_loop(mu: float, sigma: float, params: dict, seed: int, **options) -> dict:
    """Spec, run and measurement in one call (scripts); see :func:`closed_loop_task`."""
    from simulation.network import run_network

    measure = options.pop("measure", None)
    spec = closed_loop_spec(mu, sigma, params, seed, **options)
    return measure_closed_loop(run_network(spec), spec, measure)


def closed_loop_task(mu: float, sigma: float, params: dict, seed: int, **options) -> Task:
    """Store task (kind ``closed_loop``): measured spectra and statistics of one run.

    ``options``: g, delay_scale, duration, warmup, simulator, backend (see
    :func:`closed_loop_spec`) and ``measure`` (overrides of
    :data:`DEFAULT_MEASURE`). The key is the recording's key
    (:func:`simulation.network.recording_key`) and the measurement settings;
    the raw recording is stored too (kind ``network_recording``).
    """
    from simulation.network import recording_key

    options = dict(options)
    measure = {**DEFAULT_MEASURE, **(options.pop("measure", None) or {})}
    plain = {k: params[k] for k in ("network", "simulation") if k in params}
    spec = closed_loop_spec(mu, sigma, plain, seed, **options)
    g = options.get("g")
    label = f"closed loop mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV"
    if g is not None:
        label += f" g={g:g}"
    if options.get("delay_scale", 1.0) != 1.0:
        label += f" delay x{options['delay_scale']:g}"
    if spec.simulator != "brian2":
        label += f" [{spec.simulator}]"
    return Task(
        kind="closed_loop",
        key=stable_hash("closed_loop", CLOSED_LOOP_SCHEMA, recording_key(spec), measure),
        func=run_closed_loop_task,
        kwargs={"spec": spec, "measure": measure},
        label=label,
        pass_store=True,
    )
