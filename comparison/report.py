"""``report.md``: a short human-readable summary of one validation run.

Two answers, kept apart:

(a) *Is the simulation consistent with the theory and its documented
    expected deviation?* Pass/fail verdicts of the pointwise and aggregate
    rows, family-wise controlled; rows outside the calibrated region are
    listed as not judged, with the reason.
(b) *How large is the theory's error here?* The measured deviation of the
    simulation from the theory with 95 % confidence intervals, per working
    point, quantity and frequency; no verdict.
"""

from __future__ import annotations

import math

import pandas as pd

from mfval.comparison.checks import VERDICT_FAIL, VERDICT_NOT_JUDGED, VERDICT_PASS
from mfval.comparison.metrics import check_id
from mfval.comparison.tables import markdown_table

#: two-sided 95 % normal quantile for the confidence intervals of part (b)
Z95 = 1.959963984540054


def summary_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Verdict counts and the smallest Holm-adjusted p per quantity and kind of row."""
    rows = []
    for (quantity, kind), group in comparison.groupby(["quantity", "kind"], sort=False):
        p = group["p_holm"].astype(float)
        rows.append(
            {
                "quantity": quantity,
                "rows": kind,
                "checks": len(group),
                "pass": int((group["verdict"] == VERDICT_PASS).sum()),
                "fail": int((group["verdict"] == VERDICT_FAIL).sum()),
                "not judged": int((group["verdict"] == VERDICT_NOT_JUDGED).sum()),
                "min p (Holm)": float(p.min()) if p.notna().any() else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _section(title: str, table: pd.DataFrame) -> list[str]:
    """Lines of a report subsection: a heading and its table."""
    return [f"### {title}", "", markdown_table(table), ""]


def _where(row) -> str:
    return "all points" if pd.isna(row["mu_mV"]) else f"({row['mu_mV']:g}, {row['sigma_mV']:g})"


def aggregate_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The aggregate rows (mean ratio / offset and chi-square) in readable form."""
    agg = comparison[comparison["kind"] != "point"]
    rows = []
    for _, r in agg.iterrows():
        if r["kind"] == "mean":
            relative = r["scale"] == "relative"
            value = (
                f"{r['simulation']:.4f} ± {r['se']:.4f}"
                if relative
                else f"{r['simulation']:+.3g} ± {r['se']:.2g} {r['unit']}"
            )
            test = f"z = {r['z']:.2f} (allowance {r['allowance']:.3g})"
            what = "weighted mean ratio sim/expected" if relative else "weighted mean offset"
        else:
            value = f"chi2/n = {r['simulation']:.2f}"
            test = f"chi2 = {r['chi2']:.1f}, n = {int(r['dof'])}"
            what = "chi-square"
        rows.append(
            {
                "check": check_id(r),
                "where (mV)": _where(r),
                "quantity": r["quantity"],
                "population": r["population"],
                "aggregate": what,
                "n": int(r["n_points"]),
                "value": value,
                "test": test,
                "p": r["p_value"],
                "p (Holm)": r["p_holm"],
                "verdict": r["verdict"],
            }
        )
    return pd.DataFrame(rows)


def failed_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Every failed row, pointwise and aggregate, with what it compared."""
    failed = comparison[comparison["verdict"] == VERDICT_FAIL]
    return pd.DataFrame(
        {
            "check": [check_id(r) for _, r in failed.iterrows()],
            "kind": failed["kind"],
            "unit": failed["unit"],
            "expected": failed["expected"],
            "simulation": failed["simulation"],
            "sigma (run+cal)": failed["sigma"],
            "allowance": failed["allowance"],
            "z": failed["z"],
            "chi2": failed["chi2"],
            "p (Holm)": failed["p_holm"],
        }
    )


def not_judged_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Rows that were not judged, grouped by reason."""
    rows = comparison[comparison["verdict"] == VERDICT_NOT_JUDGED]
    if rows.empty:
        return pd.DataFrame()
    return (
        rows.groupby(["quantity", "reason"], sort=False)
        .size()
        .rename("rows")
        .reset_index()[["rows", "quantity", "reason"]]
    )


def _ci(dev: float, se: float, relative: bool) -> str:
    if not (math.isfinite(dev) and math.isfinite(se)):
        return ""
    if relative:
        return f"{100 * dev:+.1f} ± {100 * Z95 * se:.1f} %"
    return f"{dev:+.2f} ± {Z95 * se:.2f}"


def theory_error_tables(comparison: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Measured deviation of the theory with 95 % CIs (no verdict), as readable pivots.

    ``"point"``: quantities without frequency, rows (quantity, population),
    columns working points. ``"tf_amplitude"`` / ``"tf_phase"``: rows
    frequency, columns working points.
    """
    point = comparison[comparison["kind"] == "point"].copy()
    if point.empty:
        return {}
    point["where"] = [_where(r) for _, r in point.iterrows()]
    point["cell"] = [
        _ci(float(r["deviation"]), float(r["deviation_se"]), r["scale"] == "relative")
        for _, r in point.iterrows()
    ]
    out = {}
    flat = point[point["frequency_hz"].isna()]
    if not flat.empty:
        flat = flat.assign(
            quantity=[
                f"{q} ({'%' if s == 'relative' else u})"
                for q, s, u in zip(flat["quantity"], flat["scale"], flat["unit"])
            ]
        )
        out["point"] = flat.pivot_table(
            index=["quantity", "population"], columns="where", values="cell", aggfunc="first"
        ).reset_index()
    for quantity in ("tf_amplitude", "tf_phase"):
        tf = point[point["quantity"] == quantity]
        if tf.empty:
            continue
        tf = tf.assign(frequency_hz=tf["frequency_hz"].round(3))
        out[quantity] = tf.pivot_table(
            index="frequency_hz", columns="where", values="cell", aggfunc="first"
        ).reset_index()
    return out


def render_report(
    result, figure_name: str, elapsed_s: float, command: str, exit_code: int | None = None
) -> str:
    """The text of ``report.md`` for a :class:`mfval.comparison.pipeline.ValidationResult`."""
    comparison = result.comparison
    counts = comparison["verdict"].value_counts()
    settings = result.settings
    config = result.config
    records = config.expected.records
    lines = [
        "# Mean-field theory vs spiking simulation: validation report",
        "",
        f"Command: `{command}` ({elapsed_s:.0f} s wall). Planted error: `{settings.planted}`.",
        "",
        "## What was compared",
        "",
        f"- Theory (nnmt): {len(result.scan)} working points of the grid.",
        f"- Network simulations (E-I network, Brian2): {len(settings.network_points)} points; "
        "population rates and realized mean and std of the input, SE from independent blocks.",
        f"- Open-loop transfer functions: {len(settings.transfer_points)} points, "
        f"{result.transfer['frequency_hz'].nunique() if not result.transfer.empty else 0} "
        "frequencies each; amplitude and phase per frequency (phase corrected for the dt/2 "
        "spike-detection latency), and the low-pass fit (tau_rate, W_rate).",
        "- Expectation: theory + calibrated expected deviation "
        f"(`{config.expected.source}`, records: "
        f"{', '.join(r.get('id', '?') for r in records) or 'none'}). "
        "Rule: z = (|sim - expected| - allowance)+ / sqrt(SE_run^2 + SE_cal^2); "
        f"Holm over all judged rows at family-wise alpha = {config.family_wise_alpha:g} "
        "(params/validation.yaml).",
        "",
        "## (a) Consistency with the theory and its expected deviation",
        "",
        f"**{counts.get(VERDICT_PASS, 0)} pass, {counts.get(VERDICT_FAIL, 0)} fail, "
        f"{counts.get(VERDICT_NOT_JUDGED, 0)} not judged** out of {len(comparison)} rows "
        f"(pointwise and aggregate)"
        + (f"; exit code {exit_code}." if exit_code is not None else "."),
        "",
        markdown_table(summary_table(comparison)),
        "",
    ]
    for title, table in (
        ("Failed checks", failed_table(comparison)),
        ("Aggregate checks (per curve and over all points)", aggregate_table(comparison)),
        ("Not judged (measured deviation reported in (b))", not_judged_table(comparison)),
    ):
        if len(table):
            lines += _section(title, table)
    lines += [
        "## (b) Measured error of the theory (sim vs theory, 95 % CI; no verdict)",
        "",
        "Relative quantities in % of theory, phase in deg, mu in mV; the calibration measures "
        "the same quantity with other seeds and longer runs.",
        "",
    ]
    for name, table in theory_error_tables(comparison).items():
        title = {
            "point": "Rates, input statistics and fit parameters",
            "tf_amplitude": "Transfer-function amplitude (%)",
            "tf_phase": "Transfer-function phase (deg)",
        }[name]
        lines += _section(title, table)
    from mfval.comparison.cross_simulator import markdown_section

    lines += markdown_section(getattr(result, "cross_simulator", None))
    lines += report_section(getattr(result, "closed_loop", None))
    lines += ["## Figure", "", f"![Figure 5 with simulation]({figure_name})", ""]
    return "\n".join(lines)


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


def report_section(result) -> list[str]:
    """Markdown lines of the closed-loop section of ``report.md`` (empty without a result)."""
    if result is None:
        return []
    table = spectrum_summary(result.comparison)
    comparison = result.comparison
    cv = comparison[comparison["quantity"] == "cv"]
    shape = comparison[comparison["quantity"].isin(["psd_centroid", "psd_peak"])]
    chi2 = comparison[comparison["kind"] == "chi2"]
    stats = result.stats
    lines = [
        f"## Closed loop at ({stats['mu_mV'].iloc[0]:g}, {stats['sigma_mV'].iloc[0]:g}) mV",
        "",
        "Two-sided PSD of the population-averaged rate (1/s): simulation +- SE, nnmt's "
        "LIF theory (with the delay), the fitted rate model, and the semi-empirical "
        "prediction (open-loop measured N); rows `psd*` of comparison.csv.",
        "",
        markdown_table(table, ".4g") if len(table) else "(no rows)",
        "",
        "CV of the inter-spike intervals: "
        + ", ".join(
            f"{r.population} {r.simulation:.3f} +- {r.se:.3f} (nnmt {r.theory:.3f})"
            for r in cv.itertuples()
        ),
        "",
        "Shape of the resonance (100-400 Hz; Hz, expectation = LIF theory + calibrated "
        "deviation): "
        + ", ".join(
            f"{r.quantity.removeprefix('psd_')} {r.population} {r.simulation:.1f} +- {r.se:.1f} "
            f"(expected {r.expected:.1f}, {r.verdict})"
            for r in shape.itertuples()
        ),
        "",
        "Chi-square of each whole spectrum (every bin of the chi-square band, with the "
        "taper's bin-to-bin correlation): "
        + ", ".join(
            f"{r.quantity} {r.population} {r.chi2:.1f} / {int(r.dof)} (p {r.p_value:.2g}, "
            f"{r.verdict})"
            for r in chi2.itertuples()
        ),
        "",
        "![closed loop](closed_loop.png)",
        "",
    ]
    return lines
