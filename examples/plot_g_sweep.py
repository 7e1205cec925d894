"""
The g sweep and the onset of oscillations
=========================================

``mfval sweep`` at quick size: the relative inhibition g is raised at a fixed
working point, (10, 10) mV, with the external rates re-derived for every g so
that only the loop gain changes. The onset g_c of the oscillatory instability is
predicted three ways (nnmt's LIF theory, the fitted rate model, and
semi-empirically from the transfer function measured in open loop) and measured
from the order parameter: the band power of the population rate over
100-400 Hz divided by its Poisson value rate / N. Quick size: 2 s of network
per g (the default is 10 s).
"""

import matplotlib.pyplot as plt

from mfval.comparison.sweep import run_sweep
from mfval.config import load_params
from mfval.store import ResultStore

params = load_params(None)
point = tuple(float(x) for x in params["scan"]["stability_point"])  # (10, 10) mV, in V
g_values = [5.0, 6.0, 7.0, 8.0, 9.0]
sweep = run_sweep(
    params,
    point,
    g_values,
    ResultStore(),
    workers=2,
    progress=False,
    duration=2.0,  # s of network per g (default 10 s)
    transfer_duration=1.0,  # s of open loop for the semi-empirical prediction (default 4 s)
)
columns = ["g", "population", "rate_hz", "band_ratio", "band_ratio_se", "stable"]
print(sweep.table[columns].round(3).to_string(index=False))

# %%
# The order parameter against g (points), the LIF theory's prediction of it below
# its onset (lines), and the predicted onsets (dashed).
fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
for (population, rows), color in zip(sweep.table.groupby("population"), ["C0", "C1"]):
    ax.errorbar(
        rows["g"],
        rows["band_ratio"],
        2 * rows["band_ratio_se"],
        fmt="o",
        color=color,
        label=f"simulation {population}",
    )
    below = rows[rows["g"] < sweep.predictions["LIF theory"]["g_c"]]  # linear response
    ax.plot(below["g"], below["theory_band_ratio_lif"], "-", color=color, lw=1)
for (name, prediction), color in zip(sweep.predictions.items(), ["C2", "C3", "C4"]):
    ax.axvline(prediction["g_c"], color=color, ls="--", label=f"{name}: {prediction['g_c']:.2f}")
ax.set_yscale("log")
ax.set_xlabel("relative inhibition g")
ax.set_ylabel("band power 100-400 Hz / (rate / N)")
ax.legend(fontsize=7)

# %%
# Predicted and measured onsets, and the verdicts of the onset rows. The measured
# onset extrapolates the order parameter's inverse from the last stable g values.
for name, prediction in sweep.predictions.items():
    print(f"{name}: g_c = {prediction['g_c']:.2f}, f* = {float(prediction['f_star']):.0f} Hz")
for population, measured in sweep.measured.items():
    print(
        f"measured ({population}): g_c = {measured['g_c']:.2f} +- {measured['g_c_se']:.2f}, "
        f"f* = {measured['f_star']:.0f} Hz"
    )
print(sweep.comparison[["quantity", "population", "theory", "simulation", "verdict"]])
