"""Brian2 vs NEST: simulator-vs-simulator rows for every measured quantity.

Two independent implementations of the same protocol (same spec, same
connectivity realization, independent noise) must agree within their
statistical errors: where they do, the remaining distance to the theory is
the theory's; where they do not, a simulation is wrong. The rule has no
model-error allowance:

    |value_b - value_a| <= k * sqrt(se_a^2 + se_b^2) + allowance

with k and the (documented numerical) allowances from the
``cross_simulator`` section of ``params/validation.yaml``
(:func:`mfval.comparison.checks.load_cross_config`); by default every allowance is 0.

Rows (:data:`COLUMNS`), one per working point and

- network, per population: ``rate``, ``cv``, ``mu_realized``,
  ``sigma_realized`` (:mod:`mfval.simulation.network.measure`);
- open loop, per mode and frequency: ``tf_amplitude``, ``tf_phase``
  (difference wrapped to (-180, 180]); per mode: ``tf_rate``
  (mean rate of the modulated neurons), ``tf_mu_realized`` (probe
  neurons), ``tau_rate``, ``W_rate`` (low-pass fits);
- one aggregate row per curve, which sees small systematic differences that
  single frequencies cannot: ``tf_gain_ratio``, the inverse-variance
  weighted mean over frequencies of |N_b(f)| / |N_a(f)| (expected 1), and
  ``tf_phase_offset``, the weighted mean of the wrapped phase differences
  (expected 0), each with the SE 1 / sqrt(sum of weights) of a weighted
  mean of independent estimates (the frequencies are simulated by disjoint
  neuron groups, hence independent).

For an aggregate row ``value_a`` holds the null value (1 or 0) and
``value_b`` the statistic. Multiplicity: with k = 4 and about 150 rows for
the four marked points, the chance of one false alarm in the table is about
1 % for Gaussian errors (the block SEs of the network rows have about 18
degrees of freedom combined, which raises it to a few %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mfval.comparison.angles import wrap_degrees
from mfval.comparison.tables import markdown_table

COLUMNS = [
    "mu_mV",
    "sigma_mV",
    "quantity",
    "population",
    "mode",
    "frequency_hz",
    "unit",
    "simulator_a",
    "simulator_b",
    "value_a",
    "se_a",
    "value_b",
    "se_b",
    "difference",
    "se",
    "z",
    "k",
    "allowance",
    "bound",
    "verdict",
]

VERDICT_PASS, VERDICT_FAIL = "pass", "fail"

#: network quantities: (quantity, value column, SE column, unit)
NETWORK_QUANTITIES = [
    ("rate", "rate_hz", "rate_se_hz", "Hz"),
    ("cv", "cv", "cv_se", "1"),
    ("mu_realized", "mu_realized_mV", "mu_realized_se_mV", "mV"),
    ("sigma_realized", "sigma_realized_mV", "sigma_realized_se_mV", "mV"),
]

#: quantities with a cross-simulator rule (allowance entries must name one of them)
QUANTITIES = (
    [q for q, *_ in NETWORK_QUANTITIES]
    + ["tf_amplitude", "tf_phase", "tf_rate", "tf_mu_realized", "tau_rate", "W_rate"]
    + ["tf_gain_ratio", "tf_phase_offset"]
)


@dataclass
class CrossConfig:
    """k and the documented numerical allowances (absolute, in the row's unit) per quantity."""

    k: float = 4.0
    allowances: dict = field(default_factory=dict)
    justifications: dict = field(default_factory=dict)

    def allowance(self, quantity: str) -> float:
        return float(self.allowances.get(quantity, 0.0))


#: keys of the ``cross_simulator`` section and of one allowance entry
CROSS_KEYS = ("k", "allowances")
ALLOWANCE_KEYS = ("absolute", "justification")


def cross_config(path: str | Path, raw: dict) -> CrossConfig:
    """The :class:`CrossConfig` of the ``cross_simulator`` section of a validation file.

    ``raw`` is the whole file as read by
    :func:`mfval.comparison.checks.load_cross_config` (or ``load_validation``);
    without a ``cross_simulator`` section the defaults apply (k = 4, no allowance).

    Raises
    ------
    ParameterError
        (a ValueError) Naming the file, key and value of a bad entry: an
        unknown key, k not a positive number, an unknown quantity, an
        allowance without justification or a negative one.
    """
    from mfval.config import ParameterError, mapping, number

    if raw.get("cross_simulator") is None:
        return CrossConfig()
    section = mapping(path, "cross_simulator", raw["cross_simulator"], CROSS_KEYS)
    k = number(path, "cross_simulator.k", section.get("k", 4), "positive")
    allowances, justifications = {}, {}
    entries = mapping(path, "cross_simulator.allowances", section.get("allowances"))
    for quantity, entry in entries.items():
        key = f"cross_simulator.allowances.{quantity}"
        if quantity not in QUANTITIES:
            raise ParameterError(path, key, entry, f"unknown quantity {quantity!r}")
        if not isinstance(entry, dict) or not str(entry.get("justification", "")).strip():
            raise ParameterError(path, key, entry, "every allowance needs a justification")
        mapping(path, key, entry, ALLOWANCE_KEYS)
        allowances[quantity] = number(path, f"{key}.absolute", entry.get("absolute", 0.0))
        justifications[quantity] = str(entry["justification"]).strip()
    return CrossConfig(k=k, allowances=allowances, justifications=justifications)


def _row(config, *, value_a, se_a, value_b, se_b, quantity, difference=None, **where) -> dict:
    diff = float(value_b - value_a) if difference is None else float(difference)
    se = float(math.hypot(se_a, se_b))
    allowance = config.allowance(quantity)
    bound = config.k * se + allowance
    ok = abs(diff) <= bound if math.isfinite(diff) and math.isfinite(bound) else False
    row = {
        "mu_mV": math.nan,
        "sigma_mV": math.nan,
        "population": "",
        "mode": "",
        "frequency_hz": math.nan,
        **where,
        "quantity": quantity,
        "value_a": float(value_a),
        "se_a": float(se_a),
        "value_b": float(value_b),
        "se_b": float(se_b),
        "difference": diff,
        "se": se,
        "z": diff / se if se > 0 else math.nan,
        "k": config.k,
        "allowance": allowance,
        "bound": bound,
        "verdict": VERDICT_PASS if ok else VERDICT_FAIL,
    }
    return row


def _pair_row(config, quantity, ra, rb, col, se_col, unit, **where) -> dict:
    """:func:`_row` of column ``col`` (SE ``se_col``) of two records (dicts or Series)."""
    return _row(
        config,
        quantity=quantity,
        value_a=ra[col],
        se_a=ra[se_col],
        value_b=rb[col],
        se_b=rb[se_col],
        unit=unit,
        **where,
    )


def _key(df: pd.DataFrame, cols) -> pd.Series:
    return df[cols].round(9).astype(str).agg("|".join, axis=1)


def network_cross_rows(a: pd.DataFrame, b: pd.DataFrame, config: CrossConfig) -> list[dict]:
    """Rows for two network tables (:func:`mfval.simulation.network.measure.measure_network`)."""
    rows = []
    cols = ["mu_mV", "sigma_mV", "population"]
    b_by = dict(zip(_key(b, cols), b.to_dict("records")))
    for ka, ra in zip(_key(a, cols), a.to_dict("records")):
        rb = b_by.get(ka)
        if rb is None:
            continue
        where = {
            "mu_mV": ra["mu_mV"],
            "sigma_mV": ra["sigma_mV"],
            "population": ra["population"],
            "simulator_a": ra["simulator"],
            "simulator_b": rb["simulator"],
        }
        for quantity, col, se_col, unit in NETWORK_QUANTITIES:
            rows.append(_pair_row(config, quantity, ra, rb, col, se_col, unit, **where))
    return rows


def curve_aggregates(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Gain ratio and phase offset of two transfer curves (same frequencies), with SEs.

    Parameters
    ----------
    a, b : DataFrame
        Rows of one curve each (:func:`mfval.simulation.open_loop.measure.measure_transfer`),
        same frequencies in the same order.

    Returns
    -------
    dict
        ``gain_ratio``, ``gain_ratio_se`` (weighted mean of |N_b|/|N_a|,
        weights 1/SE^2 of each ratio, SE by first-order propagation),
        ``phase_offset_deg``, ``phase_offset_se_deg``, ``n``.
    """
    amp_a, amp_b = a["amp_hz_per_mV"].to_numpy(), b["amp_hz_per_mV"].to_numpy()
    se_a, se_b = a["amp_se_hz_per_mV"].to_numpy(), b["amp_se_hz_per_mV"].to_numpy()
    ratio = amp_b / amp_a
    ratio_se = ratio * np.hypot(se_a / amp_a, se_b / amp_b)
    w = 1.0 / ratio_se**2
    dphi = wrap_degrees(b["phase_deg"].to_numpy() - a["phase_deg"].to_numpy())
    dphi_se = np.hypot(a["phase_se_deg"].to_numpy(), b["phase_se_deg"].to_numpy())
    wp = 1.0 / dphi_se**2
    return {
        "gain_ratio": float(np.sum(w * ratio) / np.sum(w)),
        "gain_ratio_se": float(1.0 / math.sqrt(np.sum(w))),
        "phase_offset_deg": float(np.sum(wp * dphi) / np.sum(wp)),
        "phase_offset_se_deg": float(1.0 / math.sqrt(np.sum(wp))),
        "n": int(len(ratio)),
    }


def transfer_cross_rows(
    a: pd.DataFrame,
    b: pd.DataFrame,
    config: CrossConfig,
    fits_a: pd.DataFrame | None = None,
    fits_b: pd.DataFrame | None = None,
) -> list[dict]:
    """Rows for two transfer tables (pointwise, per-curve scalars and aggregates)."""
    rows = []
    for (mu, sigma, mode), ca in a.groupby(["mu_mV", "sigma_mV", "mode"], sort=False):
        cb = b[np.isclose(b["mu_mV"], mu) & np.isclose(b["sigma_mV"], sigma) & (b["mode"] == mode)]
        if cb.empty:
            continue
        ca = ca.sort_values("frequency_hz")
        cb = cb.sort_values("frequency_hz")
        if not np.allclose(ca["frequency_hz"].to_numpy(), cb["frequency_hz"].to_numpy()):
            raise ValueError(
                f"transfer curves at ({mu:g}, {sigma:g}) mV, {mode} have different frequencies"
            )
        sims = {"simulator_a": ca["simulator"].iloc[0], "simulator_b": cb["simulator"].iloc[0]}
        where = {"mu_mV": float(mu), "sigma_mV": float(sigma), "mode": mode, **sims}
        for ra, rb in zip(ca.to_dict("records"), cb.to_dict("records")):
            f = {"frequency_hz": float(ra["frequency_hz"])}
            rows.append(
                _pair_row(
                    config,
                    "tf_amplitude",
                    ra,
                    rb,
                    "amp_hz_per_mV",
                    "amp_se_hz_per_mV",
                    "Hz/mV",
                    **where,
                    **f,
                )  # fmt: skip
            )
            rows.append(
                _row(
                    config,
                    quantity="tf_phase",
                    value_a=ra["phase_deg"],
                    se_a=ra["phase_se_deg"],
                    value_b=rb["phase_deg"],
                    se_b=rb["phase_se_deg"],
                    difference=float(wrap_degrees(rb["phase_deg"] - ra["phase_deg"])),
                    unit="deg",
                    **where,
                    **f,
                )
            )
        first_a, first_b = ca.iloc[0], cb.iloc[0]
        for quantity, col, se_col, unit in (
            ("tf_rate", "rate_mean_hz", "rate_mean_se_hz", "Hz"),
            ("tf_mu_realized", "mu_realized_mV", "mu_realized_se_mV", "mV"),
        ):
            if np.isfinite(first_a[col]) and np.isfinite(first_b[col]):
                rows.append(
                    _pair_row(config, quantity, first_a, first_b, col, se_col, unit, **where)
                )
        # aggregates: b's mean ratio and offset against the exact 1 and 0 of a itself
        agg = curve_aggregates(ca, cb)
        for quantity, col, se_col, reference, unit in (
            ("tf_gain_ratio", "gain_ratio", "gain_ratio_se", 1.0, "1"),
            ("tf_phase_offset", "phase_offset_deg", "phase_offset_se_deg", 0.0, "deg"),
        ):
            exact = {col: reference, se_col: 0.0}
            rows.append(_pair_row(config, quantity, exact, agg, col, se_col, unit, **where))
        if fits_a is not None and fits_b is not None and not fits_a.empty and not fits_b.empty:

            def fit_of(fits, mu=mu, sigma=sigma, mode=mode):
                sel = (
                    np.isclose(fits["mu_mV"], mu)
                    & np.isclose(fits["sigma_mV"], sigma)
                    & (fits["mode"] == mode)
                )
                return fits[sel].iloc[0] if sel.any() else None

            fa, fb = fit_of(fits_a), fit_of(fits_b)
            if fa is not None and fb is not None:
                for quantity, col, se_col, unit in (
                    ("tau_rate", "tau_rate_ms", "tau_rate_se_ms", "ms"),
                    ("W_rate", "W_rate", "W_rate_se", "1"),
                ):
                    rows.append(_pair_row(config, quantity, fa, fb, col, se_col, unit, **where))
    return rows


def cross_simulator_table(
    results: dict,
    config: CrossConfig,
    reference: str | None = None,
) -> pd.DataFrame:
    """All cross-simulator rows: every other simulator against the reference.

    Parameters
    ----------
    results : dict
        simulator name -> dict with ``network``, ``transfer``, ``fits``
        DataFrames (any may be empty).
    config : CrossConfig
        Its ``k`` and allowances (:func:`mfval.comparison.checks.load_cross_config`).
    reference : str, optional
        Simulator "a" of every row (default: the first of ``results``).
    """
    names = list(results)
    if len(names) < 2:
        return pd.DataFrame(columns=COLUMNS)
    ref = reference or names[0]
    rows: list[dict] = []
    for other in names:
        if other == ref:
            continue
        a, b = results[ref], results[other]
        if not a["network"].empty and not b["network"].empty:
            rows += network_cross_rows(a["network"], b["network"], config)
        if not a["transfer"].empty and not b["transfer"].empty:
            rows += transfer_cross_rows(
                a["transfer"], b["transfer"], config, a.get("fits"), b.get("fits")
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def cross_id(row) -> str:
    """Readable id of one row, e.g. ``mu10-sigma10-rate-E`` or ``...-tf_phase-synaptic-99.5Hz``."""
    parts = [f"mu{row['mu_mV']:g}", f"sigma{row['sigma_mV']:g}", row["quantity"]]
    for col in ("population", "mode"):
        if row[col]:
            parts.append(str(row[col]))
    if not (isinstance(row["frequency_hz"], float) and math.isnan(row["frequency_hz"])):
        parts.append(f"{row['frequency_hz']:g}Hz")
    return "-".join(parts)


def markdown_section(table: pd.DataFrame) -> list[str]:
    """Lines of the report section "Brian2 vs NEST" (empty if there are no rows)."""
    if table is None or table.empty:
        return []
    n_fail = int((table["verdict"] == VERDICT_FAIL).sum())
    sims = f"{table['simulator_a'].iloc[0]} (a) vs {table['simulator_b'].iloc[0]} (b)"
    lines = [
        "## Brian2 vs NEST",
        "",
        f"{sims}: same specs and connectivity, independent noise; rule |b - a| <= k SE "
        f"(k = {table['k'].iloc[0]:g}, combined SE, no model-error allowance). "
        f"**{len(table) - n_fail} pass, {n_fail} fail** out of {len(table)} rows.",
        "",
    ]
    summary = (
        table.assign(absz=table["z"].abs(), fail=table["verdict"] == VERDICT_FAIL)
        .groupby("quantity", sort=False)
        .agg(rows=("z", "size"), fail=("fail", "sum"), max_abs_z=("absz", "max"))
        .reset_index()
    )
    lines += [markdown_table(summary, ".4g", nan="nan"), ""]
    agg = table[table["quantity"].isin(["tf_gain_ratio", "tf_phase_offset"])]
    if len(agg):
        lines += ["Aggregate rows per curve:", ""]
        cols = ["mu_mV", "sigma_mV", "mode", "quantity", "value_b", "se_b", "z", "verdict"]
        lines += [markdown_table(agg[cols], ".4g", nan="nan"), ""]
    fails = table[table["verdict"] == VERDICT_FAIL]
    if len(fails):
        lines += ["Disagreements:", ""]
        cols = ["quantity", "value_a", "se_a", "value_b", "se_b", "z"]
        lines += [
            markdown_table(
                fails.assign(row=[cross_id(r) for _, r in fails.iterrows()])[["row", *cols]],
                ".4g",
                nan="nan",
            ),
            "",
        ]
    return lines


def overlay_transfer(result, axes) -> list[str]:
    """Draw the other simulators' transfer functions on Figure 5's panel B; their names.

    The first simulator of the run is drawn by :mod:`mfval.figures.comparison`
    (open squares); every other one as filled triangles, shifted right by 3 %
    in frequency so that the error bars stay apart.
    """
    by_sim = getattr(result, "by_simulator", None) or {}
    names = list(by_sim)
    for name in names[1:]:
        transfer = by_sim[name]["transfer"]
        if transfer.empty:
            continue
        for (mu, sigma), sim in transfer.groupby(["mu_mV", "sigma_mV"]):
            dark = axes["tf_colors"].get((float(mu), float(sigma)), ("k", "k"))[0]
            f = sim["frequency_hz"].to_numpy() * 1.03
            for ax, col, se in (
                (axes["amplitude"], "amp_hz_per_mV", "amp_se_hz_per_mV"),
                (axes["phase"], "phase_deg", "phase_se_deg"),
            ):
                ax.errorbar(
                    f,
                    sim[col],
                    yerr=sim[se],
                    color=dark,
                    ls="none",
                    marker="^",
                    ms=2.5,
                    elinewidth=0.6,
                    capsize=1.0,
                )
    return names
