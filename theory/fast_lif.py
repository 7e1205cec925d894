"""Fast LIF mean-field theory: nnmt 1.3.0's formulas in vectorized numpy/scipy.

The functions here compute the same quantities as nnmt's pure functions for
LIF neurons with exponentially decaying PSCs (``nnmt.lif.exp``, 'shift'
method), with the same conventions, but without per-call mpmath and
vectorized over working points and frequencies. nnmt stays the reference
(``mfval.theory.mean_field`` selects either path; ``tests/test_fast_theory.py``
compares them).

Conventions (as nnmt): SI units (V, s, Hz, Hz/V); potentials relative to the
reset potential's reference E_L; the fast-synapse correction shifts threshold
and reset by ``sigma * alpha / 2 * sqrt(tau_s / tau_m)`` with
``alpha = sqrt(2) |zeta(1/2)|`` (Fourcaud & Brunel 2002); the transfer
function is that of Schuecker et al. 2015 at the shifted boundaries, with the
optional synaptic low-pass ``1 / (1 + i w tau_s)``.

Numerics
--------
Siegert formula
    The three regimes of ``nnmt.lif.delta._firing_rates_for_given_input``
    (threshold below the mean, reset above the mean, in between), each with
    its scaled form; the integral of erfcx by Gauss-Legendre quadrature of
    fixed order :data:`GL_ORDER`, which resolves the integrand to machine
    precision on the intervals that occur (|y| <= 60; tested against
    adaptive quadrature).
Transfer function
    nnmt evaluates ``Psi(z, x) = exp(x^2/4) U(z, -x)`` with mpmath's ``pcfu``
    at ``z = -1/2 + i w tau_m`` and ``z + 1``. With the integral
    representation DLMF 12.5.1 (valid for Re z > -1/2, so used for the orders
    z + 1 and z + 2) and the recurrence DLMF 12.8.1 (for the order z), the
    Gamma functions cancel from the ratio that the transfer function needs::

        [Psi'(z, x_t) - Psi'(z, x_r)] / [Psi(z, x_t) - Psi(z, x_r)]
            = i y [A(x_t) - A(x_r)] / [Q(x_t) - Q(x_r)],        y = w tau_m,

        A(x) = int_0^inf t^{iy} exp(-t^2/2 + x t) dt,
        Q(x) = int_0^inf (t^{iy} - 1) (t - x) exp(-t^2/2 + x t) dt

    (Q = P - 1 with P the recurrence's combination; the constant
    int_0^inf (t - x) exp(-t^2/2 + x t) dt = 1 is subtracted inside the
    integral, so that the difference Q(x_t) - Q(x_r) has no cancellation at
    low frequencies). With t = e^u both integrands are analytic in a strip
    around the real u axis and decay exponentially at both ends, so the
    trapezoid rule converges exponentially; the step is chosen from the
    largest |y| (oscillation) and the largest x (peak width 1/x at
    t = x, deep below threshold). Every point's integrals are scaled by
    exp(-max(x_t, 0)^2 / 2), which cancels in the ratio and keeps
    exp(x^2/2) from overflowing. On a common u grid the integrals for all
    points and frequencies are one complex matrix product.
    At w = 0 the transfer function is, as in nnmt, the derivative of the
    Siegert rate with respect to mu at the shifted boundaries, here written
    with erfcx (nnmt's ``exp(y^2) (1 + erf(y))`` loses all digits for
    y < -6, see :func:`siegert_derivative_mu`).
Self-consistency, fit, CV
    :func:`working_point` integrates nnmt's rate ODE from zero with the same
    solver and tolerances (so it reaches the same fixed point);
    :func:`fit_low_pass` is nnmt's least-squares fit of the amplitude;
    :func:`cv` is nnmt's double integral (Brunel 2000, rewritten as in
    Layer et al. 2023) by composite Gauss-Legendre quadrature in log scale.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import scipy.integrate as sint
import scipy.optimize as sopt
from scipy.special import dawsn, erfcx, roots_legendre, zetac

#: sqrt(2) |zeta(1/2)|, the fast-synapse boundary shift in units of sigma sqrt(tau_s / tau_m) / 2
ALPHA = float(np.sqrt(2.0) * abs(zetac(0.5) + 1.0))

#: Gauss-Legendre order of the erfcx integrals of the Siegert formula
GL_ORDER = 160

#: lower end of the trapezoid grid in u = ln t; the neglected tail is below exp(U_MIN)
U_MIN = -42.0

#: largest |w tau_m| for the integral representation; beyond it mpmath (see _psi_ratio)
Y_INTEGRAL_MAX = 8.0


def _as_points(*arrays) -> list[np.ndarray]:
    """Broadcast scalars and arrays to a common 1d float shape."""
    out = np.broadcast_arrays(*[np.atleast_1d(np.asarray(a, float)) for a in arrays])
    return [np.ascontiguousarray(a.ravel()) for a in out]


def _check_positive(**values) -> None:
    for name, value in values.items():
        value = np.asarray(value, float)
        if not np.all(value > 0):
            bad = value[~(value > 0)].ravel()[0]
            raise ValueError(f"{name} must be positive, got {name} = {bad!r}")


def _check_fast_synapses(tau_m, tau_s) -> None:
    """nnmt's warning when k = sqrt(tau_s / tau_m) leaves the fast-synapse regime."""
    k = np.sqrt(np.asarray(tau_s, float) / np.asarray(tau_m, float))
    if np.any(k > np.sqrt(0.1)):
        warnings.warn(
            f"k = sqrt(tau_s/tau_m) = {k} might be too large for the fast-synapse "
            "approximation of the firing rate",
            stacklevel=3,
        )


def boundary_shift(sigma, tau_m, tau_s):
    """Fast-synapse shift of threshold and reset, V (Fourcaud & Brunel 2002).

    Examples
    --------
    >>> round(float(boundary_shift(10e-3, 5e-3, 0.5e-3)) * 1e3, 3)  # mV
    3.265
    """
    return np.asarray(sigma, float) * ALPHA / 2.0 * np.sqrt(np.asarray(tau_s) / np.asarray(tau_m))


# --------------------------------------------------------------------------- Siegert


@lru_cache(maxsize=8)
def _gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = roots_legendre(order)
    return x, w


def erfcx_integral(a, b) -> np.ndarray:
    """int_a^b erfcx(u) du for a, b >= 0 (arrays of equal shape), by Gauss-Legendre."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    x, w = _gauss_legendre(GL_ORDER)
    half, mid = (b - a)[..., None] / 2.0, (b + a)[..., None] / 2.0
    return (half * erfcx(half * x + mid)) @ w


def siegert(mu, sigma, V_0, V_th, tau_m, tau_r) -> np.ndarray:
    """Stationary rate of the LIF neuron with white-noise input (Siegert), Hz.

    nnmt's ``lif.delta._firing_rates_for_given_input``, with its three
    regimes and scaled forms.

    Parameters
    ----------
    mu, sigma : float or array
        Mean and standard deviation of the input, V.
    V_0, V_th : float or array
        Reset and threshold relative to the resting potential, V.
    tau_m, tau_r : float or array
        Membrane time constant and refractory time, s.

    Returns
    -------
    ndarray, shape (n,) of the broadcast inputs (flattened)

    Examples
    --------
    The rate at mu = sigma = 10 mV (tau_m = 5 ms, no refractory time, no synaptic
    shift), in Hz:

    >>> siegert(10e-3, 10e-3, 0.0, 15e-3, 5e-3, 0.0).round(2)
    array([83.84])
    """
    mu, sigma, V_0, V_th, tau_m, tau_r = _as_points(mu, sigma, V_0, V_th, tau_m, tau_r)
    if np.any(V_th < V_0):
        raise ValueError(f"V_th must not be below V_0, got V_th = {V_th}, V_0 = {V_0} V")
    return _siegert_y((V_th - mu) / sigma, (V_0 - mu) / sigma, tau_m, tau_r)


def _siegert_y(y_th: np.ndarray, y_r: np.ndarray, tau_m: np.ndarray, tau_r: np.ndarray):
    """:func:`siegert` from y = (V - mu) / sigma (flat arrays of equal shape, not checked)."""
    nu = np.empty_like(y_th)
    exc = y_th < 0
    inh = y_r > 0
    interm = ~(exc | inh)
    if exc.any():
        integral = erfcx_integral(-y_th[exc], -y_r[exc])
        nu[exc] = 1.0 / (tau_r[exc] + tau_m[exc] * np.sqrt(np.pi) * integral)
    if inh.any():
        yt, yr = y_th[inh], y_r[inh]
        e_th = np.exp(-(yt**2))
        integral = 2 * dawsn(yt) - 2 * np.exp(yr**2 - yt**2) * dawsn(yr)
        integral -= e_th * erfcx_integral(yr, yt)
        nu[inh] = e_th / (e_th * tau_r[inh] + tau_m[inh] * np.sqrt(np.pi) * integral)
    if interm.any():
        yt, yr = y_th[interm], y_r[interm]
        e_th = np.exp(-(yt**2))
        integral = 2 * dawsn(yt) + e_th * erfcx_integral(yt, -yr)
        nu[interm] = e_th / (e_th * tau_r[interm] + tau_m[interm] * np.sqrt(np.pi) * integral)
    return nu


def siegert_derivative_mu(mu, sigma, V_0, V_th, tau_m, tau_r) -> np.ndarray:
    """d nu / d mu of the Siegert rate, Hz/V (nnmt's white-noise zero-frequency transfer).

    nnmt (``lif.delta._derivative_of_firing_rates_wrt_mean_input``) writes
    ``sqrt(pi) tau_m nu^2 / sigma * [exp(y^2) (1 + erf(y))]_{y_r}^{y_th}``;
    the bracket is ``erfcx(-y)``, evaluated here without the cancellation of
    ``1 + erf(y)`` for y << 0, and nu^2 exp(y^2) as nu (nu exp(y^2)) so that
    it does not underflow far below threshold.
    """
    mu, sigma, V_0, V_th, tau_m, tau_r = _as_points(mu, sigma, V_0, V_th, tau_m, tau_r)
    nu = siegert(mu, sigma, V_0, V_th, tau_m, tau_r)
    y_th = (V_th - mu) / sigma
    y_r = (V_0 - mu) / sigma
    bracket = erfcx(-y_th) - erfcx(-y_r)
    return np.sqrt(np.pi) * tau_m / sigma * nu * (nu * bracket)


def firing_rate_shift(mu, sigma, V_0_rel, V_th_rel, tau_m, tau_r, tau_s) -> np.ndarray:
    """Stationary rate with exponential PSCs (shifted Siegert), Hz, shape (n,).

    nnmt's ``lif.exp._firing_rate_shift``: the Siegert formula with threshold
    and reset both raised by :func:`boundary_shift`.
    """
    _check_positive(sigma=sigma, tau_m=tau_m, tau_s=tau_s)
    _check_fast_synapses(tau_m, tau_s)
    shift = boundary_shift(sigma, tau_m, tau_s)
    return siegert(mu, sigma, np.add(V_0_rel, shift), np.add(V_th_rel, shift), tau_m, tau_r)


# --------------------------------------------------------------------------- transfer function


def _trapezoid_grid(x_max: float, y_max: float) -> tuple[float, np.ndarray]:
    """Step and nodes of the u = ln t grid for the largest x and |y| of a batch.

    The step resolves the oscillation t^{iy} = exp(i y u) (h < 2 pi / (|y| + 60):
    the error exp(-(2 pi / h - |y|) d) stays below 1e-16 for a strip half-width
    d near pi / 6) and the peak of width 1/x at t = x (h x < 0.5: error
    exp(-2 pi^2 / (h x)^2)). The upper end lies 12 peak widths beyond the
    peak (Gaussian tail exp(-72)).
    """
    h_max = min(2.0 * np.pi / (y_max + 60.0), 0.5 / max(x_max, 1.0), 0.1)
    # steps on a ladder 0.1 * 2^(-k/4) and grid lengths in multiples of 64, so
    # that batches with similar x share the cached phase factors
    h = 0.1 * 2.0 ** (-np.ceil(-4.0 * np.log2(h_max / 0.1)) / 4.0)
    u_max = np.log(max(x_max, 0.0) + 12.0)
    n = 64 * int(np.ceil((u_max - U_MIN) / h / 64.0)) + 1
    return h, U_MIN + h * np.arange(n)


@lru_cache(maxsize=16)
def _phase_factors(y_bytes: bytes, h: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """exp(i y u) and exp(i y u) - 1 on the grid, shapes (n, n_y) (cached)."""
    y = np.frombuffer(y_bytes, float)
    phase = np.outer(U_MIN + h * np.arange(n), y)
    return np.exp(1j * phase), np.expm1(1j * phase)


def _real_times_complex(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for real a (m, k) and C-contiguous complex b (k, n)."""
    k, n = b.shape
    return np.einsum("pk,kf->pf", a, b.view(float).reshape(k, 2 * n)).view(complex)


def _psi_ratio(x_t: np.ndarray, x_r: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[Psi'(z,x_t) - Psi'(z,x_r)] / [Psi(z,x_t) - Psi(z,x_r)], z = -1/2 + i y; (n_y, n_pts).

    ``y`` is one row of w tau_m shared by all points (see module docstring).
    For |y| <= :data:`Y_INTEGRAL_MAX` the integral representation; beyond,
    mpmath's ``pcfu`` as nnmt does. Reason: |t^{iy}| = 1 on the real axis
    while the integrals are of order |Gamma(1 + iy)| ~ exp(-pi |y| / 2), so
    the trapezoid sum cancels about exp(1.2 |y|) (measured: relative error
    1e-15 at y = 1, 3e-12 at y = 8, 1e-10 at y = 10, 0.5 at y = 31 for x_t
    = -6.6), and rotating the contour cannot remove that (the Gaussian factor
    allows less than pi/4). With tau_m = 5 ms the limit is 255 Hz, above
    the project's analysis frequencies (1-199 Hz).
    """
    y = np.asarray(y, float)
    high = np.abs(y) > Y_INTEGRAL_MAX
    if high.any():
        out = np.empty((len(y), len(x_t)), dtype=complex)
        out[high] = _psi_ratio_mpmath(x_t, x_r, y[high])
        if (~high).any():
            out[~high] = _psi_ratio(x_t, x_r, y[~high])
        return out
    x = np.concatenate([x_t, x_r])
    h, u = _trapezoid_grid(float(np.max(x)), float(np.max(np.abs(y))))
    t = np.exp(u)
    scale = np.concatenate([np.maximum(x_t, 0.0) ** 2 / 2.0] * 2)
    # h t exp(-t^2/2 + x t), scaled by exp(-scale): the measure dt = t du and the weights
    log_g = u[None, :] - 0.5 * t[None, :] ** 2 + x[:, None] * t[None, :] - scale[:, None]
    g = h * np.exp(log_g)
    e, em1 = _phase_factors(np.ascontiguousarray(y, float).tobytes(), h, len(u))
    # real x complex as real x (real, imag) interleaved, by einsum rather than
    # BLAS (whose thread pool fights the worker processes for the cores)
    A = _real_times_complex(g, e)
    Q = _real_times_complex(g * (t[None, :] - x[:, None]), em1)
    n = len(x_t)
    dA = A[:n] - A[n:]
    dQ = Q[:n] - Q[n:]
    return (1j * y[None, :] * dA / dQ).T


def _psi_ratio_mpmath(x_t: np.ndarray, x_r: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`_psi_ratio` by mpmath's ``pcfu`` (nnmt's evaluation; slow, for |y| large)."""
    import mpmath

    out = np.empty((len(y), len(x_t)), dtype=complex)
    for j, (xt, xr) in enumerate(zip(x_t, x_r)):
        for i, yi in enumerate(y):
            z = mpmath.mpc(-0.5, yi)

            def psi(order, x):
                return mpmath.exp(0.25 * x**2) * mpmath.pcfu(order, -x)

            num = (0.5 + z) * (psi(z + 1, xt) - psi(z + 1, xr))
            out[i, j] = complex(num / (psi(z, xt) - psi(z, xr)))
    return out


def transfer_function_shift(
    mu, sigma, tau_m, tau_s, tau_r, V_th_rel, V_0_rel, omegas, synaptic_filter: bool = True
) -> np.ndarray:
    """LIF transfer function with exponential PSCs ('shift' method), Hz/V.

    nnmt's ``lif.exp._transfer_function_shift`` (Schuecker et al. 2015 at the
    shifted threshold and reset), vectorized: every entry of the broadcast
    parameter arrays is one column (a population or a working point).

    Parameters
    ----------
    mu, sigma : float or array of shape (n,)
        Mean and standard deviation of the input, V.
    tau_m, tau_s, tau_r : float or array of shape (n,)
        Membrane, synaptic and refractory time constants, s.
    V_th_rel, V_0_rel : float or array of shape (n,)
        Threshold and reset relative to rest, V.
    omegas : float or array of shape (n_freq,)
        Angular frequencies, rad/s.
    synaptic_filter : bool
        Multiply by 1 / (1 + i w tau_s) (modulation enters through the
        synaptic current), as nnmt's default.

    Returns
    -------
    complex ndarray of shape (n_freq, n)
    """
    omegas = np.atleast_1d(np.asarray(omegas, float))
    mu, sigma, tau_m, tau_s, tau_r, V_th_rel, V_0_rel = _as_points(
        mu, sigma, tau_m, tau_s, tau_r, V_th_rel, V_0_rel
    )
    _check_positive(sigma=sigma, tau_m=tau_m, tau_s=tau_s)
    if np.any(tau_r < 0):
        raise ValueError(f"tau_r must not be negative, got tau_r = {tau_r} s")
    _check_fast_synapses(tau_m, tau_s)
    columns = np.stack([mu, sigma, tau_m, tau_s, tau_r, V_th_rel, V_0_rel], axis=1)
    unique, inverse = np.unique(columns, axis=0, return_inverse=True)
    if len(unique) < len(mu):  # equal populations are computed once
        return transfer_function_shift(*unique.T, omegas, synaptic_filter)[:, inverse.ravel()]
    shift = boundary_shift(sigma, tau_m, tau_s)
    V_th1, V_01 = V_th_rel + shift, V_0_rel + shift

    zero = np.abs(omegas) < 1e-15
    result = np.zeros((len(omegas), len(mu)), dtype=complex)
    if zero.any():
        result[zero] = siegert_derivative_mu(mu, sigma, V_01, V_th1, tau_m, tau_r)
    if (~zero).any():
        nu = siegert(mu, sigma, V_01, V_th1, tau_m, tau_r)
        x_t = np.sqrt(2.0) * (V_th1 - mu) / sigma
        x_r = np.sqrt(2.0) * (V_01 - mu) / sigma
        w = omegas[~zero]
        frac = np.empty((len(w), len(mu)), dtype=complex)
        for tm in np.unique(tau_m):
            cols = tau_m == tm
            frac[:, cols] = _psi_ratio(x_t[cols], x_r[cols], w * tm)
        y = np.outer(w, tau_m)
        result[~zero] = np.sqrt(2.0) / sigma * nu / (1.0 + 1j * y) * frac
    if synaptic_filter:
        result /= 1.0 + 1j * np.outer(omegas, tau_s)
    return result


# --------------------------------------------------------------------------- network level


def mean_input(nu, J, K, tau_m, J_ext, K_ext, nu_ext) -> np.ndarray:
    """Mean input mu = tau_m (K J nu + K_ext J_ext nu_ext), V, shape (n_pop,)."""
    return tau_m * (np.dot(K * J, nu) + np.dot(K_ext * J_ext, nu_ext))


def std_input(nu, J, K, tau_m, J_ext, K_ext, nu_ext) -> np.ndarray:
    """Input std sigma = sqrt(tau_m (K J^2 nu + K_ext J_ext^2 nu_ext)), V, shape (n_pop,)."""
    return np.sqrt(tau_m * (np.dot(K * J**2, nu) + np.dot(K_ext * J_ext**2, nu_ext)))


def external_rates_for_fixed_input(
    mu_set, sigma_set, J, K, V_0_rel, V_th_rel, tau_m, tau_r, tau_s, J_ext, K_ext
) -> np.ndarray:
    """External rates (Hz, shape (n_ext,)) that realize (mu_set, sigma_set), least squares.

    nnmt's ``lif.exp._external_rates_for_fixed_input``: the target rates are
    the shifted Siegert rates at (mu_set, sigma_set); the external rates solve
    the linear equations for the remaining mean and variance. Negative rates
    are returned as they are (the caller decides; nnmt raises).
    """
    n_pop = np.shape(K)[0]
    rates = firing_rate_shift(
        np.broadcast_to(mu_set, (n_pop,)), sigma_set, V_0_rel, V_th_rel, tau_m, tau_r, tau_s
    )
    mu_loc = tau_m * np.dot(K * J, rates)
    sigma_loc = np.sqrt(tau_m * np.dot(K * J**2, rates))
    lhs = np.append(K_ext * J_ext, K_ext * J_ext**2, axis=0)
    rhs = np.append((mu_set - mu_loc) / tau_m, (sigma_set**2 - sigma_loc**2) / tau_m)
    return np.linalg.lstsq(lhs, rhs, rcond=None)[0]


def self_consistent_rates(
    J, K, V_0_rel, V_th_rel, tau_m, tau_r, tau_s, J_ext, K_ext, nu_ext,
    eps_tol: float = 1e-7, t_max: float = 1000.0, maxiter: int = 1000,
) -> np.ndarray:  # fmt: skip
    """Self-consistent rates (Hz, shape (n_pop,)), as nnmt's ``_firing_rates`` ('shift', ODE).

    Integrates d nu / ds = -nu + phi(mu(nu), sigma(nu)) from nu = 0 with
    LSODA on [0, t_max], restarting from the end value until the rates
    change by less than ``eps_tol`` Hz over the last unit of s (nnmt's
    ``_solvers._firing_rate_integration`` with its defaults), so that the
    same stable fixed point is reached.
    """

    n_pop = np.shape(K)[0]
    tau_m, tau_r, tau_s, V_0_rel, V_th_rel = (
        np.broadcast_to(np.asarray(a, float), (n_pop,)).copy()
        for a in (tau_m, tau_r, tau_s, V_0_rel, V_th_rel)
    )
    _check_positive(tau_m=tau_m, tau_s=tau_s)
    _check_fast_synapses(tau_m, tau_s)
    # the constant parts of mu(nu), sigma(nu) and the boundary shift, once
    kj, kj2 = K * J, K * J**2
    mu_ext, var_ext = np.dot(K_ext * J_ext, nu_ext), np.dot(K_ext * J_ext**2, nu_ext)
    shift_per_sigma = ALPHA / 2.0 * np.sqrt(tau_s / tau_m)

    def velocity(_, nu):
        mu = tau_m * (kj @ nu + mu_ext)
        sigma = np.sqrt(tau_m * (kj2 @ nu + var_ext))
        y_th = (V_th_rel - mu) / sigma + shift_per_sigma
        y_r = (V_0_rel - mu) / sigma + shift_per_sigma
        return _siegert_y(y_th, y_r, tau_m, tau_r) - nu

    nu = np.zeros(n_pop)
    for _ in range(maxiter):
        sol = sint.solve_ivp(velocity, [0, t_max], nu, t_eval=[t_max - 1, t_max], method="LSODA")
        if not sol.success:
            raise RuntimeError(f"rate ODE failed: {sol.message}")
        eps = np.max(np.abs(sol.y[:, 1] - sol.y[:, 0]))
        nu = sol.y[:, 1]
        if eps < eps_tol:
            return nu
    raise RuntimeError(f"rate ODE did not converge in {maxiter} runs (last change {eps:g} Hz)")


def fit_low_pass(transfer: np.ndarray, omegas: np.ndarray):
    """nnmt's low-pass fit ``h0 / (1 + i w tau)`` to |transfer| (``lif._general``).

    Parameters
    ----------
    transfer : complex array of shape (n_freq, n)
        Transfer functions, Hz/V.
    omegas : array of shape (n_freq,)
        Angular frequencies, rad/s.

    Returns
    -------
    fit (complex, (n_freq, n), Hz/V), tau (s, (n,)), h0 (Hz/V, (n,)),
    fit_error (relative, (n,)), exactly as nnmt computes them: least squares
    of the amplitude from (tau, h0) = (1, 1), the sign of tau (and of the
    fit's imaginary part) taken from the last frequency, and the combined
    relative standard error of the two parameters.
    """
    transfer = np.asarray(transfer, complex)
    omegas = np.asarray(omegas, float)

    def func(omega, tau, h0):
        return h0 / (1.0 + 1j * omega * tau)

    def func_abs(omega, tau, h0):
        return np.abs(func(omega, tau, h0))

    n = transfer.shape[1]
    fit = np.zeros(transfer.shape, dtype=complex)
    tau, h0, fit_error = np.zeros(n), np.zeros(n), np.zeros(n)
    done: dict[bytes, int] = {}  # equal columns (populations) are fitted once
    for i in range(n):
        key = np.ascontiguousarray(transfer[:, i]).tobytes()
        if key in done:
            j = done[key]
            fit[:, i], tau[i], h0[i], fit_error[i] = fit[:, j], tau[j], h0[j], fit_error[j]
            continue
        done[key] = i
        params, cov = sopt.curve_fit(func_abs, omegas, np.abs(transfer[:, i]))
        tau[i], h0[i] = params
        fit[:, i] = func(omegas, tau[i], h0[i])
        sign = 1 if transfer[-1, i].imag > 0 else -1
        sign_fit = 1 if fit[-1, i].imag > 0 else -1
        if sign != sign_fit:
            fit[:, i].imag *= -1
            tau[i] *= -1
        errors = np.sqrt(np.diag(cov))
        fit_error[i] = np.hypot(errors[0] / tau[i], errors[1] / h0[i])
    return fit, tau, h0, fit_error


# --------------------------------------------------------------------------- CV


def _composite_gauss_legendre(lo, hi, panels: int, order: int):
    """Nodes and weights on [lo, hi] (arrays of shape (m,)), shapes (m, panels * order)."""
    x, w = _gauss_legendre(order)
    lo, hi = np.asarray(lo, float)[:, None], np.asarray(hi, float)[:, None]
    width = (hi - lo) / panels
    starts = lo + width * np.arange(panels)[None, :]
    nodes = starts[:, :, None] + width[:, :, None] * (x[None, None, :] + 1.0) / 2.0
    weights = np.broadcast_to(width[:, :, None] / 2.0 * w[None, None, :], nodes.shape)
    m = len(lo)
    return nodes.reshape(m, -1), weights.reshape(m, -1)


def cv(nu, mu, sigma, V_0_rel, V_th_rel, tau_m, tau_s) -> np.ndarray:
    """Coefficient of variation of the interspike intervals, shape (n,).

    nnmt's ``lif.exp._cvs`` (Brunel 2000, Appendix A.1, in the form of
    Layer et al. 2023, at the shifted boundaries)::

        CV^2 = 2 (nu tau_m)^2 int_0^inf ds (e^{2 y_th s} - e^{2 y_r s}) / s
               * int_0^s dt (e^{-s^2 - 2 t^2 + 2 s t} - e^{-s^2}) / t

    With t = s v the inner integrand is e^{q - s^2} (1 - e^{-q}) / v,
    q = 2 s^2 v (1 - v); the product with e^{2 y_th s} is evaluated in log
    scale (no overflow far below threshold) and the difference of the two
    exponentials as -expm1, by composite Gauss-Legendre quadrature in s
    (up to where the integrand is below 1e-20 of its peak) and v.

    Parameters
    ----------
    nu : float or array
        Firing rate, Hz.
    mu, sigma, V_0_rel, V_th_rel : float or array
        Input mean and std, reset and threshold, V.
    tau_m, tau_s : float or array
        Membrane and synaptic time constants, s.
    """
    nu, mu, sigma, V_0_rel, V_th_rel, tau_m, tau_s = _as_points(
        nu, mu, sigma, V_0_rel, V_th_rel, tau_m, tau_s
    )
    _check_positive(sigma=sigma, tau_m=tau_m, tau_s=tau_s)
    # equal populations are computed once
    rows, inverse = np.unique(
        np.stack([mu, sigma, V_0_rel, V_th_rel, tau_m, tau_s], axis=1), axis=0, return_inverse=True
    )
    mu, sigma, V_0_rel, V_th_rel, tau_m, tau_s = rows.T
    shift = ALPHA / 2.0 * np.sqrt(tau_s / tau_m)
    y_th = (V_th_rel - mu) / sigma + shift
    y_r = (V_0_rel - mu) / sigma + shift
    # the outer integrand behaves as exp(2 y_th s - s^2 / 2): for y_th > 0 a
    # peak near s = 2 y_th of width ~1, the range ends 14 widths beyond it;
    # for y_th < 0 it decays at least as exp(2 y_th s), to exp(-45) at 22.5 / |y_th|
    s_hi = np.where(y_th > 0, 2.0 * y_th + 14.0, np.minimum(14.0, 22.5 / np.abs(y_th)))
    s, ws = _composite_gauss_legendre(np.zeros_like(s_hi), s_hi, panels=32, order=12)
    # inner integrand: peak at v = 1/2 of width 1 / (2 s)
    v_panels = int(np.ceil(np.max(s_hi) / 0.75))
    v, wv = _composite_gauss_legendre(np.zeros(1), np.ones(1), panels=v_panels, order=12)
    v, wv = v[0], wv[0]
    q = 2.0 * s[:, :, None] ** 2 * (v * (1.0 - v))[None, None, :]
    log_f = 2.0 * y_th[:, None, None] * s[:, :, None] + q - s[:, :, None] ** 2
    peak = np.max(log_f, axis=(1, 2))
    inner = np.exp(log_f - peak[:, None, None]) * (-np.expm1(-q)) / v[None, None, :]
    inner = inner @ wv
    outer = -np.expm1(-2.0 * (y_th - y_r)[:, None] * s) / s * inner
    integral = np.sum(outer * ws, axis=1)
    scale = tau_m * np.sqrt(2.0 * integral) * np.exp(peak / 2.0)
    return nu * scale[inverse.ravel()]
