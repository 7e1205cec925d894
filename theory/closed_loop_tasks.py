"""Store tasks of the closed-loop theory (kind ``closed_loop_theory``, ``onset_theory``).

Thin wrappers that give :mod:`mfval.theory.closed_loop`'s pure functions a store
key (every parameter, the frequencies and the software versions) so that
they are cached and distributable like every other task.
"""

from __future__ import annotations

import numpy as np

from mfval.config import analysis_frequencies, stable_hash
from mfval.tasks import Task
from mfval.theory.closed_loop import (
    closed_loop_point,
    network_with_g,
    onset_from_transfer,
    rate_model_onset_lambertw,
)
from mfval.theory.mean_field import nnmt_arrays
from mfval.theory.versions import software_versions

#: bump when the content of a closed-loop theory result changes
CLOSED_LOOP_THEORY_SCHEMA = 1

#: frequency grid (Hz) on which the onsets are searched: start, stop, step
ONSET_GRID = (20.0, 1000.0, 1.0)

#: g interval searched for an onset
G_BOUNDS = (4.05, 40.0)


def spectrum_frequencies(segment: float, f_max: float) -> np.ndarray:
    """Frequencies (Hz) of a spectrum estimated from segments of ``segment`` s, up to f_max."""
    df = 1.0 / float(segment)
    return np.arange(1, int(np.floor(f_max / df + 1e-9)) + 1) * df


def point_theory(mu, sigma, network, frequencies, fit_frequencies, g=None) -> dict:
    """:func:`~mfval.theory.closed_loop.closed_loop_point` at relative inhibition g (a task)."""
    net = network if g is None else network_with_g(network, g)
    return closed_loop_point(mu, sigma, net, np.asarray(frequencies), np.asarray(fit_frequencies))


def closed_loop_theory_task(
    mu: float, sigma: float, params: dict, frequencies, g: float | None = None
) -> Task:
    """Store task: LIF and rate-model spectra, CVs, eigenvalue at one point (and g)."""
    frequencies = np.asarray(frequencies, float)
    fit_frequencies = analysis_frequencies(params)
    network = params["network"]
    key = stable_hash(
        "closed_loop_theory",
        CLOSED_LOOP_THEORY_SCHEMA,
        software_versions(),
        network,
        frequencies,
        fit_frequencies,
        float(mu),
        float(sigma),
        None if g is None else float(g),
    )
    label = f"closed-loop theory mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV"
    return Task(
        kind="closed_loop_theory",
        key=key,
        func=point_theory,
        kwargs={
            "mu": float(mu),
            "sigma": float(sigma),
            "network": network,
            "frequencies": frequencies,
            "fit_frequencies": fit_frequencies,
            "g": None if g is None else float(g),
        },
        label=label + ("" if g is None else f" g={g:g}"),
    )


def onsets(
    mu: float, sigma: float, network: dict, fit_frequencies, tf_bounds: tuple | None = None
) -> dict:
    """Predicted onset (g_c, f*) of the LIF theory and of the rate model at (mu, sigma).

    LIF: nnmt's N(f) on :data:`ONSET_GRID`; rate model: the low-pass fitted
    at ``fit_frequencies`` (Figure 5), both by the eigenvalue crossing, and
    the rate model also by Lambert W (``rate_lambertw_*``).

    ``tf_bounds`` = (a_max, phi_max): largest relative amplitude excess and
    phase advance (rad) of the real transfer function over the model's near
    f*; the onsets are recomputed with N (1 + a) exp(i phi) over that box and
    the largest change of g_c and f* is returned as ``*_allowance``.
    """
    f = np.arange(*ONSET_GRID)
    point = closed_loop_point(mu, sigma, network, f, np.asarray(fit_frequencies))
    lif = onset_from_transfer(f, point["transfer"], network, G_BOUNDS)
    tau, h0 = point["tau_rate"], point["h0"]
    low_pass = h0[None, :] / (1 + 2j * np.pi * f[:, None] * tau[None, :])
    rate = onset_from_transfer(f, low_pass, network, G_BOUNDS)

    def W_rate(g):
        a = nnmt_arrays(network_with_g(network, g))
        return h0[:, None] * a.tau_m[:, None] * a.J * a.K

    lw = rate_model_onset_lambertw(float(tau[0]), W_rate, float(network["delay"]), G_BOUNDS)
    allowance = {}
    for name, N, best in (("lif", point["transfer"], lif), ("rate", low_pass, rate)):
        dg = df = 0.0
        if tf_bounds is not None:
            for a in np.linspace(0, tf_bounds[0], 3):
                for phi in np.linspace(0, tf_bounds[1], 3):
                    r = onset_from_transfer(f, N * (1 + a) * np.exp(1j * phi), network, G_BOUNDS)
                    dg = max(dg, abs(r["g_c"] - best["g_c"]))
                    df = max(df, abs(r["f_star"] - best["f_star"]))
        allowance[f"g_c_{name}_allowance"] = dg
        allowance[f"f_star_{name}_allowance_hz"] = df
    return {
        **allowance,
        "g_c_lif": lif["g_c"],
        "f_star_lif_hz": lif["f_star"],
        "g_c_rate": rate["g_c"],
        "f_star_rate_hz": rate["f_star"],
        "g_c_rate_lambertw": lw["g_c"],
        "f_star_rate_lambertw_hz": lw["f_star"],
        "tau_rate_s": float(tau[0]),
        "h0_hz_per_V": float(h0[0]),
    }


def onset_task(mu: float, sigma: float, params: dict, tf_bounds: tuple | None = None) -> Task:
    """Store task (kind ``onset_theory``) of :func:`onsets`."""
    fit_frequencies = analysis_frequencies(params)
    tf_bounds = None if tf_bounds is None else tuple(float(b) for b in tf_bounds)
    key = stable_hash(
        "onset_theory",
        CLOSED_LOOP_THEORY_SCHEMA,
        software_versions(),
        params["network"],
        fit_frequencies,
        ONSET_GRID,
        G_BOUNDS,
        float(mu),
        float(sigma),
        tf_bounds,
    )
    return Task(
        kind="onset_theory",
        key=key,
        func=onsets,
        kwargs={
            "mu": float(mu),
            "sigma": float(sigma),
            "network": params["network"],
            "fit_frequencies": fit_frequencies,
            "tf_bounds": tf_bounds,
        },
        label=f"onset theory mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV",
    )
