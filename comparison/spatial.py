"""Spatial (ring) comparison: wave trains of the simulated ring against the spatial theory.

:func:`run_spatial` runs (or reads from the results store) the spatial protocol
(:mod:`mfval.simulation.spatial`) at every setting of the sweep (relative
inhibition g times the values of one control parameter: the width ratio
R_I / R_E at fixed R_E, or the delay), the spatial theory
(:mod:`mfval.theory.spatial`) at the same settings, the predicted onsets along
g and along the control (LIF theory, rate model, and the semi-empirical
prediction with the open-loop measured transfer function), and judges the
rows below with the verdict machinery of the other protocols (z and p of
:func:`mfval.comparison.checks.row_test`, Holm over the whole table,
:func:`mfval.comparison.aggregate.family_wise_verdicts`).

Which settings are judged, and how (decided before any simulation, from the
theory and the documented open-loop deviation of N; ``params/spatial.yaml``
section ``checks``):

- a setting is *stable* when the largest Nyquist eigenvalue of the LIF theory
  over the ring modes stays below ``1 / (1 + a)``, with ``a`` the documented
  amplitude deviation of nnmt's N above 25 Hz (``params/closed_loop.yaml``,
  ``allowances.psd.tf_amplitude_above_25hz``): a transfer function that much
  larger still leaves every mode stable. There the spectra are judged:
  ``spatial_psd`` (LIF theory) and ``spatial_psd_rate_model`` at the check
  modes and frequencies, with an a-priori allowance (the renewal correction
  of nnmt's Poisson noise term, :func:`psd_allowance`; the spatial spectra are
  not calibrated), per (population, mode) the mean over the aggregate band
  (``..._aggregate``), one chi-square per population and model over all check
  bins (``..._chi2``, :func:`chi2_rows`), and the rates and CVs;
- a setting is *unstable* when the LIF theory's largest eigenvalue exceeds 1.
  There the peak of the simulated (k, f) spectrum is judged against the
  LIF theory's leading mode: ``spatial_peak_mode`` (allowance
  ``peak_mode_allowance`` modes) and ``spatial_peak_frequency`` (allowance:
  the shift of the phase condition arg[N D] = -pi by the documented phase
  deviation of N, :func:`peak_frequency_allowance`); the rates are reported
  with their deviation but not judged there: the stationary rate is the
  fixed point that the theory predicts to be unstable (measured: the wave
  state runs about 20 % above it at R_I / R_E = 0.35);
- settings in between (near the onset) are reported, not judged;
- with a second simulator, ``spatial_psd_simulators``: one chi-square row per
  stable setting over the check modes and frequencies of both populations,
  Brian2 against NEST, each bin's Welch t (chunks) turned into a normal
  quantile (the SEs come from few chunks).

Planted error of issue 17: ``ring_inhibitory_width_x1.5`` (R_I x 1.5 in the
simulation only, :data:`mfval.comparison.planted.PLANTED_ERRORS`): rates and
the non-spatial protocols do not see it (the mean input is unchanged); the
spatial spectra at modes n >= 1 and the peak mode must.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from mfval.comparison.checks import VERDICT_FAIL, VERDICT_NOT_JUDGED
from mfval.comparison.metrics import COLUMNS
from mfval.config import ParameterError, mapping, quantity
from mfval.config import Spec as QSpec

#: control parameters of the sweep besides g (theory names; ``delay`` in s)
CONTROLS = ("radius_ratio", "delay")

#: extra sections of ``params/spatial.yaml`` read here (the protocol's are read by
#: :func:`mfval.simulation.spatial.spec.load_spatial_params`)
SWEEP_KEYS = {
    "g": QSpec("1", "vector", "positive"),
    "radius_ratio": QSpec("1", "vector", "positive"),
    "delay": QSpec("s", "vector", "positive"),
    "g_bracket": QSpec("1", "pair", "positive"),
    "radius_ratio_bracket": QSpec("1", "pair", "positive"),
    "delay_bracket": QSpec("s", "pair", "positive"),
    "transfer_frequencies": QSpec("Hz", "vector", "positive"),
}
CHECK_KEYS = {
    "modes": QSpec("1", "vector", "integer_nonnegative", 10**4),
    "frequencies": QSpec("Hz", "vector", "positive"),
    "aggregate_band": QSpec("Hz", "pair", "positive"),
    "peak_mode_allowance": QSpec("1", "scalar", "nonnegative"),
    "psd_renewal_allowance": QSpec("1", "scalar", "nonnegative"),
    "cv_allowance_relative": QSpec("1", "scalar", "nonnegative"),
    "rate_allowance_relative": QSpec("1", "scalar", "nonnegative"),
}
SPATIAL_RECORD = "a priori (params/spatial.yaml, params/closed_loop.yaml)"

#: a predicted crossing below this frequency (Hz) is a static instability (bumps, no wave)
STATIC_BELOW_HZ = 1.0

#: band (Hz) of the static-mode measurement: mean PSD per mode over rate / N
STATIC_BAND_HZ = (0.0, 20.0)


def static_modes(spectra: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per population: the mode n >= 1 with the most low-frequency power (static bumps).

    ``static_mode``: argmax over n >= 1 of the mean PSD over :data:`STATIC_BAND_HZ`;
    ``static_ratio``: that mean over the Poisson level rate / N (about 1 without
    structure). Reported next to a static prediction (no SE: not judged).
    """
    low = spectra[
        (spectra["frequency_hz"] > STATIC_BAND_HZ[0])
        & (spectra["frequency_hz"] <= STATIC_BAND_HZ[1])
        & (spectra["mode"] >= 1)
    ]
    mean = low.groupby(["population", "mode"])["psd_per_s"].mean()
    rows = []
    for name, part in mean.groupby(level=0):
        n = int(part.idxmax()[1])
        poisson = float(summary.loc[summary["population"] == name, "poisson_psd_per_s"].iloc[0])
        rows.append({"population": name, "static_mode": n, "static_ratio": part.max() / poisson})
    return pd.DataFrame(rows)


#: why the rate of an unstable setting is reported without a verdict
UNSTABLE_RATE_REASON = (
    "the stationary rate is the theory's fixed point, which it predicts to be unstable "
    "here (wave trains): reported, not judged"
)

#: leading columns of the spatial comparison table (then :data:`COLUMNS`)
SETTING_COLUMNS = ["setting", "g", "control", "control_value", "simulator", "mode", "dof_t"]


class SpatialSettingsError(ValueError):
    """A combination of options that gives no valid sweep (names the option and value)."""


# ----------------------------------------------------------------------------- configuration


def load_spatial_config(path: str | Path | None = None) -> dict:
    """``params/spatial.yaml`` (or ``path``): the protocol's sections plus ``sweep`` and ``checks``.

    Returns the dict of :func:`mfval.simulation.spatial.spec.load_spatial_params`
    with ``sweep`` (``g`` list; ``control`` name and ``values`` (SI); the onset
    brackets; ``transfer_frequencies``) and ``checks`` (``modes``,
    ``frequencies``, ``aggregate_band``, ``peak_mode_allowance``).

    Raises
    ------
    ParameterError
        Naming the file and key: a misspelled key, a bad unit or value, no or
        two control parameters in ``sweep``.
    """
    from mfval.simulation.spatial.spec import load_spatial_params

    config = load_spatial_params(path, extra_sections=("sweep", "checks"))
    file = config["_file"]
    raw = config.pop("_extra")
    sweep = mapping(file, "sweep", raw.get("sweep") or {}, SWEEP_KEYS)
    checks = mapping(file, "checks", raw.get("checks") or {}, CHECK_KEYS)
    out = {}
    for key, form in SWEEP_KEYS.items():
        if key in sweep:
            out[key] = quantity(file, f"sweep.{key}", sweep[key], form)
    given = [c for c in CONTROLS if c in out]
    if len(given) > 1:
        raise ParameterError(file, "sweep", sorted(given), "give one control parameter, not two")
    for key in ("g", "g_bracket", "transfer_frequencies"):
        if key not in out:
            raise ParameterError(file, f"sweep.{key}", None, "missing key")
    control = given[0] if given else None
    config["sweep"] = {
        "g": [float(g) for g in np.ravel(out["g"])],
        "control": control,
        "values": [float(v) for v in np.ravel(out[control])] if control else [],
        "brackets": {
            name: tuple(float(v) for v in out[f"{name}_bracket"])
            for name in ("g", *CONTROLS)
            if f"{name}_bracket" in out
        },
        "transfer_frequencies": np.asarray(out["transfer_frequencies"], float),
    }
    parsed = {}
    for key, form in CHECK_KEYS.items():
        if key not in checks:
            raise ParameterError(file, f"checks.{key}", None, "missing key")
        parsed[key] = quantity(file, f"checks.{key}", checks[key], form)
    parsed["modes"] = [int(m) for m in np.ravel(parsed["modes"])]
    if max(parsed["modes"]) >= config["ring"]["n_modes"]:
        raise ParameterError(
            file,
            "checks.modes",
            parsed["modes"],
            f"every checked mode must be < ring.n_modes = {config['ring']['n_modes']}",
        )
    parsed["frequencies"] = [float(f) for f in np.ravel(parsed["frequencies"])]
    parsed["aggregate_band"] = tuple(float(f) for f in parsed["aggregate_band"])
    config["checks"] = parsed
    return config


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    """One setting of the sweep: relative inhibition g and the control's value (SI)."""

    g: float
    control: str | None = None
    value: float | None = None

    @property
    def label(self) -> str:
        text = f"g={self.g:g}"
        if self.control == "radius_ratio":
            text += f" R_I/R_E={self.value:g}"
        elif self.control == "delay":
            text += f" d={self.value * 1e3:g} ms"
        return text

    def radii(self, nominal) -> tuple[float, ...]:
        """Source half-widths (m): R_I = value x R_E for the width ratio."""
        nominal = tuple(float(r) for r in nominal)
        if self.control == "radius_ratio":
            return (nominal[0], nominal[0] * float(self.value), *nominal[2:])
        return nominal

    def params(self, params: dict) -> dict:
        """Parameters of this setting (g applied by the protocol; the delay here)."""
        if self.control != "delay":
            return params
        out = dict(params)
        out["network"] = {**params["network"], "delay": float(self.value)}
        return out


def sweep_settings(config: dict, g_values=None, control=None) -> list[Setting]:
    """Settings of a sweep: ``g_values`` x the control's values (CLI or ``config``).

    ``control``: (name, values) of ``--control``, or None. Without ``--g`` and
    ``--control`` the file's sweep; with ``--g`` only, g alone at the nominal ring.
    """
    sweep = config["sweep"]
    if control is not None:
        name, values = control
        if name not in CONTROLS:
            raise SpatialSettingsError(
                f"--control {name!r}: expected one of {CONTROLS} (got {name!r})"
            )
    elif g_values is None and sweep["control"]:
        name, values = sweep["control"], sweep["values"]
    else:
        name, values = None, [None]
    g_values = sweep["g"] if g_values is None else [float(g) for g in g_values]
    return [
        Setting(float(g), name, None if v is None else float(v)) for g in g_values for v in values
    ]


# ----------------------------------------------------------------------------- rows


def _row(setting: Setting, simulator: str, mode, **kw) -> dict:
    """One spatial row: setting columns and the comparison columns (no verdict yet)."""
    from mfval.comparison.closed_loop import _row as closed_loop_row

    row = closed_loop_row(**kw)
    row["record"] = SPATIAL_RECORD
    row["dof_t"] = math.nan if kw.get("dof") is None else float(kw["dof"])
    return {
        "setting": setting.label,
        "g": setting.g,
        "control": setting.control or "",
        "control_value": math.nan if setting.value is None else setting.value,
        "simulator": simulator,
        "mode": math.nan if mode is None else int(mode),
        **row,
    }


def theory_arrays(theory: dict, populations) -> dict:
    """Arrays of a ``spatial_theory`` task result (:mod:`mfval.theory.spatial_tasks`).

    Returns ``frequencies`` (Hz, (n_freq,)), ``psd_lif_modes`` and
    ``psd_rate_modes`` (1/s, (n_modes, n_freq, n_pop)), ``firing_rates`` (Hz),
    ``cv``, ``transfer`` (N of the first population, Hz/V, (n_freq,)), ``delay``
    (s), and per mode ``crossing_lif`` (Re lambda at the LIF Nyquist crossing,
    -inf where none) and ``crossing_frequency_lif`` (Hz).
    """
    spectra, stability = theory["spectra"], theory["stability"]
    f = np.sort(spectra["frequency_hz"].unique())
    modes = np.sort(spectra["mode"].unique())
    out = {"frequencies": f}
    for model in ("lif", "rate"):
        cube = np.empty((modes.size, f.size, len(populations)))
        for p, name in enumerate(populations):
            part = spectra[spectra["population"] == name]
            cube[:, :, p] = part.pivot(
                index="mode", columns="frequency_hz", values=f"psd_{model}_per_s"
            ).loc[modes, f]
        out[f"psd_{model}_modes"] = cube
    lif = stability[stability["model"] == "lif"].sort_values("mode")
    cross = lif["eigenvalue_abs_at_crossing"].to_numpy(float)
    out["crossing_lif"] = np.where(np.isfinite(cross), cross, -np.inf)
    out["crossing_frequency_lif"] = lif["crossing_frequency_hz"].to_numpy(float)
    for key in ("firing_rates", "cv", "transfer", "delay", "transfer_frequencies"):
        out[key] = theory[key]
    return out


def stable_margin(closed_loop_config: dict) -> float:
    """Largest LIF eigenvalue of a setting judged stable: 1 / (1 + a) (module docstring)."""
    return 1.0 / (1.0 + float(closed_loop_config["psd"]["tf_amplitude_above_25hz"]))


def setting_state(stability: dict, margin: float) -> str:
    """``"stable"``, ``"unstable"`` or ``"near onset"`` from the LIF theory's modes."""
    lam = np.asarray(stability["crossing_lif"], float)
    lam_max = float(np.max(np.where(np.isfinite(lam), lam, -np.inf)))
    if lam_max > 1.0:
        return "unstable"
    return "stable" if lam_max < margin else "near onset"


def peak_frequency_allowance(f_star: float, transfer_phase, frequencies, phase_bound_rad):
    """Shift (Hz) of the Nyquist frequency f* by a phase error ``phase_bound_rad`` of N.

    The crossing of an inhibition-dominated mode sits where arg[N(f) D(f)] =
    -pi (its coupling c(k) < 0 is real); a phase error delta of N moves it by
    delta / |d arg[N D] / df|, evaluated at f* from the theory's phase
    ``transfer_phase`` (rad, of N D, unwrapped) on ``frequencies`` (Hz).
    """
    f = np.asarray(frequencies, float)
    phase = np.unwrap(np.asarray(transfer_phase, float))
    slope = np.gradient(phase, f)
    s = float(np.interp(f_star, f, slope))
    return abs(float(phase_bound_rad) / s) if s else math.inf


def psd_allowance(cv, theory_psd, factor: float) -> np.ndarray:
    """A-priori allowance of a spectrum, 1/s: ``factor (1 - CV^2) |theory|`` per population.

    nnmt's noise term nu / N assumes Poisson spike trains; a renewal train of the
    theory's CV has the low-frequency power nu CV^2 instead (the closed loop's
    allowance before its calibration, issue 18). ``cv``: (n_pop,), nnmt's;
    ``theory_psd``: (n_freq, n_pop).
    """
    renewal = float(factor) * np.abs(1 - np.asarray(cv, float) ** 2)
    return renewal[None, :] * np.abs(np.asarray(theory_psd, float))


def stable_rows(setting, simulator, sim, theory_point, stability, network, config, cl_config):
    """Rows of a stable setting: spectra per checked mode and frequency, aggregates, rate, CV."""
    rows = []
    checks = config["checks"]
    summary, spectra = sim["summary"], sim["spectra"]
    dof = _dof(summary)
    f_th = np.asarray(theory_point["frequencies"], float)
    band = (f_th >= checks["aggregate_band"][0]) & (f_th <= checks["aggregate_band"][1])
    mu_mV, sigma_mV = float(summary["mu_mV"].iloc[0]), float(summary["sigma_mV"].iloc[0])
    names = list(network["populations"])
    for model, quantity_name in (("lif", "spatial_psd"), ("rate", "spatial_psd_rate_model")):
        psd = np.asarray(theory_point[f"psd_{model}_modes"])  # (n_modes, n_freq, n_pop)
        for p, name in enumerate(names):
            st = summary[summary["population"] == name].iloc[0]
            common = dict(
                mu_mV=mu_mV,
                sigma_mV=sigma_mV,
                population=name,
                theory_rate_hz=float(theory_point["firing_rates"][p]),
            )
            for n in checks["modes"]:
                theory_n = psd[n]  # (n_freq, n_pop)
                allowance = psd_allowance(
                    theory_point["cv"], theory_n, checks["psd_renewal_allowance"]
                )
                s = spectra[(spectra["population"] == name) & (spectra["mode"] == n)]
                f_sim = s["frequency_hz"].to_numpy()
                for f in checks["frequencies"]:
                    i_sim = int(np.argmin(np.abs(f_sim - f)))
                    i_th = int(np.argmin(np.abs(f_th - f_sim[i_sim])))
                    if abs(f_th[i_th] - f_sim[i_sim]) > 1e-6 * max(1.0, f):
                        raise ValueError(
                            f"theory has no value at the simulated frequency {f_sim[i_sim]} Hz"
                        )
                    rows.append(
                        _row(
                            setting,
                            simulator,
                            n,
                            quantity=quantity_name,
                            unit="1/s",
                            frequency_hz=f_sim[i_sim],
                            theory=theory_n[i_th, p],
                            simulation=s["psd_per_s"].iloc[i_sim],
                            se=s["psd_se_per_s"].iloc[i_sim],
                            allowance=allowance[i_th, p],
                            dof=dof,
                            **common,
                        )
                    )
                # aggregate over the band: the mean of the simulated bins inside it
                in_band = (f_sim >= checks["aggregate_band"][0]) & (
                    f_sim <= checks["aggregate_band"][1]
                )
                th_band = np.interp(f_sim[in_band], f_th[band], theory_n[band, p])
                al_band = np.interp(f_sim[in_band], f_th[band], allowance[band, p])
                chunk_means = _chunk_band_means(sim, name, n, in_band)
                rows.append(
                    _row(
                        setting,
                        simulator,
                        n,
                        quantity=quantity_name + "_aggregate",
                        unit="1/s",
                        theory=th_band.mean(),
                        simulation=s["psd_per_s"].to_numpy()[in_band].mean(),
                        se=chunk_means,
                        allowance=al_band.mean(),
                        dof=dof,
                        **common,
                    )
                )
            if model == "lif":
                rows.append(
                    _row(
                        setting,
                        simulator,
                        None,
                        quantity="spatial_rate",
                        unit="Hz",
                        theory=float(theory_point["firing_rates"][p]),
                        simulation=st["rate_hz"],
                        se=st["rate_se_hz"],
                        allowance=checks["rate_allowance_relative"]
                        * float(theory_point["firing_rates"][p]),
                        dof=dof,
                        **common,
                    )
                )
                cv_th = float(theory_point["cv"][p])
                rows.append(
                    _row(
                        setting,
                        simulator,
                        None,
                        quantity="spatial_cv",
                        unit="1",
                        theory=cv_th,
                        simulation=st["cv"],
                        se=st["cv_se"],
                        allowance=checks["cv_allowance_relative"] * cv_th,
                        dof=dof,
                        **common,
                    )
                )
    return rows


def chi2_rows(rows: list[dict]) -> list[dict]:
    """One chi-square row per (setting, simulator, quantity, population) of spectrum rows.

    Each judged pointwise row's excess over its allowance, (|d| - a)+ / SE, is
    a Student t with the chunks' degrees of freedom; it is turned into the
    normal quantile of the same tail probability and squared, and the squares
    are summed over the check modes and frequencies (chi-square with one
    degree of freedom per bin). The check frequencies are spaced four bins of
    the Hann-tapered 10 Hz grid apart and different ring modes of a
    homogeneous ring are uncorrelated, so the bins are treated as
    independent. Many moderate deviations (a wrong profile moves every mode
    n >= 1 a little) add up here where no single row survives Holm.
    """
    table = pd.DataFrame(rows)
    if table.empty:
        return []
    point = table[
        table["quantity"].isin(["spatial_psd", "spatial_psd_rate_model"])
        & (table["verdict"] != VERDICT_NOT_JUDGED)
    ]
    out = []
    keys = ["setting", "simulator", "quantity", "population"]
    for (setting, simulator, name, population), group in point.groupby(keys, sort=False):
        excess = (group["difference"].abs() - group["allowance"]).clip(lower=0) / group["se"]
        dof = group["dof_t"].to_numpy(float)
        tail = np.where(
            np.isfinite(dof),
            sps.t.sf(excess, np.where(np.isfinite(dof), dof, 1)),
            sps.norm.sf(excess),
        )
        z = sps.norm.isf(np.clip(tail, 1e-300, 0.5))
        chi2 = float(np.sum(z**2))
        first = group.iloc[0]
        row = {c: math.nan for c in COLUMNS}
        row.update(
            kind="chi2",
            mu_mV=first["mu_mV"],
            sigma_mV=first["sigma_mV"],
            quantity=name + "_chi2",
            population=population,
            unit="1",
            chi2=chi2,
            dof=len(group),
            n_points=len(group),
            simulation=chi2 / len(group),
            p_value=float(sps.chi2.sf(chi2, len(group))),
            verdict="",
            reason="",
            record=SPATIAL_RECORD,
        )
        out.append(
            {
                "setting": setting,
                "g": first["g"],
                "control": first["control"],
                "control_value": first["control_value"],
                "simulator": simulator,
                "mode": math.nan,
                **row,
            }
        )
    return out


def _dof(summary: pd.DataFrame) -> float | None:
    n = int(summary["n_chunks"].iloc[0])
    return float(n - 1) if n >= 2 else None


def _chunk_band_means(sim: dict, name: str, mode: int, in_band) -> float:
    """SE of the band mean of one mode's PSD: the mean of the bins' SEs (correlated bins).

    Adjacent bins of a tapered estimator are correlated, and the band mean's
    chunk-to-chunk spread is not kept in the pooled table; the mean of the
    bins' SEs is the SE of the band mean for fully correlated bins, an upper
    bound otherwise (conservative: a larger SE never makes a row fail).
    """
    s = sim["spectra"]
    s = s[(s["population"] == name) & (s["mode"] == mode)]
    return float(s["psd_se_per_s"].to_numpy()[in_band].mean())


def unstable_rows(setting, simulator, sim, stability, theory_point, f_allow, config, cl_config):
    """Rows of an unstable setting: the peak mode and frequency, and the rates."""
    rows = []
    summary = sim["summary"]
    dof = _dof(summary)
    mu_mV, sigma_mV = float(summary["mu_mV"].iloc[0]), float(summary["sigma_mV"].iloc[0])
    lam = np.asarray(stability["crossing_lif"], float)
    n_pred = int(np.nanargmax(np.where(np.isfinite(lam), lam, -np.inf)))
    f_pred = float(stability["crossing_frequency_lif"][n_pred])
    static = ""
    if f_pred < STATIC_BELOW_HZ:
        static = (
            f"the theory's leading instability is static (mode {n_pred}, f = 0); the peak is "
            "searched in the oscillation band: see static_mode and static_ratio of the sweep"
        )
    for p, st in enumerate(summary.itertuples()):
        common = dict(
            mu_mV=mu_mV,
            sigma_mV=sigma_mV,
            population=st.population,
            theory_rate_hz=float(theory_point["firing_rates"][p]),
        )
        rows.append(
            _row(
                setting,
                simulator,
                n_pred,
                quantity="spatial_peak_mode",
                unit="1",
                theory=n_pred,
                simulation=st.peak_mode,
                se=st.peak_mode_se,
                allowance=config["checks"]["peak_mode_allowance"],
                dof=dof,
                not_judged=static,
                **common,
            )
        )
        rows.append(
            _row(
                setting,
                simulator,
                n_pred,
                quantity="spatial_peak_frequency",
                unit="Hz",
                theory=f_pred,
                simulation=st.peak_frequency_hz,
                se=st.peak_frequency_se_hz,
                allowance=f_allow,
                dof=dof,
                not_judged=static,
                **common,
            )
        )
        rate_th = float(theory_point["firing_rates"][p])
        rows.append(
            _row(
                setting,
                simulator,
                None,
                quantity="spatial_rate",
                unit="Hz",
                theory=rate_th,
                simulation=st.rate_hz,
                se=st.rate_se_hz,
                allowance=cl_config["stable_rate_relative"] * rate_th,
                dof=dof,
                not_judged=UNSTABLE_RATE_REASON,
                **common,
            )
        )
    return rows


def simulator_rows(setting, a: dict, b: dict, config: dict, names) -> list[dict]:
    """One chi-square row per population: simulator ``a`` against ``b`` at the check bins."""
    rows = []
    checks = config["checks"]
    dof_a, dof_b = (_dof(x["summary"]) or 1.0 for x in (a, b))
    for name in names:
        z = []
        for n in checks["modes"]:
            sa = a["spectra"][(a["spectra"]["population"] == name) & (a["spectra"]["mode"] == n)]
            sb = b["spectra"][(b["spectra"]["population"] == name) & (b["spectra"]["mode"] == n)]
            for f in checks["frequencies"]:
                ia = int(np.argmin(np.abs(sa["frequency_hz"].to_numpy() - f)))
                ib = int(np.argmin(np.abs(sb["frequency_hz"].to_numpy() - f)))
                va, vb = sa["psd_per_s"].iloc[ia], sb["psd_per_s"].iloc[ib]
                ea, eb = sa["psd_se_per_s"].iloc[ia], sb["psd_se_per_s"].iloc[ib]
                se2 = ea**2 + eb**2
                if not se2 > 0:
                    continue
                # Welch-Satterthwaite dof, then the t quantile as a normal quantile
                nu = se2**2 / (ea**4 / dof_a + eb**4 / dof_b)
                t = (va - vb) / math.sqrt(se2)
                z.append(sps.norm.isf(sps.t.sf(abs(t), nu)))
        z = np.asarray(z, float)
        chi2 = float(np.sum(z**2))
        row = {c: math.nan for c in COLUMNS}
        row.update(
            kind="chi2",
            mu_mV=float(a["summary"]["mu_mV"].iloc[0]),
            sigma_mV=float(a["summary"]["sigma_mV"].iloc[0]),
            quantity="spatial_psd_simulators",
            population=name,
            unit="1",
            chi2=chi2,
            dof=z.size,
            n_points=z.size,
            simulation=chi2 / max(z.size, 1),
            p_value=float(sps.chi2.sf(chi2, z.size)) if z.size else math.nan,
            verdict="" if z.size else VERDICT_NOT_JUDGED,
            reason="" if z.size else "no bins",
            record="brian2 vs nest, same seeds (no allowance)",
        )
        rows.append(
            {
                "setting": setting.label,
                "g": setting.g,
                "control": setting.control or "",
                "control_value": math.nan if setting.value is None else setting.value,
                "simulator": "brian2 vs nest",
                "mode": math.nan,
                **row,
            }
        )
    return rows


def judged_spatial_table(rows: list[dict]) -> pd.DataFrame:
    """Spatial rows with family-wise verdicts (Holm at ``params/validation.yaml``'s level)."""
    from mfval.comparison.aggregate import family_wise_verdicts
    from mfval.comparison.checks import load_validation

    table = pd.DataFrame(rows, columns=SETTING_COLUMNS + COLUMNS)
    if table.empty:
        return table
    return family_wise_verdicts(table, load_validation().family_wise_alpha)


# ----------------------------------------------------------------------------- tasks and run


@dataclass
class SpatialResult:
    """Tables of ``mfval spatial`` (see :mod:`mfval.cli.spatial`)."""

    spectra: pd.DataFrame
    theory: pd.DataFrame
    stability: pd.DataFrame
    sweep: pd.DataFrame
    comparison: pd.DataFrame
    predictions: dict
    raster: dict = field(default_factory=dict)
    control_label: str = "g"
    shown_setting: str = ""

    def failed(self) -> bool:
        """Whether a judged row failed."""
        return bool((self.comparison.get("verdict", pd.Series(dtype=str)) == VERDICT_FAIL).any())

    def summary(self) -> str:
        """A few lines for the terminal: per setting the state, peak and verdicts."""
        lines = []
        cols = [
            "setting",
            "population",
            "state_lif",
            "rate_hz",
            "peak_mode",
            "peak_frequency_hz",
            "order_parameter",
            "order_parameter_se",
        ]
        lines.append(self.sweep[cols].to_string(index=False, float_format="%.4g"))
        for name, pred in self.predictions.items():
            lines.append(f"predicted onset ({name}): {pred}")
        c = self.comparison
        if not c.empty:
            counts = c["verdict"].value_counts().to_dict()
            lines.append(f"verdicts: {counts}")
            bad = c[c["verdict"] == VERDICT_FAIL]
            for r in bad.itertuples():
                lines.append(
                    f"FAIL {r.setting} {r.simulator} {r.quantity} {r.population} mode {r.mode} "
                    f"f {r.frequency_hz:g} Hz: theory {r.theory:.4g}, simulation "
                    f"{r.simulation:.4g} +- {r.se:.2g}"
                )
        return "\n".join(lines)


@dataclass
class SpatialPlan:
    """Every task of a spatial run, built (and checked) before anything runs."""

    settings: list
    point: tuple
    theory_tasks: list
    onset_tasks: dict  # (setting label, control) -> Task
    transfer_tasks: list
    chunk_sets: dict  # (setting label, simulator) -> SpatialChunks
    simulators: tuple


def spatial_tasks(
    params: dict,
    config: dict,
    point=None,
    g_values=None,
    control=None,
    duration=None,
    seed=None,
    simulator="brian2",
    simulators=None,
    planted: str = "none",
) -> SpatialPlan:
    """Build every task of :func:`run_spatial` (nothing runs; bad input raises here)."""
    from mfval.comparison.planted import plant_options
    from mfval.simulation.open_loop.tasks import transfer_task
    from mfval.simulation.spatial.tasks import spatial_tasks as chunk_tasks
    from mfval.tasks import task_seed
    from mfval.theory.closed_loop_tasks import spectrum_frequencies
    from mfval.theory.spatial_tasks import spatial_theory_task

    wp = config["working_point"]
    mu, sigma = point if point is not None else (wp["mu"], wp["sigma"])
    settings = sweep_settings(config, g_values, control)
    run_seed = int(params["simulation"]["seed"] if seed is None else seed)
    sim_cfg = config["simulation"]
    chunk_duration = float(sim_cfg["chunk_duration"])
    n_chunks = int(sim_cfg["n_chunks"])
    if duration is not None:
        ratio = float(duration) / chunk_duration
        if not (ratio >= 1 and abs(ratio - round(ratio)) < 1e-9):
            raise SpatialSettingsError(
                f"--duration {duration!r} s must be a whole number (>= 1) of chunks of "
                f"simulation.chunk_duration = {chunk_duration!r} s (params/spatial.yaml)"
            )
        n_chunks = int(round(ratio))
    ring = config["ring"]
    measure = config["measure"]
    frequencies = spectrum_frequencies(measure["segment"], measure["f_max"])
    simulators = tuple(simulators or (simulator,))
    from mfval.simulation.spatial.spec import SpatialPerturbation

    options = plant_options(planted, "spatial", mu, sigma)
    perturbation = SpatialPerturbation(**options) if options else None
    spatial_params = {**params, "spatial": config}
    theory_tasks, chunk_sets = [], {}
    for s in settings:
        p_s = s.params(params)
        radii = s.radii(ring["radius"])
        theory_tasks.append(
            spatial_theory_task(mu, sigma, p_s, _ring(ring, radii), g=s.g, frequencies=frequencies)
        )
        for sim_name in simulators:
            chunk_sets[(s.label, sim_name)] = chunk_tasks(
                mu,
                sigma,
                {**spatial_params, "network": p_s["network"]},
                task_seed(run_seed, f"spatial {s.label}", mu, sigma),
                ring={"length": ring["length"], "radius": radii},
                g=s.g,
                n_chunks=n_chunks,
                simulator=sim_name,
                measure=measure,
                perturbation=perturbation,
            )
    onset_tasks = onset_tasks_of(settings, params, config, mu, sigma)
    transfer = [
        transfer_task(
            mu,
            sigma,
            params,
            "synaptic",
            task_seed(run_seed, "transfer semi-empirical", mu, sigma),
            frequencies=config["sweep"]["transfer_frequencies"],
            simulator=simulators[0],
        )
    ]
    return SpatialPlan(
        settings=settings,
        point=(mu, sigma),
        theory_tasks=theory_tasks,
        onset_tasks=onset_tasks,
        transfer_tasks=transfer,
        chunk_sets=chunk_sets,
        simulators=simulators,
    )


def onset_tasks_of(settings, params, config, mu, sigma, transfer_data=None) -> dict:
    """Onset tasks per (setting label, control): along g at the setting's control value,
    and along the control at the setting's g (the same task for settings that share it)."""
    from mfval.theory.spatial_tasks import spatial_onset_task

    ring, brackets = config["ring"], config["sweep"]["brackets"]
    out = {}
    for s in settings:
        out[(s.label, "g")] = spatial_onset_task(
            mu,
            sigma,
            s.params(params),
            "g",
            brackets["g"],
            ring=_ring(ring, s.radii(ring["radius"])),
            transfer_data=transfer_data,
        )
        if s.control:
            if s.control not in brackets:
                raise SpatialSettingsError(
                    f"no onset bracket sweep.{s.control}_bracket in params/spatial.yaml"
                )
            out[(s.label, s.control)] = spatial_onset_task(
                mu,
                sigma,
                params,
                s.control,
                brackets[s.control],
                ring=_ring(ring, ring["radius"]),
                g=s.g,
                transfer_data=transfer_data,
            )
    return out


def _ring(ring: dict, radii) -> dict:
    """Ring setting of :mod:`mfval.theory.spatial_tasks` (SI) with these radii."""
    return {
        "ring_length": float(ring["length"]),
        "radii": [float(r) for r in radii],
        "n_modes": int(ring["n_modes"]),
    }


def _run_onsets(tasks: dict, store, workers, what, progress, client) -> dict:
    """Run the distinct onset tasks once; results per (setting label, control)."""
    from mfval.tasks import run_tasks

    distinct = list({t.key: t for t in tasks.values()}.values())
    results = dict(
        zip([t.key for t in distinct], run_tasks(distinct, store, workers, what, progress, client))
    )
    return {k: results[t.key] for k, t in tasks.items()}


def onset_columns(control: str, onset: dict, semi: dict) -> dict:
    """Columns of ``spatial_sweep.csv`` for the predicted onset along ``control``.

    ``<control>_c_<model>`` (the critical value; delay in s), ``mode_<control>_<model>``,
    ``k_star_<control>_<model>_per_mm``, ``f_star_<control>_<model>_hz`` for the
    models lif, rate (``onset``) and semi (``semi``, the open-loop measured N); for
    g also the names of issue 17 (``g_c_lif``, ``k_star_lif_per_mm``, ...).
    """
    out = {}
    for model, source in (("lif", onset), ("rate", onset), ("semi", semi)):
        out[f"{control}_c_{model}"] = source.get(f"value_c_{model}", math.nan)
        out[f"mode_{control}_{model}"] = source.get(f"mode_{model}", -1)
        out[f"k_star_{control}_{model}_per_mm"] = source.get(f"k_star_{model}_per_mm", math.nan)
        out[f"f_star_{control}_{model}_hz"] = source.get(f"f_star_{model}_hz", math.nan)
    if control == "g":
        out = {k.replace("_g_", "_"): v for k, v in out.items()}
    return out


def run_spatial(
    params: dict,
    config: dict,
    store=None,
    workers: int | None = None,
    progress: bool = True,
    client=None,
    raster: bool = True,
    predictions: bool = True,
    **settings,
) -> SpatialResult:
    """Run (or read from the store) a spatial sweep and judge it; see the module docstring.

    ``settings``: those of :func:`spatial_tasks` (``point``, ``g_values``,
    ``control``, ``duration``, ``seed``, ``simulator`` or ``simulators``, ``planted``).
    A second simulator runs the settings the LIF theory calls stable only (the
    Brian2 vs NEST rows). ``predictions=False`` skips the predicted onsets (and
    the open-loop run of the semi-empirical one): the judged rows do not use them.
    """
    from mfval.comparison.closed_loop import load_closed_loop_config, transfer_bounds
    from mfval.store import ResultStore
    from mfval.tasks import run_tasks

    store = store or ResultStore()
    cl_config = load_closed_loop_config()
    plan = spatial_tasks(params, config, **settings)
    mu, sigma = plan.point
    margin = stable_margin(cl_config)
    names = list(params["network"]["populations"])
    theory = run_tasks(plan.theory_tasks, store, workers, "spatial theory", progress, client)
    states = {
        s.label: setting_state(theory_arrays(th, names), margin)
        for s, th in zip(plan.settings, theory)
    }
    # the first simulator runs every setting; the others (Brian2 vs NEST rows) the stable ones
    first = plan.simulators[0]
    chunk_keys = [k for k in plan.chunk_sets if k[1] == first or states[k[0]] == "stable"]
    flat = [t for k in chunk_keys for t in plan.chunk_sets[k].tasks]
    transfer_tasks = plan.transfer_tasks if predictions else []
    sims = run_tasks(transfer_tasks + flat, store, workers, "spatial simulation", progress, client)
    transfer, chunk_results = (sims[0], sims[1:]) if predictions else (None, sims)
    measured, start = {}, 0
    for k in chunk_keys:
        c = plan.chunk_sets[k]
        measured[k] = c.tables(chunk_results[start : start + len(c.tasks)])
        start += len(c.tasks)
    onsets, semi = {}, {}
    if predictions:
        onsets = _run_onsets(plan.onset_tasks, store, workers, "spatial onsets", progress, client)
        # semi-empirical onsets: the open-loop measured N (second stage: its key holds the data)
        f_data = transfer["frequency_hz"].to_numpy()
        N_data = (transfer["tf_re_hz_per_mV"] + 1j * transfer["tf_im_hz_per_mV"]).to_numpy() * 1e3
        semi = _run_onsets(
            onset_tasks_of(plan.settings, params, config, mu, sigma, (f_data, N_data)),
            store,
            workers,
            "spatial semi-empirical onsets",
            progress,
            client,
        )

    _, phi_max = transfer_bounds([200.0], cl_config["psd"])
    spectra_frames, theory_frames, stability_frames, sweep_frames, rows = [], [], [], [], []
    predicted = {}
    for s, th in zip(plan.settings, theory):
        th_table, st_table = th["spectra"], th["stability"]
        point = stability = theory_arrays(th, names)
        state = setting_state(stability, margin)
        head = {
            "setting": s.label,
            "g": s.g,
            "control": s.control or "",
            "control_value": math.nan if s.value is None else s.value,
        }
        theory_frames.append(th_table.assign(**{k: v for k, v in head.items() if k != "g"}))
        stability_frames.append(st_table.assign(**head))
        g_onset = c_onset = {}
        if predictions:
            g_onset = onset_columns("g", onsets[(s.label, "g")], semi[(s.label, "g")])
            if s.control:
                c_onset = onset_columns(
                    s.control, onsets[(s.label, s.control)], semi[(s.label, s.control)]
                )
        lam = np.asarray(stability["crossing_lif"], float)
        for sim_name in plan.simulators:
            if (s.label, sim_name) not in measured:
                continue
            sim = measured[(s.label, sim_name)]
            spectra_frames.append(sim["spectra"].assign(simulator=sim_name, **head))
            summary = sim["summary"].assign(simulator=sim_name, **head)
            summary = summary.merge(static_modes(sim["spectra"], sim["summary"]), on="population")
            summary["state_lif"] = state
            summary["eigenvalue_max_lif"] = float(np.max(lam[np.isfinite(lam)], initial=-np.inf))
            summary["predicted_mode_lif"] = int(np.argmax(np.where(np.isfinite(lam), lam, -np.inf)))
            for key, value in g_onset.items():
                summary[key] = value
            for key, value in c_onset.items():
                summary[key] = value
            sweep_frames.append(summary)
            if state == "stable":
                rows += stable_rows(
                    s, sim_name, sim, point, stability, params["network"], config, cl_config
                )
            elif state == "unstable":
                # the phase of N D at the theory's frequencies, for the f* allowance
                f_grid = np.asarray(point["transfer_frequencies"], float)
                nd = np.asarray(point["transfer"]) * np.exp(
                    -2j * np.pi * f_grid * float(point["delay"])
                )
                n_pred = int(np.argmax(np.where(np.isfinite(lam), lam, -np.inf)))
                f_allow = peak_frequency_allowance(
                    float(stability["crossing_frequency_lif"][n_pred]),
                    np.angle(nd),
                    f_grid,
                    float(phi_max[0]),
                )
                rows += unstable_rows(
                    s, sim_name, sim, stability, point, f_allow, config, cl_config
                )
        if len(plan.simulators) == 2 and state == "stable":
            a, b = (measured[(s.label, x)] for x in plan.simulators)
            rows += simulator_rows(s, a, b, config, names)
    sweep = pd.concat(sweep_frames, ignore_index=True)
    # measured onset along the control (or g): the bracket between the last asynchronous
    # and the first oscillating setting, scanning from the stable side
    control = plan.settings[0].control
    x_name = control or "g"
    sweep["rate_at_working_point"] = _rate_stable(sweep, cl_config)
    for sim_name in plan.simulators:
        for name in names:
            sel = (sweep["simulator"] == sim_name) & (sweep["population"] == name)
            part = sweep[sel]
            x = (part["control_value"] if control else part["g"]).to_numpy(float)
            if np.unique(x).size < 2:
                continue
            towards_unstable = -1.0 if control == "radius_ratio" else 1.0
            m = measured_onset(x, part["rate_at_working_point"].to_numpy(bool), towards_unstable)
            sweep.loc[sel, f"{x_name}_c_sim"] = m["value"]
            sweep.loc[sel, f"{x_name}_c_sim_se"] = m["half_width"] / math.sqrt(3)
            sweep.loc[sel, f"{x_name}_c_sim_bracket"] = m["bracket"]
            predicted[f"measured {sim_name} {name}"] = m["value"]
    for tag, label in (("lif", "LIF theory"), ("rate", "rate model"), ("semi", "semi-empirical")):
        col = f"{x_name}_c_{tag}"
        if col in sweep:
            values = sweep[col].dropna().unique()
            predicted[label] = float(values[0]) if values.size else math.nan
    comparison = judged_spatial_table(rows + chi2_rows(rows))
    shown = _shown_setting(sweep)
    raster_data = {}
    if raster:
        raster_data = _raster(plan, shown, store)
    return SpatialResult(
        spectra=pd.concat(spectra_frames, ignore_index=True),
        theory=pd.concat(theory_frames, ignore_index=True),
        stability=pd.concat(stability_frames, ignore_index=True),
        sweep=sweep,
        comparison=comparison,
        predictions=predicted,
        raster=raster_data,
        control_label=_control_label(control),
        shown_setting=shown,
    )


def measured_onset(values, asynchronous, towards_unstable: float = 1.0) -> dict:
    """Onset of the simulated oscillation along a control: a bracket of two settings.

    Scanning the settings from the stable side (``towards_unstable`` = +1: the
    control grows towards the instability, -1: it shrinks), the onset lies
    between the last setting still ``asynchronous`` (the a-priori criterion of
    the closed-loop sweep: the rate at its working point, :func:`_rate_stable`)
    and the next one. Returns ``value`` (the bracket's midpoint), ``half_width``
    (its SE is half_width / sqrt(3), a uniform distribution inside it) and
    ``bracket`` (text); nan where all or no settings are asynchronous or the
    first setting is not.
    """
    x = np.asarray(values, float)
    ok = np.asarray(asynchronous, bool)
    order = np.argsort(towards_unstable * x, kind="stable")
    x, ok = x[order], ok[order]
    nan = {"value": math.nan, "half_width": math.nan, "bracket": ""}
    if ok.all() or not ok.any() or not ok[0]:
        return nan
    i = int(np.argmin(ok))  # the first oscillating setting
    a, b = x[i - 1], x[i]
    return {"value": (a + b) / 2, "half_width": abs(b - a) / 2, "bracket": f"{a:g}..{b:g}"}


def _rate_stable(part: pd.DataFrame, cl_config: dict) -> np.ndarray:
    """Rate still at the working point's theory (the sweep's a-priori criterion), per row."""
    deviation = (part["rate_hz"] - part["theory_rate_hz"]).abs()
    bound = (
        cl_config["k"] * part["rate_se_hz"]
        + cl_config["stable_rate_relative"] * part["theory_rate_hz"]
    )
    return (deviation <= bound).to_numpy()


def _shown_setting(sweep: pd.DataFrame) -> str:
    """The setting whose raster is drawn: the largest order parameter of E."""
    e = sweep[sweep["population"] == sweep["population"].iloc[0]]
    return str(e.loc[e["order_parameter"].idxmax(), "setting"])


def _raster(plan: SpatialPlan, label: str, store) -> dict:
    """Space-time raster (plain arrays) of the first chunk of setting ``label``."""
    from mfval.simulation.network.tasks import stored_recording
    from mfval.simulation.spatial.measure import space_time_raster

    chunks = plan.chunk_sets[(label, plan.simulators[0])]
    spec = chunks.spec.chunks[0]
    recording = stored_recording(spec, store)
    r = space_time_raster(recording, spec, 0.0, 0.1)
    return {
        "time_s": r["times"],
        "position_mm": np.asarray(r["positions"]) * 1e3,
        "population": np.asarray(r["names"])[np.asarray(r["population"], int)],
        "title": f"{label} ({plan.simulators[0]}, first chunk)",
    }


def _control_label(control: str | None) -> str:
    return {
        None: "relative inhibition g",
        "radius_ratio": "width ratio R_I / R_E",
        "delay": "delay (s)",
    }[control]
