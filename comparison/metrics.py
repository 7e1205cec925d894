"""Theory-vs-simulation comparison rows, as pure functions of tidy tables.

Two steps, kept apart:

1. :func:`measurement_rows`: one row per working point, quantity, population
   and frequency with theory, simulation (corrected for known numerical
   effects, :func:`detection_latency`), its standard error and the measured
   deviation of the theory (``deviation``, ``deviation_se``, on the scale of
   :data:`mfval.comparison.calibration.SCALES`). This is the answer to "how large
   is the theory's error here?"; no verdict.
2. :func:`judge_rows`: the expectation (theory plus the calibrated expected
   deviation), the allowance, z and p of every row; rows outside the
   calibrated region are ``not judged`` with the reason. Aggregate rows and
   the family-wise verdicts follow (:mod:`mfval.comparison.aggregate`,
   :func:`mfval.comparison.checks.holm`); :func:`comparison_table` does all of it.

Rates also carry their error as an equivalent mean-input error,
``mu_equivalent_error_mV = (sim - theory) / (d nu / d mu)``, which makes
errors at low and high rates comparable.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mfval.comparison.angles import wrap_degrees
from mfval.comparison.calibration import SCALES, NotCalibrated
from mfval.comparison.checks import VERDICT_NOT_JUDGED, ValidationConfig, row_test
from mfval.config import stable_hash
from mfval.theory.mean_field import nnmt_arrays, transfer_function

#: columns of the measured rows (step 1)
MEASURED_COLUMNS = [
    "kind",
    "mu_mV",
    "sigma_mV",
    "quantity",
    "population",
    "frequency_hz",
    "unit",
    "theory",
    "simulation",
    "se",
    "correction",
    "scale",
    "deviation",
    "deviation_se",
    "mu_equivalent_error_mV",
    "theory_rate_hz",
    "nnmt_fit",
]

#: columns of the judged table (step 2 and the aggregates)
COLUMNS = [
    *MEASURED_COLUMNS,
    "expected_deviation",
    "expected_deviation_se",
    "expected",
    "allowance",
    "sigma",
    "difference",
    "z",
    "p_value",
    "p_holm",
    "bound",
    "verdict",
    "reason",
    "record",
    "n_points",
    "chi2",
    "dof",
]


def detection_latency(dt: float, simulator: str = "brian2") -> float:
    """Mean latency (s) of recorded spike times behind the modelled continuous-time crossing.

    Derivation for Brian2 (``when`` order: state update, then threshold):
    in the step labelled t_n the state update advances v from t_n to
    t_{n+1}; the threshold ``v + v_mod > V_th`` then combines v(t_{n+1})
    with v_mod evaluated at the clock time t_n, and the spike is recorded at
    t_n. The thresholded potential is thus U(t) = v(t) + v_mod(t - dt): the
    modulation reaches the threshold one step late (factor e^{-i w dt}). A
    crossing of U at continuous time tau is detected at the first grid time
    t_{n+1} >= tau, on average tau + dt/2 for crossings spread uniformly
    within a step, and recorded at t_n = t_{n+1} - dt, i.e. tau - dt/2
    (factor e^{+i w dt/2}). Together: the recorded response lags the
    continuous-time model by dt/2, N_recorded = N e^{-i w dt/2}, so the
    simulated phase is corrected by ``+ 360 f dt/2`` degrees (3.6 deg at
    200 Hz for dt = 0.1 ms). The amplitude is unchanged to O((w dt)^2).
    (NEST's ``iaf_psc_exp`` records the step end t_{n+1} at which the
    crossing is detected and applies input currents at the step start: also
    a dt/2 lag of the detected crossing.)

    Examples
    --------
    >>> detection_latency(1e-4)  # half a time step of 0.1 ms
    5e-05
    """
    if simulator not in ("brian2", "nest"):
        raise ValueError(f"no detection latency known for simulator = {simulator!r}")
    if not dt > 0:
        raise ValueError(f"dt must be positive, got dt = {dt!r} s")
    return dt / 2


def _point_row(scan: pd.DataFrame, mu_mV: float, sigma_mV: float) -> pd.Series:
    rows = scan[np.isclose(scan["mu_mV"], mu_mV) & np.isclose(scan["sigma_mV"], sigma_mV)]
    if rows.empty or rows.iloc[0]["status"] != "ok":
        raise KeyError(f"no feasible theory result for (mu, sigma) = ({mu_mV}, {sigma_mV}) mV")
    return rows.iloc[0]


def _measure(
    *,
    mu_mV: float,
    sigma_mV: float,
    quantity: str,
    unit: str,
    theory: float,
    simulation: float,
    se: float,
    theory_rate_hz: float,
    population: str = "",
    frequency_hz: float = math.nan,
    rate_slope_hz_per_mV: float = 0.0,
    difference: float | None = None,
    correction: float = 0.0,
) -> dict:
    """One measured row; ``difference`` overrides sim - theory (e.g. a wrapped phase)."""
    scale = SCALES[quantity]
    diff = simulation - theory if difference is None else difference
    if scale == "relative":
        deviation = diff / theory if theory else math.nan
        deviation_se = se / abs(theory) if theory else math.nan
    else:
        deviation, deviation_se = diff, se
    return {
        "kind": "point",
        "mu_mV": mu_mV,
        "sigma_mV": sigma_mV,
        "quantity": quantity,
        "population": population,
        "frequency_hz": frequency_hz,
        "unit": unit,
        "theory": theory,
        "simulation": simulation,
        "se": se,
        "correction": correction,
        "scale": scale,
        "deviation": deviation,
        "deviation_se": deviation_se,
        "mu_equivalent_error_mV": (
            diff / rate_slope_hz_per_mV if rate_slope_hz_per_mV else math.nan
        ),
        "theory_rate_hz": theory_rate_hz,
        "nnmt_fit": math.nan,
    }


def network_rows(network: pd.DataFrame, scan: pd.DataFrame) -> list[dict]:
    """Checks of network simulations: rate, realized mean and std of the input, per population.

    Parameters
    ----------
    network : DataFrame
        Rows of :func:`mfval.simulation.network.simulate_network` (one per point
        and population).
    scan : DataFrame
        Theory scan table (:func:`mfval.theory.scan.scan_table`).
    """
    rows = []
    for _, sim in network.iterrows():
        th = _point_row(scan, sim["mu_mV"], sim["sigma_mV"])
        pop = str(sim["population"])
        rate_column = "rate_exc_hz" if pop == "E" else "rate_inh_hz"
        theory_rate = float(th.get(rate_column, th["rate_hz"]))
        common = dict(
            mu_mV=float(sim["mu_mV"]),
            sigma_mV=float(sim["sigma_mV"]),
            population=pop,
            theory_rate_hz=theory_rate,
        )
        rows.append(
            _measure(
                quantity="rate",
                unit="Hz",
                theory=theory_rate,
                simulation=float(sim["rate_hz"]),
                se=float(sim["rate_se_hz"]),
                rate_slope_hz_per_mV=float(th["dnu_dmu_hz_per_mV"]),
                **common,
            )
        )
        for quantity in ("mu_realized", "sigma_realized"):
            rows.append(
                _measure(
                    quantity=quantity,
                    unit="mV",
                    theory=float(th[f"{quantity}_mV"]),
                    simulation=float(sim[f"{quantity}_mV"]),
                    se=float(sim[f"{quantity}_se_mV"]),
                    **common,
                )
            )
    return rows


def theory_transfer_at(
    mu_mV: float, sigma_mV: float, frequencies: np.ndarray, params: dict, mode: str
) -> np.ndarray:
    """nnmt transfer function (Hz/mV, complex, shape (n,)) at the simulated frequencies.

    Memoized per process on (network parameters, point, frequencies, mode):
    judging many planted errors of one run evaluates the same theory.
    """
    f = np.asarray(frequencies, float)
    key = (stable_hash(params["network"]), float(mu_mV), float(sigma_mV), f.tobytes(), mode)
    if key not in _THEORY_TF:
        arrays = nnmt_arrays(params["network"])
        tf = transfer_function(
            mu_mV * 1e-3, sigma_mV * 1e-3, f, arrays, synaptic_filter=(mode == "synaptic")
        )
        _THEORY_TF[key] = tf[:, 0] * 1e-3
    return _THEORY_TF[key].copy()


_THEORY_TF: dict = {}


def transfer_rows(
    transfer: pd.DataFrame, scan: pd.DataFrame, params: dict, simulator: str = "brian2"
) -> list[dict]:
    """Measured transfer functions: amplitude and phase per frequency.

    ``transfer`` holds rows of :func:`mfval.simulation.open_loop.simulate_transfer`
    for one or more working points and modes. The simulated phase is
    corrected for the detection latency (:func:`detection_latency`); the
    correction (deg) is in the ``correction`` column.
    """
    rows = []
    latency = detection_latency(float(params["simulation"]["dt"]), simulator)
    for (mu_mV, sigma_mV, mode), sim in transfer.groupby(["mu_mV", "sigma_mV", "mode"]):
        th_point = _point_row(scan, mu_mV, sigma_mV)
        f = sim["frequency_hz"].to_numpy()
        theory = theory_transfer_at(mu_mV, sigma_mV, f, params, mode)
        for i, (_, s) in enumerate(sim.iterrows()):
            common = dict(
                mu_mV=float(mu_mV),
                sigma_mV=float(sigma_mV),
                population=f"E ({mode})",
                frequency_hz=float(f[i]),
                theory_rate_hz=float(th_point["rate_hz"]),
            )
            rows.append(
                _measure(
                    quantity="tf_amplitude",
                    unit="Hz/mV",
                    theory=float(abs(theory[i])),
                    simulation=float(s["amp_hz_per_mV"]),
                    se=float(s["amp_se_hz_per_mV"]),
                    **common,
                )
            )
            theory_phase = float(np.degrees(np.angle(theory[i])))
            correction = 360.0 * float(f[i]) * latency
            phase = float(s["phase_deg"]) + correction
            rows.append(
                _measure(
                    quantity="tf_phase",
                    unit="deg",
                    theory=theory_phase,
                    simulation=phase,
                    se=float(s["phase_se_deg"]),
                    difference=float(wrap_degrees(phase - theory_phase)),
                    correction=correction,
                    **common,
                )
            )
    return rows


def theory_refit(sim: pd.DataFrame, params: dict, mode: str) -> dict:
    """Low-pass fit of the theory N(f) at the simulated frequencies, with the same weights.

    The simulation's fit (:func:`mfval.simulation.open_loop.fit_transfer`) fits the
    amplitude at the simulated (log-spaced) frequencies weighted by their SEs;
    nnmt's panel-C fit uses 199 linearly spaced frequencies, unweighted. The
    fit parameters depend on that design, so the check compares the two sides
    with the same estimator on the same frequencies and weights; nnmt's own
    value is kept in the table (``nnmt_fit``) for reference.
    """
    from mfval.simulation.estimators.fourier import fit_low_pass

    network = params["network"]
    f = sim["frequency_hz"].to_numpy()
    mu_mV, sigma_mV = float(sim["mu_mV"].iloc[0]), float(sim["sigma_mV"].iloc[0])
    theory = theory_transfer_at(mu_mV, sigma_mV, f, params, mode) * 1e3
    J = network["tau_s"] * float(np.asarray(network["W"])[0, 0]) / network["C"]
    return fit_low_pass(
        f,
        theory,
        sim["amp_se_hz_per_mV"].to_numpy() * 1e3,
        method="amplitude",
        tau_m=network["tau_m"],
        J=J,
        K=float(np.asarray(network["K"])[0, 0]),
    )


def fit_rows(
    fits: pd.DataFrame,
    transfer: pd.DataFrame,
    scan: pd.DataFrame,
    params: dict,
) -> list[dict]:
    """Measured low-pass fits: tau_rate and W_rate, simulated vs theory (same estimator)."""
    rows = []
    for _, fit in fits.iterrows():
        th = _point_row(scan, fit["mu_mV"], fit["sigma_mV"])
        sim = transfer[
            np.isclose(transfer["mu_mV"], fit["mu_mV"])
            & np.isclose(transfer["sigma_mV"], fit["sigma_mV"])
            & (transfer["mode"] == fit["mode"])
        ]
        refit = theory_refit(sim, params, fit["mode"])
        common = dict(
            mu_mV=float(fit["mu_mV"]),
            sigma_mV=float(fit["sigma_mV"]),
            population=f"E ({fit['mode']})",
            theory_rate_hz=float(th["rate_hz"]),
        )
        tau = _measure(
            quantity="tau_rate",
            unit="ms",
            theory=refit["tau_rate_s"] * 1e3,
            simulation=float(fit["tau_rate_ms"]),
            se=float(fit["tau_rate_se_ms"]),
            **common,
        )
        tau["nnmt_fit"] = float(th["tau_rate_ms"])
        weight = _measure(
            quantity="W_rate",
            unit="1",
            theory=float(refit["W_rate"]),
            simulation=float(fit["W_rate"]),
            se=float(fit["W_rate_se"]),
            **common,
        )
        weight["nnmt_fit"] = float(th["W_rate"])
        rows += [tau, weight]
    return rows


def measurement_rows(
    scan: pd.DataFrame,
    params: dict,
    network: pd.DataFrame | None = None,
    transfer: pd.DataFrame | None = None,
    fits: pd.DataFrame | None = None,
    simulator: str = "brian2",
) -> pd.DataFrame:
    """Measured rows of every quantity (columns :data:`MEASURED_COLUMNS`); no verdict."""
    rows: list[dict] = []
    if network is not None and not network.empty:
        rows += network_rows(network, scan)
    if transfer is not None and not transfer.empty:
        rows += transfer_rows(transfer, scan, params, simulator)
    if fits is not None and not fits.empty:
        rows += fit_rows(fits, transfer, scan, params)
    return pd.DataFrame(rows, columns=MEASURED_COLUMNS)


def judge_rows(measured: pd.DataFrame, config: ValidationConfig) -> pd.DataFrame:
    """Expectation, allowance, z and p of every measured row (verdicts: see comparison_table).

    A row whose expected deviation cannot be given (outside the calibrated
    region) gets the verdict ``not judged`` and the reason; its measured
    deviation stays in the table.
    """
    out = []
    for _, row in measured.iterrows():
        rule = config.rule(row["quantity"])
        theory = float(row["theory"])
        allowance = rule.allowance(theory)
        fields = {
            "expected_deviation": math.nan,
            "expected_deviation_se": math.nan,
            "expected": math.nan,
            "allowance": allowance,
            "sigma": math.nan,
            "difference": math.nan,
            "z": math.nan,
            "p_value": math.nan,
            "verdict": "",
            "reason": "",
            "record": "",
        }
        try:
            d, d_se, record = config.expected.lookup(
                row["quantity"],
                row["population"],
                float(row["mu_mV"]),
                float(row["sigma_mV"]),
                float(row["frequency_hz"]),
            )
        except NotCalibrated as why:
            fields.update(verdict=VERDICT_NOT_JUDGED, reason=str(why))
            out.append({**row.to_dict(), **fields})
            continue
        if row["scale"] == "relative":
            expected = theory * (1 + d)
            se_cal = abs(theory) * d_se
            difference = (row["deviation"] - d) * theory
        else:
            expected = theory + d
            se_cal = d_se
            difference = row["deviation"] - d
            if row["quantity"] == "tf_phase":
                difference = float(wrap_degrees(difference))
        sigma = math.hypot(float(row["se"]), se_cal)
        z, p = row_test(difference, sigma, allowance)
        fields.update(
            expected_deviation=d,
            expected_deviation_se=d_se,
            expected=expected,
            sigma=sigma,
            difference=difference,
            z=z,
            p_value=p,
            record=record,
        )
        if math.isnan(p):
            fields.update(verdict=VERDICT_NOT_JUDGED, reason="no finite value or SE")
        out.append({**row.to_dict(), **fields})
    return pd.DataFrame(out)


def comparison_table(
    scan: pd.DataFrame,
    config: ValidationConfig,
    params: dict,
    network: pd.DataFrame | None = None,
    transfer: pd.DataFrame | None = None,
    fits: pd.DataFrame | None = None,
    simulator: str = "brian2",
) -> pd.DataFrame:
    """All rows, pointwise and aggregate, with family-wise verdicts (columns :data:`COLUMNS`)."""
    from mfval.comparison.aggregate import aggregate_rows, family_wise_verdicts

    measured = measurement_rows(scan, params, network, transfer, fits, simulator)
    judged = judge_rows(measured, config)
    table = pd.concat([judged, aggregate_rows(judged, config)], ignore_index=True)
    if table.empty:  # nothing of the open-loop protocols (e.g. a closed-loop calibration)
        return pd.DataFrame(columns=COLUMNS)
    return family_wise_verdicts(table, config.family_wise_alpha).reindex(columns=COLUMNS)


def check_id(row) -> str:
    """Readable id of one check, e.g. ``mu10-sigma10-rate-E`` or ``...-tf_phase-E-99.5Hz``.

    Examples
    --------
    >>> check_id({"kind": "point", "mu_mV": 10.0, "sigma_mV": 10.0, "quantity": "rate",
    ...           "population": "E", "frequency_hz": float("nan")})
    'mu10-sigma10-rate-E'
    """
    if row.get("kind", "point") != "point":
        where = "all" if pd.isna(row["mu_mV"]) else f"mu{row['mu_mV']:g}-sigma{row['sigma_mV']:g}"
        pop = str(row["population"]).replace(" ", "")
        return "-".join(p for p in (where, row["quantity"], pop, row["kind"]) if p)
    parts = [f"mu{row['mu_mV']:g}", f"sigma{row['sigma_mV']:g}", row["quantity"]]
    if row["population"]:
        parts.append(str(row["population"]).replace(" ", ""))
    if not (isinstance(row["frequency_hz"], float) and math.isnan(row["frequency_hz"])):
        parts.append(f"{row['frequency_hz']:g}Hz")
    return "-".join(parts)
