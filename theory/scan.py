"""The theory scan over the (mu, sigma) grid: parallel, cached, tidy output.

:func:`run_scan` computes :func:`mfval.theory.mean_field.analyze_point` for every
working point of the grid in worker processes, stores each result in the
results store (keyed by a hash of every parameter, the analysis frequencies,
the computation path ``theory`` -- "fast" or "nnmt", see
:mod:`mfval.theory.mean_field` -- and the versions of nnmt, numpy and scipy), and
returns tidy DataFrames.
An infeasible working point is reported in the ``status`` and ``error``
columns instead of stopping the scan.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfval.config import analysis_frequencies, scan_points, stable_hash
from mfval.store import ResultStore
from mfval.tasks import Task, run_tasks
from mfval.theory.mean_field import (
    DEFAULT_THEORY,
    InfeasibleWorkingPointError,
    analyze_point,
    check_theory,
)
from mfval.theory.versions import software_versions

#: bump when the content of a theory result changes
THEORY_SCHEMA = 1


def point_key(
    mu: float, sigma: float, network: dict, frequencies: np.ndarray, theory: str = DEFAULT_THEORY
) -> str:
    """Store key of one theory working point (includes the computation path)."""
    return stable_hash(
        "theory",
        THEORY_SCHEMA,
        software_versions(),
        network,
        frequencies,
        float(mu),
        float(sigma),
        check_theory(theory),
    )


def analyze_point_or_report(
    mu: float, sigma: float, network: dict, frequencies, theory: str = DEFAULT_THEORY
) -> dict:
    """:func:`analyze_point`, with an infeasible point reported instead of raised."""
    try:
        result = analyze_point(mu, sigma, network, np.asarray(frequencies), theory)
        result["status"], result["error"] = "ok", ""
    except InfeasibleWorkingPointError as err:
        result = {"mu": float(mu), "sigma": float(sigma), "status": "infeasible", "error": str(err)}
        result["theory"] = theory
    return result


def point_task(mu: float, sigma: float, params: dict, theory: str = DEFAULT_THEORY) -> Task:
    """The store task for one theory working point."""
    frequencies = analysis_frequencies(params)
    return Task(
        kind="theory",
        key=point_key(mu, sigma, params["network"], frequencies, theory),
        func=analyze_point_or_report,
        kwargs={
            "mu": mu,
            "sigma": sigma,
            "network": params["network"],
            "frequencies": frequencies,
            "theory": theory,
        },
        label=f"theory ({theory}) mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV",
    )


def run_points(
    points: list[tuple[float, float]],
    params: dict,
    store: ResultStore | None = None,
    workers: int | None = None,
    progress: bool = True,
    client=None,
    theory: str = DEFAULT_THEORY,
) -> list[dict]:
    """Theory results (see :func:`analyze_point`) for (mu, sigma) pairs in V.

    ``theory`` selects the computation path ("fast" or "nnmt").
    """
    check_theory(theory)
    store = store or ResultStore()
    tasks = [point_task(mu, sigma, params, theory) for mu, sigma in points]
    return run_tasks(tasks, store, workers, "theory", progress, client)


def run_scan(
    params: dict,
    store: ResultStore | None = None,
    workers: int | None = None,
    progress: bool = True,
    client=None,
    points: list[tuple[float, float]] | None = None,
    theory: str = DEFAULT_THEORY,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan the grid of ``params['scan']`` (or the given points).

    ``theory`` selects the computation path ("fast" or "nnmt").

    Returns
    -------
    scan : DataFrame
        One row per working point, see :func:`scan_table`.
    transfer : DataFrame
        Long format, one row per working point and frequency, see
        :func:`transfer_table`.
    """
    points = scan_points(params) if points is None else points
    results = run_points(points, params, store, workers, progress, client, theory)
    return scan_table(results), transfer_table(results)


def _first(value) -> float:
    """The value of the first population (the seed stores only that one)."""
    return float(np.ravel(value)[0])


def scan_table(results: list[dict]) -> pd.DataFrame:
    """One row per working point; units in the column names.

    Columns: mu_mV, sigma_mV, status, error, theory (computation path),
    nu_ext_exc_hz, nu_ext_inh_hz, rate_hz, rate_exc_hz, rate_inh_hz, mu_realized_mV,
    sigma_realized_mV,
    cv, dnu_dmu_hz_per_mV, tau_rate_ms, W_rate, W_rate_inh, h0_hz_per_mV,
    fit_error. Rates, inputs and fits are those of the first population
    (all populations are equal in this model; ``rate_inh_hz`` shows the
    second).
    """
    rows = []
    for r in results:
        row = {"mu_mV": r["mu"] * 1e3, "sigma_mV": r["sigma"] * 1e3}
        row["status"], row["error"] = r["status"], r["error"]
        row["theory"] = r.get("theory", "nnmt")
        if r["status"] == "ok":
            rates = np.ravel(r["firing_rates"])
            row.update(
                nu_ext_exc_hz=float(r["nu_ext"][0]),
                nu_ext_inh_hz=float(r["nu_ext"][1]),
                rate_hz=float(rates[0]),
                rate_exc_hz=float(rates[0]),
                rate_inh_hz=float(rates[-1]),
                mu_realized_mV=_first(r["mean_input"]) * 1e3,
                sigma_realized_mV=_first(r["std_input"]) * 1e3,
                cv=_first(r["cv"]),
                dnu_dmu_hz_per_mV=_first(r["rate_slope"]) * 1e-3,
                tau_rate_ms=_first(r["tau_rate"]) * 1e3,
                W_rate=float(r["W_rate"][0, 0]),
                W_rate_inh=float(r["W_rate"][0, 1]),
                h0_hz_per_mV=_first(r["h0"]) * 1e-3,
                fit_error=_first(r["fit_error"]),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def transfer_table(results: list[dict]) -> pd.DataFrame:
    """Transfer function and its low-pass fit, long format, in Hz/mV.

    Columns: mu_mV, sigma_mV, frequency_hz, tf_re_hz_per_mV,
    tf_im_hz_per_mV, fit_re_hz_per_mV, fit_im_hz_per_mV (first population).
    """
    frames = []
    for r in results:
        if r["status"] != "ok":
            continue
        tf = np.asarray(r["transfer_function"])[:, 0] * 1e-3
        fit = np.asarray(r["transfer_function_fit"])[:, 0] * 1e-3
        frames.append(
            pd.DataFrame(
                {
                    "mu_mV": r["mu"] * 1e3,
                    "sigma_mV": r["sigma"] * 1e3,
                    "frequency_hz": r["frequencies"],
                    "tf_re_hz_per_mV": tf.real,
                    "tf_im_hz_per_mV": tf.imag,
                    "fit_re_hz_per_mV": fit.real,
                    "fit_im_hz_per_mV": fit.imag,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
