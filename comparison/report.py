"""``report.md``: a short human-readable summary of one validation run."""

from __future__ import annotations

import pandas as pd

from comparison.checks import VERDICT_FAIL, VERDICT_KNOWN, VERDICT_PASS


def summary_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Counts of verdicts and the largest |z| per quantity."""
    rows = []
    for quantity, group in comparison.groupby("quantity", sort=False):
        worst = group.loc[(group["difference"].abs() / group["bound"]).idxmax()]
        rows.append(
            {
                "quantity": quantity,
                "checks": len(group),
                "pass": int((group["verdict"] == VERDICT_PASS).sum()),
                "known deviation": int((group["verdict"] == VERDICT_KNOWN).sum()),
                "fail": int((group["verdict"] == VERDICT_FAIL).sum()),
                "max |z|": float(group["z"].abs().max()),
                "worst (mu, sigma) mV": f"({worst['mu_mV']:g}, {worst['sigma_mV']:g})",
                "worst |diff|/bound": float(abs(worst["difference"]) / worst["bound"]),
            }
        )
    return pd.DataFrame(rows)


def _markdown(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A GitHub markdown table (no optional dependency)."""

    def cell(value):
        if isinstance(value, float):
            return format(value, floatfmt)
        return str(value)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def largest_deviations(comparison: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The n checks with the largest |difference| / bound."""
    ranked = comparison.assign(ratio=comparison["difference"].abs() / comparison["bound"])
    ranked = ranked.sort_values("ratio", ascending=False).head(n)
    return ranked[
        [
            "mu_mV",
            "sigma_mV",
            "quantity",
            "population",
            "frequency_hz",
            "unit",
            "theory",
            "simulation",
            "se",
            "allowance",
            "z",
            "verdict",
            "known_deviation",
        ]
    ]


def render_report(result, figure_name: str, elapsed_s: float, command: str) -> str:
    """The text of ``report.md`` for a :class:`comparison.pipeline.ValidationResult`."""
    comparison = result.comparison
    counts = comparison["verdict"].value_counts()
    settings = result.settings
    known = comparison[comparison["verdict"] == VERDICT_KNOWN]
    fails = comparison[comparison["verdict"] == VERDICT_FAIL]
    lines = [
        "# Mean-field theory vs spiking simulation: validation report",
        "",
        f"Command: `{command}` ({elapsed_s:.0f} s wall). Planted error: `{settings.planted}`.",
        "",
        "## What was compared",
        "",
        f"- Theory (nnmt): {len(result.scan)} working points of the grid.",
        f"- Network simulations (E-I network, Brian2): {len(settings.network_points)} points; "
        "population rates and realized mean input, SE from independent blocks.",
        f"- Open-loop transfer functions: {len(settings.transfer_points)} points, "
        f"{result.transfer['frequency_hz'].nunique() if not result.transfer.empty else 0} "
        "frequencies each; amplitude and phase per frequency, and the low-pass fit "
        "(tau_rate, W_rate).",
        "- Verdict rule: |sim - theory| <= k SE + allowance (params/validation.yaml).",
        "",
        f"**{counts.get(VERDICT_PASS, 0)} pass, {counts.get(VERDICT_KNOWN, 0)} known deviations, "
        f"{counts.get(VERDICT_FAIL, 0)} fail** out of {len(comparison)} checks.",
        "",
        "## Summary per quantity",
        "",
        _markdown(summary_table(comparison)),
        "",
        "## Largest deviations (|difference| / bound)",
        "",
        _markdown(largest_deviations(comparison)),
        "",
    ]
    if len(known):
        lines += ["## Known deviations of the theory", ""]
        for _, row in known.iterrows():
            where = "" if pd.isna(row["frequency_hz"]) else f" {row['frequency_hz']:g} Hz"
            lines.append(
                f"- ({row['mu_mV']:g}, {row['sigma_mV']:g}) mV {row['quantity']} "
                f"{row['population']}{where}: {row['known_deviation']}"
            )
        lines.append("")
    if len(fails):
        lines += ["## Failed checks", "", _markdown(largest_deviations(fails, len(fails))), ""]
    from comparison.cross_simulator import markdown_section

    lines += markdown_section(getattr(result, "cross_simulator", None))
    from comparison.closed_loop import report_section

    lines += report_section(getattr(result, "closed_loop", None))
    lines += ["## Figure", "", f"![Figure 5 with simulation]({figure_name})", ""]
    return "\n".join(lines)
