"""The g sweep at a fixed working point: simulated order parameters and predicted onsets.

:func:`run_sweep` runs (or reads from the results store) one closed-loop
simulation per g (external rates re-derived so that (mu, sigma) stay fixed;
the external weights do not follow g, see :mod:`mfval.theory.closed_loop`), the
closed-loop theory per g, the predicted onsets (LIF theory, rate model), and
an open-loop transfer-function simulation around f* for the semi-empirical
prediction, and returns the tables of ``mfval sweep``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mfval.comparison.closed_loop import (
    THEORY_F_MAX,
    judged_table,
    load_closed_loop_config,
    onset_rows,
    transfer_bounds,
)
from mfval.simulation.closed_loop.measure import DEFAULT_MEASURE
from mfval.store import ResultStore
from mfval.tasks import run_tasks, task_seed
from mfval.theory.closed_loop import network_with_g, semi_empirical_onset
from mfval.theory.closed_loop_tasks import closed_loop_theory_task, onset_task, spectrum_frequencies
from mfval.theory.spectra import model_spectrum, theory_spectra_table


def estimate_onset(g, ratio, ratio_se, stable, peak, peak_se, n_draws: int = 2000, seed: int = 0):
    """Onset of the oscillation from the order parameter R(g) (band PSD over rate / N).

    Linear response: the band-integrated power of a resonance grows as
    1 / |1 - lambda(f*)|, so 1/R falls (about linearly) to zero at the onset.
    The line through 1/R at the last two stable g values (``stable``: a
    boolean per g, decided by the caller without the order parameter, e.g.
    the rate still at its working point) is extrapolated to 1/R = 0. The SE
    comes from redrawing R from its SEs (``n_draws``, ``seed``). f* is the
    peak frequency at the last stable g, with its SE. Because 1/R is convex
    in g (also in the theory), the extrapolation depends on the pair used:
    ``g_c_alt`` is the same extrapolation from the previous pair of stable
    points and ``g_c_syst`` = |g_c - g_c_alt| / 2 is reported as a
    systematic uncertainty.

    Returns
    -------
    dict: ``g_c``, ``g_c_se`` (statistical), ``g_c_alt``, ``g_c_syst``, ``f_star``,
    ``f_star_se`` (Hz), ``g_fit`` (the two g used);
    nan where fewer than two stable points exist or 1/R does not fall.
    """
    g = np.asarray(g, float)
    order = np.argsort(g)
    g = g[order]
    ratio = np.asarray(ratio, float)[order]
    ratio_se = np.asarray(ratio_se, float)[order]
    stable = np.asarray(stable, bool)[order]
    peak, peak_se = np.asarray(peak, float)[order], np.asarray(peak_se, float)[order]
    idx = np.nonzero(stable)[0][-2:]
    nan = {
        "g_c": math.nan,
        "g_c_se": math.nan,
        "g_c_alt": math.nan,
        "g_c_syst": math.nan,
        "f_star": math.nan,
        "f_star_se": math.nan,
        "g_fit": (),
    }
    if idx.size < 2:
        return nan

    def fit(r):
        y = 1.0 / r[idx]
        slope = (y[1] - y[0]) / (g[idx[1]] - g[idx[0]])
        return g[idx[1]] - y[1] / slope if slope < 0 else math.nan

    g_c = fit(ratio)
    if not math.isfinite(g_c):
        return nan
    # systematic: the same extrapolation one stable point earlier (1/R is convex in g)
    idx_main = idx
    idx = np.nonzero(stable)[0][-3:-1]
    g_alt = fit(ratio) if idx.size == 2 else math.nan
    idx = idx_main
    rng = np.random.default_rng(seed)
    draws = [fit(ratio + rng.normal(size=ratio.size) * ratio_se) for _ in range(int(n_draws))]
    draws = np.array([d for d in draws if math.isfinite(d)])
    return {
        "g_c": float(g_c),
        "g_c_se": float(draws.std(ddof=1)) if draws.size > 1 else math.nan,
        "g_c_alt": float(g_alt),
        "g_c_syst": abs(g_c - g_alt) / 2 if math.isfinite(g_alt) else math.nan,
        "f_star": float(peak[idx[1]]),
        "f_star_se": float(peak_se[idx[1]]),
        "g_fit": tuple(float(x) for x in g[idx]),
    }


@dataclass
class SweepResult:
    table: pd.DataFrame
    spectra: pd.DataFrame
    theory_spectra: pd.DataFrame
    predictions: dict
    measured: dict
    comparison: pd.DataFrame


def sweep_tasks(
    params: dict,
    point: tuple[float, float],
    g_values,
    seed: int | None = None,
    duration: float | None = None,
    config: dict | None = None,
    simulator: str = "brian2",
    transfer_duration: float | None = None,
) -> tuple[list, list, list]:
    """(theory tasks, closed-loop chunk sets, simulation tasks) of :func:`run_sweep`.

    Builds every spec and runs nothing: a working point or protocol that
    cannot be simulated raises ValueError here, before any work.
    """
    from mfval.simulation.closed_loop.tasks import closed_loop_tasks
    from mfval.simulation.open_loop.tasks import transfer_task

    config = config or load_closed_loop_config()
    mu, sigma = point
    run_seed = int(params["simulation"]["seed"] if seed is None else seed)
    duration = float(config["sweep_duration"] if duration is None else duration)
    g_values = [float(g) for g in g_values]
    freqs = spectrum_frequencies(DEFAULT_MEASURE["segment"], THEORY_F_MAX)
    f_semi = config["semi_empirical_frequencies"]
    a_max, phi_max = transfer_bounds([f_semi.max()], config["psd"])
    theory_tasks = [onset_task(mu, sigma, params, (float(a_max[0]), float(phi_max[0])))] + [
        closed_loop_theory_task(mu, sigma, params, freqs, g) for g in g_values
    ]
    chunked = [
        closed_loop_tasks(
            mu,
            sigma,
            params,
            task_seed(run_seed, f"closed_loop g={g:g}", mu, sigma),
            g=g,
            duration=duration,
            simulator=simulator,
        )
        for g in g_values
    ]
    sim_tasks = [
        transfer_task(
            mu,
            sigma,
            params,
            "synaptic",
            task_seed(run_seed, "transfer semi-empirical", mu, sigma),
            frequencies=f_semi,
            simulator=simulator,
            duration=transfer_duration,
        )
    ] + [t for c in chunked for t in c.tasks]
    return theory_tasks, chunked, sim_tasks


def run_sweep(
    params: dict,
    point: tuple[float, float],
    g_values,
    store: ResultStore | None = None,
    workers: int | None = None,
    progress: bool = True,
    client=None,
    seed: int | None = None,
    duration: float | None = None,
    config: dict | None = None,
    simulator: str = "brian2",
    transfer_duration: float | None = None,
) -> SweepResult:
    """Run (or read from the store) the sweep; see the module docstring.

    Parameters
    ----------
    params : dict
        Loaded parameters (SI).
    point : (mu, sigma)
        Working point, V.
    g_values : sequence of float
        Relative inhibition values.
    seed : int, optional
        Run seed (default ``simulation.seed``); each task's seed derives from it.
    duration : float, optional
        Measured time per g, s (default ``sweep_duration`` of the closed-loop config),
        split into independent chunks of the network protocol's duration
        (:func:`mfval.simulation.closed_loop.closed_loop_tasks`).
    config : dict, optional
        :func:`mfval.comparison.closed_loop.load_closed_loop_config`.
    simulator : {"brian2", "nest"}
        Simulator of the closed-loop and open-loop runs.
    transfer_duration : float, optional
        Analysis window of the open-loop run of the semi-empirical prediction, s
        (default ``simulation.transfer_duration``; shorter: larger SE).
    """
    store = store or ResultStore()
    config = config or load_closed_loop_config()
    mu, sigma = point
    run_seed = int(params["simulation"]["seed"] if seed is None else seed)
    g_values = [float(g) for g in g_values]
    theory_tasks, chunked, sim_tasks = sweep_tasks(
        params, point, g_values, seed, duration, config, simulator, transfer_duration
    )
    theory = run_tasks(theory_tasks, store, workers, "sweep theory", progress, client)
    sims = run_tasks(sim_tasks, store, workers, "sweep simulation", progress, client)
    transfer, chunk_results = sims[0], sims[1:]
    results, start = [], 0
    for c in chunked:
        results.append(c.tables(chunk_results[start : start + len(c.tasks)]))
        start += len(c.tasks)
    onset_theory, points = theory[0], theory[1:]

    N_data = (transfer["tf_re_hz_per_mV"] + 1j * transfer["tf_im_hz_per_mV"]).to_numpy() * 1e3
    semi = semi_empirical_onset(
        transfer["frequency_hz"].to_numpy(),
        N_data,
        transfer["tf_re_se_hz_per_mV"].to_numpy() * 1e3,
        transfer["tf_im_se_hz_per_mV"].to_numpy() * 1e3,
        params["network"],
        seed=run_seed,
    )
    predictions = {
        "LIF theory": {
            "g_c": onset_theory["g_c_lif"],
            "f_star": onset_theory["f_star_lif_hz"],
            "g_c_allowance": onset_theory["g_c_lif_allowance"],
            "f_star_allowance": onset_theory["f_star_lif_allowance_hz"],
        },
        "rate model": {
            "g_c": onset_theory["g_c_rate"],
            "f_star": onset_theory["f_star_rate_hz"],
            "g_c_allowance": onset_theory["g_c_rate_allowance"],
            "f_star_allowance": onset_theory["f_star_rate_allowance_hz"],
        },
        "semi-empirical": {
            "g_c": semi["g_c"],
            "f_star": semi["f_star"],
            "g_c_se": semi["g_c_se"],
            "f_star_se": semi["f_star_se"],
        },
    }

    stats_frames, spectra_frames, theory_frames = [], [], []
    for g, res, th in zip(g_values, results, points):
        tables = res
        stats, spectra = tables["stats"], tables["spectra"]
        net_g = network_with_g(params["network"], g)
        th_table = theory_spectra_table(th, net_g, g)
        band = (th["frequencies"] >= DEFAULT_MEASURE["band"][0]) & (
            th["frequencies"] <= DEFAULT_MEASURE["band"][1]
        )
        poisson = th["firing_rates"] / th["population_size"]
        lif = model_spectrum(th, net_g, "lif")
        rate = model_spectrum(th, net_g, "rate")
        stats["theory_cv"] = th["cv"]
        stats["theory_band_ratio_lif"] = lif[band].mean(axis=0) / poisson
        stats["theory_band_ratio_rate"] = rate[band].mean(axis=0) / poisson
        stats_frames.append(stats)
        spectra_frames.append(spectra)
        theory_frames.append(th_table)
    table = pd.concat(stats_frames, ignore_index=True)

    # stable branch: the rate still at the working point's (a priori criterion)
    deviation = (table["rate_hz"] - table["theory_rate_hz"]).abs()
    bound = (
        config["k"] * table["rate_se_hz"] + config["stable_rate_relative"] * table["theory_rate_hz"]
    )
    table["stable"] = deviation <= bound
    stable_g = table.groupby("g")["stable"].all()
    # measured onset: from the band ratio of each population
    measured = {}
    for name in params["network"]["populations"]:
        s = table[table["population"] == name]
        measured[name] = estimate_onset(
            s["g"],
            s["band_ratio"],
            s["band_ratio_se"],
            stable_g.loc[s["g"]].to_numpy(),
            s["peak_frequency_hz"],
            s["peak_frequency_se_hz"],
            seed=run_seed,
        )
    for name, pred in predictions.items():
        tag = {"LIF theory": "lif", "rate model": "rate", "semi-empirical": "semi"}[name]
        table[f"g_c_{tag}"] = pred["g_c"]
        table[f"f_star_{tag}_hz"] = pred["f_star"]
    table["g_c_semi_se"] = semi["g_c_se"]
    table["f_star_semi_se_hz"] = semi["f_star_se"]
    for name, m in measured.items():
        sel = table["population"] == name
        table.loc[sel, "g_c_sim"] = m["g_c"]
        table.loc[sel, "g_c_sim_se"] = m["g_c_se"]
        table.loc[sel, "g_c_sim_syst"] = m["g_c_syst"]
        table.loc[sel, "f_star_sim_hz"] = m["f_star"]
        table.loc[sel, "f_star_sim_se_hz"] = m["f_star_se"]
    rows = []
    for name, m in measured.items():
        for r in onset_rows(m, predictions, mu * 1e3, sigma * 1e3):
            r["population"] = f"{name}: {r['population']}"
            rows.append(r)
    return SweepResult(
        table=table,
        spectra=pd.concat(spectra_frames, ignore_index=True),
        theory_spectra=pd.concat(theory_frames, ignore_index=True),
        predictions=predictions,
        measured=measured,
        comparison=judged_table(rows),
    )
