"""Aggregate checks and the family-wise verdicts of the whole table.

A systematic error smaller than the bound of every single frequency can
still be obvious over a whole curve. Besides the pointwise rows, every
group of independent judged rows gets two aggregate rows:

- ``mean``: the inverse-variance weighted mean of the ratio sim / expected
  (relative quantities: gain, rate, sigma, fit parameters; reported as
  ``simulation``, expectation 1) or of the offset sim - expected (absolute
  quantities: phase in deg, mu in mV; expectation 0), with its SE
  ``1 / sqrt(sum w)`` and the weighted mean allowance; z and p as for a
  pointwise row (:func:`mfval.comparison.checks.row_test`).
- ``chi2``: ``sum_i (max(|d_i| - a_i, 0) / sigma_i)^2`` over the n rows with
  its p-value from the chi-square distribution with n degrees of freedom
  (sees errors of either sign and of any shape).

Groups (rows in a group must be statistically independent):

- per curve: transfer-function amplitude and phase at one working point
  (the frequencies are driven by disjoint groups of neurons);
- per quantity over all working points: one independent simulation per
  point, for every quantity and population (network rows of one point come
  from one network and are not independent of each other, so they are not
  grouped per point).

:func:`family_wise_verdicts` applies Holm's procedure
(:func:`mfval.comparison.checks.holm`) to the p-values of all judged rows,
pointwise and aggregate, at the family-wise level of
``params/validation.yaml``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from mfval.comparison.checks import (
    VERDICT_FAIL,
    VERDICT_NOT_JUDGED,
    VERDICT_PASS,
    ValidationConfig,
    bonferroni_k,
    holm,
    row_test,
)

#: quantities aggregated per curve (per working point, over frequency)
CURVE_QUANTITIES = ("tf_amplitude", "tf_phase")


def _judged(rows: pd.DataFrame) -> pd.DataFrame:
    ok = np.isfinite(rows["p_value"].astype(float)) & (rows["verdict"] != VERDICT_NOT_JUDGED)
    return rows[ok]


def aggregate_of(rows: pd.DataFrame) -> tuple[dict, dict] | None:
    """The ``mean`` and ``chi2`` rows of one group of judged pointwise rows (n >= 2).

    Returns None for fewer than two rows. Fields are those of
    :data:`mfval.comparison.metrics.COLUMNS` that apply.
    """
    if len(rows) < 2:
        return None
    first = rows.iloc[0]
    relative = first["scale"] == "relative"
    sigma = rows["sigma"].to_numpy(float)
    expected = rows["expected"].to_numpy(float)
    difference = rows["difference"].to_numpy(float)
    allowance = rows["allowance"].to_numpy(float)
    if relative:
        values = 1 + difference / expected
        errors = sigma / np.abs(expected)
        allow = allowance / np.abs(expected)
        centre, unit = 1.0, "1"
    else:
        values, errors, allow, centre, unit = difference, sigma, allowance, 0.0, first["unit"]
    w = 1 / errors**2
    mean = float((w * values).sum() / w.sum())
    se = float(1 / math.sqrt(w.sum()))
    mean_allowance = float((w * allow).sum() / w.sum())
    z, p = row_test(mean - centre, se, mean_allowance)
    same = {
        "mu_mV": first["mu_mV"] if rows["mu_mV"].nunique() == 1 else math.nan,
        "sigma_mV": first["sigma_mV"] if rows["sigma_mV"].nunique() == 1 else math.nan,
        "quantity": first["quantity"],
        "population": first["population"],
        "frequency_hz": math.nan,
        "scale": first["scale"],
        "n_points": len(rows),
        "record": ",".join(sorted(set(",".join(rows["record"]).split(",")) - {""})),
    }
    mean_row = {
        **same,
        "kind": "mean",
        "unit": unit,
        "theory": math.nan,
        "expected": centre,
        "simulation": mean,
        "se": se,
        "sigma": se,
        "difference": mean - centre,
        "deviation": mean - centre,
        "deviation_se": se,
        "allowance": mean_allowance,
        "z": z,
        "p_value": p,
    }
    excess = np.maximum(np.abs(difference) - allowance, 0.0) / sigma
    chi2 = float((excess**2).sum())
    chi2_row = {
        **same,
        "kind": "chi2",
        "unit": "1",
        "chi2": chi2,
        "dof": len(rows),
        "simulation": chi2 / len(rows),
        "z": math.nan,
        "p_value": float(stats.chi2.sf(chi2, len(rows))),
    }
    return mean_row, chi2_row


def aggregate_rows(judged: pd.DataFrame, config: ValidationConfig | None = None) -> pd.DataFrame:
    """Aggregate rows of a judged table (see module docstring for the groups)."""
    rows: list[dict] = []
    point = _judged(judged[judged["kind"] == "point"]) if len(judged) else judged
    if point.empty:
        return pd.DataFrame()
    for (quantity, _, _, _), group in point.groupby(
        ["quantity", "population", "mu_mV", "sigma_mV"], sort=False
    ):
        if quantity in CURVE_QUANTITIES:
            agg = aggregate_of(group)
            if agg:
                rows += agg
    for _, group in point.groupby(["quantity", "population"], sort=False):
        if group[["mu_mV", "sigma_mV"]].drop_duplicates().shape[0] < 2:
            continue
        agg = aggregate_of(group)
        if agg:
            rows += agg
    return pd.DataFrame(rows)


def family_wise_verdicts(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Verdicts of all judged rows by Holm's procedure at family-wise level ``alpha``.

    Adds ``p_holm`` (adjusted p), ``verdict`` (pass / fail; rows without a
    p-value keep ``not judged``) and ``bound`` (Bonferroni bound
    ``k_B sigma + allowance`` for pointwise and mean rows, with k_B from
    :func:`mfval.comparison.checks.bonferroni_k` for the m judged rows).
    """
    table = table.copy()
    p = table["p_value"].astype(float).to_numpy()
    judged = np.isfinite(p) & (table["verdict"].fillna("") != VERDICT_NOT_JUDGED).to_numpy()
    p = np.where(judged, p, np.nan)
    rejected, adjusted = holm(p, alpha)
    table["p_holm"] = adjusted
    table["verdict"] = np.where(
        judged, np.where(rejected, VERDICT_FAIL, VERDICT_PASS), VERDICT_NOT_JUDGED
    )
    k = bonferroni_k(alpha, int(judged.sum()))
    table["bound"] = k * table["sigma"].astype(float) + table["allowance"].astype(float)
    table.loc[table["kind"] == "chi2", "bound"] = math.nan
    return table
