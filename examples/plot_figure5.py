"""
Figure 5 with the simulation overlaid
=====================================

The main job, ``mfval run --quick``, from Python: the theory scan over the
(mu, sigma) grid as in Figure 5 of Senk et al. 2020, the spiking network at the
four marked working points (panel A) and the open-loop transfer functions
(panels B and C), with the simulated values and their standard errors drawn on
top of the theory. Quick size: a quarter of the default simulated time, so the
error bars are twice as wide as those of ``mfval run``.
"""

from mfval.comparison.pipeline import default_settings, run_validation
from mfval.config import load_params
from mfval.figures.comparison import comparison_figure
from mfval.store import ResultStore

params = load_params(None)  # params/default.yaml
settings = default_settings(params, quick=True)
result = run_validation(params, settings, ResultStore(), workers=2, progress=False)

fig = comparison_figure(result, params)

# %%
# The verdicts: one row per check (``comparison.csv`` of ``mfval run``).
# "not judged" rows lie outside the calibration or are reported without a verdict.
print(result.comparison["verdict"].value_counts().to_string())
