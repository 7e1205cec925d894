"""
Validating a changed parameter file (tau_m = 10 ms)
===================================================

A parameter file may ``inherit:`` another and override parts of it. Here the
membrane time constant is doubled to 10 ms; the same working points are
simulated (the external rates are derived anew for the new neuron) and judged.
Read the verdicts with care: the calibrated expected deviations of
``params/expected_deviations.yaml`` were measured at tau_m = 5 ms, so a row that
fails here says that the theory's error at 10 ms differs from the one at 5 ms,
not that a simulator is wrong. The measured deviations (answer (b): how large the
theory's error is, with its SE) hold either way.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from mfval.comparison.pipeline import default_settings, run_validation
from mfval.config import load_params
from mfval.params import __file__ as params_init
from mfval.store import ResultStore

default = Path(params_init).with_name("default.yaml")
folder = Path(tempfile.mkdtemp())
(folder / "tau_m_10ms.yaml").write_text(
    f"inherit: {default}\nnetwork:\n  tau_m: {{value: 10.0, unit: ms}}\n", encoding="utf-8"
)
params = load_params(folder / "tau_m_10ms.yaml")
print("tau_m =", params["network"]["tau_m"], "s")

settings = default_settings(params, quick=True)
settings.closed_loop_point = None  # network and transfer functions only
result = run_validation(params, settings, ResultStore(), workers=2, progress=False)
table = result.comparison

# %%
# The verdicts, and the measured deviation of the rate at each working point.
print(table["verdict"].value_counts().to_string())
rates = table[(table["quantity"] == "rate") & (table["kind"] == "point")]
print(rates[["mu_mV", "sigma_mV", "population", "deviation", "deviation_se", "verdict"]])

fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
gain = table[(table["quantity"] == "tf_amplitude") & table["frequency_hz"].notna()]
for (mu, sigma), rows in gain.groupby(["mu_mV", "sigma_mV"]):
    rows = rows.sort_values("frequency_hz")
    ax.errorbar(
        rows["frequency_hz"],
        100 * rows["deviation"],
        200 * rows["deviation_se"],
        fmt="o-",
        ms=3,
        label=f"({mu:g}, {sigma:g}) mV",
    )
ax.axhline(0, color="k", lw=0.8)
ax.set_xscale("log")
ax.set_xlabel("frequency (Hz)")
ax.set_ylabel("gain: sim / theory - 1 (%)")
ax.set_title("tau_m = 10 ms")
ax.legend(fontsize=7)

# %%
# The failing rows, if any, with the reason the report would give.
failed = table[table["verdict"] == "fail"]
print(failed[["quantity", "population", "mu_mV", "sigma_mV", "frequency_hz", "z"]].head(20))
