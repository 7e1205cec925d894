"""Spatial (ring) theory: linear stability and spectra of the E-I network per ring mode.

The Figure 5 E-I network on a ring of length L: every neuron draws its K_b
inputs from population b uniformly among the neurons of b within distance
R_b (a boxcar of half-width R_b; Senk et al. 2020: R_E = 0.2 mm,
R_I = 0.07 mm). Pure functions of SI parameters (m, 1/m, s, Hz, V), as in
:mod:`mfval.theory.closed_loop`, whose building blocks (nnmt's transfer
function, delay factor, effective connectivity and spectra, and the rate
model's connectivity) are reused here, not copied.

Ring modes and profile
    Activity on the ring is expanded in the modes k_n = 2 pi n / L (1/m;
    tables give 1/mm), n = 0, 1, ... The boxcar's Fourier transform is
    ``p_b(k) = sin(k R_b) / (k R_b)`` (1 at k = 0, even in k; nnmt's
    ``nnmt.spatial._ft_spatial_profile_boxcar``). It acts on the presynaptic
    (source) side: a rate modulation r_b(x) = A exp(i k x) reaches a
    neuron at x as J K_b p_b(k) A exp(i k x).

Per-mode effective connectivity, shape (n_k, n_freq, n_pop, n_pop), [.., target, source]
    ``M_ab(k, f) = M_ab(f) p_b(k)`` with the non-spatial M(f) of
    :mod:`mfval.theory.closed_loop`: LIF theory ``tau_m N_a(f) D(f) J_ab K_ab``
    (nnmt, ``synaptic_filter=True``), rate model ``W_rate exp(-i w d) / (1 + i w
    tau_rate)``, semi-empirical (N given as data). With p = 1 (k = 0) it is
    exactly the non-spatial M.

Rank one (checked in the tests)
    Every target population receives the same input statistics: the same
    K_b and J_b from each source b for E and I targets, and a profile that
    depends on the source only. So M(k, f) has identical rows and rank 1;
    its only nonzero eigenvalue is
    ``lambda(k, f) = tau_m N(f) D(f) c(k)``, ``c(k) = sum_b J_b K_b p_b(k)``.
    Since c(k) is real, k enters only as a real factor: for c(k) < 0
    (inhibition dominated) the Nyquist crossing is at the frequency f_pi
    where arg[N(f) D(f)] = -pi, the same for every such mode, and the mode
    with the most negative c(k) goes unstable first; c(k) > 0 can only go
    unstable at f = 0 (rate instability), or where the phase reaches -2 pi.
    Spectra use the general matrix form (correct also if rows differed);
    stability uses the eigenvalue of largest modulus (the only nonzero one).

Stability of a mode
    A perturbation grows as exp(s t), s = growth rate + 2 pi i f. The modes
    are those of ``det(1 - M(k, s)) = 0``, i.e. ``lambda(k, s) = 1``.

    - Rate model: Lambert W (``nnmt.linear_stability._solve_chareq_lambertw_constant_delay``):
      ``1 + s tau = c exp(-s d)`` with c the eigenvalue of W_rate p(k);
      ``s = -1/tau + W_branch(c d / tau exp(d / tau)) / d``; the branch
      with the largest real part is reported (for real c the principal
      branch, or its conjugate partner -1).
    - LIF theory, Nyquist: the largest Re lambda(k, f) where the eigenvalue
      crosses the positive real axis at a real f >= 0 (f = 0 included: a
      real lambda(k, 0) > 1 is a non-oscillatory instability). Unstable if
      it exceeds 1 (as ``closed_loop.onset_from_transfer``).
    - LIF theory, complex root: nnmt's transfer function
      (``nnmt.lif.exp._transfer_function_shift``, mpmath's parabolic cylinder
      functions) accepts a complex angular frequency omega = -i s (its
      analytic continuation); our fast path (:mod:`mfval.theory.fast_lif`)
      does not (it takes real omega only). The root of lambda(k, s) = 1 is
      found by the secant method from two starting points, the rate model's
      root and one Newton step from the Nyquist crossing, and the root with
      the larger real part is reported. It is the LIF counterpart of the
      rate model's leading root, not a proof that no root lies further right;
      its sign agrees with the Nyquist criterion in the tests.

Spectra (nnmt ``_power_spectra``, Bos et al. 2016): two-sided PSD of the
activity mode A_n(t) = (1 / (N_a dt)) sum_spikes exp(-i k_n x_j) in 1/s,
``P_a(k_n, f) = diag[(1 - M_n)^-1 A (1 - M_n)^-H]``, ``A = diag(nu / N)``;
far above the network's time scales it tends to nu/N for every mode, and at
k = 0 it is the closed-loop spectrum. It is meaningful only for stable modes
(the tables say which).

Onset along a control parameter (:func:`spatial_onset`): ``"g"`` (recurrent
inhibition -g W_E, external rates re-derived so that (mu, sigma), the rates
and N(f) stay fixed; ``closed_loop.network_with_g``), ``"radius_ratio"``
(R_I / R_E at fixed R_E) and ``"delay"`` (s). The values are scanned in the
order given; the onset is the first value where the network, stable at the
previous value, becomes unstable (refined by brentq), with the mode that
goes unstable. It is given for the ring modes (n >= 0) and, for
orientation, for continuous k.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
from mpmath.libmp.libhyper import NoConvergence
from scipy.optimize import brentq, newton
from scipy.special import lambertw

from mfval.theory.closed_loop import (
    closed_loop_point,
    critical_eigenvalue,
    interpolate_transfer,
    lif_connectivity,
    lif_transfer,
    network_with_g,
    power_spectra,
    rate_connectivity,
)
from mfval.theory.mean_field import NnmtArrays, fit_low_pass, nnmt_arrays, working_point_for
from mfval.theory.nnmt_compat import lif_exp, nnmt

#: control parameters of :func:`spatial_onset`
CONTROLS: tuple[str, ...] = ("g", "radius_ratio", "delay")

#: default frequency grid (Hz) of the Nyquist search: (start, stop (excluded), step) parts;
#: 1 Hz up to 300 Hz (every crossing of the g and width-ratio sweeps, 196-235 Hz), 5 Hz
#: above (short delays): nnmt's N above ~255 Hz needs mpmath (~20 ms per frequency)
NYQUIST_GRID = ((0.0, 300.0, 1.0), (300.0, 1000.0, 5.0))

#: default largest wave number (1/m) of the ring modes and of the continuous-k search
K_MAX = 200e3

#: step (1/m) of the continuous-k search
K_STEP = 200.0

#: Lambert-W branches searched for the rate model's leading root
BRANCHES = (-2, -1, 0, 1)

# ----------------------------------------------------------------------------- checks


def _finite(name: str, value) -> np.ndarray:
    arr = np.asarray(value, float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {name} = {value!r}")
    return arr


def check_radii(radii) -> np.ndarray:
    """Radii (m) as an array of shape (n_pop,); ValueError if any is negative or not finite."""
    r = np.atleast_1d(_finite("radius", radii))
    if np.any(r < 0):
        raise ValueError(f"radius must not be negative, got radius = {radii!r} m")
    return r


def check_ring(ring_length: float, radii) -> tuple[float, np.ndarray]:
    """Validate a ring: L > 2 max(R) (else a box would wrap around the ring).

    Returns
    -------
    (float, ndarray)
        ``ring_length`` (m) and the radii (m), shape (n_pop,).
    """
    L = float(_finite("ring_length", ring_length))
    r = check_radii(radii)
    if not L > 2 * r.max():
        raise ValueError(
            f"ring_length must exceed twice the largest radius ({2 * r.max()!r} m) so that "
            f"the box does not wrap the ring, got ring_length = {ring_length!r} m"
        )
    return L, r


# ----------------------------------------------------------------------------- profile, modes


def boxcar_profile(k, radius) -> np.ndarray:
    """Fourier transform of the boxcar of half-width ``radius``: sin(k R) / (k R).

    Parameters
    ----------
    k : float or array of shape (n_k,)
        Wave numbers, 1/m (any sign; the profile is even).
    radius : float or array of shape (n_pop,)
        Half-widths, m (>= 0; R = 0 gives 1, a single partner at distance 0).

    Returns
    -------
    ndarray of shape (n_k, n_pop) (squeezed to the inputs' dimensions: a
    scalar for scalars), dimensionless, 1 at k = 0.
    """
    kk = _finite("k", k)
    r = check_radii(radius)
    out = np.sinc(np.multiply.outer(np.atleast_1d(kk), r) / np.pi)
    if np.ndim(radius) == 0:
        out = out[:, 0]
    if np.ndim(k) == 0:
        out = out[0]
    return out


def ring_wave_numbers(ring_length: float, n_modes: int) -> np.ndarray:
    """Ring wave numbers k_n = 2 pi n / L, n = 0 .. n_modes - 1, in 1/m, shape (n_modes,)."""
    L = float(_finite("ring_length", ring_length))
    if not L > 0:
        raise ValueError(f"ring_length must be positive, got ring_length = {ring_length!r} m")
    if int(n_modes) != n_modes or n_modes < 1:
        raise ValueError(f"n_modes must be an integer >= 1, got n_modes = {n_modes!r}")
    return 2 * np.pi * np.arange(int(n_modes)) / L


def modes_up_to(ring_length: float, k_max: float = K_MAX) -> int:
    """Number of ring modes with k_n <= k_max (1/m), at least 1."""
    return int(np.floor(float(k_max) * float(ring_length) / (2 * np.pi) + 1e-9)) + 1


# ----------------------------------------------------------------------------- connectivity


def spatial_connectivity(connectivity: np.ndarray, profiles: np.ndarray) -> np.ndarray:
    """Per-mode effective connectivity M(f) p_source(k).

    Parameters
    ----------
    connectivity : complex array (n_freq, n_pop, n_pop)
        Non-spatial effective connectivity, [.., target, source].
    profiles : array (n_k, n_pop)
        Profile of each source population at each wave number.

    Returns
    -------
    complex ndarray (n_k, n_freq, n_pop, n_pop)
    """
    M = np.asarray(connectivity)
    p = np.atleast_2d(np.asarray(profiles, float))
    if p.shape[1] != M.shape[-1]:
        raise ValueError(f"profiles has {p.shape[1]} populations, the connectivity {M.shape[-1]}")
    return M[None] * p[:, None, None, :]


def lif_spatial_connectivity(
    transfer, frequencies, arrays: NnmtArrays, delay: float, wave_numbers, radii
) -> np.ndarray:
    """LIF theory per mode: tau_m J K N(f) D(f) p(k), shape (n_k, n_freq, n_pop, n_pop).

    ``transfer``: nnmt's transfer function (or data), Hz/V, (n_freq, n_pop).
    """
    M = lif_connectivity(transfer, frequencies, arrays, delay)
    return spatial_connectivity(M, boxcar_profile(np.atleast_1d(wave_numbers), radii))


def rate_spatial_connectivity(
    frequencies, tau_rate, W_rate, delay: float, wave_numbers, radii
) -> np.ndarray:
    """Rate model per mode: W_rate exp(-i w d) p(k) / (1 + i w tau_rate).

    Shape (n_k, n_freq, n_pop, n_pop); tau_rate in s, W_rate (n_pop, n_pop).
    """
    M = rate_connectivity(frequencies, tau_rate, W_rate, delay)
    return spatial_connectivity(M, boxcar_profile(np.atleast_1d(wave_numbers), radii))


def coupling_sum(arrays: NnmtArrays, wave_numbers, radii) -> np.ndarray:
    """c(k) = sum_b J_b K_b p_b(k) of the first target population, V, shape (n_k,).

    Equal for every target in this network (rank one, module docstring).
    """
    p = boxcar_profile(np.atleast_1d(wave_numbers), radii)
    return p @ (arrays.J[0] * arrays.K[0])


def rank_one_eigenvalue(transfer, frequencies, arrays: NnmtArrays, delay, wave_numbers, radii):
    """lambda(k, f) = tau_m N(f) D(f) c(k) of the first target, shape (n_k, n_freq).

    The closed form of the only nonzero eigenvalue when all rows are equal
    (module docstring); a check of :func:`mode_eigenvalues`, not used by it.
    """
    f = np.atleast_1d(np.asarray(frequencies, float))
    D = np.exp(-2j * np.pi * f * float(delay))
    h = arrays.tau_m[0] * np.asarray(transfer, complex)[:, 0] * D
    return np.multiply.outer(coupling_sum(arrays, wave_numbers, radii), h)


def mode_eigenvalues(connectivity: np.ndarray) -> np.ndarray:
    """Eigenvalue of largest modulus per mode and frequency, shape (n_k, n_freq)."""
    M = np.asarray(connectivity)
    return critical_eigenvalue(M.reshape(-1, *M.shape[-2:])).reshape(M.shape[:-2])


# ----------------------------------------------------------------------------- stability


def nyquist_crossings(frequencies, eigenvalues) -> tuple[np.ndarray, np.ndarray]:
    """Largest Re lambda where lambda crosses the positive real axis, per mode, and its f.

    The same rule as ``closed_loop._crossing`` (linear interpolation between
    grid frequencies where Im lambda changes sign), vectorized over modes;
    in addition a real positive lambda at f = 0 (if the grid starts at 0)
    counts as a crossing at f = 0. Frequencies where any lambda is not
    finite are dropped.

    Parameters
    ----------
    frequencies : array (n_freq,)
        Hz, increasing, >= 0.
    eigenvalues : complex array (n_k, n_freq)

    Returns
    -------
    (ndarray, ndarray) of shape (n_k,)
        Re lambda at the crossing (-inf if none) and its frequency (Hz, nan).
    """
    f = np.asarray(frequencies, float)
    lam = np.atleast_2d(np.asarray(eigenvalues, complex))
    ok = np.all(np.isfinite(lam), axis=0)
    f, lam = f[ok], lam[:, ok]
    n_k = lam.shape[0]
    if f.size < 2:
        return np.full(n_k, -math.inf), np.full(n_k, math.nan)
    im, re = lam.imag, lam.real
    sign_change = (np.sign(im[:, :-1]) != np.sign(im[:, 1:])) & (im[:, :-1] != 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(sign_change, im[:, :-1] / (im[:, :-1] - im[:, 1:]), 0.0)
    re_c = re[:, :-1] + w * (re[:, 1:] - re[:, :-1])
    re_c = np.where(sign_change & (re_c > 0), re_c, -math.inf)
    idx = np.argmax(re_c, axis=1)
    rows = np.arange(n_k)
    best = re_c[rows, idx]
    f_c = np.where(np.isfinite(best), f[idx] + w[rows, idx] * (f[idx + 1] - f[idx]), math.nan)
    if f[0] == 0.0:
        at_zero = re[:, 0] > np.maximum(best, 0.0)
        best = np.where(at_zero, re[:, 0], best)
        f_c = np.where(at_zero, 0.0, f_c)
    return best, f_c


def fast_mode_eigenvalues(connectivity: np.ndarray, profiles: np.ndarray) -> np.ndarray:
    """:func:`mode_eigenvalues` of ``spatial_connectivity(connectivity, profiles)``, (n_k, n_freq).

    With identical rows (rank one, module docstring) the nonzero eigenvalue
    is the trace, ``sum_b M_0b(f) p_b(k)``, computed as one matrix product;
    otherwise the general eigenvalues.
    """
    M = np.asarray(connectivity)
    p = np.atleast_2d(np.asarray(profiles, float))
    scale = np.max(np.abs(M[np.isfinite(M)]), initial=0.0)
    rows_equal = np.all(np.abs(M - M[:, :1, :]) <= 1e-13 * scale)
    if rows_equal:
        return p @ M[:, 0, :].T
    return mode_eigenvalues(spatial_connectivity(M, p))


def rate_mode_roots(tau_rate, W_rate, delay, wave_numbers, radii, branches=BRANCHES):
    """Leading root s (1/s) of the rate model per mode, by Lambert W (nnmt).

    Parameters
    ----------
    tau_rate : float or array (n_pop,) of equal values
        s.
    W_rate : array (n_pop, n_pop)
        Rate-model weights h0 tau_m J K.
    delay : float
        s.
    wave_numbers : array (n_k,)
        1/m.
    radii : array (n_pop,)
        m.
    branches : sequence of int
        Lambert-W branches searched; the root with the largest real part wins.

    Returns
    -------
    complex ndarray (n_k,)
        s = growth rate + 2 pi i f, with Im s >= 0 chosen among conjugates.
    """
    from nnmt.linear_stability import _solve_chareq_lambertw_constant_delay

    p = boxcar_profile(np.atleast_1d(wave_numbers), radii)
    W = np.asarray(W_rate, float)
    out = np.empty(p.shape[0], complex)
    for i, pk in enumerate(p):
        roots = [
            complex(_solve_chareq_lambertw_constant_delay(b, tau_rate, delay, W * pk))
            for b in branches
        ]
        best = max(roots, key=lambda z: (round(z.real, 9), z.imag))
        out[i] = complex(best.real, abs(best.imag))
    return out


def fast_rate_roots(tau_rate, W_rate, delay, profiles, branches=BRANCHES) -> np.ndarray:
    """:func:`rate_mode_roots` vectorized over modes (the same Lambert-W formula), (n_k,).

    ``profiles``: (n_k, n_pop). The eigenvalue c of W_rate p(k) is the trace
    when W_rate has identical rows (rank one), else the general one of
    largest modulus.
    """
    tau = np.unique(np.asarray(tau_rate, float))
    if tau.size != 1:
        raise ValueError(f"tau_rate must be equal for all populations, got tau_rate = {tau_rate!r}")
    tau, d = float(tau[0]), float(delay)
    W = np.asarray(W_rate, float)
    p = np.atleast_2d(np.asarray(profiles, float))
    if np.allclose(W, W[:1], rtol=1e-13, atol=0):
        c = (p @ W[0]).astype(complex)
    else:
        c = mode_eigenvalues(W[None, None] * p[:, None, None, :])[:, 0]
    arg = c * d / tau * np.exp(d / tau)
    with np.errstate(invalid="ignore", divide="ignore"):  # W_b(0) = -inf for b != 0
        z = np.stack([-1.0 / tau + lambertw(arg, b) / d for b in branches])
    growth = np.where(np.isfinite(z), np.round(z.real, 9), -math.inf)
    best = z[np.argmax(growth, axis=0), np.arange(p.shape[0])]
    return best.real + 1j * np.abs(best.imag)


def lif_transfer_laplace(mu, sigma, s, arrays: NnmtArrays) -> np.ndarray:
    """nnmt's transfer function (synaptic filter) at complex s = i omega, Hz/V, (n_s, n_pop).

    nnmt's ``_transfer_function_shift`` at the complex angular frequency
    omega = -i s (mpmath; about 10 ms per point and distinct population).
    At s = 2 pi i f it equals :func:`mfval.theory.closed_loop.lif_transfer`.
    """
    n_pop = arrays.tau_m.size
    mu = np.broadcast_to(np.asarray(mu, float), (n_pop,))
    sigma = np.broadcast_to(np.asarray(sigma, float), (n_pop,))
    omegas = -1j * np.atleast_1d(np.asarray(s, complex))
    cols = np.stack(
        [mu, sigma, arrays.tau_m, arrays.tau_s, arrays.tau_r, arrays.V_th_rel, arrays.V_0_rel], 1
    )
    unique, inverse = np.unique(cols, axis=0, return_inverse=True)
    u = unique.T
    tf = lif_exp._transfer_function_shift(
        u[0], u[1], u[2], u[3], u[4], u[5], u[6], omegas, synaptic_filter=True
    )
    return np.asarray(tf, complex)[:, inverse.ravel()]


def lif_eigenvalue_laplace(s, mu, sigma, arrays: NnmtArrays, delay: float, profile) -> complex:
    """Eigenvalue of largest modulus of tau_m J K N(s) exp(-s d) p at one complex s (1/s)."""
    n_pop = arrays.tau_m.size
    tf = lif_transfer_laplace(mu, sigma, [s], arrays)
    Delay = np.full((n_pop, n_pop), float(delay))
    D = np.asarray(
        nnmt.network_properties._delay_dist_matrix(
            Delay, np.zeros_like(Delay), "none", np.array([-1j * complex(s)])
        ),
        complex,
    )
    M = lif_exp._effective_connectivity(tf, D, arrays.J, arrays.K, arrays.tau_m)
    return complex(critical_eigenvalue(np.asarray(M) * np.asarray(profile, float)[None, None])[0])


def lif_mode_root(
    mu, sigma, arrays: NnmtArrays, delay: float, profile, guesses, tol: float = 1e-6
) -> complex:
    """Root s (1/s) of lambda(k, s) = 1 for the LIF theory, the rightmost from ``guesses``.

    Secant iterations (complex) from each starting guess; roots with
    |lambda - 1| > 1e-6 are discarded, and so are iterations that fail
    (mpmath's series do not converge far in the left half-plane, where the
    weakly coupled modes' roots lie). nan if none converges.
    """

    def F(s):
        return lif_eigenvalue_laplace(s, mu, sigma, arrays, delay, profile) - 1.0

    roots = []
    for s0 in guesses:
        if not np.isfinite(s0):
            continue
        s0 = complex(s0)
        try:
            with np.errstate(all="ignore"):  # iterates may stray far left (exp(-s d) overflows)
                s = complex(newton(F, s0, x1=s0 * (1 + 1e-3) + 1.0, tol=tol, maxiter=40))
        except (RuntimeError, OverflowError, ZeroDivisionError, ValueError, NoConvergence):
            continue  # e.g. far into the left half-plane, where mpmath's series do not converge
        try:
            converged = np.isfinite(s) and abs(F(s)) < 1e-6
        except (OverflowError, ZeroDivisionError, ValueError, NoConvergence):
            continue
        if converged:
            roots.append(complex(s.real, abs(s.imag)))
    if not roots:
        return complex(math.nan, math.nan)
    return max(roots, key=lambda z: z.real)


def _nyquist_guess(f_grid, lam_row, f_c, delay):
    """One Newton step from the Nyquist crossing f_c towards lambda(s) = 1 (complex s)."""
    if not np.isfinite(f_c):
        return complex(math.nan)
    i = int(np.clip(np.searchsorted(f_grid, f_c), 1, len(f_grid) - 1))
    w0, w1 = 2 * np.pi * f_grid[i - 1], 2 * np.pi * f_grid[i]
    lam_c = np.interp(f_c, f_grid, lam_row.real) + 1j * np.interp(f_c, f_grid, lam_row.imag)
    dlam_ds = (lam_row[i] - lam_row[i - 1]) / (1j * (w1 - w0))
    if dlam_ds == 0:
        return complex(0.0, 2 * np.pi * f_c)
    return 2j * np.pi * f_c + (1.0 - lam_c) / dlam_ds


# ----------------------------------------------------------------------------- one setting


def _working_point(mu, sigma, network, fit_frequencies):
    point = working_point_for(mu, sigma, network)
    arrays = nnmt_arrays(network)
    tf_fit = lif_transfer(point["mean_input"], point["std_input"], fit_frequencies, arrays)
    fit = fit_low_pass(tf_fit, np.asarray(fit_frequencies, float), arrays)
    return point, arrays, fit


def _nyquist_frequencies(frequencies) -> np.ndarray:
    if frequencies is None:
        f = np.concatenate([np.arange(*part) for part in NYQUIST_GRID])
    else:
        f = np.asarray(frequencies, float)
    if f.ndim != 1 or f.size < 2 or np.any(np.diff(f) <= 0) or f[0] < 0:
        raise ValueError(
            f"nyquist_frequencies must increase strictly from >= 0 Hz, got {f[:5]!r}..."
        )
    return f


def mode_stability(
    mu: float,
    sigma: float,
    network: dict,
    ring_length: float,
    radii,
    n_modes: int,
    fit_frequencies,
    nyquist_frequencies=None,
    complex_roots: bool = True,
) -> dict:
    """Stability of every ring mode for the LIF theory and the rate model (arrays).

    Parameters
    ----------
    mu, sigma : float
        Working point, V.
    network : dict
        ``network`` section (SI); g and delay as given there.
    ring_length : float
        m.
    radii : array (n_pop,)
        Boxcar half-widths of the sources, m.
    n_modes : int
        Modes n = 0 .. n_modes - 1.
    fit_frequencies : array
        Hz, where the rate model's low-pass is fitted.
    nyquist_frequencies : array, optional
        Hz, the real-frequency grid of the Nyquist search (default :data:`NYQUIST_GRID`).
    complex_roots : bool
        Solve lambda(k, s) = 1 at complex s for the LIF theory (mpmath, ~1 s per mode).

    Returns
    -------
    dict of arrays of shape (n_modes,): ``mode``, ``wave_number`` (1/m),
    ``coupling`` (c(k), V), ``crossing_lif``/``crossing_rate`` (Re lambda at the
    Nyquist crossing, -inf if none), ``crossing_frequency_lif``/``_rate`` (Hz),
    ``root_lif``/``root_rate`` (complex s, 1/s; root_lif nan if not solved);
    and ``tau_rate`` (s), ``h0`` (Hz/V), ``firing_rates`` (Hz).
    """
    L, r = check_ring(ring_length, radii)
    k = ring_wave_numbers(L, n_modes)
    f = _nyquist_frequencies(nyquist_frequencies)
    point, arrays, fit = _working_point(mu, sigma, network, fit_frequencies)
    delay = float(network["delay"])
    tf = lif_transfer(point["mean_input"], point["std_input"], f, arrays)
    lam_lif = mode_eigenvalues(lif_spatial_connectivity(tf, f, arrays, delay, k, r))
    lam_rate = mode_eigenvalues(
        rate_spatial_connectivity(f, fit["tau_rate"], fit["W_rate"], delay, k, r)
    )
    c_lif, f_lif = nyquist_crossings(f, lam_lif)
    c_rate, f_rate = nyquist_crossings(f, lam_rate)
    root_rate = rate_mode_roots(fit["tau_rate"], fit["W_rate"], delay, k, r)
    root_lif = np.full(k.size, complex(math.nan, math.nan))
    if complex_roots:
        p = boxcar_profile(k, r)
        for n in range(k.size):
            guesses = [root_rate[n], _nyquist_guess(f, lam_lif[n], f_lif[n], delay)]
            root_lif[n] = lif_mode_root(
                point["mean_input"], point["std_input"], arrays, delay, p[n], guesses
            )
    return {
        "mode": np.arange(k.size),
        "wave_number": k,
        "coupling": coupling_sum(arrays, k, r),
        "crossing_lif": c_lif,
        "crossing_frequency_lif": f_lif,
        "crossing_rate": c_rate,
        "crossing_frequency_rate": f_rate,
        "root_lif": root_lif,
        "root_rate": root_rate,
        "tau_rate": fit["tau_rate"],
        "h0": fit["h0"],
        "firing_rates": point["firing_rates"],
    }


def stability_table(stability: dict) -> pd.DataFrame:
    """Tidy table of a :func:`mode_stability` result: one row per mode and model.

    Columns: ``mode``, ``wave_number_per_mm``, ``model`` ('lif' | 'rate'),
    ``growth_rate_per_s`` and ``frequency_hz`` of the leading root (LIF:
    complex root, nan if not solved or not converged; rate: Lambert W),
    ``eigenvalue_abs_at_crossing`` (Re lambda = |lambda| where lambda crosses
    the positive real axis, nan if it never does), ``crossing_frequency_hz``,
    ``stable`` (Nyquist: no crossing beyond 1).
    """
    st = stability
    frames = []
    for model in ("lif", "rate"):
        root = st[f"root_{model}"]
        cross = st[f"crossing_{model}"]
        frames.append(
            pd.DataFrame(
                {
                    "mode": st["mode"],
                    "wave_number_per_mm": st["wave_number"] * 1e-3,
                    "model": model,
                    "growth_rate_per_s": root.real,
                    "frequency_hz": root.imag / (2 * np.pi),
                    "eigenvalue_abs_at_crossing": np.where(np.isfinite(cross), cross, np.nan),
                    "crossing_frequency_hz": st[f"crossing_frequency_{model}"],
                    "stable": ~(cross > 1.0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def mode_stability_table(
    mu: float,
    sigma: float,
    network: dict,
    ring_length: float,
    radii,
    n_modes: int,
    fit_frequencies,
    nyquist_frequencies=None,
    complex_roots: bool = True,
) -> pd.DataFrame:
    """:func:`stability_table` of :func:`mode_stability` (same arguments)."""
    return stability_table(
        mode_stability(
            mu,
            sigma,
            network,
            ring_length,
            radii,
            n_modes,
            fit_frequencies,
            nyquist_frequencies,
            complex_roots,
        )  # fmt: skip
    )


# ----------------------------------------------------------------------------- onset


def _setting(network: dict, radii: np.ndarray, control: str, value: float):
    """(network, radii) with ``control`` set to ``value``."""
    if control == "g":
        return network_with_g(network, value), radii
    if control == "radius_ratio":
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"radius_ratio must be >= 0, got radius_ratio = {value!r}")
        return network, np.array([radii[0], radii[0] * value])
    if control == "delay":
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"delay must be positive, got delay = {value!r} s")
        net = copy.deepcopy(network)
        net["delay"] = float(value)
        return net, radii
    raise ValueError(f"control must be one of {CONTROLS}, got control = {control!r}")


def _scan_values(values_or_bracket, n_grid: int) -> np.ndarray:
    v = np.atleast_1d(_finite("values_or_bracket", values_or_bracket))
    if v.size < 2:
        raise ValueError(
            "values_or_bracket needs at least 2 values, "
            f"got values_or_bracket = {values_or_bracket!r}"
        )
    return np.linspace(v[0], v[1], int(n_grid)) if v.size == 2 else v


def _first_onset(values, margin, tol) -> tuple[float, list]:
    """First value where margin(value) > 0 after one where it is <= 0 (brentq), else nan.

    Also returns the stable windows on the grid: [first, last] grid values of
    each run of values with margin <= 0.
    """
    m = np.array([margin(v) for v in values])
    windows, start = [], None
    for i, v in enumerate(values):
        if m[i] <= 0 and start is None:
            start = float(v)
        if start is not None and (m[i] > 0 or i == len(values) - 1):
            windows.append([start, float(values[i - 1] if m[i] > 0 else v)])
            start = None
    for i in range(1, len(values)):
        if m[i - 1] <= 0 < m[i]:
            return brentq(margin, values[i - 1], values[i], xtol=tol), windows
    return math.nan, windows


def spatial_onset(
    mu: float,
    sigma: float,
    network: dict,
    ring_length: float,
    radii,
    control: str,
    values_or_bracket,
    fit_frequencies,
    n_modes: int | None = None,
    nyquist_frequencies=None,
    transfer_data=None,
    n_grid: int = 41,
    k_max: float = K_MAX,
    tol: float = 1e-6,
    n_draws: int = 0,
    seed: int = 0,
) -> dict:
    """Critical value of ``control`` where the first ring mode becomes unstable.

    Parameters
    ----------
    mu, sigma : float
        Working point, V (fixed: external rates re-derived for every g).
    network : dict
        ``network`` section (SI); its g and delay are used unless controlled.
    ring_length : float
        m.
    radii : array (n_pop,)
        Source half-widths [R_E, R_I], m (R_E fixed for ``radius_ratio``).
    control : {"g", "radius_ratio", "delay"}
        ``delay`` in s.
    values_or_bracket : array
        Two values: a bracket, scanned on ``n_grid`` points from the first to
        the second; more: the scan grid itself, in the order given. The
        onset is the first stable -> unstable transition along the scan.
    fit_frequencies : array
        Hz, where the rate model's low-pass is fitted.
    n_modes : int, optional
        Ring modes n = 0 .. n_modes - 1 (default: all with k_n <= k_max).
    nyquist_frequencies : array, optional
        Hz, real-frequency grid of the LIF Nyquist search (:data:`NYQUIST_GRID`).
    transfer_data : tuple (f_data, N_data) or (f_data, N_data, se_re, se_im), optional
        Transfer function measured in open loop (Hz, complex Hz/V, same for
        every population; standard errors of its real and imaginary parts,
        Hz/V): the semi-empirical onset, searched inside the data's
        frequency range only (a static instability, f* = 0, is seen only if
        the data include f = 0).
    n_grid : int
    k_max : float
        1/m, largest wave number of the continuous-k search.
    tol : float
        Tolerance of the critical value, relative to the largest |value| scanned.
    n_draws, seed : int
        With standard errors in ``transfer_data``: Monte Carlo draws
        (independent Gaussian errors, as ``closed_loop.semi_empirical_onset``)
        for ``value_c_semi_se``, ``f_star_semi_se_hz`` and ``n_valid_semi``
        (draws with an onset in the scan) of the ring onset.

    Returns
    -------
    dict, per model m in (lif, rate, semi) and for the ring (no infix) and
    continuous k (``cont``): ``value_c_<m>``, ``mode_<m>`` (ring only),
    ``k_star_<m>_per_mm``, ``f_star_<m>_hz``; for the ring also
    ``value_c_k0_<m>`` (onset of the n = 0 mode alone); ``stable_windows_<m>``
    (list of [first, last] scan values of each stable run, at the scan's
    resolution: where the theory's asynchronous state exists); ``control``,
    ``scan_start``, ``scan_stop``, ``ring_length_m``, ``n_modes``. nan where
    there is no onset in the scan (or no data).
    """
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got control = {control!r}")
    L, r = check_ring(ring_length, radii)
    values = _scan_values(values_or_bracket, n_grid)
    tol = float(tol) * float(np.max(np.abs(values)))
    if control == "radius_ratio":
        check_ring(L, [r[0], r[0] * np.max(values)])
    n_modes = modes_up_to(L, k_max) if n_modes is None else n_modes
    k_ring = ring_wave_numbers(L, n_modes)
    k_cont = np.arange(0.0, float(k_max) + K_STEP / 2, K_STEP)
    f = _nyquist_frequencies(nyquist_frequencies)
    point, arrays0, fit = _working_point(mu, sigma, network, fit_frequencies)
    transfers = {"lif": (f, lif_transfer(point["mean_input"], point["std_input"], f, arrays0))}
    if transfer_data is not None:
        f_data = np.asarray(transfer_data[0], float)
        f_semi = f[(f >= f_data.min()) & (f <= f_data.max())]
        N = interpolate_transfer(f_semi, f_data, transfer_data[1])
        transfers["semi"] = (f_semi, np.repeat(N[:, None], arrays0.tau_m.size, axis=1))
    h0, tau = fit["h0"], fit["tau_rate"]

    cache: dict = {}  # the non-spatial connectivity, per model and network

    def lif_state(model, value, k):
        net, rr = _setting(network, r, control, value)
        ff, tf = transfers[model]
        key = (model, None if control == "radius_ratio" else float(value))
        if key not in cache:
            cache[key] = lif_connectivity(tf, ff, nnmt_arrays(net), float(net["delay"]))
        return nyquist_crossings(ff, fast_mode_eigenvalues(cache[key], boxcar_profile(k, rr)))

    def rate_state(value, k):
        net, rr = _setting(network, r, control, value)
        a = nnmt_arrays(net)
        W = h0[:, None] * a.tau_m[:, None] * a.J * a.K
        return fast_rate_roots(tau, W, float(net["delay"]), boxcar_profile(k, rr))

    out = {
        "control": control,
        "scan_start": float(values[0]),
        "scan_stop": float(values[-1]),
        "ring_length_m": L,
        "n_modes": int(n_modes),
    }
    for model in ("lif", "rate", "semi"):
        for infix, k in (("", k_ring), ("cont_", k_cont)):
            name = f"{infix}{model}"
            keys = (f"value_c_{name}", f"k_star_{name}_per_mm", f"f_star_{name}_hz")
            out.update(dict.fromkeys(keys, math.nan))
            out[f"stable_windows_{name}"] = []
            if infix == "":
                out[f"mode_{model}"] = -1
                out[f"value_c_k0_{model}"] = math.nan
            if model != "rate" and model not in transfers:
                continue
            if model == "rate":

                def margin(v, k=k):
                    return float(np.max(rate_state(v, k).real)) * 1e-3  # 1/ms

            else:

                def margin(v, k=k, model=model):
                    return float(np.max(lif_state(model, v, k)[0])) - 1.0

            vc, windows = _first_onset(values, margin, tol)
            out[f"stable_windows_{name}"] = windows
            if not math.isfinite(vc):
                continue
            # the mode that goes unstable: the largest margin just past the onset
            v_past = vc + 10 * tol * np.sign(values[-1] - values[0])
            if model == "rate":
                roots = rate_state(v_past, k)
                n = int(np.argmax(roots.real))
                f_star = roots[n].imag / (2 * np.pi)
            else:
                cross, fc = lif_state(model, v_past, k)
                n = int(np.argmax(cross))
                f_star = fc[n]
            out[keys[0]], out[keys[1]], out[keys[2]] = vc, float(k[n] * 1e-3), float(f_star)
            if infix == "":
                out[f"mode_{model}"] = n
        if model != "rate" and model not in transfers:
            continue
        if model == "rate":

            def margin0(v):
                return float(rate_state(v, k_ring[:1])[0].real) * 1e-3

        else:

            def margin0(v, model=model):
                return float(lif_state(model, v, k_ring[:1])[0][0]) - 1.0

        out[f"value_c_k0_{model}"] = _first_onset(values, margin0, tol)[0]
    out.update(value_c_semi_se=math.nan, f_star_semi_se_hz=math.nan, n_valid_semi=0)
    if transfer_data is not None and len(transfer_data) == 4 and int(n_draws) > 0:
        rng = np.random.default_rng(seed)
        f_data = np.asarray(transfer_data[0], float)
        N0 = np.asarray(transfer_data[1], complex)
        se_re, se_im = (np.asarray(x, float) for x in transfer_data[2:])
        f_semi = transfers["semi"][0]
        draws = []
        for _ in range(int(n_draws)):
            Nd = N0 + rng.normal(size=N0.size) * se_re + 1j * rng.normal(size=N0.size) * se_im
            Nd = interpolate_transfer(f_semi, f_data, Nd)
            transfers["draw"] = (f_semi, np.repeat(Nd[:, None], arrays0.tau_m.size, axis=1))
            for key in [key for key in cache if key[0] == "draw"]:
                del cache[key]

            def margin_draw(v):
                return float(np.max(lif_state("draw", v, k_ring)[0])) - 1.0

            vc = _first_onset(values, margin_draw, tol)[0]
            if math.isfinite(vc):
                v_past = vc + 10 * tol * np.sign(values[-1] - values[0])
                cross, fc = lif_state("draw", v_past, k_ring)
                draws.append((vc, fc[int(np.argmax(cross))]))
        draws = np.array(draws).reshape(-1, 2)
        if len(draws) > 1:
            se = draws.std(axis=0, ddof=1)
            out.update(value_c_semi_se=float(se[0]), f_star_semi_se_hz=float(se[1]))
        out["n_valid_semi"] = len(draws)
    return out


# ----------------------------------------------------------------------------- spectra


def spatial_power_spectra(rates, connectivity: np.ndarray, arrays: NnmtArrays, N) -> np.ndarray:
    """PSD of each activity mode, 1/s, shape (n_k, n_freq, n_pop) (nnmt ``_power_spectra``).

    ``connectivity``: per-mode effective connectivity (n_k, n_freq, n_pop, n_pop).
    Frequencies where the connectivity is not finite give nan.
    """
    M = np.asarray(connectivity, complex)
    out = np.full(M.shape[:-1], np.nan)
    ok = np.all(np.isfinite(M), axis=(0, 2, 3))
    for n in range(M.shape[0]):
        if ok.any():
            out[n, ok] = power_spectra(rates, M[n, ok], arrays, N)
    return out


def spatial_point(
    mu: float,
    sigma: float,
    network: dict,
    ring_length: float,
    radii,
    n_modes: int,
    frequencies,
    fit_frequencies,
    transfer_data=None,
) -> dict:
    """Spectra per ring mode of the LIF theory, rate model (and semi-empirical) at one setting.

    Parameters as :func:`mode_stability`; ``frequencies`` (Hz, (n_freq,)):
    where the spectra are evaluated; ``transfer_data`` = (f_data, N_data) as
    in :func:`spatial_onset` (nan outside the data's range).

    Returns
    -------
    dict: the :func:`mfval.theory.closed_loop.closed_loop_point` result plus
    ``wave_numbers`` (1/m, (n_modes,)), ``radii`` (m), ``ring_length`` (m),
    ``profiles`` (n_modes, n_pop), ``psd_lif_modes``, ``psd_rate_modes``
    (and ``psd_semi_modes``), 1/s, (n_modes, n_freq, n_pop).
    """
    L, r = check_ring(ring_length, radii)
    k = ring_wave_numbers(L, n_modes)
    f = np.asarray(frequencies, float)
    point = closed_loop_point(mu, sigma, network, f, fit_frequencies)
    arrays = nnmt_arrays(network)
    N = point["population_size"]
    rates = point["firing_rates"]
    delay = point["delay"]
    M_lif = lif_spatial_connectivity(point["transfer"], f, arrays, delay, k, r)
    M_rate = rate_spatial_connectivity(f, point["tau_rate"], point["W_rate"], delay, k, r)
    out = {
        **point,
        "wave_numbers": k,
        "radii": r,
        "ring_length": L,
        "profiles": boxcar_profile(k, r),
        "psd_lif_modes": spatial_power_spectra(rates, M_lif, arrays, N),
        "psd_rate_modes": spatial_power_spectra(rates, M_rate, arrays, N),
    }
    if transfer_data is not None:
        Nd = interpolate_transfer(f, transfer_data[0], transfer_data[1])
        tf = np.repeat(Nd[:, None], arrays.tau_m.size, axis=1)
        M_semi = lif_spatial_connectivity(tf, f, arrays, delay, k, r)
        out["psd_semi_modes"] = spatial_power_spectra(rates, M_semi, arrays, N)
    return out


def spatial_theory_table(point: dict, network: dict, stability: dict | None = None) -> pd.DataFrame:
    """Long table of :func:`spatial_point`: one row per population, mode and frequency.

    Columns: ``g``, ``population``, ``mode``, ``wave_number_per_mm``,
    ``frequency_hz``, ``psd_lif_per_s``, ``psd_rate_per_s`` (and
    ``psd_semi_per_s`` with transfer data), ``poisson_psd_per_s`` (nu / N);
    with ``stability`` (a :func:`mode_stability` result of the same setting)
    also ``stable_lif``, ``stable_rate`` (the spectra mean nothing where False).
    """
    k = point["wave_numbers"]
    f = point["frequencies"]
    n_modes, n_freq = k.size, f.size
    frames = []
    for p, name in enumerate(network["populations"]):
        cols = {
            "g": point["g"],
            "population": name,
            "mode": np.repeat(np.arange(n_modes), n_freq),
            "wave_number_per_mm": np.repeat(k * 1e-3, n_freq),
            "frequency_hz": np.tile(f, n_modes),
            "psd_lif_per_s": point["psd_lif_modes"][:, :, p].ravel(),
            "psd_rate_per_s": point["psd_rate_modes"][:, :, p].ravel(),
        }
        if "psd_semi_modes" in point:
            cols["psd_semi_per_s"] = point["psd_semi_modes"][:, :, p].ravel()
        cols["poisson_psd_per_s"] = point["firing_rates"][p] / point["population_size"][p]
        if stability is not None:
            for model in ("lif", "rate"):
                stable = ~(np.asarray(stability[f"crossing_{model}"]) > 1.0)
                cols[f"stable_{model}"] = np.repeat(stable[:n_modes], n_freq)
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)
