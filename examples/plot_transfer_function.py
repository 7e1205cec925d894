"""
One transfer function, measured and compared
============================================

The open-loop protocol at one working point, (10, 10) mV: neurons driven by
Poisson input with exactly the theory's (mu, sigma) and a small modulation of the
mean input at 12 frequencies. The measured response N(f) (gain and phase, with
standard errors) is compared with nnmt's transfer function plus the calibrated
expected deviation, row by row, as ``mfval run`` does.
"""

import matplotlib.pyplot as plt

from mfval.comparison.pipeline import RunSettings, run_validation
from mfval.config import load_params
from mfval.store import ResultStore

params = load_params(None)
point = (10e-3, 10e-3)  # (mu, sigma) in V
quick = {"duration": params["simulation"]["transfer_duration"] / 4}
settings = RunSettings(network_points=[], transfer_points=[point], transfer_options=quick)
result = run_validation(params, settings, ResultStore(), workers=2, progress=False)

rows = result.comparison
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), constrained_layout=True)
for ax, quantity, label in zip(
    axes, ["tf_amplitude", "tf_phase"], ["gain |N| (Hz/mV)", "phase (deg)"]
):
    r = rows[(rows["quantity"] == quantity) & rows["frequency_hz"].notna()]
    r = r.sort_values("frequency_hz")
    ax.plot(r["frequency_hz"], r["theory"], "k-", label="nnmt")
    ax.plot(r["frequency_hz"], r["expected"], "k--", label="nnmt + expected deviation")
    ax.errorbar(r["frequency_hz"], r["simulation"], 2 * r["se"], fmt="o", ms=3, label="simulation")
    ax.set_xscale("log")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel(label)
axes[0].legend(fontsize=7)

# %%
# Each row's verdict. The phase is corrected for the spike-detection latency of
# the time grid before it is compared (``correction`` column).
columns = ["quantity", "frequency_hz", "theory", "simulation", "se", "expected", "z", "verdict"]
print(rows[columns].round(3).to_string(index=False))
