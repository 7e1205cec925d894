"""The g sweep at a fixed working point: simulated order parameters and predicted onsets.

:func:`run_sweep` runs (or reads from the results store) one closed-loop
simulation per g (external rates re-derived so that (mu, sigma) stay fixed;
the external weights do not follow g, see :mod:`theory.closed_loop`), the
closed-loop theory per g, the predicted onsets (LIF theory, rate model), and
an open-loop transfer-function simulation around f* for the semi-empirical
prediction, and returns the tables of ``mfval sweep``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from comparison.closed_loop import (
    THEORY_F_MAX,
    load_closed_loop_config,
    model_spectrum,
    onset_rows,
    transfer_bounds,
)
from comparison.metrics import COLUMNS
from mfval.store import ResultStore
from mfval.tasks import run_tasks
from simulation.closed_loop import DEFAULT_MEASURE, closed_loop_tables
from theory.closed_loop import network_with_g, semi_empirical_onset
from theory.closed_loop_tasks import closed_loop_theory_task, onset_task, spectrum_frequencies


def task_seed(run_seed: int, kind: str, mu: float, sigma: float) -> int:
    """Seed of a task (same rule as :func:`comparison.pipeline.task_seed`)."""
    from comparison.pipeline import task_seed as seed_rule

    return seed_rule(run_seed, kind, mu, sigma)


def estimate_onset(g, ratio, ratio_se, peak, peak_se, n_draws: int = 2000, seed: int = 0):
    """Onset of the oscillation from the order parameter R(g) (band power over Poisson).

    Below the onset, linear response gives R ~ |1 - lambda(f*)|^-2 with
    lambda growing linearly in g, so y = R^(-1/2) falls linearly to zero at
    g_c. Above the onset the network oscillates: R no longer follows the
    linear law. The estimate fits a line to y over the points below the
    first point where y stops falling faster than ... (see the text): the
    stable branch is the points up to (and including) the last one whose
    y exceeds half of the smallest-g value's distance... Implementation:
    the stable branch is the longest prefix of g values on which y
    decreases; a line through its last three points (or all, if fewer)
    is extrapolated to y = 0. The SE comes from refitting with R drawn
    from its SEs (``n_draws``, ``seed``). f* is the peak frequency at the
    g closest to the estimated g_c (SE: its jackknife SE).

    Returns
    -------
    dict: ``g_c``, ``g_c_se``, ``f_star``, ``f_star_se``, ``n_fit`` (points used).
    """
    g = np.asarray(g, float)
    ratio = np.asarray(ratio, float)
    ratio_se = np.asarray(ratio_se, float)
    order = np.argsort(g)
    g, ratio, ratio_se = g[order], ratio[order], ratio_se[order]
    peak, peak_se = np.asarray(peak, float)[order], np.asarray(peak_se, float)[order]

    def fit(r):
        y = 1.0 / np.sqrt(np.maximum(r, 1e-12))
        n = 1
        while n < y.size and y[n] < y[n - 1]:
            n += 1
        # the prefix includes the first point past the onset only if it still falls;
        # use the last (up to) three points of the falling prefix
        use = slice(max(0, n - 3), n)
        if n - max(0, n - 3) < 2:
            return math.nan, n
        slope, intercept = np.polyfit(g[use], y[use], 1)
        if slope >= 0:
            return math.nan, n
        return -intercept / slope, n - max(0, n - 3)

    g_c, n_fit = fit(ratio)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(int(n_draws)):
        r = ratio + rng.normal(size=ratio.size) * ratio_se
        value, _ = fit(r)
        if math.isfinite(value):
            draws.append(value)
    g_c_se = float(np.std(draws, ddof=1)) if len(draws) > 1 else math.nan
    if math.isfinite(g_c):
        i = int(np.argmin(np.abs(g - g_c)))
        f_star, f_star_se = float(peak[i]), float(peak_se[i])
    else:
        f_star = f_star_se = math.nan
    return {"g_c": g_c, "g_c_se": g_c_se, "f_star": f_star, "f_star_se": f_star_se, "n_fit": n_fit}


@dataclass
class SweepResult:
    table: pd.DataFrame
    spectra: pd.DataFrame
    theory_spectra: pd.DataFrame
    predictions: dict
    measured: dict
    comparison: pd.DataFrame


def theory_spectra_table(point: dict, network: dict, g: float) -> pd.DataFrame:
    """Long table of the LIF-theory and rate-model spectra (1/s) of one point."""
    lif = model_spectrum(point, network, "lif")
    rate = model_spectrum(point, network, "rate")
    frames = []
    for p, name in enumerate(network["populations"]):
        frames.append(
            pd.DataFrame(
                {
                    "mu_mV": point["mu"] * 1e3,
                    "sigma_mV": point["sigma"] * 1e3,
                    "g": g,
                    "population": name,
                    "frequency_hz": point["frequencies"],
                    "psd_lif_per_s": lif[:, p],
                    "psd_rate_model_per_s": rate[:, p],
                    "poisson_psd_per_s": point["firing_rates"][p] / point["population_size"][p],
                    "cv_lif": point["cv"][p],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


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
        Simulated time per g, s (default ``sweep_duration`` of the closed-loop config).
    config : dict, optional
        :func:`comparison.closed_loop.load_closed_loop_config`.
    """
    from simulation.closed_loop import closed_loop_task
    from simulation.open_loop import transfer_task

    store = store or ResultStore()
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
    sim_tasks = [
        transfer_task(
            mu,
            sigma,
            params,
            "synaptic",
            task_seed(run_seed, "transfer semi-empirical", mu, sigma),
            frequencies=f_semi,
        )
    ] + [
        closed_loop_task(
            mu,
            sigma,
            params,
            task_seed(run_seed, f"closed_loop g={g:g}", mu, sigma),
            g=g,
            duration=duration,
        )
        for g in g_values
    ]
    theory = run_tasks(theory_tasks, store, workers, "sweep theory", progress, client)
    sims = run_tasks(sim_tasks, store, workers, "sweep simulation", progress, client)
    onset_theory, points = theory[0], theory[1:]
    transfer, results = sims[0], sims[1:]

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
        tables = closed_loop_tables(res)
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

    # measured onset: from the population-summed band ratio of each population
    measured = {}
    for name in params["network"]["populations"]:
        s = table[table["population"] == name]
        measured[name] = estimate_onset(
            s["g"],
            s["band_ratio"],
            s["band_ratio_se"],
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
        table.loc[sel, "f_star_sim_hz"] = m["f_star"]
        table.loc[sel, "f_star_sim_se_hz"] = m["f_star_se"]
    rows = []
    for name, m in measured.items():
        for r in onset_rows(m, predictions, config["k"], mu * 1e3, sigma * 1e3):
            r["population"] = f"{name}: {r['population']}"
            rows.append(r)
    return SweepResult(
        table=table,
        spectra=pd.concat(spectra_frames, ignore_index=True),
        theory_spectra=pd.concat(theory_frames, ignore_index=True),
        predictions=predictions,
        measured=measured,
        comparison=pd.DataFrame(rows, columns=COLUMNS),
    )
