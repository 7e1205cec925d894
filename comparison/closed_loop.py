"""Closed-loop comparison rows: spectra, CV and instability onset, theory vs simulation.

Rows have the columns of :data:`comparison.metrics.COLUMNS` and the test of
:func:`comparison.checks.row_test`: z = (|sim - theory| - allowance)+ / SE and
its two-sided p-value; the verdicts come from the family-wise procedure over
the whole table (:func:`comparison.aggregate.family_wise_verdicts`, applied
by the pipeline after these rows are added). The expectation is the theory
itself (no expected deviation is calibrated for the closed loop yet); the
allowances are a priori (``params/closed_loop.yaml``), none is taken from the
closed-loop simulation it judges: the renewal correction of nnmt's Poisson
noise term, (1 - CV^2) |theory| with nnmt's own CV (and, for the
semi-empirical spectrum, the interpolation error of the measured N, with the
statistical error of N combined into the SE). The semi-empirical spectrum is
not judged above ``semi_empirical_judged_below_hz`` (its closure misses
terms of comparable size there, seen on a run with another seed, the sweep's
g = 5 run); its measured deviation is still reported.

Quantities:

- ``psd`` / ``psd_rate_model`` / ``psd_semi_empirical``: the simulated
  two-sided PSD of each population's averaged rate (1/s) at the check
  frequencies against nnmt's LIF theory, the fitted rate model (same
  delay), and the linear-response formula with the open-loop measured N
  (only inside its measured frequencies; allowance: renewal and
  interpolation);
- ``psd_aggregate`` / ``psd_rate_model_aggregate``: the mean PSD over the
  aggregate band (one row per spectrum), which sees a systematic error that
  single frequencies may not;
- ``cv``: mean CV of the inter-spike intervals against nnmt's ``cvs``;
- ``onset_g`` / ``onset_f``: the measured onset of the oscillatory
  instability (``mfval sweep``) against each prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from mfval.comparison.checks import VERDICT_NOT_JUDGED, row_test
from mfval.comparison.metrics import COLUMNS
from mfval.theory.closed_loop import lif_connectivity, power_spectra, rate_connectivity
from mfval.theory.mean_field import nnmt_arrays

from mfval.config import UNITS, ParameterError, default_params_path

PSD_TERMS = (
    "renewal",
    "tf_amplitude_below_25hz",
    "tf_amplitude_above_25hz",
    "tf_phase_above_25hz_deg",
)


def _quantity(path, key, entry, dimension: str):
    if not isinstance(entry, dict) or "value" not in entry or "unit" not in entry:
        raise ParameterError(path, key, entry, "expected a mapping {value: ..., unit: ...}")
    unit = str(entry["unit"])
    if unit not in UNITS or UNITS[unit][1] != dimension:
        raise ParameterError(path, key, entry, f"unit '{unit}' is not a unit of {dimension}")
    try:
        value = np.asarray(entry["value"], float) * UNITS[unit][0]
    except (TypeError, ValueError):
        raise ParameterError(path, key, entry, "value is not numeric") from None
    if not np.all(np.isfinite(value)) or np.any(value <= 0):
        raise ParameterError(path, key, entry, "must be positive and finite")
    return value.item() if value.ndim == 0 else value


def _nonnegative(path, key, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(path, key, value, "expected a number") from None
    if not (math.isfinite(number) and number >= 0):
        raise ParameterError(path, key, value, "expected a non-negative number")
    return number


def load_closed_loop_config(path: str | Path | None = None) -> dict:
    """Read ``params/closed_loop.yaml`` into plain SI data.

    Returns
    -------
    dict: ``k``, ``duration``, ``sweep_duration`` (s; measured time, split into chunks
    of the network protocol's duration, :func:`simulation.closed_loop.closed_loop_specs`),
    ``semi_empirical_frequencies``, ``check_frequencies`` (Hz),
    ``psd`` (dict of :data:`PSD_TERMS`), ``cv_relative``, ``source``.

    Raises
    ------
    ParameterError
        Naming the file, the key and the value.
    """
    path = Path(path) if path is not None else default_params_path("closed_loop.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ParameterError(path, "<file>", str(path), f"cannot read ({err})") from err
    if not isinstance(raw, dict):
        raise ParameterError(path, "<file>", raw, "expected a mapping")
    sim = raw.get("simulation") or {}
    allow = raw.get("allowances") or {}
    out = {"source": str(path), "k": _nonnegative(path, "k", raw.get("k"))}
    for key in ("duration", "sweep_duration"):
        out[key] = _quantity(path, f"simulation.{key}", sim.get(key), "s")
    out["semi_empirical_frequencies"] = np.atleast_1d(
        _quantity(
            path,
            "simulation.semi_empirical_frequencies",
            sim.get("semi_empirical_frequencies"),
            "Hz",
        )
    )
    out["check_frequencies"] = np.atleast_1d(
        _quantity(path, "check_frequencies", raw.get("check_frequencies"), "Hz")
    )
    psd = allow.get("psd") or {}
    out["psd"] = {t: _nonnegative(path, f"allowances.psd.{t}", psd.get(t)) for t in PSD_TERMS}
    out["semi_judged_below_hz"] = _nonnegative(
        path, "semi_empirical_judged_below_hz", raw.get("semi_empirical_judged_below_hz")
    )
    sweep = raw.get("sweep") or {}
    out["stable_rate_relative"] = _nonnegative(
        path, "sweep.stable_rate_relative", sweep.get("stable_rate_relative")
    )
    cv = allow.get("cv") or {}
    out["cv_relative"] = _nonnegative(path, "allowances.cv.relative", cv.get("relative"))
    for name in ("psd", "cv", "onset"):
        if not str((allow.get(name) or {}).get("justification", "")).strip():
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


def model_spectrum(point: dict, network: dict, model: str, factor=None) -> np.ndarray:
    """PSD (1/s, (n_freq, n_pop)) of the LIF theory or rate model, N scaled by ``factor``.

    ``point`` is a :func:`theory.closed_loop.closed_loop_point` result for
    ``network``; ``factor`` (complex, (n_freq,)) multiplies the transfer
    function (the low-pass of the rate model), default 1.
    """
    f = point["frequencies"]
    factor = np.ones(f.size, complex) if factor is None else np.asarray(factor, complex)
    arrays = nnmt_arrays(network)
    if model == "lif":
        M = lif_connectivity(point["transfer"] * factor[:, None], f, arrays, point["delay"])
    elif model == "rate":
        M = rate_connectivity(f, point["tau_rate"], point["W_rate"], point["delay"])
        M = M * factor[:, None, None]
    else:
        raise ValueError(f"model must be 'lif' or 'rate', got model = {model!r}")
    return power_spectra(point["firing_rates"], M, arrays, point["population_size"])


def psd_allowance(point: dict, model_psd: np.ndarray, psd_config: dict) -> np.ndarray:
    """A-priori allowance of a model spectrum, 1/s, shape (n_freq, n_pop).

    renewal * (1 - CV^2) * |model|, with nnmt's CV: nnmt's noise term nu/N
    assumes Poisson spike trains; a renewal train has the low-frequency
    power nu CV^2 instead. No transfer-function term: the closed loop is
    checked against the theory as it stands (see ``params/closed_loop.yaml``).
    """
    renewal = psd_config["renewal"] * np.abs(1 - np.asarray(point["cv"]) ** 2)
    return renewal[None, :] * np.abs(model_psd)


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
) -> dict:
    """One closed-loop row: measured deviation, z and p against the theory (no verdict yet).

    ``not_judged``: the reason why the row is reported without a verdict.
    ``dof``: degrees of freedom of an SE estimated over few independent units
    (chunks; Student's t p-value, :func:`comparison.checks.row_test`).
    """
    theory, simulation, se = float(theory), float(simulation), float(se)
    difference = simulation - theory
    z, p = row_test(difference, se, float(allowance), dof)
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
        scale="relative",
        deviation=simulation / theory - 1 if theory else math.nan,
        deviation_se=se / abs(theory) if theory else math.nan,
        theory_rate_hz=float(theory_rate_hz),
        nnmt_fit="",
        expected_deviation=0.0,
        expected_deviation_se=0.0,
        expected=theory,
        allowance=float(allowance),
        sigma=se,
        difference=difference,
        z=z,
        p_value=p,
        verdict=VERDICT_NOT_JUDGED if not_judged else "",
        reason=not_judged,
        record="a priori (params/closed_loop.yaml)",
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


def spectrum_rows(
    spectra: pd.DataFrame,
    stats: pd.DataFrame,
    point: dict,
    network: dict,
    config: dict,
    aggregate_band=(10.0, 300.0),
    transfer: pd.DataFrame | None = None,
) -> list[dict]:
    """Pointwise and aggregate spectrum checks and CV checks at one working point.

    With ``transfer`` (open-loop simulation table holding this working point)
    the semi-empirical spectrum is checked too and sets the transfer-function
    part of the allowances of the LIF and rate-model rows
    (:func:`psd_allowance`).

    Parameters
    ----------
    spectra, stats : DataFrame
        From :func:`simulation.closed_loop.measure_closed_loop` (one point).
    point : dict
        :func:`theory.closed_loop.closed_loop_point` for ``network`` at the
        simulated frequencies (at least up to the largest check frequency).
    """
    rows = []
    f_th = np.asarray(point["frequencies"], float)
    names = list(stats["population"])
    mu_mV, sigma_mV = float(stats["mu_mV"].iloc[0]), float(stats["sigma_mV"].iloc[0])
    dof = chunk_dof(stats)
    semi = semi_empirical_prediction(point, network, transfer, mu_mV, sigma_mV)
    models = [("lif", "psd"), ("rate", "psd_rate_model")]
    if semi is not None:
        models.append(("semi", "psd_semi_empirical"))
    for model, quantity in models:
        if model == "semi":
            theory, se_th = semi["psd"], semi["se"]
            allowance = psd_allowance(point, theory, config["psd"]) + semi["interpolation"]
        else:
            theory = model_spectrum(point, network, model)
            se_th = np.zeros_like(theory)
            allowance = psd_allowance(point, theory, config["psd"])
        for p, name in enumerate(names):
            sim = spectra[spectra["population"] == name]
            f_sim = sim["frequency_hz"].to_numpy()
            common = dict(
                mu_mV=mu_mV,
                sigma_mV=sigma_mV,
                population=name,
                theory_rate_hz=float(point["firing_rates"][p]),
            )
            for f in config["check_frequencies"]:
                i_sim = int(np.argmin(np.abs(f_sim - f)))
                i_th = int(np.argmin(np.abs(f_th - f_sim[i_sim])))
                if abs(f_th[i_th] - f_sim[i_sim]) > 1e-6 * max(1.0, f):
                    raise ValueError(
                        f"theory has no value at the simulated frequency {f_sim[i_sim]} Hz"
                    )
                if not np.isfinite(theory[i_th, p]):
                    continue  # semi-empirical: outside the measured frequencies
                not_judged = ""
                if model == "semi" and f_sim[i_sim] >= config["semi_judged_below_hz"]:
                    not_judged = (
                        "semi-empirical spectrum not judged at or above "
                        f"{config['semi_judged_below_hz']:g} Hz (params/closed_loop.yaml)"
                    )
                rows.append(
                    _row(
                        quantity=quantity,
                        unit="1/s",
                        frequency_hz=f_sim[i_sim],
                        theory=theory[i_th, p],
                        simulation=sim["psd_per_s"].iloc[i_sim],
                        se=math.hypot(sim["psd_se_per_s"].iloc[i_sim], se_th[i_th, p]),
                        allowance=allowance[i_th, p],
                        not_judged=not_judged,
                        dof=dof,
                        **common,
                    )
                )
            band = (f_th >= aggregate_band[0]) & (f_th <= aggregate_band[1])
            st = stats[stats["population"] == name].iloc[0]
            if not np.all(np.isfinite(theory[band, p])):
                continue  # the aggregate needs the whole band
            rows.append(
                _row(
                    quantity=quantity + "_aggregate",
                    unit="1/s",
                    theory=theory[band, p].mean(),
                    simulation=st["psd_aggregate_per_s"],
                    # the prediction's errors at neighbouring frequencies are correlated:
                    # its SE over the band is at most the mean SE
                    se=math.hypot(st["psd_aggregate_se_per_s"], se_th[band, p].mean()),
                    allowance=allowance[band, p].mean(),
                    dof=dof,
                    **common,
                )
            )
    for p, name in enumerate(names):
        st = stats[stats["population"] == name].iloc[0]
        cv_th = float(point["cv"][p])
        rows.append(
            _row(
                mu_mV=mu_mV,
                sigma_mV=sigma_mV,
                quantity="cv",
                population=name,
                unit="1",
                theory=cv_th,
                simulation=st["cv"],
                se=st["cv_se"],
                allowance=config["cv_relative"] * cv_th,
                theory_rate_hz=float(point["firing_rates"][p]),
                dof=dof,
            )
        )
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

#: planted errors of the closed loop: name -> options of the closed-loop simulation
CLOSED_LOOP_PLANTED: dict[str, dict] = {"recurrent_delay_doubled": {"delay_scale": 2.0}}


@dataclass
class ClosedLoopResult:
    """Tables of the stability-point spectra in ``mfval run``."""

    spectra: pd.DataFrame
    theory_spectra: pd.DataFrame
    stats: pd.DataFrame
    comparison: pd.DataFrame


class ClosedLoopRun:
    """The stability-point spectra of ``mfval run``: tasks first, then :meth:`finish`.

    The theory (one store task) is computed on construction; the simulation
    tasks (:attr:`simulation_tasks`, one per chunk of
    :func:`simulation.closed_loop.closed_loop_tasks`: the closed-loop
    ``duration`` of ``params/closed_loop.yaml`` split into independent chunks
    with the network protocol's warm-up and duration, so that they run on its
    compiled binary and in parallel) run with the other simulations of the
    run; :meth:`finish` pools them and builds the comparison rows.
    ``settings.closed_loop_options`` may hold ``quick`` (a quarter of the
    chunks, at least 2) and options of
    :func:`simulation.closed_loop.closed_loop_tasks`.
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
    ):
        from mfval.comparison.pipeline import task_seed
        from mfval.simulation.closed_loop.measure import DEFAULT_MEASURE
        from mfval.simulation.closed_loop.spec import chunk_count
        from mfval.simulation.closed_loop.tasks import closed_loop_tasks
        from mfval.theory.closed_loop_tasks import closed_loop_theory_task, spectrum_frequencies

        from mfval.tasks import run_tasks

        self.params = params
        self.config = config or load_closed_loop_config()
        mu, sigma = settings.closed_loop_point
        options = dict(settings.closed_loop_options)
        quick = bool(options.pop("quick", False))
        sim = params["simulation"]
        chunk = float(options.get("chunk_duration", sim["network_duration"]))
        if "duration" not in options:
            n = chunk_count(self.config["duration"], chunk, float(sim["dt"]))
            options["duration"] = chunk * (max(2, n // 4) if quick else n)
        options.update(CLOSED_LOOP_PLANTED.get(settings.planted, {}))
        options.setdefault("simulator", simulator)
        run_seed = params["simulation"]["seed"] if settings.seed is None else settings.seed
        seed = task_seed(run_seed, "closed_loop", mu, sigma)
        self.chunks = closed_loop_tasks(mu, sigma, params, seed, **options)
        self.simulation_tasks = self.chunks.tasks
        freqs = spectrum_frequencies(DEFAULT_MEASURE["segment"], THEORY_F_MAX)
        task = closed_loop_theory_task(mu, sigma, params, freqs)
        self.theory = run_tasks([task], store, workers, "closed-loop theory", progress, client)[0]

    def finish(self, results: list, transfer: pd.DataFrame | None = None) -> ClosedLoopResult:
        from mfval.comparison.sweep import theory_spectra_table
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
        )
        return ClosedLoopResult(
            spectra=tables["spectra"],
            theory_spectra=theory_spectra_table(self.theory, network, g),
            stats=tables["stats"],
            # verdicts within this table; the pipeline judges it again as part of the run's
            # table (one family)
            comparison=judged_table(rows),
        )


def write_closed_loop_outputs(result: ClosedLoopResult, out) -> list:
    """``simulation_spectra.csv``, ``theory_spectra.csv`` and the spectra figure in ``out``."""
    from mfval.figures.closed_loop import closed_loop_figure
    from mfval.io import write_csv

    out = Path(out)
    paths = [
        write_csv(result.spectra, out / "simulation_spectra.csv"),
        write_csv(result.theory_spectra, out / "theory_spectra.csv"),
    ]
    return paths + closed_loop_figure(result.spectra, result.theory_spectra, out / "closed_loop")


def spectrum_summary(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per population and check frequency: simulation +- SE, LIF, rate model, semi.

    From the closed-loop rows of a comparison table (quantities ``psd``,
    ``psd_rate_model``, ``psd_semi_empirical``); PSDs in 1/s.
    """
    rows = comparison[comparison["quantity"].isin(["psd", "psd_rate_model", "psd_semi_empirical"])]
    out = []
    for (pop, f), group in rows.groupby(["population", "frequency_hz"], sort=False):
        by = {q: r for q, r in zip(group["quantity"], group.itertuples())}
        lif = by["psd"]
        out.append(
            {
                "population": pop,
                "frequency_hz": f,
                "simulation_per_s": lif.simulation,
                "se_per_s": lif.se,
                "lif_theory_per_s": lif.theory,
                "lif_verdict": lif.verdict,
                "rate_model_per_s": by["psd_rate_model"].theory,
                "semi_empirical_per_s": (
                    by["psd_semi_empirical"].theory if "psd_semi_empirical" in by else math.nan
                ),
            }
        )
    return pd.DataFrame(out)


def report_section(result: ClosedLoopResult | None) -> list[str]:
    """Markdown lines of the closed-loop section of ``report.md`` (empty without a result)."""
    from mfval.comparison.tables import markdown_table as _markdown

    if result is None:
        return []
    table = spectrum_summary(result.comparison)
    cv = result.comparison[result.comparison["quantity"] == "cv"]
    stats = result.stats
    lines = [
        f"## Closed loop at ({stats['mu_mV'].iloc[0]:g}, {stats['sigma_mV'].iloc[0]:g}) mV",
        "",
        "Two-sided PSD of the population-averaged rate (1/s): simulation +- SE, nnmt's "
        "LIF theory (with the delay), the fitted rate model, and the semi-empirical "
        "prediction (open-loop measured N); rows `psd*` of comparison.csv.",
        "",
        _markdown(table, ".4g") if len(table) else "(no rows)",
        "",
        "CV of the inter-spike intervals: "
        + ", ".join(
            f"{r.population} {r.simulation:.3f} +- {r.se:.3f} (nnmt {r.theory:.3f})"
            for r in cv.itertuples()
        ),
        "",
        "![closed loop](closed_loop.png)",
        "",
    ]
    return lines
