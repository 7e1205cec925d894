"""The closed-loop figure: spectra at the working point, order parameter and f* versus g.

- Panel A (one axis per population): the simulated PSD of the
  population-averaged rate (line with a +-1 SE band), nnmt's LIF theory and
  the fitted rate model (same delay), and the Poisson level rate / N.
- Panel B: the order parameter (mean PSD over the oscillation band over
  rate / N) versus g with +-1 SE, the LIF theory's value (linear response,
  only below its onset), and the three predicted onsets g_c (vertical
  lines) and the measured onset (+-1 SE band).
- Panel C: the frequency of the spectral peak versus g (+-1 SE) and the
  three predicted f*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfval.figures.figure5 import plt, save_figure

COLORS = {"E": "tab:blue", "I": "tab:red"}
PREDICTION_STYLE = {
    "LIF theory": {"color": "black", "ls": "--"},
    "rate model": {"color": "tab:green", "ls": ":"},
    "semi-empirical": {"color": "tab:purple", "ls": "-."},
}


def spectra_axes(axes, sim: pd.DataFrame, theory: pd.DataFrame, f_max: float = 1000.0) -> None:
    """Panel A on one axis per population (``axes`` in population order)."""
    for ax, (name, s) in zip(axes, sim.groupby("population", sort=False)):
        s = s[s["frequency_hz"] <= f_max]
        t = theory[(theory["population"] == name) & (theory["frequency_hz"] <= f_max)]
        c = COLORS.get(name, "tab:gray")
        f = s["frequency_hz"].to_numpy()
        ax.fill_between(
            f,
            s["psd_per_s"] - s["psd_se_per_s"],
            s["psd_per_s"] + s["psd_se_per_s"],
            color=c,
            alpha=0.3,
            lw=0,
        )
        ax.plot(f, s["psd_per_s"], color=c, lw=1, label="simulation (+-1 SE)")
        ax.plot(t["frequency_hz"], t["psd_lif_per_s"], "k--", lw=1.2, label="LIF theory (nnmt)")
        ax.plot(
            t["frequency_hz"],
            t["psd_rate_model_per_s"],
            color="tab:green",
            ls=":",
            lw=1.5,
            label="rate model",
        )
        ax.axhline(t["poisson_psd_per_s"].iloc[0], color="0.5", lw=0.8, label="rate / N")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("PSD (1/s)")
        g = float(s["g"].iloc[0])
        ax.set_title(
            f"{name}: mu={s['mu_mV'].iloc[0]:g} mV, sigma={s['sigma_mV'].iloc[0]:g} mV, g={g:g}",
            fontsize=8,
        )
    axes[0].legend(fontsize=6, loc="lower left")


def closed_loop_figure(
    spectra: pd.DataFrame,
    theory_spectra: pd.DataFrame,
    stem,
    table: pd.DataFrame | None = None,
    predictions: dict | None = None,
    measured: dict | None = None,
) -> list:
    """Draw and save the closed-loop figure (``stem.png``, ``stem.pdf``); returns the paths.

    Parameters
    ----------
    spectra, theory_spectra : DataFrame
        Simulated and theory spectra of one point and g (panel A).
    table : DataFrame, optional
        ``sweep.csv`` rows (panels B and C are drawn only with it).
    predictions, measured : dict, optional
        Predicted onsets by name, measured onset by population.
    """
    pops = list(dict.fromkeys(spectra["population"]))
    ncols = len(pops) + (2 if table is not None else 0)
    fig, axes = plt.subplots(1, ncols, figsize=(3.3 * ncols, 3.2), constrained_layout=True)
    axes = np.atleast_1d(axes)
    spectra_axes(axes[: len(pops)], spectra, theory_spectra)
    if table is not None:
        ax_r, ax_f = axes[len(pops)], axes[len(pops) + 1]
        for i, (name, s) in enumerate(table.groupby("population", sort=False)):
            c = COLORS.get(name, "tab:gray")
            shift = 0.06 * (i - 0.5)  # side by side, not on top of each other
            ax_r.errorbar(
                s["g"] + shift,
                s["band_ratio"],
                s["band_ratio_se"],
                fmt="o",
                color=c,
                ms=3,
                label=f"{name} simulation",
            )
            g_c_lif = (predictions or {}).get("LIF theory", {}).get("g_c", np.inf)
            below = s["g"] < g_c_lif  # linear response holds only below the onset
            ax_r.plot(
                s["g"][below],
                s["theory_band_ratio_lif"][below],
                color=c,
                ls="--",
                lw=0.8,
                label=f"{name} LIF theory",
            )
            ax_f.errorbar(
                s["g"] + shift,
                s["peak_frequency_hz"],
                s["peak_frequency_se_hz"],
                fmt="o",
                color=c,
                ms=3,
                label=f"{name} peak",
            )
        for name, pred in (predictions or {}).items():
            style = PREDICTION_STYLE.get(name, {"color": "0.3", "ls": "-"})
            ax_r.axvline(pred["g_c"], lw=1, label=f"g_c {name}", **style)
            ax_f.axhline(pred["f_star"], lw=1, label=f"f* {name}", **style)
        for name, m in (measured or {}).items():
            if np.isfinite(m["g_c"]):
                ax_r.axvspan(
                    m["g_c"] - m["g_c_se"],
                    m["g_c"] + m["g_c_se"],
                    color=COLORS.get(name, "0.5"),
                    alpha=0.15,
                    lw=0,
                    label=f"measured g_c ({name}, +-1 SE)",
                )
        ax_r.set_yscale("log")
        ax_r.set_xlabel("relative inhibition g")
        ax_r.set_ylabel("band PSD / (rate / N)")
        ax_r.set_title("order parameter (100-400 Hz band)", fontsize=8)
        ax_r.legend(fontsize=5)
        ax_f.set_xlabel("relative inhibition g")
        ax_f.set_ylabel("peak frequency (Hz)")
        ax_f.set_title("spectral peak vs predicted f*", fontsize=8)
        ax_f.legend(fontsize=5)
    return save_figure(fig, stem)
