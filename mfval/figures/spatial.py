"""The spatial (ring) figure: wave trains, P(k, f) maps, growth rates and the onset.

- Panel A: space-time raster of the ring (a random subset of the neurons of
  each population) at the setting where the predicted wave train is
  strongest: position (mm) versus time (ms).
- Panels B and C: the spatiotemporal power spectrum P(k_n, f) of the E
  population's activity (two-sided, the mean of +f and -f) at the stable
  setting: simulated (B) and nnmt's LIF theory (C), on the same log color
  scale, with the Poisson level rate / N as the scale's reference.
- Panel D: the eigenvalue of each ring mode at its Nyquist crossing versus
  its wave number, LIF theory and rate model, at the settings of the sweep
  (> 1: unstable; the growth rates are in ``spatial_stability.csv``).
- Panel E: the order parameter of the simulation (peak mode power of the
  modes n >= 1 over rate / N, +-1 SE) versus the control parameter, with the
  predicted onsets (LIF theory, rate model, semi-empirical) as vertical lines.

Inputs are the plain tables of :mod:`mfval.comparison.spatial` (columns with
units in their names); nothing here computes a number that is reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfval.figures.closed_loop import COLORS, PREDICTION_STYLE
from mfval.figures.figure5 import plt, save_figure


def raster_axis(ax, raster: dict, max_neurons: int = 400, t_window_ms: float = 100.0) -> None:
    """Panel A: ``raster`` has arrays ``time_s``, ``position_mm``, ``population``."""
    t = np.asarray(raster["time_s"], float) * 1e3
    x = np.asarray(raster["position_mm"], float)
    pop = np.asarray(raster["population"])
    if t.size:
        t0 = t.min()
        keep = t <= t0 + t_window_ms
        t, x, pop = t[keep], x[keep], pop[keep]
    for name in dict.fromkeys(pop.tolist()):
        sel = pop == name
        ax.plot(t[sel], x[sel], ".", ms=1.0, color=COLORS.get(name, "tab:gray"), label=name)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("position on the ring (mm)")
    ax.set_title(raster.get("title", "space-time raster"), fontsize=9)
    if t.size:
        ax.legend(loc="upper right", fontsize=7, markerscale=6)


def psd_map_axis(ax, table: pd.DataFrame, column: str, title: str, norm=None, f_max=500.0):
    """P(k_n, f) of one population as a mode x frequency map; returns the image."""
    table = table[table["frequency_hz"] <= f_max]
    pivot = table.pivot_table(index="mode", columns="frequency_hz", values=column)
    f = pivot.columns.to_numpy(float)
    modes = pivot.index.to_numpy(int)
    img = ax.pcolormesh(
        f, modes, pivot.to_numpy(float), shading="nearest", norm=norm, cmap="viridis"
    )
    ax.set_xscale("log")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("ring mode n")
    ax.set_title(title, fontsize=9)
    return img


def growth_axis(ax, stability: pd.DataFrame) -> None:
    """Panel D: the eigenvalue at the Nyquist crossing versus k, each model and setting.

    Re lambda(k, f_c) where lambda crosses the positive real axis (1: onset;
    f_c = 0 for a static mode); modes whose eigenvalue never crosses are left out.
    """
    styles = {"lif": ("-", "LIF theory"), "rate": (":", "rate model")}
    settings = list(dict.fromkeys(stability["setting"]))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(settings), 1)))
    for (label, model), s in stability.groupby(["setting", "model"], sort=False):
        ls, name = styles.get(model, ("-", model))
        s = s.sort_values("wave_number_per_mm")
        ax.plot(
            s["wave_number_per_mm"],
            s["eigenvalue_abs_at_crossing"],
            ls=ls,
            marker="o" if model == "lif" else "s",
            ms=3,
            color=colors[settings.index(label)],
            label=f"{name}, {label}",
        )
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.set_xlabel("wave number k_n (1/mm)")
    ax.set_ylabel("eigenvalue at the Nyquist crossing (1: onset)")
    ax.legend(fontsize=6, ncol=2)


def onset_axis(ax, sweep: pd.DataFrame, control_label: str, predictions: dict) -> None:
    """Panel E: order parameter (+-1 SE) versus the control and the predicted onsets."""
    for name, s in sweep.groupby("population", sort=False):
        s = s.sort_values("control_value")
        ax.errorbar(
            s["control_value"],
            s["order_parameter"],
            yerr=s["order_parameter_se"],
            marker="o",
            ms=3,
            capsize=2,
            color=COLORS.get(name, "tab:gray"),
            label=f"simulation {name}",
        )
    for name, value in predictions.items():
        if value is not None and np.isfinite(value):
            ax.axvline(value, lw=1.2, label=f"{name}: {value:.3g}", **PREDICTION_STYLE[name])
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel(control_label)
    ax.set_ylabel("order parameter (peak mode power / (rate/N))")
    ax.legend(fontsize=6)


def spatial_figure(
    raster: dict,
    sim_spectra: pd.DataFrame,
    theory_spectra: pd.DataFrame,
    stability: pd.DataFrame,
    sweep: pd.DataFrame,
    control_label: str,
    predictions: dict,
    stem,
    population: str = "E",
) -> list:
    """Draw the five panels and save ``stem.png`` and ``stem.pdf``; returns the paths.

    Parameters
    ----------
    raster : dict
        ``time_s``, ``position_mm``, ``population`` (arrays of one run) and ``title``.
    sim_spectra, theory_spectra : DataFrame
        One setting: ``population, mode, frequency_hz`` and ``psd_per_s`` (simulation)
        or ``psd_lif_per_s`` (theory).
    stability : DataFrame
        ``setting, model, wave_number_per_mm, eigenvalue_abs_at_crossing``.
    sweep : DataFrame
        ``population, control_value, order_parameter, order_parameter_se``.
    predictions : dict
        Predicted onset per model name (``"LIF theory"``, ``"rate model"``,
        ``"semi-empirical"``), in the control parameter's unit.
    """
    from matplotlib.colors import LogNorm

    fig = plt.figure(figsize=(13, 7.5))
    grid = fig.add_gridspec(2, 3, hspace=0.35, wspace=0.3)
    raster_axis(fig.add_subplot(grid[0, 0]), raster)
    sim = sim_spectra[sim_spectra["population"] == population]
    th = theory_spectra[theory_spectra["population"] == population]
    th = th[th["frequency_hz"].isin(sim["frequency_hz"].unique())]
    values = np.concatenate([sim["psd_per_s"].to_numpy(), th["psd_lif_per_s"].to_numpy()])
    values = values[np.isfinite(values) & (values > 0)]
    norm = LogNorm(values.min(), values.max()) if values.size else None
    ax_b, ax_c = fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[0, 2])
    img = psd_map_axis(ax_b, sim, "psd_per_s", f"simulated P(k_n, f), {population}", norm)
    psd_map_axis(ax_c, th, "psd_lif_per_s", f"LIF theory P(k_n, f), {population}", norm)
    fig.colorbar(img, ax=[ax_b, ax_c], label="PSD (1/s)", shrink=0.8)
    growth_axis(fig.add_subplot(grid[1, 0:2]), stability)
    onset_axis(fig.add_subplot(grid[1, 2]), sweep, control_label, predictions)
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths
