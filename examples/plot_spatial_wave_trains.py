"""
Wave trains on the ring
=======================

The Figure 5 network on a ring of 1 mm (each neuron draws its inputs within a
boxcar of half-width R_E = 0.2 mm and R_I; Senk et al. 2020), at (10, 10) mV and
g = 5, at the two settings that ``pytest -m validation`` judges: R_I / R_E = 0.35
(the paper's widths), where the LIF theory's ring mode n = 3 is unstable at
196 Hz, and R_I / R_E = 1, where every mode is stable. Four independent 1 s
chunks per setting (the default of ``params/spatial.yaml``, so the simulations
are those of the validation run); ``predictions=False`` skips the predicted
onsets of ``mfval spatial``, which the judged rows do not use.
"""

import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm

from mfval.comparison.spatial import load_spatial_config, run_spatial
from mfval.config import load_params
from mfval.figures.spatial import psd_map_axis, raster_axis
from mfval.store import ResultStore

params = load_params(None)
result = run_spatial(
    params,
    load_spatial_config(),
    store=ResultStore(),
    workers=2,
    progress=False,
    predictions=False,
    g_values=[5.0],
    control=("radius_ratio", [0.35, 1.0]),
)

# %%
# The space-time raster of the unstable setting shows the wave trains; the
# simulated spectrum of the E population's activity modes at the stable setting
# sits next to the LIF theory's (same color scale).
stable = "g=5 R_I/R_E=1"
sim = result.spectra[(result.spectra["setting"] == stable) & (result.spectra["population"] == "E")]
th = result.theory[(result.theory["setting"] == stable) & (result.theory["population"] == "E")]
norm = LogNorm(sim["psd_per_s"].min(), sim["psd_per_s"].max())
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
raster_axis(axes[0], result.raster)
psd_map_axis(axes[1], sim, "psd_per_s", "simulated P(k_n, f), E, R_I/R_E = 1", norm)
img = psd_map_axis(axes[2], th, "psd_lif_per_s", "LIF theory P(k_n, f), E", norm)
fig.colorbar(img, ax=axes[1:], label="PSD (1/s)")

# %%
# Where the waves are: the peak of the (k, f) spectrum, its travelling direction
# and the order parameter, per setting and population.
columns = ["setting", "population", "state_lif", "rate_hz", "peak_mode", "peak_frequency_hz"]
columns += ["order_parameter", "order_parameter_se", "phase_velocity_mm_per_s"]
print(result.sweep[columns].round(3).to_string(index=False))

# %%
# The judged rows: spectra, their band means and chi-squares at the stable
# setting, the peak mode and frequency at the unstable one.
table = result.comparison
print(table.groupby(["setting", "quantity"])["verdict"].value_counts().to_string())
