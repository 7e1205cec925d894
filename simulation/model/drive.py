"""Checks of a simulation's duration and Poisson drive (shared by every protocol)."""

from __future__ import annotations

import math

import numpy as np

#: largest expected Poisson count per step and source (int32 counts; far above any real use)
MAX_COUNTS_PER_STEP = 1.0e6


def check_duration(duration: float, name: str = "duration") -> float:
    """Return ``duration`` as float or raise ValueError naming it."""
    try:
        value = float(duration)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {name} = {duration!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {name} = {duration!r} s")
    return value


def check_poisson_drive(
    nu_ext,
    dt: float,
    params: dict,
    split_p: float | None = None,
    allow_biased_poisson: bool = False,
) -> dict:
    """Check that the external Poisson sources are valid at time step ``dt``.

    Rules (the two Poisson pitfalls and the integration pitfall of the design):

    - ``dt`` must be positive, finite and smaller than tau_s (the synaptic
      current must be resolved; the exact propagator then applies to the
      per-step input counts) and must divide the delay;
    - the expected count per step, rate * dt, must stay below
      :data:`MAX_COUNTS_PER_STEP` (int32 counts);
    - with a binomial split (``split_p``), each source's count is
      Binomial(n, p) with n = round(rate * dt / p) >= 1 sub-sources; its
      variance is short of Poisson by the factor (1 - p), so p must not exceed
      ``params['simulation']['max_poisson_p']`` unless
      ``allow_biased_poisson=True`` (planted-error mode only).

    Returns
    -------
    dict
        ``lam`` (expected counts per step, per source), and for a split
        ``n`` (sub-sources) and ``p`` (per sub-source probability, adjusted
        so that n p = lam exactly).

    Raises
    ------
    ValueError
        Naming ``dt`` (and its value) or ``poisson_split_p``.
    """
    net, sim = params["network"], params["simulation"]
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive and finite, got dt = {dt!r} s")
    if dt >= net["tau_s"]:
        raise ValueError(
            f"dt = {dt!r} s is not smaller than tau_s = {net['tau_s']!r} s: the Poisson "
            "sources' shot noise would not be resolved by the synaptic current"
        )
    steps = net["delay"] / dt
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"dt = {dt!r} s does not divide the delay {net['delay']!r} s")
    nu_ext = np.asarray(nu_ext, float)
    if np.any(~np.isfinite(nu_ext)) or np.any(nu_ext < 0):
        raise ValueError(f"external rates must be finite and >= 0, got {nu_ext} Hz")
    lam = nu_ext * dt
    if np.any(lam > MAX_COUNTS_PER_STEP):
        raise ValueError(
            f"dt = {dt!r} s gives {lam.max():.3g} expected input counts per step and source "
            f"(> {MAX_COUNTS_PER_STEP:g}): the Poisson source is invalid at this dt"
        )
    out = {"lam": lam}
    if split_p is not None:
        p = float(split_p)
        if not (0 < p <= 1):
            raise ValueError(f"poisson_split_p must be in (0, 1], got poisson_split_p = {p!r}")
        if p > sim["max_poisson_p"] and not allow_biased_poisson:
            raise ValueError(
                f"poisson_split_p = {p!r} exceeds max_poisson_p = {sim['max_poisson_p']!r}: a "
                "binomial split biases the input variance by (1 - p); pass "
                "allow_biased_poisson=True only to plant this error"
            )
        n = np.maximum(1, np.round(lam / p)).astype(int)
        out["n"] = n
        out["p"] = np.where(lam > 0, lam / n, 0.0)
        if np.any(out["p"] > 1):
            raise ValueError(f"dt = {dt!r} s makes a split Poisson source invalid (p > 1)")
    return out
