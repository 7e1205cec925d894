"""Closed-loop theory: linear response of the E-I network, rate model, instability onset.

Pure functions of SI parameters (V, s, Hz; spectra in 1/s), as in
:mod:`mfval.theory.mean_field`. Three descriptions of the recurrent network's
linear dynamics around a working point share one form, an effective
connectivity ``M(f)`` of shape (n_freq, n_pop, n_pop), [target, source]:

- LIF theory (nnmt, Bos et al. 2016):
  ``M = tau_m J K N(f) D(f)`` with nnmt's transfer function N (Hz/V,
  ``synaptic_filter=True``) of the target population and the delay factor
  ``D = exp(-i w d)`` from ``nnmt.network_properties._delay_dist_matrix``
  (``delay_dist='none'``, one delay d for every connection, as in the
  simulation). These are the numbers that ``nnmt.lif.exp.effective_connectivity``
  gives for a network whose parameters hold ``Delay = d``, ``Delay_sd = 0``,
  ``delay_dist = 'none'``; the seed's parameters do not set them, and nnmt
  caches the transfer function by name, so it must be recomputed at the
  spectrum's frequencies first. Here it is always computed at the
  frequencies asked for (no cache).
- rate model (Figure 5 mapping): the low-pass fit h0 / (1 + i w tau_rate)
  replaces N, so ``M = W_rate exp(-i w d) / (1 + i w tau_rate)`` with
  ``W_rate = h0 tau_m J K``;
- semi-empirical: any transfer function given as data (e.g. measured in the
  open-loop simulation), ``M = tau_m J K N_data(f) D(f)``.

Spectra (nnmt ``_power_spectra``, Bos et al. 2016 Eq. 18): the two-sided power
spectral density of the population-averaged rate, in 1/s,
``C(f) = diag[(1 - M)^-1 A (1 - M)^-H]`` with ``A = diag(nu / N)`` (Poisson
noise of N neurons at rate nu); far above every time scale it tends to nu/N.

Instability: the linearized network is unstable when an eigenvalue lambda(f)
of M reaches 1 at a real frequency f* (the Nyquist criterion for
``det(1 - M) = 0``). In this E-I network every target population receives the
same input (fixed in-degree, equal weights), so ``J K`` has identical rows and
rank 1: the only nonzero eigenvalue is
``lambda(f) = tau_m N(f) D(f) sum_s J_s K_s``; with g > 4 the sum is negative
(inhibition dominates), lambda(0) < 0, and the crossing happens where the
transfer function and the delay together turn the phase by 180 degrees.
The eigenvalue used in general is the one of largest modulus at each
frequency (for rank 1 the only nonzero one).

g sweep at a fixed working point: the recurrent inhibitory PSC amplitude is
``-g W_E``; the external Poisson weights stay at the parameter file's values
(they do *not* follow g) and the external rates are re-derived for every g,
so that (mu, sigma) and hence the self-consistent rates and N(f) are the same
for every g; only the recurrent coupling changes.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
from scipy.optimize import brentq

from mfval.theory.mean_field import (
    NnmtArrays,
    fit_low_pass,
    nnmt_arrays,
    transfer_function,
    working_point_for,
)
from mfval.theory.nnmt_compat import lif_exp, nnmt

# ----------------------------------------------------------------------------- building blocks


def delay_matrix(delay: float, frequencies, n_pop: int) -> np.ndarray:
    """Delay factor D(f) = exp(-i 2 pi f d) of nnmt, shape (n_freq, n_pop, n_pop).

    Parameters
    ----------
    delay : float
        Delay of every recurrent connection, s (> 0).
    frequencies : array of shape (n_freq,)
        Hz.
    n_pop : int

    Examples
    --------
    >>> D = delay_matrix(1.5e-3, [0.0, 100.0], 2)  # 1.5 ms at 0 and 100 Hz
    >>> D.shape, complex(D[0, 0, 0]), round(float(np.angle(D[1, 0, 0], deg=True)), 1)
    ((2, 2, 2), (1+0j), -54.0)
    """
    delay = float(delay)
    if not (math.isfinite(delay) and delay > 0):
        raise ValueError(f"delay must be positive and finite, got delay = {delay!r} s")
    omegas = 2 * np.pi * np.atleast_1d(np.asarray(frequencies, float))
    Delay = np.full((n_pop, n_pop), delay)
    return np.asarray(
        nnmt.network_properties._delay_dist_matrix(Delay, np.zeros_like(Delay), "none", omegas),
        complex,
    )


def lif_transfer(mu, sigma, frequencies, arrays: NnmtArrays) -> np.ndarray:
    """nnmt transfer function (synaptic filter), Hz/V, shape (n_freq, n_pop).

    Populations with identical neuron parameters and input (mu, sigma) are
    computed once (nnmt evaluates each population separately, ~13 ms per
    frequency and population).
    """
    n_pop = arrays.tau_m.size
    mu = np.broadcast_to(np.asarray(mu, float), (n_pop,))
    sigma = np.broadcast_to(np.asarray(sigma, float), (n_pop,))
    keys = [
        (mu[i], sigma[i], arrays.tau_m[i], arrays.tau_s[i], arrays.tau_r[i])
        + (arrays.V_th_rel[i], arrays.V_0_rel[i])
        for i in range(n_pop)
    ]
    first = {k: keys.index(k) for k in keys}
    out = np.empty((np.size(frequencies), n_pop), complex)
    for key, i in first.items():
        one = dataclasses.replace(
            arrays,
            **{
                f.name: getattr(arrays, f.name)[i : i + 1]
                for f in dataclasses.fields(arrays)
                if np.ndim(getattr(arrays, f.name)) == 1
            },
        )
        column = transfer_function(mu[i], sigma[i], frequencies, one)[:, 0]
        for j, k in enumerate(keys):
            if k == key:
                out[:, j] = column
    return out


def lif_connectivity(transfer: np.ndarray, frequencies, arrays: NnmtArrays, delay: float):
    """Effective connectivity tau_m J K N D (nnmt), shape (n_freq, n_pop, n_pop)."""
    D = delay_matrix(delay, frequencies, arrays.tau_m.size)
    return np.asarray(
        lif_exp._effective_connectivity(
            np.asarray(transfer, complex), D, arrays.J, arrays.K, arrays.tau_m
        ),
        complex,
    )


def rate_connectivity(frequencies, tau_rate, W_rate, delay: float) -> np.ndarray:
    """Effective connectivity of the rate model, shape (n_freq, n_pop, n_pop).

    ``M = W_rate exp(-i w d) / (1 + i w tau_rate[target])``.

    Parameters
    ----------
    tau_rate : float or array (n_pop,)
        Time constant of the fitted low-pass, s.
    W_rate : array (n_pop, n_pop)
        Dimensionless rate-model weights h0 tau_m J K.
    """
    W_rate = np.atleast_2d(np.asarray(W_rate, float))
    n_pop = W_rate.shape[0]
    tau = np.broadcast_to(np.asarray(tau_rate, float), (n_pop,))
    omegas = 2 * np.pi * np.atleast_1d(np.asarray(frequencies, float))
    low_pass = 1.0 / (1.0 + 1j * omegas[:, None] * tau[None, :])  # (n_freq, target)
    return W_rate[None] * low_pass[:, :, None] * delay_matrix(delay, frequencies, n_pop)


def power_spectra(rates, effective_connectivity: np.ndarray, arrays: NnmtArrays, N) -> np.ndarray:
    """Two-sided PSD of the population-averaged rates, 1/s, shape (n_freq, n_pop) (nnmt)."""
    return np.asarray(
        lif_exp._power_spectra(
            np.asarray(rates, float),
            effective_connectivity,
            arrays.J,
            arrays.K,
            np.asarray(N, float),
            arrays.tau_m,
        ),
        float,
    )


def critical_eigenvalue(effective_connectivity: np.ndarray) -> np.ndarray:
    """Eigenvalue of largest modulus at each frequency, shape (n_freq,)."""
    eig = np.linalg.eigvals(effective_connectivity)
    return eig[np.arange(eig.shape[0]), np.argmax(np.abs(eig), axis=1)]


def cvs(rates, mu, sigma, arrays: NnmtArrays) -> np.ndarray:
    """nnmt's CV of the inter-spike intervals, shape (n_pop,).

    nnmt's ``_cvs`` has no refractory argument (tau_r = 0 in this model).
    """
    return np.asarray(
        lif_exp._cvs(
            np.asarray(rates, float),
            mu,
            sigma,
            arrays.V_0_rel,
            arrays.V_th_rel,
            arrays.tau_m,
            arrays.tau_s,
        ),
        float,
    )


# ----------------------------------------------------------------------------- g sweep


def network_with_g(network: dict, g: float) -> dict:
    """Copy of the ``network`` section with recurrent inhibitory PSCs -g W_E.

    The source populations are ``network['populations']`` = [E, I]; the
    inhibitory column becomes ``-g`` times the excitatory one. External
    weights are unchanged (they do not follow g; module docstring).
    """
    g = float(g)
    if not (math.isfinite(g) and g > 0):
        raise ValueError(f"g must be positive and finite, got g = {g!r}")
    if len(network["populations"]) != 2:
        raise ValueError(
            f"g is defined for an E-I network, got populations = {network['populations']!r}"
        )
    out = copy.deepcopy(network)
    W = np.array(network["W"], float)
    W[:, 1] = -g * W[:, 0]
    out["W"] = W
    return out


def relative_inhibition(network: dict) -> float:
    """g = -W_I / W_E of the first target population.

    Examples
    --------
    >>> from mfval.config import load_params
    >>> network = load_params()["network"]
    >>> relative_inhibition(network), relative_inhibition(network_with_g(network, 6.0))
    (5.0, 6.0)
    """
    W = np.asarray(network["W"], float)
    return float(-W[0, 1] / W[0, 0])


# ----------------------------------------------------------------------------- working point


def closed_loop_point(mu: float, sigma: float, network: dict, frequencies, fit_frequencies) -> dict:
    """LIF and rate-model spectra, eigenvalue and CVs at one working point.

    Parameters
    ----------
    mu, sigma : float
        Working point, V.
    network : dict
        ``network`` section (SI), with its delay ``network['delay']``.
    frequencies : array (n_freq,)
        Hz, where spectra and eigenvalues are evaluated.
    fit_frequencies : array
        Hz, where the low-pass is fitted (Figure 5: the analysis frequencies).

    Returns
    -------
    dict (SI): ``mu``, ``sigma``, ``g``, ``delay``, ``nu_ext``,
    ``firing_rates``, ``mean_input``, ``std_input``, ``cv`` (n_pop,),
    ``tau_rate`` (n_pop,), ``W_rate`` (n_pop, n_pop), ``frequencies``,
    ``transfer`` (n_freq, n_pop; Hz/V), ``psd_lif``, ``psd_rate``
    (n_freq, n_pop; 1/s), ``eigenvalue_lif``, ``eigenvalue_rate`` (n_freq,).
    """
    point = working_point_for(mu, sigma, network)
    wp = {k: point[k] for k in ("firing_rates", "mean_input", "std_input")}
    arrays = nnmt_arrays(network)
    frequencies = np.asarray(frequencies, float)
    tf_fit = lif_transfer(wp["mean_input"], wp["std_input"], fit_frequencies, arrays)
    fit = fit_low_pass(tf_fit, np.asarray(fit_frequencies, float), arrays)
    tf = lif_transfer(wp["mean_input"], wp["std_input"], frequencies, arrays)
    delay = float(network["delay"])
    M_lif = lif_connectivity(tf, frequencies, arrays, delay)
    M_rate = rate_connectivity(frequencies, fit["tau_rate"], fit["W_rate"], delay)
    N = np.asarray(network["N"], float)
    rates = wp["firing_rates"]
    return {
        "mu": point["mu"],
        "sigma": point["sigma"],
        "g": relative_inhibition(network),
        "delay": delay,
        "nu_ext": point["nu_ext"],
        **wp,
        "cv": cvs(rates, wp["mean_input"], wp["std_input"], arrays),
        "tau_rate": fit["tau_rate"],
        "W_rate": fit["W_rate"],
        "h0": fit["h0"],
        "frequencies": frequencies,
        "transfer": tf,
        "psd_lif": power_spectra(rates, M_lif, arrays, N),
        "psd_rate": power_spectra(rates, M_rate, arrays, N),
        "eigenvalue_lif": critical_eigenvalue(M_lif),
        "eigenvalue_rate": critical_eigenvalue(M_rate),
        "population_size": N,
    }


# ----------------------------------------------------------------------------- onset


def _crossing(frequencies: np.ndarray, lam: np.ndarray) -> tuple[float, float]:
    """Largest Re(lambda) where lambda(f) crosses the positive real axis, and its f.

    Linear interpolation between grid frequencies; (-inf, nan) if lambda never
    crosses the positive real axis.
    """
    im = lam.imag
    idx = np.nonzero((np.sign(im[:-1]) != np.sign(im[1:])) & (im[:-1] != 0))[0]
    best, f_best = -math.inf, math.nan
    for i in idx:
        w = im[i] / (im[i] - im[i + 1])
        re = lam.real[i] + w * (lam.real[i + 1] - lam.real[i])
        if re > 0 and re > best:
            best, f_best = re, frequencies[i] + w * (frequencies[i + 1] - frequencies[i])
    return best, f_best


def onset_from_transfer(
    frequencies, transfer, network: dict, g_bounds=(4.05, 40.0), g_of=network_with_g
) -> dict:
    """Critical g and frequency where the eigenvalue of tau_m J(g) K N D reaches 1.

    The transfer function ``transfer`` (Hz/V, (n_freq, n_pop) or (n_freq,) for
    all populations) is held fixed while g varies: at a fixed working point it
    does not depend on g (module docstring). It may be nnmt's, the rate
    model's low-pass h0 / (1 + i w tau_rate), or data.

    Returns
    -------
    dict: ``g_c`` (nan if no onset in ``g_bounds``), ``f_star`` (Hz),
    ``margin_low``/``margin_high`` (Re lambda at the crossing at the bounds).
    """
    frequencies = np.asarray(frequencies, float)
    transfer = np.asarray(transfer, complex)
    if transfer.ndim == 1:
        transfer = np.repeat(transfer[:, None], len(network["populations"]), axis=1)
    if transfer.shape != (frequencies.size, len(network["populations"])):
        raise ValueError(
            f"transfer has shape {transfer.shape}, expected ({frequencies.size}, "
            f"{len(network['populations'])})"
        )
    if np.any(np.diff(frequencies) <= 0):
        raise ValueError("frequencies must increase strictly")

    def cross(g):
        arrays = nnmt_arrays(g_of(network, g))
        lam = critical_eigenvalue(lif_connectivity(transfer, frequencies, arrays, network["delay"]))
        return _crossing(frequencies, lam)

    lo, hi = (float(b) for b in g_bounds)
    m_lo, m_hi = cross(lo)[0], cross(hi)[0]
    out = {"g_c": math.nan, "f_star": math.nan, "margin_low": m_lo, "margin_high": m_hi}
    if not (m_lo < 1 < m_hi):
        return out
    g_c = brentq(lambda g: max(cross(g)[0], 0.0) - 1.0, lo, hi, xtol=1e-6)
    out["g_c"], out["f_star"] = g_c, cross(g_c)[1]
    return out


def rate_model_onset_lambertw(
    tau_rate: float, W_rate_of_g, delay: float, g_bounds=(4.05, 40.0)
) -> dict:
    """Onset of the rate model from the Lambert-W solution (nnmt.linear_stability).

    The characteristic equation of ``tau dr/dt = -r + W r(t - d)`` is
    ``1 + z tau = w exp(-z d)`` with w the eigenvalue of W of largest
    modulus; its most critical root (branch 0) is
    ``z = -1/tau + W_0(w d/tau exp(d/tau)) / d``. The onset is Re z = 0,
    the oscillation frequency Im z / (2 pi).

    Parameters
    ----------
    tau_rate : float
        s.
    W_rate_of_g : callable
        g -> W_rate matrix (n_pop, n_pop).
    delay : float
        s.
    """
    from nnmt.linear_stability import _solve_chareq_lambertw_constant_delay

    def z(g):
        return complex(_solve_chareq_lambertw_constant_delay(0, tau_rate, delay, W_rate_of_g(g)))

    lo, hi = (float(b) for b in g_bounds)
    if not (z(lo).real < 0 < z(hi).real):
        return {"g_c": math.nan, "f_star": math.nan}
    g_c = brentq(lambda g: z(g).real, lo, hi, xtol=1e-8)
    return {"g_c": g_c, "f_star": abs(z(g_c).imag) / (2 * np.pi)}


def interpolate_transfer(frequencies, f_data, N_data) -> np.ndarray:
    """Transfer function data interpolated onto ``frequencies`` (inside the data only).

    Log-amplitude and unwrapped phase are interpolated linearly in f; outside
    [min f_data, max f_data] the result is nan.
    """
    f_data = np.asarray(f_data, float)
    N_data = np.asarray(N_data, complex)
    order = np.argsort(f_data)
    f_data, N_data = f_data[order], N_data[order]
    frequencies = np.asarray(frequencies, float)
    log_amp = np.interp(frequencies, f_data, np.log(np.abs(N_data)))
    phase = np.interp(frequencies, f_data, np.unwrap(np.angle(N_data)))
    out = np.exp(log_amp + 1j * phase)
    out[(frequencies < f_data[0]) | (frequencies > f_data[-1])] = np.nan
    return out


def semi_empirical_onset(
    f_data,
    N_data,
    N_se_re,
    N_se_im,
    network: dict,
    n_draws: int = 200,
    seed: int = 0,
    df: float = 0.5,
    g_bounds=(4.05, 40.0),
) -> dict:
    """Onset predicted from a transfer function given as data, with a standard error.

    Parameters
    ----------
    f_data : array (n,)
        Hz, the measured frequencies.
    N_data : complex array (n,)
        Measured transfer function, Hz/V (same for every population).
    N_se_re, N_se_im : arrays (n,)
        Standard errors of its real and imaginary parts, Hz/V.
    network : dict
        ``network`` section; the delay is ``network['delay']``.
    n_draws : int
        Monte Carlo draws (independent Gaussian errors) for the SE.
    seed : int
        Seed of the draws (same seed, same numbers).
    df : float
        Hz, interpolation grid step.

    Returns
    -------
    dict: ``g_c``, ``f_star`` (Hz), ``g_c_se``, ``f_star_se``, ``n_valid``
    (draws with an onset inside the data's frequency range).
    """
    f_data = np.asarray(f_data, float)
    grid = np.arange(f_data.min(), f_data.max() + 0.5 * df, df)
    grid = grid[grid <= f_data.max()]

    def one(N):
        return onset_from_transfer(grid, interpolate_transfer(grid, f_data, N), network, g_bounds)

    best = one(np.asarray(N_data, complex))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(int(n_draws)):
        N = (
            np.asarray(N_data, complex)
            + rng.normal(size=f_data.size) * np.asarray(N_se_re, float)
            + 1j * rng.normal(size=f_data.size) * np.asarray(N_se_im, float)
        )
        r = one(N)
        if math.isfinite(r["g_c"]):
            draws.append((r["g_c"], r["f_star"]))
    draws = np.array(draws).reshape(-1, 2)
    se = draws.std(axis=0, ddof=1) if len(draws) > 1 else np.full(2, np.nan)
    return {
        "g_c": best["g_c"],
        "f_star": best["f_star"],
        "g_c_se": float(se[0]),
        "f_star_se": float(se[1]),
        "n_valid": len(draws),
    }


def semi_empirical_spectra(frequencies, f_data, N_data, rates, network: dict) -> np.ndarray:
    """Spectra (1/s, (n_freq, n_pop)) with a transfer function given as data.

    ``M = tau_m J K N_data(f) D(f)`` with N_data (Hz/V, same for every
    population) interpolated by :func:`interpolate_transfer` (nan outside
    the data's frequency range); the noise term is nnmt's, rates / N.
    """
    arrays = nnmt_arrays(network)
    N = interpolate_transfer(frequencies, f_data, N_data)
    transfer = np.repeat(N[:, None], arrays.tau_m.size, axis=1)
    out = np.full((np.size(frequencies), arrays.tau_m.size), np.nan)
    ok = np.isfinite(N)
    if ok.any():
        f_ok = np.asarray(frequencies, float)[ok]
        M = lif_connectivity(transfer[ok], f_ok, arrays, network["delay"])
        out[ok] = power_spectra(rates, M, arrays, np.asarray(network["N"], float))
    return out
