"""
Closed-loop spectra at the stability point
==========================================

The recurrent network at (10, 10) mV, g = 5: the power spectra of the E and I
population rates against nnmt's linear-response theory and the fitted rate
model. ``mfval run`` simulates this as independent 1 s chunks of the network
protocol; quick size uses two of them (the default uses ten), so this example
reads back the same simulations as the Figure 5 example.
"""

import matplotlib.pyplot as plt

from mfval.comparison.pipeline import default_settings, run_validation
from mfval.config import load_params
from mfval.figures.closed_loop import spectra_axes
from mfval.store import ResultStore

params = load_params(None)
settings = default_settings(params, quick=True)
result = run_validation(params, settings, ResultStore(), workers=2, progress=False)
closed = result.closed_loop

fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), constrained_layout=True)
spectra_axes(axes, closed.spectra, closed.theory_spectra)

# %%
# The spectrum rows of the comparison table (pointwise frequencies and one
# aggregate per spectrum) and the CV rows, with their verdicts.
table = result.comparison
rows = table[table["quantity"].astype(str).str.startswith(("psd", "cv"))]
columns = ["quantity", "population", "frequency_hz", "theory", "simulation", "se", "verdict"]
print(rows[columns].round(4).to_string(index=False))
