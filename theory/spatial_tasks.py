"""Store tasks of the spatial (ring) theory (kinds ``spatial_theory``, ``spatial_onset``).

Thin wrappers that give :mod:`mfval.theory.spatial`'s pure functions a store
key (every parameter, the ring, the frequencies and the software versions), so
that the theory for a list of settings runs cached and distributable like
every other task (:func:`mfval.tasks.run_tasks`).

A ring setting is a plain dict in SI units: ``ring_length`` (m), ``radii``
([R_E, R_I], m) and ``n_modes`` (modes n = 0 .. n_modes - 1);
:data:`DEFAULT_RING` holds the Senk et al. 2020 widths on a ring of 1 mm
(modes up to 200 / mm, beyond every predicted k*).
"""

from __future__ import annotations

import numpy as np

from mfval.config import analysis_frequencies, stable_hash
from mfval.tasks import Task
from mfval.theory.closed_loop import network_with_g
from mfval.theory.spatial import (
    CONTROLS,
    check_ring,
    mode_stability,
    ring_wave_numbers,
    spatial_onset,
    spatial_point,
    spatial_theory_table,
    stability_table,
)
from mfval.theory.versions import software_versions

#: bump when the content of a spatial theory result changes
SPATIAL_THEORY_SCHEMA = 2

#: ring of the issue's first choice: L = 1 mm, Senk et al. 2020 widths (m), 32 modes
DEFAULT_RING: dict = {"ring_length": 1e-3, "radii": (0.2e-3, 0.07e-3), "n_modes": 32}


def ring_setting(ring: dict) -> dict:
    """Validated copy of a ring setting with plain types (ValueError naming the bad entry)."""
    missing = {"ring_length", "radii", "n_modes"} - set(ring)
    if missing:
        raise ValueError(f"ring is missing {sorted(missing)}, got ring = {ring!r}")
    L, radii = check_ring(ring["ring_length"], ring["radii"])
    ring_wave_numbers(L, ring["n_modes"])  # checks n_modes
    return {"ring_length": L, "radii": [float(r) for r in radii], "n_modes": int(ring["n_modes"])}


def _radii_mm(ring: dict) -> str:
    return "/".join(f"{r * 1e3:g}" for r in ring["radii"])


def _transfer_data(transfer_data):
    """(f_data, N_data) or (f_data, N_data, se_re, se_im) as arrays (Hz, Hz/V)."""
    if transfer_data is None:
        return None
    if len(transfer_data) not in (2, 4):
        raise ValueError(
            "transfer_data must be (f_data, N_data) or (f_data, N_data, se_re, se_im), "
            f"got {len(transfer_data)} entries"
        )
    f_data, N_data, *se = transfer_data
    return (np.asarray(f_data, float), np.asarray(N_data, complex)) + tuple(
        np.asarray(x, float) for x in se
    )


def _key_data(transfer_data):
    if transfer_data is None:
        return None
    f_data, N_data, *se = transfer_data
    return [f_data, N_data.real, N_data.imag, *se]


def spatial_theory(
    mu, sigma, network, ring, frequencies, fit_frequencies, g=None, transfer_data=None,
    complex_roots=True, nyquist_frequencies=None,
) -> dict:  # fmt: skip
    """Spectra per mode and mode stability at one setting (the task's function).

    Returns
    -------
    dict: ``spectra`` (:func:`~mfval.theory.spatial.spatial_theory_table`),
    ``stability`` (:func:`~mfval.theory.spatial.stability_table`), ``g``,
    ``firing_rates`` (Hz), ``cv`` (nnmt), ``tau_rate`` (s), ``h0`` (Hz/V),
    ``delay`` (s), ``transfer`` (nnmt's N of the first population at
    ``transfer_frequencies``, Hz/V, complex), ``ring``.
    """
    net = network if g is None else network_with_g(network, g)
    args = (mu, sigma, net, ring["ring_length"], ring["radii"], ring["n_modes"])
    point = spatial_point(
        *args, np.asarray(frequencies), np.asarray(fit_frequencies), transfer_data
    )
    st = mode_stability(
        *args, np.asarray(fit_frequencies), nyquist_frequencies, complex_roots=complex_roots
    )
    return {
        "spectra": spatial_theory_table(point, net, st),
        "stability": stability_table(st),
        "g": point["g"],
        "firing_rates": point["firing_rates"],
        "cv": point["cv"],
        "tau_rate": point["tau_rate"],
        "h0": point["h0"],
        "delay": point["delay"],
        "transfer_frequencies": np.asarray(frequencies, float),
        "transfer": np.asarray(point["transfer"])[:, 0],
        "ring": ring,
    }


def spatial_theory_task(
    mu: float,
    sigma: float,
    params: dict,
    ring: dict = DEFAULT_RING,
    g: float | None = None,
    frequencies=None,
    transfer_data=None,
    complex_roots: bool = True,
) -> Task:
    """Store task (kind ``spatial_theory``) of :func:`spatial_theory`.

    Parameters
    ----------
    mu, sigma : float
        Working point, V.
    params : dict
        Loaded parameters (``network`` and ``analysis`` sections).
    ring : dict
        Ring setting (module docstring).
    g : float, optional
        Relative inhibition (default: the parameter file's).
    frequencies : array, optional
        Hz, where the spectra are evaluated (default: the analysis frequencies).
    transfer_data : (f_data, N_data), optional
        Measured transfer function (Hz, complex Hz/V): adds ``psd_semi_per_s``.
    complex_roots : bool
        Solve the LIF theory's complex roots (about 1 s per mode).
    """
    ring = ring_setting(ring)
    fit_frequencies = analysis_frequencies(params)
    frequencies = fit_frequencies if frequencies is None else np.asarray(frequencies, float)
    transfer_data = _transfer_data(transfer_data)
    key = stable_hash(
        "spatial_theory",
        SPATIAL_THEORY_SCHEMA,
        software_versions(),
        params["network"],
        ring,
        frequencies,
        fit_frequencies,
        float(mu),
        float(sigma),
        None if g is None else float(g),
        _key_data(transfer_data),
        bool(complex_roots),
    )
    label = (
        f"spatial theory mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV "
        f"L={ring['ring_length'] * 1e3:g} mm R={_radii_mm(ring)} mm"
        + ("" if g is None else f" g={g:g}")
    )
    return Task(
        kind="spatial_theory",
        key=key,
        func=spatial_theory,
        kwargs={
            "mu": float(mu),
            "sigma": float(sigma),
            "network": params["network"],
            "ring": ring,
            "frequencies": frequencies,
            "fit_frequencies": fit_frequencies,
            "g": None if g is None else float(g),
            "transfer_data": transfer_data,
            "complex_roots": bool(complex_roots),
        },
        label=label,
    )


def onset_at(
    mu, sigma, network, ring, control, values, fit_frequencies, g=None, transfer_data=None,
    n_draws=0, seed=0,
):  # fmt: skip
    """:func:`~mfval.theory.spatial.spatial_onset` at relative inhibition g (task function)."""
    net = network if g is None else network_with_g(network, g)
    return spatial_onset(
        mu, sigma, net, ring["ring_length"], ring["radii"], control, values, fit_frequencies,
        n_modes=ring["n_modes"], transfer_data=transfer_data, n_draws=n_draws, seed=seed,
    )  # fmt: skip


def spatial_onset_task(
    mu: float,
    sigma: float,
    params: dict,
    control: str,
    values,
    ring: dict = DEFAULT_RING,
    g: float | None = None,
    transfer_data=None,
    n_draws: int = 0,
    seed: int = 0,
) -> Task:
    """Store task (kind ``spatial_onset``) of :func:`onset_at`.

    ``control`` in :data:`mfval.theory.spatial.CONTROLS`; ``values``: a
    bracket (2 values) or the scan grid, in the order scanned (see
    :func:`~mfval.theory.spatial.spatial_onset`); ``g`` fixes the relative
    inhibition when the control is not g; ``transfer_data`` (with SEs) and
    ``n_draws``, ``seed``: the semi-empirical onset and its Monte Carlo SE.
    """
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got control = {control!r}")
    ring = ring_setting(ring)
    values = np.asarray(values, float)
    fit_frequencies = analysis_frequencies(params)
    transfer_data = _transfer_data(transfer_data)
    key = stable_hash(
        "spatial_onset",
        SPATIAL_THEORY_SCHEMA,
        software_versions(),
        params["network"],
        ring,
        control,
        values,
        fit_frequencies,
        float(mu),
        float(sigma),
        None if g is None else float(g),
        _key_data(transfer_data),
        int(n_draws),
        int(seed),
    )
    return Task(
        kind="spatial_onset",
        key=key,
        func=onset_at,
        kwargs={
            "mu": float(mu),
            "sigma": float(sigma),
            "network": params["network"],
            "ring": ring,
            "control": control,
            "values": values,
            "fit_frequencies": fit_frequencies,
            "g": None if g is None else float(g),
            "transfer_data": transfer_data,
            "n_draws": int(n_draws),
            "seed": int(seed),
        },
        label=f"spatial onset along {control} mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV "
        f"R={_radii_mm(ring)} mm"
        + ("" if g is None else f" g={g:g}")
        + ("" if transfer_data is None else " (semi-empirical)"),
    )
