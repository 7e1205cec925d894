"""Figure 5 with the simulation overlaid on the theory.

- Panel A: theory heatmaps (external rates, rate); on the rate map, the
  simulated E rate ± SE as numbers at each simulated point; a fourth map of
  the relative deviation (sim - theory) / theory of the E rate in %.
- Panel B: theory transfer functions (lines) and their low-pass fits (dots)
  as in the seed; simulated N(f) as markers with error bars (±1 SE) in
  amplitude and phase, in the colour of their working point.
- Panel C: theory fit parameters (tau_rate, W_rate, fit error); simulated
  tau_rate and W_rate (fit to the simulated points) as numbers on the maps;
  a fourth map of the relative deviation of tau_rate in %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from theory.figure import figure5, grid_position


def _with_deviations(scan: pd.DataFrame, network: pd.DataFrame, fits: pd.DataFrame):
    scan = scan.copy()
    scan["rate_dev_pct"] = np.nan
    scan["tau_dev_pct"] = np.nan
    for i, row in scan.iterrows():

        def at(df, row=row):
            return np.isclose(df["mu_mV"], row["mu_mV"]) & np.isclose(
                df["sigma_mV"], row["sigma_mV"]
            )

        if not network.empty:
            sim = network[at(network) & (network["population"] == "E")]
            if len(sim):
                scan.loc[i, "rate_dev_pct"] = 100 * (sim["rate_hz"].iloc[0] / row["rate_hz"] - 1)
        if not fits.empty:
            fit = fits[at(fits)]
            if len(fit):
                scan.loc[i, "tau_dev_pct"] = 100 * (
                    fit["tau_rate_ms"].iloc[0] / row["tau_rate_ms"] - 1
                )
    return scan


def _annotate(ax, scan, mu_mV, sigma_mV, text):
    x, y = grid_position(scan, mu_mV, sigma_mV)
    ax.text(
        x,
        y - 0.28,
        text,
        ha="center",
        va="center",
        fontsize=5.5,
        color="white",
        bbox={"boxstyle": "round,pad=0.15", "fc": "black", "alpha": 0.55, "lw": 0},
    )


def comparison_figure(result, params: dict):
    """Draw Figure 5 with simulation on top; returns the matplotlib figure.

    Parameters
    ----------
    result : comparison.pipeline.ValidationResult
    params : dict
    """
    scan = _with_deviations(result.scan, result.network, result.fits)
    fig, axes = figure5(
        scan,
        result.theory_transfer,
        params,
        width=10.0,
        extra={
            "A": ("rate_dev_pct", "rate deviation\n(sim - theory)/theory (%)", 1.0),
            "C": ("tau_dev_pct", r"$\tau$ deviation from" + "\nnnmt fit (%)", 1.0),
        },
    )
    if not result.network.empty:
        for _, sim in result.network[result.network["population"] == "E"].iterrows():
            _annotate(
                axes["rate_hz"],
                scan,
                sim["mu_mV"],
                sim["sigma_mV"],
                f"{sim['rate_hz']:.1f}±{sim['rate_se_hz']:.1f}",
            )
    if not result.fits.empty:
        for _, fit in result.fits.iterrows():
            _annotate(
                axes["tau_rate_ms"],
                scan,
                fit["mu_mV"],
                fit["sigma_mV"],
                f"{fit['tau_rate_ms']:.2f}±{fit['tau_rate_se_ms']:.2f}",
            )
            _annotate(
                axes["W_rate"],
                scan,
                fit["mu_mV"],
                fit["sigma_mV"],
                f"{fit['W_rate']:.2f}±{fit['W_rate_se']:.2f}",
            )
    ax_amp, ax_phase = axes["amplitude"], axes["phase"]
    transfer = result.transfer
    if not transfer.empty:
        for (mu, sigma), sim in transfer.groupby(["mu_mV", "sigma_mV"]):
            dark = axes["tf_colors"].get((float(mu), float(sigma)), ("k", "k"))[0]
            f = sim["frequency_hz"].to_numpy()
            for ax, column in ((ax_amp, "amp"), (ax_phase, "phase")):
                unit = "hz_per_mV" if column == "amp" else "deg"
                ax.errorbar(
                    f,
                    sim[f"{column}_{unit}"],
                    yerr=sim[f"{column}_se_{unit}"],
                    color=dark,
                    ls="none",
                    marker="s",
                    ms=2.5,
                    mfc="white",
                    elinewidth=0.8,
                    capsize=1.5,
                )
        from matplotlib.lines import Line2D

        from comparison.cross_simulator import overlay_transfer

        names = overlay_transfer(result, axes) or ["brian2"]
        others = [
            Line2D([], [], color="k", ls="none", marker="^", ms=3, label=f"{n} ±1 SE")
            for n in names[1:]
        ]
        ax_amp.legend(
            handles=others
            + [
                Line2D([], [], color="k", label="LIF theory (nnmt)"),
                Line2D([], [], color="k", ls="none", marker="o", ms=1.5, label="rate model (fit)"),
                Line2D(
                    [],
                    [],
                    color="k",
                    ls="none",
                    marker="s",
                    ms=3,
                    mfc="white",
                    label=f"spiking simulation ({names[0]}) ±1 SE",
                ),
            ],
            loc="lower left",
        )
    fig.suptitle(
        "Mean-field theory (nnmt) vs spiking simulation "
        f"({' and '.join(getattr(result, 'by_simulator', None) or ['brian2'])}); "
        "numbers on maps: simulated value ± SE",
        fontsize=9,
    )
    return fig
