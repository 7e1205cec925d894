"""Closed-loop comparison rows: spectra, CV and instability onset, theory vs simulation.

Rows have the columns of :data:`mfval.comparison.metrics.COLUMNS` and the test of
:func:`mfval.comparison.checks.row_test`: z = (|sim - theory| - allowance)+ / SE and
its two-sided p-value; the verdicts come from the family-wise procedure over
the whole table (:func:`mfval.comparison.aggregate.family_wise_verdicts`, applied
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
    "renewal",
    "tf_amplitude_below_25hz",
    "tf_amplitude_above_25hz",
    "tf_phase_above_25hz_deg",
)


#: top-level sections of ``params/closed_loop.yaml`` and the keys of its nested sections
CLOSED_LOOP_SECTIONS = (
    "k",
    "simulation",
    "semi_empirical_judged_below_hz",
    "sweep",
    "check_frequencies",
    "allowances",
)
CLOSED_LOOP_KEYS = {
    "simulation": ("duration", "sweep_duration", "semi_empirical_frequencies"),
    "sweep": ("stable_rate_relative",),
    "allowances": ("psd", "cv", "onset"),
    "allowances.psd": (*PSD_TERMS, "justification"),
    "allowances.cv": ("relative", "justification"),
    "allowances.onset": ("justification",),
}


def load_closed_loop_config(path: str | Path | None = None) -> dict:
    """Read ``params/closed_loop.yaml`` into plain SI data.

    Returns
    -------
    dict: ``k``, ``duration``, ``sweep_duration`` (s; measured time, split into chunks
    of the network protocol's duration, :func:`mfval.simulation.closed_loop.closed_loop_specs`),
    ``semi_empirical_frequencies``, ``check_frequencies`` (Hz),
    ``psd`` (dict of :data:`PSD_TERMS`), ``cv_relative``, ``source``.

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
    for name in ("psd", "cv", "onset"):
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
    (chunks; Student's t p-value, :func:`mfval.comparison.checks.row_test`).
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
        From :func:`mfval.simulation.closed_loop.measure_closed_loop` (one point).
    point : dict
        :func:`mfval.theory.closed_loop.closed_loop_point` for ``network`` at the
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
    ):
        from mfval.comparison.planted import plant_options
        from mfval.simulation.closed_loop.measure import DEFAULT_MEASURE
        from mfval.simulation.closed_loop.spec import chunk_count
        from mfval.simulation.closed_loop.tasks import closed_loop_tasks
        from mfval.tasks import run_tasks, task_seed
        from mfval.theory.closed_loop_tasks import closed_loop_theory_task, spectrum_frequencies

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
        )
        return ClosedLoopResult(
            spectra=tables["spectra"],
            theory_spectra=theory_spectra_table(self.theory, network, g),
            stats=tables["stats"],
            # verdicts within this table; the pipeline judges it again as part of the run's
            # table (one family)
            comparison=judged_table(rows),
        )
