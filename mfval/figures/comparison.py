"""Figure 5 with the simulation overlaid on the theory.

- Panel A: theory heatmaps (external rates, rate); on the rate map, the
  simulated E rate ± SE as numbers at each simulated point; a fourth map of
  the relative deviation (sim - theory) / theory of the E rate in %, with its
  95 % confidence interval written in the cell.
- Panel B: theory transfer functions (lines) and their low-pass fits (dots)
  as in the seed; the expectation theory + calibrated expected deviation as
  a band (± 2 SE of the calibration; only over the calibrated frequencies);
  simulated N(f) as markers with error bars (±1 SE) in amplitude and phase
  (phase corrected for the detection latency), in the colour of their
  working point.
- Panel C: theory fit parameters (tau_rate, W_rate, fit error); simulated
  tau_rate and W_rate (fit to the simulated points) as numbers on the maps;
  a fourth map of the relative deviation of tau_rate in %, with its CI.

Cells of the deviation maps that were not simulated are grey and hatched
(legend "not simulated"), so that they cannot be read as 0 % deviation;
numbers on the maps are drawn unclipped, on top of everything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from mfval.comparison.calibration import NotCalibrated
from mfval.comparison.metrics import detection_latency
from mfval.figures.figure5 import figure5, grid_matrix, grid_position

#: half-width of the confidence intervals written on the deviation maps (95 %)
Z95 = 1.959963984540054


def _with_deviations(scan: pd.DataFrame, network: pd.DataFrame, fits: pd.DataFrame):
    scan = scan.copy()
    for column in ("rate_dev_pct", "rate_dev_ci_pct", "tau_dev_pct", "tau_dev_ci_pct"):
        scan[column] = np.nan
    for i, row in scan.iterrows():

        def at(df, row=row):
            return np.isclose(df["mu_mV"], row["mu_mV"]) & np.isclose(
                df["sigma_mV"], row["sigma_mV"]
            )

        if not network.empty:
            sim = network[at(network) & (network["population"] == "E")]
            if len(sim):
                scan.loc[i, "rate_dev_pct"] = 100 * (sim["rate_hz"].iloc[0] / row["rate_hz"] - 1)
                scan.loc[i, "rate_dev_ci_pct"] = (
                    100 * Z95 * sim["rate_se_hz"].iloc[0] / row["rate_hz"]
                )
        if not fits.empty:
            fit = fits[at(fits)]
            if len(fit):
                scan.loc[i, "tau_dev_pct"] = 100 * (
                    fit["tau_rate_ms"].iloc[0] / row["tau_rate_ms"] - 1
                )
                scan.loc[i, "tau_dev_ci_pct"] = (
                    100 * Z95 * fit["tau_rate_se_ms"].iloc[0] / row["tau_rate_ms"]
                )
    return scan


def _annotate(ax, scan, mu_mV, sigma_mV, text):
    """A number in the cell of a working point: small, two lines, never clipped."""
    x, y = grid_position(scan, mu_mV, sigma_mV)
    ax.text(
        x,
        y - 0.18,  # below the centre, where the star of the stability point sits
        text,
        ha="center",
        va="center",
        fontsize=4.5,
        linespacing=0.9,
        color="white",
        clip_on=False,
        zorder=10,
        bbox={"boxstyle": "round,pad=0.12", "fc": "black", "alpha": 0.55, "lw": 0},
    )


def mark_not_simulated(ax, scan: pd.DataFrame, column: str) -> int:
    """Grey, hatched cells where ``column`` is NaN (not simulated); returns their number."""
    _, _, values = grid_matrix(scan, column)
    n = 0
    for j, i in zip(*np.nonzero(np.isnan(values))):
        ax.add_patch(
            Rectangle(
                (i, j), 1, 1, facecolor="0.85", edgecolor="0.55", hatch="////", lw=0, zorder=2
            )
        )
        n += 1
    return n


def _deviation_map(ax, scan, column, ci_column) -> None:
    """Hatch the cells not simulated, write deviation ± CI in the others, add a legend."""
    mark_not_simulated(ax, scan, column)
    for _, row in scan[np.isfinite(scan[column])].iterrows():
        _annotate(
            ax,
            scan,
            row["mu_mV"],
            row["sigma_mV"],
            f"{row[column]:+.1f}\n±{row[ci_column]:.1f}",
        )
    ax.legend(
        handles=[
            Patch(facecolor="0.85", edgecolor="0.55", hatch="////", label="not simulated"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        fontsize=5,
        frameon=False,
        title="cells: dev. ± 95 % CI",
        title_fontsize=5,
    )


def expected_band(config, quantity: str, mu_mV: float, sigma_mV: float, f, theory):
    """(f, low, high) of theory + expected deviation ± 2 SE_cal where it is calibrated.

    ``theory`` is the amplitude (Hz/mV) or the phase (deg) at ``f`` (Hz);
    frequencies outside the calibration are left out (no extrapolation).
    """
    keep, low, high = [], [], []
    for k, (fk, tk) in enumerate(zip(f, theory)):
        try:
            d, se, _ = config.expected.lookup(quantity, "E (synaptic)", mu_mV, sigma_mV, fk)
        except NotCalibrated:
            continue
        if quantity == "tf_amplitude":
            low.append(tk * (1 + d - 2 * se))
            high.append(tk * (1 + d + 2 * se))
        else:
            low.append(tk + d - 2 * se)
            high.append(tk + d + 2 * se)
        keep.append(k)
    return np.asarray(f)[keep], np.asarray(low), np.asarray(high)


def comparison_figure(result, params: dict):
    """Draw Figure 5 with simulation on top; returns the matplotlib figure.

    Parameters
    ----------
    result : mfval.comparison.pipeline.ValidationResult
    params : dict
    """
    scan = _with_deviations(result.scan, result.network, result.fits)
    fig, axes = figure5(
        scan,
        result.theory_transfer,
        params,
        width=10.0,
        extra={
            "A": ("rate_dev_pct", "E rate deviation\n(sim - theory)/theory (%)", 1.0),
            "C": ("tau_dev_pct", r"$\tau$ deviation from" + "\nnnmt fit (%)", 1.0),
        },
    )
    _deviation_map(axes["rate_dev_pct"], scan, "rate_dev_pct", "rate_dev_ci_pct")
    _deviation_map(axes["tau_dev_pct"], scan, "tau_dev_pct", "tau_dev_ci_pct")
    if not result.network.empty:
        for _, sim in result.network[result.network["population"] == "E"].iterrows():
            _annotate(
                axes["rate_hz"],
                scan,
                sim["mu_mV"],
                sim["sigma_mV"],
                f"{sim['rate_hz']:.1f}\n±{sim['rate_se_hz']:.1f}",
            )
    if not result.fits.empty:
        for _, fit in result.fits.iterrows():
            _annotate(
                axes["tau_rate_ms"],
                scan,
                fit["mu_mV"],
                fit["sigma_mV"],
                f"{fit['tau_rate_ms']:.2f}\n±{fit['tau_rate_se_ms']:.2f}",
            )
            _annotate(
                axes["W_rate"],
                scan,
                fit["mu_mV"],
                fit["sigma_mV"],
                f"{fit['W_rate']:.2f}\n±{fit['W_rate_se']:.2f}",
            )
    ax_amp, ax_phase = axes["amplitude"], axes["phase"]
    theory_tf = result.theory_transfer
    for (mu, sigma), (_, light) in axes["tf_colors"].items():
        rows = theory_tf[
            np.isclose(theory_tf["mu_mV"], mu) & np.isclose(theory_tf["sigma_mV"], sigma)
        ]
        if rows.empty:
            continue
        f = rows["frequency_hz"].to_numpy()
        tf = rows["tf_re_hz_per_mV"].to_numpy() + 1j * rows["tf_im_hz_per_mV"].to_numpy()
        for ax, quantity, values in (
            (ax_amp, "tf_amplitude", np.abs(tf)),
            (ax_phase, "tf_phase", np.degrees(np.angle(tf))),
        ):
            fb, low, high = expected_band(result.config, quantity, mu, sigma, f, values)
            if fb.size:
                ax.fill_between(fb, low, high, color=light, alpha=0.5, lw=0, zorder=0)
    latency = detection_latency(float(params["simulation"]["dt"]))
    transfer = result.transfer
    if not transfer.empty:
        for (mu, sigma), sim in transfer.groupby(["mu_mV", "sigma_mV"]):
            dark = axes["tf_colors"].get((float(mu), float(sigma)), ("k", "k"))[0]
            f = sim["frequency_hz"].to_numpy()
            corrected = {
                "amp": sim["amp_hz_per_mV"].to_numpy(),
                "phase": sim["phase_deg"].to_numpy() + 360.0 * f * latency,
            }
            for ax, column in ((ax_amp, "amp"), (ax_phase, "phase")):
                unit = "hz_per_mV" if column == "amp" else "deg"
                ax.errorbar(
                    f,
                    corrected[column],
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

        from mfval.comparison.cross_simulator import overlay_transfer

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
                Patch(facecolor="0.8", label="theory + expected dev. ±2 SE$_{cal}$"),
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
