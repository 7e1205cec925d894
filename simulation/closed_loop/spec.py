"""Closed-loop protocol spec: network specs of the chunks at a working point.

:func:`closed_loop_specs` builds one :class:`~mfval.simulation.network.spec.NetworkSpec`
per chunk (its own seed, :func:`chunk_seed`), optionally at another relative
inhibition g or with a scaled recurrent delay (planted error). See
:mod:`mfval.simulation.closed_loop` for the protocol.
"""

from __future__ import annotations

import copy
import math

from mfval.config import stable_hash


def chunk_count(duration: float, chunk_duration: float, dt: float, name: str = "duration") -> int:
    """Number of chunks of ``chunk_duration`` in the measured ``duration`` (s).

    Raises
    ------
    ValueError
        Naming ``name`` and both durations if ``duration`` is not a whole
        number (>= 1) of chunks on the time grid of ``dt``.
    """
    steps, chunk = round(float(duration) / dt), round(float(chunk_duration) / dt)
    if chunk < 1 or steps < chunk or steps % chunk:
        raise ValueError(
            f"closed-loop {name} = {duration!r} s must be a whole number of chunks of "
            f"network_duration = {chunk_duration!r} s (params simulation.network_duration; "
            f"dt = {dt!r} s)"
        )
    return steps // chunk


def chunk_seed(seed: int, index: int) -> int:
    """Seed of chunk ``index`` of a closed-loop measurement with base ``seed``.

    Each chunk is an independent realization (connectivity, initial state,
    drive); the seed is a hash of (seed, index), so the same base seed gives
    the same chunks whatever the number of workers or the order of execution.
    """
    return int(stable_hash("closed-loop chunk", int(seed), int(index))[:8], 16)


def params_for(params: dict, g: float | None = None, delay_scale: float = 1.0) -> dict:
    """Parameters with relative inhibition g (mfval.theory.closed_loop) and scaled delay."""
    from mfval.theory.closed_loop import network_with_g

    out = {k: copy.deepcopy(params[k]) for k in ("network", "simulation") if k in params}
    if g is not None:
        out["network"] = network_with_g(out["network"], g)
    delay_scale = float(delay_scale)
    if not (math.isfinite(delay_scale) and delay_scale > 0):
        raise ValueError(f"delay_scale must be positive, got delay_scale = {delay_scale!r}")
    out["network"]["delay"] = float(out["network"]["delay"]) * delay_scale
    return out


def closed_loop_spec(
    mu: float,
    sigma: float,
    params: dict,
    seed: int,
    g: float | None = None,
    delay_scale: float = 1.0,
    duration: float | None = None,
    warmup: float | None = None,
    simulator: str = "brian2",
    backend: dict | None = None,
    theory: dict | None = None,
    weight_scale_inh: float = 1.0,
    drive_scale: tuple = (),
):
    """The :class:`mfval.simulation.network.NetworkSpec` of one closed-loop chunk (checked).

    Parameters
    ----------
    mu, sigma : float
        Working point, V (external rates from the theory at this g).
    params : dict
        Loaded parameters (SI).
    seed : int
        Seed of this run (of this chunk, see :func:`chunk_seed`).
    g : float, optional
        Relative inhibition (default: the parameter file's W).
    delay_scale : float
        Planted-error hook: factor on the simulated recurrent delay only.
    duration, warmup : float, optional
        s; defaults ``params['simulation']`` network_duration, network_warmup.
    simulator, backend
        As :func:`mfval.simulation.network.make_network_spec`.
    theory : dict, optional
        :func:`mfval.simulation.network.theory_for_point` at this g (computed if not given).
    weight_scale_inh : float
        Planted-error hook: factor on the simulated recurrent inhibitory PSC amplitudes
        (the loop gain; compiled in, its own binary).
    drive_scale : tuple of float
        Planted-error hook: factor on the external Poisson rates of each population
        (run-time data); ``()``: none.

    The planted errors change the simulated network only: the external rates and the
    theory come from the parameter file's network.
    """
    from mfval.simulation.network.spec import (
        NetworkPerturbation,
        make_network_spec,
        theory_for_point,
    )

    if theory is None:
        theory = theory_for_point(mu, sigma, params_for(params, g, 1.0))
    return make_network_spec(
        mu,
        sigma,
        params_for(params, g, delay_scale),
        seed,
        duration=duration,
        warmup=warmup,
        theory=theory,
        simulator=simulator,
        backend=backend,
        perturbation=NetworkPerturbation.from_options(
            {"weight_scale_inh": weight_scale_inh, "drive_scale": drive_scale}
        ),
    )


def closed_loop_specs(
    mu: float,
    sigma: float,
    params: dict,
    seed: int,
    duration: float | None = None,
    chunk_duration: float | None = None,
    warmup: float | None = None,
    **options,
) -> list:
    """Specs of the independent chunks of one closed-loop measurement (checked).

    The measured time ``duration`` is split into chunks of ``chunk_duration``
    (default: the network protocol's ``network_duration``), each with the
    warm-up ``warmup`` (default ``network_warmup``) and its own seed
    :func:`chunk_seed` (seed, index): with the network protocol's durations
    the chunks run on the network protocol's compiled binary (Brian2
    ``cpp_standalone``) and in parallel.

    Parameters
    ----------
    duration : float, optional
        Measured time over all chunks, s (default: one chunk).
    options
        g, delay_scale, weight_scale_inh, drive_scale, simulator, backend (see
        :func:`closed_loop_spec`).

    Raises
    ------
    ValueError
        If ``duration`` is not a whole number of chunks (naming both values).
    """
    from mfval.simulation.model.drive import check_duration
    from mfval.simulation.network.spec import theory_for_point

    sim = params["simulation"]
    chunk_duration = check_duration(
        sim["network_duration"] if chunk_duration is None else chunk_duration,
        "network_duration",
    )
    duration = chunk_duration if duration is None else check_duration(duration)
    n_chunks = chunk_count(duration, chunk_duration, float(sim["dt"]))
    theory = theory_for_point(mu, sigma, params_for(params, options.get("g"), 1.0))
    return [
        closed_loop_spec(
            mu,
            sigma,
            params,
            chunk_seed(seed, i),
            duration=chunk_duration,
            warmup=warmup,
            theory=theory,
            **options,
        )
        for i in range(n_chunks)
    ]
