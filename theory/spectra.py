"""Model spectra of the closed loop: LIF theory and rate model (nnmt conventions).

Pure functions of a :func:`mfval.theory.closed_loop.closed_loop_point` result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfval.theory.closed_loop import lif_connectivity, power_spectra, rate_connectivity
from mfval.theory.mean_field import nnmt_arrays


def model_spectrum(point: dict, network: dict, model: str, factor=None) -> np.ndarray:
    """PSD (1/s, (n_freq, n_pop)) of the LIF theory or rate model, N scaled by ``factor``.

    ``point`` is a :func:`mfval.theory.closed_loop.closed_loop_point` result for
    ``network``; ``factor`` (complex, (n_freq,)) multiplies the transfer
    function (the low-pass of the rate model), default 1.
    """
    f = point["frequencies"]
    factor = np.ones(f.size, complex) if factor is None else np.asarray(factor, complex)
    arrays = nnmt_arrays(network)
    if model == "lif":
        M = lif_connectivity(point["transfer"] * factor[:, None], f, arrays, point["delay"])
    elif model == "rate":
        M = rate_connectivity(f, point["tau_rate"], point["W_rate"], point["delay"])
        M = M * factor[:, None, None]
    else:
        raise ValueError(f"model must be 'lif' or 'rate', got model = {model!r}")
    return power_spectra(point["firing_rates"], M, arrays, point["population_size"])


def theory_spectra_table(point: dict, network: dict, g: float) -> pd.DataFrame:
    """Long table of the LIF-theory and rate-model spectra (1/s) of one point."""
    lif = model_spectrum(point, network, "lif")
    rate = model_spectrum(point, network, "rate")
    frames = []
    for p, name in enumerate(network["populations"]):
        frames.append(
            pd.DataFrame(
                {
                    "mu_mV": point["mu"] * 1e3,
                    "sigma_mV": point["sigma"] * 1e3,
                    "g": g,
                    "population": name,
                    "frequency_hz": point["frequencies"],
                    "psd_lif_per_s": lif[:, p],
                    "psd_rate_model_per_s": rate[:, p],
                    "poisson_psd_per_s": point["firing_rates"][p] / point["population_size"][p],
                    "cv_lif": point["cv"][p],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
