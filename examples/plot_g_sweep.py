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
sweep = run_sweep(params, point, g_values, ResultStore(), workers=2, progress=False, duration=2.0)
print(sweep.table.round(3).to_string(index=False))

# %%
# The order parameter against g, and the predicted onsets.
fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
ratio = [c for c in sweep.table.columns if c.startswith("ratio") and not c.endswith("_se")][0]
for population, rows in sweep.table.groupby("population"):
    ax.errorbar(rows["g"], rows[ratio], 2 * rows[ratio + "_se"], fmt="o-", label=population)
for (name, prediction), color in zip(sweep.predictions.items(), ["C2", "C3", "C4"]):
    ax.axvline(
        prediction["g_c"], color=color, ls="--", label=f"{name}: g_c = {prediction['g_c']:.2f}"
    )
ax.set_yscale("log")
ax.set_xlabel("relative inhibition g")
ax.set_ylabel("band power / Poisson value")
ax.legend(fontsize=7)

# %%
# Predicted and measured onsets (g_c, f*), with the verdicts of the onset rows.
for name, prediction in sweep.predictions.items():
    print(f"{name}: g_c = {prediction['g_c']:.2f}, f* = {prediction['f_star']:.0f} Hz")
for population, measured in sweep.measured.items():
    print(f"measured ({population}): {measured}")
print(sweep.comparison[["quantity", "population", "theory", "simulation", "verdict"]])
