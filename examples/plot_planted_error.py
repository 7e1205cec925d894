"""
A planted error that the suite catches
======================================

A suite that cannot fail proves nothing. A planted error changes what is
measured, here the estimated transfer function's gain by 5 % everywhere
(``--planted tf_gain=1.05``), and the verdicts must fail. Measurement plants
judge the same simulations again (:func:`mfval.comparison.pipeline.replant`),
so this example simulates nothing new: it reuses the quick run of the Figure 5
example.
"""

import matplotlib.pyplot as plt

from mfval.comparison.pipeline import default_settings, replant, run_validation
from mfval.config import load_params
from mfval.store import ResultStore

params = load_params(None)
clean = run_validation(
    params, default_settings(params, quick=True), ResultStore(), workers=2, progress=False
)
planted = replant(clean, params, "tf_gain=1.05")

# (``replant`` judges the network and transfer-function rows again; the
# closed-loop rows of the clean run are not part of the replanted table.)
for name, result in (("clean", clean), ("tf_gain=1.05", planted)):
    counts = result.comparison["verdict"].value_counts()
    print(f"{name}: {counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail")

# %%
# The z of every gain row, clean and planted: the aggregate rows (the weighted
# mean gain ratio of each curve and over all points) see the error most clearly.
fig, ax = plt.subplots(figsize=(6, 3.2), constrained_layout=True)
for name, result, marker in (("clean", clean, "o"), ("tf_gain=1.05", planted, "x")):
    rows = result.comparison[result.comparison["quantity"] == "tf_amplitude"]
    ax.plot(range(len(rows)), rows["z"], marker, label=name)
ax.set_xlabel("gain row (pointwise, then aggregates)")
ax.set_ylabel("z")
ax.legend()

failed = planted.comparison[planted.comparison["verdict"] == "fail"]
print(failed[["kind", "quantity", "mu_mV", "sigma_mV", "frequency_hz", "z"]].head(12))
