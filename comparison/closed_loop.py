"""Closed-loop comparison rows: spectra, their shape, CV and instability onset.

Rows have the columns of :data:`mfval.comparison.metrics.COLUMNS` and the test of
:func:`mfval.comparison.checks.row_test`: z = (|sim - expected| - allowance)+ / sigma
and its two-sided p-value; the verdicts come from the family-wise procedure over
the whole table (:func:`mfval.comparison.aggregate.family_wise_verdicts`, applied
by the pipeline after these rows are added). The expectation of the spectrum, shape
and CV rows (:func:`spectrum_rows`) is the theory plus its expected deviation,
calibrated by ``mfval calibrate --closed-loop`` on Brian2 and NEST
(:func:`closed_loop_measurements` is what the calibration records); sigma combines
the run's SE and the calibration's. The allowances are a priori
(``params/closed_loop.yaml``), none is taken from a closed-loop simulation. A row
without an expected deviation is reported, not judged.

Quantities:

- ``psd`` / ``psd_rate_model`` / ``psd_semi_empirical``: the simulated
  two-sided PSD of each population's averaged rate (1/s) at the check
  frequencies against nnmt's LIF theory, the fitted rate model (same
  delay), and the linear-response formula with the open-loop measured N
  (only inside its measured frequencies; not calibrated, so not judged);
- kind ``chi2`` of ``psd`` / ``psd_rate_model``: the whole spectrum (every bin
  of ``chi2_band``) with the bin-to-bin correlation of the tapered estimator
  (:func:`correlated_chi2`);
- ``psd_aggregate`` / ``psd_rate_model_aggregate``: the mean PSD over the
  aggregate band (one row per spectrum);
- ``psd_centroid`` / ``psd_peak``: centroid and interpolated peak frequency of the
  resonance band (Hz), which see a shifted or sharpened resonance;
- ``cv``: CV of the pooled inter-spike intervals against nnmt's ``cvs``;
- ``closed_loop_rate``: the firing rate pooled over the chunks (SE from their spread);
- ``onset_g`` / ``onset_f``: the measured onset of the oscillatory
  instability (``mfval sweep``) against each prediction (a priori allowances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_distribution

from mfval.comparison.checks import VERDICT_NOT_JUDGED, row_test
from mfval.comparison.metrics import COLUMNS
from mfval.config import (
    ParameterError,
    Spec,
    default_params_path,
    mapping,
    number,
    read_yaml,
)
from mfval.config import quantity as si_quantity
from mfval.theory.spectra import model_spectrum, theory_spectra_table

PSD_TERMS = (
    "relative",
    "tf_amplitude_below_25hz",
    "tf_amplitude_above_25hz",
    "tf_phase_above_25hz_deg",
)


#: closed-loop quantities with calibrated expected deviations (``mfval calibrate --closed-loop``)
CLOSED_LOOP_QUANTITIES = (
    "psd",
    "psd_rate_model",
    "psd_semi_empirical",
    "psd_aggregate",
    "psd_rate_model_aggregate",
    "psd_centroid",
    "psd_peak",
    "cv",
    "closed_loop_rate",
)

#: top-level sections of ``params/closed_loop.yaml`` and the keys of its nested sections
CLOSED_LOOP_SECTIONS = (
    "k",
    "simulation",
    "semi_empirical_judged_below_hz",
    "sweep",
    "check_frequencies",
    "chi2_band",
    "allowances",
)
CLOSED_LOOP_KEYS = {
    "simulation": ("duration", "sweep_duration", "semi_empirical_frequencies"),
    "sweep": ("stable_rate_relative",),
    "allowances": ("psd", "shape", "cv", "rate", "onset"),
    "allowances.psd": (*PSD_TERMS, "justification"),
    "allowances.shape": ("centroid", "peak", "justification"),
    "allowances.cv": ("relative", "justification"),
    "allowances.rate": ("relative", "justification"),
    "allowances.onset": ("justification",),
}


def load_closed_loop_config(path: str | Path | None = None) -> dict:
    """Read ``params/closed_loop.yaml`` into plain SI data.

    Returns
    -------
    dict: ``k``, ``duration``, ``sweep_duration`` (s; measured time, split into chunks
    of the network protocol's duration, :func:`mfval.simulation.closed_loop.closed_loop_specs`),
    ``semi_empirical_frequencies``, ``check_frequencies``, ``chi2_band`` (Hz),
    ``psd`` (dict of :data:`PSD_TERMS`), ``centroid_hz``, ``peak_hz`` (Hz),
    ``cv_relative``, ``rate_relative``, ``source``.

    Raises
    ------
    ParameterError
        Naming the file, the key and the value (also for an unknown, e.g.
        misspelled, section or key).
    """
    path = Path(path) if path is not None else default_params_path("closed_loop.yaml")
    raw = read_yaml(path, CLOSED_LOOP_SECTIONS)

    def section(key: str, parent: dict) -> dict:
        return mapping(path, key, parent.get(key.rsplit(".", 1)[-1]), CLOSED_LOOP_KEYS[key])

    sim = section("simulation", raw)
    allow = section("allowances", raw)
    positive = {unit: Spec(unit, "any", "positive") for unit in ("s", "Hz")}
    out = {"source": str(path), "k": number(path, "k", raw.get("k"))}
    for key in ("duration", "sweep_duration"):
        out[key] = si_quantity(path, f"simulation.{key}", sim.get(key), positive["s"])
    out["semi_empirical_frequencies"] = np.atleast_1d(
        si_quantity(
            path,
            "simulation.semi_empirical_frequencies",
            sim.get("semi_empirical_frequencies"),
            positive["Hz"],
        )
    )
    out["check_frequencies"] = np.atleast_1d(
        si_quantity(path, "check_frequencies", raw.get("check_frequencies"), positive["Hz"])
    )
    band = np.atleast_1d(si_quantity(path, "chi2_band", raw.get("chi2_band"), positive["Hz"]))
    if band.shape != (2,) or not band[0] < band[1]:
        raise ParameterError(path, "chi2_band", band.tolist(), "expected [F1, F2] with F1 < F2")
    out["chi2_band"] = (float(band[0]), float(band[1]))
    shape = section("allowances.shape", allow)
    for key in ("centroid", "peak"):
        out[f"{key}_hz"] = float(
            si_quantity(
                path, f"allowances.shape.{key}", shape.get(key), Spec("Hz", "scalar", "nonnegative")
            )
        )
    psd = section("allowances.psd", allow)
    out["psd"] = {t: number(path, f"allowances.psd.{t}", psd.get(t)) for t in PSD_TERMS}
    out["semi_judged_below_hz"] = number(
        path, "semi_empirical_judged_below_hz", raw.get("semi_empirical_judged_below_hz")
    )
    sweep = section("sweep", raw)
    out["stable_rate_relative"] = number(
        path, "sweep.stable_rate_relative", sweep.get("stable_rate_relative")
    )
    cv = section("allowances.cv", allow)
    out["cv_relative"] = number(path, "allowances.cv.relative", cv.get("relative"))
    rate = section("allowances.rate", allow)
    out["rate_relative"] = number(path, "allowances.rate.relative", rate.get("relative"))
    for name in ("psd", "shape", "cv", "rate", "onset"):
        if not str(section(f"allowances.{name}", allow).get("justification", "")).strip():
            raise ParameterError(path, f"allowances.{name}.justification", None, "missing")
    return out


def transfer_bounds(frequencies, psd_config: dict) -> tuple[np.ndarray, np.ndarray]:
    """Largest relative amplitude excess and phase advance (rad) of N at each frequency."""
    f = np.asarray(frequencies, float)
    high = f > 25.0
    a_max = np.where(
        high, psd_config["tf_amplitude_above_25hz"], psd_config["tf_amplitude_below_25hz"]
    )
    phi_max = np.where(high, np.radians(psd_config["tf_phase_above_25hz_deg"]), 0.0)
    return a_max, phi_max


def _row(
    *,
    mu_mV,
    sigma_mV,
    quantity,
    population,
    unit,
    theory,
    simulation,
    se,
    allowance,
    frequency_hz=math.nan,
    theory_rate_hz=math.nan,
    not_judged: str = "",
    dof: float | None = None,
    scale: str = "relative",
    expected_deviation: float = 0.0,
    expected_deviation_se: float = 0.0,
    record: str = "a priori (params/closed_loop.yaml)",
) -> dict:
    """One closed-loop row: measured deviation, z and p against the expectation (no verdict yet).

    The expectation is ``theory (1 + expected_deviation)`` (``scale`` relative) or
    ``theory + expected_deviation`` (absolute), its SE ``expected_deviation_se`` on
    that scale (combined with ``se`` into ``sigma``). ``not_judged``: the reason why
    the row is reported without a verdict. ``dof``: degrees of freedom of an SE
    estimated over few independent units (chunks; Student's t p-value,
    :func:`mfval.comparison.checks.row_test`).
    """
    theory, simulation, se = float(theory), float(simulation), float(se)
    d, d_se = float(expected_deviation), float(expected_deviation_se)
    if scale == "relative":
        expected, cal_se = theory * (1 + d), abs(theory) * d_se
        deviation = simulation / theory - 1 if theory else math.nan
        deviation_se = se / abs(theory) if theory else math.nan
    else:
        expected, cal_se = theory + d, d_se
        deviation, deviation_se = simulation - theory, se
    sigma = math.hypot(se, cal_se)
    difference = simulation - expected
    z, p = row_test(difference, sigma, float(allowance), dof)
    row = {c: math.nan for c in COLUMNS}
    row.update(
        kind="point",
        mu_mV=float(mu_mV),
        sigma_mV=float(sigma_mV),
        quantity=quantity,
        population=population,
        frequency_hz=float(frequency_hz),
        unit=unit,
        theory=theory,
        simulation=simulation,
        se=se,
        correction=0.0,
        scale=scale,
        deviation=deviation,
        deviation_se=deviation_se,
        theory_rate_hz=float(theory_rate_hz),
        nnmt_fit="",
        expected_deviation=d,
        expected_deviation_se=d_se,
        expected=expected,
        allowance=float(allowance),
        sigma=sigma,
        difference=difference,
        z=z,
        p_value=p,
        verdict=VERDICT_NOT_JUDGED if not_judged else "",
        reason=not_judged,
        record=record,
        dof=math.nan if dof is None else float(dof),
    )
    return row


def chunk_dof(stats: pd.DataFrame) -> float | None:
    """Degrees of freedom of the chunk-based SEs of a closed-loop measurement (n_chunks - 1).

    None for one chunk (its SEs come from its many segments, normal p-values).
    """
    if "n_chunks" not in stats:
        return None
    n = int(stats["n_chunks"].iloc[0])
    return float(n - 1) if n >= 2 else None


def judged_table(rows: list[dict]) -> pd.DataFrame:
    """Closed-loop rows with family-wise verdicts (Holm at ``params/validation.yaml``'s level)."""
    from mfval.comparison.aggregate import family_wise_verdicts
    from mfval.comparison.checks import load_validation

    table = pd.DataFrame(rows, columns=COLUMNS)
    return family_wise_verdicts(table, load_validation().family_wise_alpha).reindex(columns=COLUMNS)


def _predictions(point, network, transfer, mu_mV, sigma_mV) -> list[tuple[str, str, dict]]:
    """(model, quantity, prediction) of every spectrum model at this point.

    ``prediction``: ``psd`` and ``se`` (1/s, (n_freq, n_pop); the SE is that of
    the semi-empirical prediction, which uses the run's measured N; 0 otherwise).
    """
    out = []
    for model, quantity in (("lif", "psd"), ("rate", "psd_rate_model")):
        theory = model_spectrum(point, network, model)
        out.append((model, quantity, {"psd": theory, "se": np.zeros_like(theory)}))
    semi = semi_empirical_prediction(point, network, transfer, mu_mV, sigma_mV)
    if semi is not None:
        out.append(("semi", "psd_semi_empirical", semi))
    return out


def _sim_index(f_sim: np.ndarray, f_th: np.ndarray, f: float) -> tuple[int, int]:
    """Indices of the simulated bin nearest to ``f`` and of the theory at that bin."""
    i_sim = int(np.argmin(np.abs(f_sim - f)))
    i_th = int(np.argmin(np.abs(f_th - f_sim[i_sim])))
    if abs(f_th[i_th] - f_sim[i_sim]) > 1e-6 * max(1.0, f):
        raise ValueError(f"theory has no value at the simulated frequency {f_sim[i_sim]} Hz")
    return i_sim, i_th


def closed_loop_measurements(
    spectra: pd.DataFrame,
    stats: pd.DataFrame,
    point: dict,
    network: dict,
    config: dict,
    transfer: pd.DataFrame | None = None,
    aggregate_band=(10.0, 300.0),
    shape_band=(100.0, 400.0),
    bin_correlation=None,
) -> list[dict]:
    """Every closed-loop measured value with its theory, before any expectation (pure).

    One dict per quantity, population and frequency: ``quantity``, ``population``,
    ``frequency_hz`` (nan for a value without frequency), ``unit``, ``scale``
    (:data:`mfval.comparison.calibration.SCALES`), ``theory``, ``simulation``,
    ``se`` (SE of the simulation and, for the semi-empirical spectrum, of its
    prediction), ``theory_rate_hz``. Quantities: ``psd``, ``psd_rate_model``,
    ``psd_semi_empirical`` at every simulated bin of ``config['chi2_band']`` (where the
    prediction is finite), their band means ``psd_aggregate`` and
    ``psd_rate_model_aggregate`` over ``aggregate_band``, the centroid
    ``psd_centroid`` and interpolated peak frequency ``psd_peak`` (Hz) of the LIF
    spectrum over ``shape_band``, ``cv`` and ``closed_loop_rate`` (the rate pooled
    over the chunks, 10 times the network protocol's time at this point).
    ``mfval calibrate --closed-loop`` records their deviations; :func:`spectrum_rows`
    judges them.

    Standard errors of the simulated spectrum (``psd``, ``psd_rate_model``, their band
    means and the centroid): from the relative SE pooled over the bins of
    ``chi2_band`` (:func:`pooled_relative_se`), with the estimator's bin-to-bin
    correlation ``bin_correlation`` (lag 0, 1, ...; None: independent bins) for the
    band mean and the centroid (delta method); ``dof`` None (known SE, normal
    p-values). The delta method misses variations common to all bins of a chunk
    (e.g. its realization's rate): at the calibration seed the jackknife over the
    chunks gave 10-25 % larger SEs for the band mean and the centroid, so these two
    take the larger of both (the jackknife alone, with n_chunks - 1 degrees of
    freedom, is too noisy for a normal p-value; per bin the common part adds
    about 4 % to the variance and is neglected). The relative SE of a periodogram
    ordinate does not depend on the spectrum's level (exponentially distributed
    for a Gaussian process), so the
    pooled value, estimated over many bins and chunks, replaces the per-bin
    estimates from the n_chunks chunks (measured at the calibration seed: per-bin
    relative SEs 4-10 % around a common 6.7 %, the spread expected of SEs with 19
    degrees of freedom). Each dict also carries ``rel_se`` (that pooled relative SE,
    nan where not used) and ``dof`` (degrees of freedom of ``se``; None: normal).
    The semi-empirical spectrum (whose prediction carries the SE of the measured
    N), the peak frequency and the CV keep their SEs from the spread between
    chunks (``dof`` n_chunks - 1).
    """
    from mfval.simulation.estimators.spectra import peak_frequency, spectral_centroid

    f_th = np.asarray(point["frequencies"], float)
    names = list(stats["population"])
    mu_mV, sigma_mV = float(stats["mu_mV"].iloc[0]), float(stats["sigma_mV"].iloc[0])
    lo, hi = config["chi2_band"]
    dof = chunk_dof(stats)
    rho = np.ones(1) if bin_correlation is None else np.asarray(bin_correlation, float)
    out = []
    for model, quantity, pred in _predictions(point, network, transfer, mu_mV, sigma_mV):
        theory, se_th = pred["psd"], pred["se"]
        for p, name in enumerate(names):
            sim = spectra[spectra["population"] == name]
            f_sim = sim["frequency_hz"].to_numpy()
            psd = sim["psd_per_s"].to_numpy(float)
            r = pooled_relative_se(sim, config["chi2_band"])
            common = {"population": name, "theory_rate_hz": float(point["firing_rates"][p])}
            for f in f_sim[(f_sim >= lo) & (f_sim <= hi)]:
                i_sim, i_th = _sim_index(f_sim, f_th, f)
                if not np.isfinite(theory[i_th, p]):
                    continue  # semi-empirical: outside the measured frequencies
                semi = model == "semi"
                out.append(
                    dict(
                        quantity=quantity,
                        frequency_hz=float(f_sim[i_sim]),
                        unit="1/s",
                        scale="relative",
                        theory=float(theory[i_th, p]),
                        simulation=float(psd[i_sim]),
                        se=math.hypot(sim["psd_se_per_s"].iloc[i_sim], se_th[i_th, p])
                        if semi
                        else r * float(psd[i_sim]),
                        rel_se=math.nan if semi else r,
                        dof=dof if semi else None,
                        **common,
                    )
                )
            if model == "semi":
                continue
            band = (f_th >= aggregate_band[0]) & (f_th <= aggregate_band[1])
            sel = (f_sim >= aggregate_band[0]) & (f_sim <= aggregate_band[1])
            st = stats[stats["population"] == name].iloc[0]
            if np.all(np.isfinite(theory[band, p])):
                weights = np.full(int(sel.sum()), 1.0 / sel.sum())
                out.append(
                    dict(
                        quantity=quantity + "_aggregate",
                        frequency_hz=math.nan,
                        unit="1/s",
                        scale="relative",
                        theory=float(theory[band, p].mean()),
                        simulation=float(st["psd_aggregate_per_s"]),
                        se=max(
                            linear_se(weights, r * psd[sel], rho),
                            float(st["psd_aggregate_se_per_s"]),
                        ),
                        rel_se=r,
                        dof=None,
                        **common,
                    )
                )
            if model == "lif":
                shape = (f_sim >= shape_band[0]) & (f_sim <= shape_band[1])
                centroid = float(spectral_centroid(psd, f_sim, shape_band))
                gradient = (f_sim[shape] - centroid) / psd[shape].sum()
                out.append(
                    dict(
                        quantity="psd_centroid",
                        frequency_hz=math.nan,
                        unit="Hz",
                        scale="absolute",
                        theory=float(spectral_centroid(theory[:, p], f_th, shape_band)),
                        simulation=float(st["centroid_hz"]),
                        se=max(
                            linear_se(gradient, r * psd[shape], rho),
                            float(st["centroid_se_hz"]),
                        ),
                        rel_se=r,
                        dof=None,
                        **common,
                    )
                )
                df = float(np.median(np.diff(f_sim)))
                out.append(
                    dict(
                        quantity="psd_peak",
                        frequency_hz=math.nan,
                        unit="Hz",
                        scale="absolute",
                        theory=float(peak_frequency(theory[:, p], f_th, shape_band)),
                        simulation=float(st["peak_fit_hz"]),
                        # at least the resolution of a bin (the jackknife is 0 when every
                        # replicate has its maximum in the same bin)
                        se=max(float(st["peak_fit_se_hz"]), df / math.sqrt(12)),
                        rel_se=math.nan,
                        dof=dof,
                        **common,
                    )
                )
    for p, name in enumerate(names):
        st = stats[stats["population"] == name].iloc[0]
        out.append(
            dict(
                quantity="cv",
                population=name,
                frequency_hz=math.nan,
                unit="1",
                scale="relative",
                theory=float(point["cv"][p]),
                simulation=float(st["cv"]),
                se=float(st["cv_se"]),
                rel_se=math.nan,
                dof=dof,
                theory_rate_hz=float(point["firing_rates"][p]),
            )
        )
        out.append(
            dict(
                quantity="closed_loop_rate",
                population=name,
                frequency_hz=math.nan,
                unit="Hz",
                scale="relative",
                theory=float(point["firing_rates"][p]),
                simulation=float(st["rate_hz"]),
                se=float(st["rate_se_hz"]),
                rel_se=math.nan,
                dof=dof,
                theory_rate_hz=float(point["firing_rates"][p]),
            )
        )
    for m in out:
        m.update(mu_mV=mu_mV, sigma_mV=sigma_mV)
    return out


def pooled_relative_se(spectrum: pd.DataFrame, band) -> float:
    """Relative SE of one population's spectrum pooled over the bins of ``band`` (Hz).

    sqrt(mean over the bins of (psd_se / psd)^2): the per-bin SEs (spread between
    chunks) are estimates with n_chunks - 1 degrees of freedom each; their pool has
    about n_bins times more (see :func:`closed_loop_measurements`).
    """
    f = spectrum["frequency_hz"].to_numpy(float)
    sel = (f >= band[0]) & (f <= band[1])
    ratio = (
        spectrum["psd_se_per_s"].to_numpy(float)[sel] / spectrum["psd_per_s"].to_numpy(float)[sel]
    )
    if not sel.any() or not np.all(np.isfinite(ratio)):
        raise ValueError(f"no finite spectrum SEs in the band {tuple(band)} Hz")
    return float(np.sqrt(np.mean(ratio**2)))


def bin_correlation_matrix(n: int, correlation) -> np.ndarray:
    """(n, n) correlation of n adjacent spectrum bins from the correlation by lag."""
    rho = np.asarray(correlation, float)
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return np.where(lag < rho.size, rho[np.minimum(lag, rho.size - 1)], 0.0)


def linear_se(weights, se, correlation) -> float:
    """SE of sum_i weights_i x_i for adjacent bins x_i with SEs ``se`` and bin correlation."""
    w = np.asarray(weights, float) * np.asarray(se, float)
    return float(math.sqrt(w @ bin_correlation_matrix(w.size, correlation) @ w))


def measured_deviation_rows(measurements: list[dict]) -> pd.DataFrame:
    """Deviation entries (value and SE per key) of :func:`closed_loop_measurements`.

    Columns as :func:`mfval.comparison.calibration.measured_deviations`: relative
    ``sim / theory - 1`` or absolute ``sim - theory`` with its SE.
    """
    from mfval.comparison.calibration import KEY_COLUMNS

    rows = []
    for m in measurements:
        relative = m["scale"] == "relative"
        rows.append(
            {
                **{c: m[c] for c in KEY_COLUMNS},
                "scale": m["scale"],
                "deviation": m["simulation"] / m["theory"] - 1
                if relative
                else m["simulation"] - m["theory"],
                "se": m["se"] / abs(m["theory"]) if relative else m["se"],
            }
        )
    return pd.DataFrame(rows, columns=[*KEY_COLUMNS, "scale", "deviation", "se"])


def allowance_of(quantity: str, expected: float, config: dict) -> float:
    """A-priori allowance of a calibrated closed-loop row (``params/closed_loop.yaml``)."""
    if quantity == "cv":
        return config["cv_relative"] * abs(expected)
    if quantity == "closed_loop_rate":
        return config["rate_relative"] * abs(expected)
    if quantity == "psd_centroid":
        return config["centroid_hz"]
    if quantity == "psd_peak":
        return config["peak_hz"]
    return config["psd"]["relative"] * abs(expected)


def correlated_chi2(
    residual, allowance, se_run, se_cal, correlation, dof: float | None = None
) -> tuple[float, float, int]:
    """Chi-square of a spectrum's residuals with the estimator's bin-to-bin correlation.

    Parameters
    ----------
    residual : array (n,)
        sim - expected at n adjacent spectrum bins, 1/s.
    allowance : array (n,)
        A-priori allowance per bin, 1/s: each residual is shrunk towards 0 by it
        (sign kept).
    se_run, se_cal : array (n,)
        SE of the simulation (from ``dof`` + 1 chunks) and of the expectation
        (calibration), 1/s.
    correlation : array
        Correlation of bins 0, 1, 2, ... apart (lag 0 first), the same for both
        estimates (same estimator,
        :func:`mfval.simulation.estimators.spectra.periodogram_bin_correlation`).
    dof : float, optional
        Degrees of freedom of ``se_run``; None for a known SE.

    Returns
    -------
    (chi2, p, n): ``chi2 = e^T C^-1 e`` with the shrunk residuals e and
    ``C = R o (s s^T + c c^T)`` (R the correlation by lag), and its p-value. With
    ``dof`` the whitened terms are t-like: each term's effective degrees of freedom
    (Welch-Satterthwaite, the calibration's SE taken as known) give its mean and
    variance, and chi2 / c is referred to a chi-square with k degrees of freedom of
    the same mean and variance (Satterthwaite), which keeps the false-alarm rate
    where an SE estimated from few chunks would inflate it.
    """
    r = np.asarray(residual, float)
    a = np.asarray(allowance, float)
    s, c = np.asarray(se_run, float), np.asarray(se_cal, float)
    n = r.size
    e = np.sign(r) * np.maximum(np.abs(r) - a, 0.0)
    R = bin_correlation_matrix(n, correlation)
    C = R * (np.outer(s, s) + np.outer(c, c))
    chi2 = float(e @ np.linalg.solve(C, e))
    if dof is None or not math.isfinite(dof):
        return chi2, float(chi2_distribution.sf(chi2, n)), n
    nu = dof * ((s**2 + c**2) / np.maximum(s**2, 1e-300)) ** 2
    nu = np.maximum(nu, 4.5)  # t^2 has a finite variance for nu > 4
    mean = nu / (nu - 2)
    var = 2 * nu**2 * (nu - 1) / ((nu - 2) ** 2 * (nu - 4))
    scale = var.sum() / (2 * mean.sum())
    k = mean.sum() / scale
    return chi2, float(chi2_distribution.sf(chi2 / scale, k)), n


def spectrum_rows(
    spectra: pd.DataFrame,
    stats: pd.DataFrame,
    point: dict,
    network: dict,
    config: dict,
    aggregate_band=(10.0, 300.0),
    transfer: pd.DataFrame | None = None,
    expected=None,
    bin_correlation=None,
    shape_band=(100.0, 400.0),
) -> list[dict]:
    """Pointwise, aggregate and shape checks of the spectra, and the CV checks, at one point.

    Every row's expectation is the theory plus its calibrated expected deviation
    (``expected``, :class:`mfval.comparison.calibration.ExpectedDeviations`, from
    ``mfval calibrate --closed-loop``); a row without one is not judged (with the
    reason). Rows (per population):

    - ``psd``, ``psd_rate_model``, ``psd_semi_empirical`` at the check frequencies
      (the semi-empirical one, not calibrated by ``mfval calibrate --closed-loop``, is
      reported without a verdict; with an expected deviation it would be judged below
      ``semi_empirical_judged_below_hz``);
    - ``psd_aggregate``, ``psd_rate_model_aggregate``: the mean PSD over
      ``aggregate_band``;
    - kind ``chi2`` of ``psd`` and ``psd_rate_model``: :func:`correlated_chi2` over every
      bin of ``config['chi2_band']`` (needs ``bin_correlation``);
    - ``psd_centroid``, ``psd_peak``: centroid and interpolated peak frequency of the
      LIF spectrum over ``shape_band`` (Hz), which a shifted or sharpened resonance moves
      while the band mean barely changes;
    - ``cv``.

    Parameters
    ----------
    spectra, stats : DataFrame
        From :func:`mfval.simulation.closed_loop.measure_closed_loop` (one point).
    point : dict
        :func:`mfval.theory.closed_loop.closed_loop_point` for ``network`` at the
        simulated frequencies (at least up to the largest check frequency).
    transfer : DataFrame, optional
        Open-loop simulation table holding this working point (semi-empirical rows).
    expected : ExpectedDeviations, optional
        Default: those of ``params/validation.yaml``.
    bin_correlation : array, optional
        Correlation of the spectrum's bins by lag (from
        :func:`mfval.simulation.closed_loop.closed_loop_tables`); no chi-square without it.
    """
    from mfval.comparison.calibration import NotCalibrated

    if expected is None:
        from mfval.comparison.checks import load_validation

        expected = load_validation().expected
    measured = closed_loop_measurements(
        spectra,
        stats,
        point,
        network,
        config,
        transfer,
        aggregate_band,
        shape_band,
        bin_correlation,
    )
    f_sim = np.unique(spectra["frequency_hz"].to_numpy(float))
    check_bins = {float(f_sim[np.argmin(np.abs(f_sim - f))]) for f in config["check_frequencies"]}
    rows, chi2_groups = [], {}
    for m in measured:
        try:
            d, d_se, record = expected.lookup(
                m["quantity"], m["population"], m["mu_mV"], m["sigma_mV"], m["frequency_hz"]
            )
            not_judged = ""
        except NotCalibrated as err:
            d, d_se, record, not_judged = 0.0, 0.0, "", f"not calibrated: {err}"
        if m["quantity"] == "psd_peak" and not not_judged:
            lo, hi = shape_band
            if min(m["theory"] - lo, hi - m["theory"]) < 1e-6 * hi:
                not_judged = (
                    f"the theory's spectrum has no peak inside {lo:g}-{hi:g} Hz (its maximum "
                    "lies at the band's edge)"
                )
        if m["quantity"] in ("psd", "psd_rate_model") and not not_judged:
            chi2_groups.setdefault((m["quantity"], m["population"]), []).append(
                (m, d, d_se, record)
            )
        if math.isfinite(m["frequency_hz"]):
            if m["frequency_hz"] not in check_bins:
                continue  # only the check frequencies are judged one by one
            if (
                m["quantity"] == "psd_semi_empirical"
                and m["frequency_hz"] >= config["semi_judged_below_hz"]
                and not not_judged
            ):
                not_judged = (
                    "semi-empirical spectrum not judged at or above "
                    f"{config['semi_judged_below_hz']:g} Hz (params/closed_loop.yaml)"
                )
        exp_value = m["theory"] * (1 + d) if m["scale"] == "relative" else m["theory"] + d
        se = m["se"]
        if math.isfinite(m["frequency_hz"]) and math.isfinite(m["rel_se"]):
            se = m["rel_se"] * abs(exp_value)  # pooled relative SE at the expected level
        rows.append(
            _row(
                mu_mV=m["mu_mV"],
                sigma_mV=m["sigma_mV"],
                quantity=m["quantity"],
                population=m["population"],
                unit=m["unit"],
                theory=m["theory"],
                simulation=m["simulation"],
                se=se,
                allowance=allowance_of(m["quantity"], exp_value, config),
                frequency_hz=m["frequency_hz"],
                theory_rate_hz=m["theory_rate_hz"],
                not_judged=not_judged,
                dof=m["dof"],
                scale=m["scale"],
                expected_deviation=d,
                expected_deviation_se=d_se,
                record=record or "not calibrated",
            )
        )
    if bin_correlation is not None:
        for (quantity, population), group in chi2_groups.items():
            if len(group) < 2:
                continue
            theory = np.array([m["theory"] for m, *_ in group])
            d = np.array([x[1] for x in group])
            expected_psd = theory * (1 + d)
            sim = np.array([m["simulation"] for m, *_ in group])
            chi2, p, n = correlated_chi2(
                sim - expected_psd,
                np.array([allowance_of(quantity, x, config) for x in expected_psd]),
                np.array([m["rel_se"] for m, *_ in group]) * np.abs(expected_psd),
                np.abs(theory) * np.array([x[2] for x in group]),
                bin_correlation,
            )
            first = group[0][0]
            row = {c: math.nan for c in COLUMNS}
            row.update(
                kind="chi2",
                mu_mV=first["mu_mV"],
                sigma_mV=first["sigma_mV"],
                quantity=quantity,
                population=population,
                unit="1",
                scale="relative",
                n_points=n,
                chi2=chi2,
                dof=n,
                simulation=chi2 / n,
                p_value=p,
                verdict="",
                reason="",
                record=",".join(sorted({x[3] for x in group})),
            )
            rows.append(row)
    return rows


def measured_transfer(transfer: pd.DataFrame, mu_mV: float, sigma_mV: float):
    """(f, N, SE re, SE im, nnmt's N at f) in Hz and Hz/V from an open-loop table, or None."""
    if transfer is None or transfer.empty:
        return None
    sel = (
        np.isclose(transfer["mu_mV"], mu_mV)
        & np.isclose(transfer["sigma_mV"], sigma_mV)
        & (transfer["mode"] == "synaptic")
    )
    t = transfer[sel].sort_values("frequency_hz")
    if len(t) < 2:
        return None
    N = (t["tf_re_hz_per_mV"] + 1j * t["tf_im_hz_per_mV"]).to_numpy() * 1e3
    N_th = (
        t["theory_amp_hz_per_mV"].to_numpy()
        * 1e3
        * np.exp(1j * np.radians(t["theory_phase_deg"].to_numpy()))
    )
    return (
        t["frequency_hz"].to_numpy(),
        N,
        t["tf_re_se_hz_per_mV"].to_numpy() * 1e3,
        t["tf_im_se_hz_per_mV"].to_numpy() * 1e3,
        N_th,
    )


def semi_empirical_prediction(
    point: dict,
    network: dict,
    transfer: pd.DataFrame | None,
    mu_mV: float,
    sigma_mV: float,
    n_draws: int = 200,
    seed: int = 0,
) -> dict | None:
    """Spectrum predicted with the open-loop measured N (semi-empirical), or None.

    nnmt's linear-response formula with the transfer function measured in the
    open-loop protocol at the same working point (interpolated; nan outside
    the measured frequencies). Its statistical error is propagated by drawing
    N from its SEs (``n_draws``, ``seed``). ``interpolation`` is the a-priori
    interpolation error: the change of nnmt's own spectrum when its N is
    sampled at the measured frequencies and interpolated.

    Returns
    -------
    dict of arrays (1/s, (n_freq, n_pop)): ``psd``, ``se``, ``interpolation``.
    """
    from mfval.theory.closed_loop import semi_empirical_spectra

    data = measured_transfer(transfer, mu_mV, sigma_mV)
    if data is None:
        return None
    f_data, N, se_re, se_im, N_th = data
    f = np.asarray(point["frequencies"], float)
    rates = point["firing_rates"]
    psd = semi_empirical_spectra(f, f_data, N, rates, network)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            semi_empirical_spectra(
                f,
                f_data,
                N + rng.normal(size=N.size) * se_re + 1j * rng.normal(size=N.size) * se_im,
                rates,
                network,
            )
            for _ in range(int(n_draws))
        ]
    )
    exact = model_spectrum(point, network, "lif")
    interpolation = np.abs(semi_empirical_spectra(f, f_data, N_th, rates, network) - exact)
    return {"psd": psd, "se": draws.std(axis=0, ddof=1), "interpolation": interpolation}


def onset_rows(measured: dict, predictions: dict, mu_mV: float, sigma_mV: float):
    """Checks of the measured onset (g_c, f*) against each prediction.

    Parameters
    ----------
    measured : dict
        ``g_c``, ``g_c_se``, ``f_star`` (Hz), ``f_star_se`` (and optional
        systematic ``g_c_syst``, combined with the SEs).
    predictions : dict
        name -> dict with ``g_c``, ``f_star`` and the a-priori allowances
        ``g_c_allowance``, ``f_star_allowance`` (and optional SEs
        ``g_c_se``, ``f_star_se`` of a prediction that is itself measured).
    """
    rows = []
    for name, pred in predictions.items():
        for quantity, key, unit in (("onset_g", "g_c", "1"), ("onset_f", "f_star", "Hz")):
            se = math.hypot(
                measured[f"{key}_se"],
                measured.get(f"{key}_syst", 0.0) or 0.0,
                pred.get(f"{key}_se", 0.0) or 0.0,
            )
            rows.append(
                _row(
                    mu_mV=mu_mV,
                    sigma_mV=sigma_mV,
                    quantity=quantity,
                    population=name,
                    unit=unit,
                    theory=pred[key],
                    simulation=measured[key],
                    se=se,
                    allowance=pred.get(f"{key}_allowance", 0.0),
                )
            )
    return rows


#: highest frequency (Hz) of the theory spectra tables
THEORY_F_MAX = 1000.0


@dataclass
class ClosedLoopResult:
    """Tables of the stability-point spectra in ``mfval run``."""

    spectra: pd.DataFrame
    theory_spectra: pd.DataFrame
    stats: pd.DataFrame
    comparison: pd.DataFrame
    #: :func:`closed_loop_measurements` (what `mfval calibrate --closed-loop` records)
    measurements: list = field(default_factory=list)


class ClosedLoopRun:
    """The stability-point spectra of ``mfval run``: tasks first, then :meth:`finish`.

    The theory (one store task) is computed on construction; the simulation
    tasks (:attr:`simulation_tasks`, one per chunk of
    :func:`mfval.simulation.closed_loop.closed_loop_tasks`: the closed-loop
    ``duration`` of ``params/closed_loop.yaml`` split into independent chunks
    with the network protocol's warm-up and duration, so that they run on its
    compiled binary and in parallel) run with the other simulations of the
    run; :meth:`finish` pools them and builds the comparison rows.
    ``settings.closed_loop_options`` may hold ``quick`` (a quarter of the
    chunks, at least 2) and options of
    :func:`mfval.simulation.closed_loop.closed_loop_tasks`.
    """

    def __init__(
        self,
        params,
        settings,
        store,
        workers=None,
        progress=True,
        client=None,
        config: dict | None = None,
        simulator: str = "brian2",
        expected=None,
    ):
        from mfval.comparison.planted import plant_options
        from mfval.simulation.closed_loop.measure import DEFAULT_MEASURE
        from mfval.simulation.closed_loop.spec import chunk_count
        from mfval.simulation.closed_loop.tasks import closed_loop_tasks
        from mfval.tasks import run_tasks, task_seed
        from mfval.theory.closed_loop_tasks import closed_loop_theory_task, spectrum_frequencies

        self.params = params
        self.config = config or load_closed_loop_config()
        #: expected deviations (None: those of params/validation.yaml, read in finish)
        self.expected = expected
        mu, sigma = settings.closed_loop_point
        options = dict(settings.closed_loop_options)
        quick = bool(options.pop("quick", False))
        sim = params["simulation"]
        chunk = float(options.get("chunk_duration", sim["network_duration"]))
        if "duration" not in options:
            n = chunk_count(self.config["duration"], chunk, float(sim["dt"]))
            options["duration"] = chunk * (max(2, n // 4) if quick else n)
        options.update(plant_options(settings.planted, "closed_loop", mu, sigma))
        options.setdefault("simulator", simulator)
        run_seed = params["simulation"]["seed"] if settings.seed is None else settings.seed
        seed = task_seed(run_seed, "closed_loop", mu, sigma)
        self.chunks = closed_loop_tasks(mu, sigma, params, seed, **options)
        self.simulation_tasks = self.chunks.tasks
        freqs = spectrum_frequencies(DEFAULT_MEASURE["segment"], THEORY_F_MAX)
        task = closed_loop_theory_task(mu, sigma, params, freqs)
        self.theory = run_tasks([task], store, workers, "closed-loop theory", progress, client)[0]

    def finish(self, results: list, transfer: pd.DataFrame | None = None) -> ClosedLoopResult:
        from mfval.simulation.closed_loop.measure import DEFAULT_MEASURE
        from mfval.theory.closed_loop import relative_inhibition

        tables = self.chunks.tables(results)
        network = self.params["network"]
        g = relative_inhibition(network)
        rows = spectrum_rows(
            tables["spectra"],
            tables["stats"],
            self.theory,
            network,
            self.config,
            DEFAULT_MEASURE["aggregate_band"],
            transfer,
            expected=self.expected,
            bin_correlation=tables["bin_correlation"],
            shape_band=DEFAULT_MEASURE["band"],
        )
        measurements = closed_loop_measurements(
            tables["spectra"],
            tables["stats"],
            self.theory,
            network,
            self.config,
            transfer,
            DEFAULT_MEASURE["aggregate_band"],
            DEFAULT_MEASURE["band"],
            tables["bin_correlation"],
        )
        return ClosedLoopResult(
            spectra=tables["spectra"],
            theory_spectra=theory_spectra_table(self.theory, network, g),
            stats=tables["stats"],
            measurements=measurements,
            # verdicts within this table; the pipeline judges it again as part of the run's
            # table (one family)
            comparison=judged_table(rows),
        )
