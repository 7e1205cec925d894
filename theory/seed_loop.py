"""The seed example's plain loop (nnmt example "Mapping LIF to rate network").

This is the reference the project is checked against: the seed's own nnmt
calls on an ``nnmt.models.Basic`` network object, one working point after
the other, with no caching and no parallelism. It is used by
``scripts/make_golden.py`` (golden values), by the regression tests (the
project's pure functions must give the same numbers) and by
``benchmarks/theory_scan.py`` (the baseline timing).

The network is built from the project's parameter file (converted to the
val/unit dictionaries nnmt reads), so both sides describe the same model.
"""

from __future__ import annotations

import numpy as np

from mfval.theory.nnmt_compat import lif_exp as mft
from mfval.theory.nnmt_compat import nnmt


def basic_network(params: dict):
    """An ``nnmt.models.Basic`` network equal to the seed's Senk2020 network."""
    from nnmt.input_output import val_unit_to_quantities
    from nnmt.models.basic import Basic

    net, ana = params["network"], params["analysis"]
    n_pop = len(net["populations"])
    per_pop = lambda x, scale: [float(x) * scale] * n_pop  # noqa: E731
    network_params = {
        "populations": list(net["populations"]),
        "N": [int(n) for n in net["N"]],
        "C": {"val": per_pop(net["C"], 1e12), "unit": "pF"},
        "tau_m": {"val": per_pop(net["tau_m"], 1e3), "unit": "ms"},
        "tau_r": {"val": per_pop(net["tau_r"], 1e3), "unit": "ms"},
        "V_0_abs": {"val": per_pop(net["V_reset"], 1e3), "unit": "mV"},
        "V_th_abs": {"val": per_pop(net["V_th"], 1e3), "unit": "mV"},
        "tau_s": {"val": per_pop(net["tau_s"], 1e3), "unit": "ms"},
        "W": {"val": (np.asarray(net["W"]) * 1e12).tolist(), "unit": "pA"},
        "K": np.asarray(net["K"]).tolist(),
        "W_ext": {"val": (np.asarray(net["W_ext"]) * 1e12).tolist(), "unit": "pA"},
        "K_ext": np.asarray(net["K_ext"]).tolist(),
        "nu_ext": {"val": [1.0] * n_pop, "unit": "Hz"},
        "D": {"val": [[net["delay"] * 1e3] * n_pop] * n_pop, "unit": "ms"},
    }
    analysis_params = {
        "f_min": {"val": ana["f_min"], "unit": "Hz"},
        "f_max": {"val": ana["f_max"], "unit": "Hz"},
        "df": {"val": ana["df"], "unit": "Hz"},
    }
    return Basic(val_unit_to_quantities(network_params), val_unit_to_quantities(analysis_params))


def seed_scan(params: dict, points=None, verbose: bool = False) -> list[dict]:
    """Run the seed's loop over working points; one dict per point (SI units).

    Each dict holds mu, sigma, nu_ext (2,), firing_rate, tau_rate, W_rate,
    fit_error (floats; first population as in the seed), frequencies (n,),
    transfer_function and transfer_function_fit (complex, (n,)).
    """
    network = basic_network(params)
    frequencies = network.analysis_params["omegas"] / (2.0 * np.pi)
    if points is None:
        points = [(m, s) for m in params["scan"]["mu"] for s in params["scan"]["sigma"]]
    results = []
    for mu, sigma in points:
        if verbose:
            print(f" (mu, sigma) = ({mu * 1e3}, {sigma * 1e3}) mV")
        nu_ext = mft.external_rates_for_fixed_input(network, mu_set=mu, sigma_set=sigma)
        network.change_parameters(changed_network_params={"nu_ext": nu_ext}, overwrite=True)
        mft.working_point(network)
        mft.transfer_function(network)
        mft.fit_transfer_function(network)
        res = network.results
        results.append(
            {
                "mu": float(mu),
                "sigma": float(sigma),
                "nu_ext": np.asarray(nu_ext, float),
                "firing_rate": float(res[mft._prefix + "firing_rates"][0]),
                "tau_rate": float(res[mft._prefix + "tau_rate"][0]),
                "W_rate": float(res[mft._prefix + "W_rate"][0, 0]),
                "fit_error": float(res[mft._prefix + "fit_error"][0]),
                "frequencies": np.asarray(frequencies, float),
                "transfer_function": np.asarray(res[mft._prefix + "transfer_function"])[:, 0],
                "transfer_function_fit": np.asarray(res[mft._prefix + "transfer_function_fit"])[
                    :, 0
                ],
            }
        )
    return results


__all__ = ["basic_network", "seed_scan", "nnmt"]
