"""Mean-field predictions for one working point, as pure functions of SI parameters.

All inputs and outputs are plain floats and numpy arrays in SI units
(V, s, Hz, Hz/V). The network dictionary is the ``network`` section returned
by :func:`mfval.config.load_params`.

Two computation paths, selected by the ``theory`` argument of every function
here (:data:`THEORY_PATHS`):

- ``"nnmt"``: nnmt's pure functions (``nnmt.lif.exp._*``) with exactly the
  arguments that the seed example's ``nnmt.models.Basic`` network would
  pass, so the numbers are the seed's numbers. The reference.
- ``"fast"`` (default): the same formulas in vectorized numpy/scipy
  (:mod:`mfval.theory.fast_lif`, no per-call mpmath); agrees with nnmt to 1e-9
  relative or better (``tests/test_fast_theory.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mfval.theory import fast_lif

#: the computation paths of the theory (see module docstring)
THEORY_PATHS: tuple[str, ...] = ("fast", "nnmt")
#: the default path
DEFAULT_THEORY = "fast"


def check_theory(theory: str) -> str:
    """Return ``theory`` if it names a computation path, else raise ValueError naming it."""
    if theory not in THEORY_PATHS:
        raise ValueError(f"theory must be one of {THEORY_PATHS}, got theory = {theory!r}")
    return theory


def _nnmt():
    """nnmt's pure-function modules (imported on first use of the nnmt path)."""
    from mfval.theory.nnmt_compat import lif_exp, lif_general

    return lif_exp, lif_general


class InfeasibleWorkingPointError(ValueError):
    """No non-negative external rates realize the requested (mu, sigma)."""

    def __init__(self, mu: float, sigma: float, nu_ext: np.ndarray | None = None):
        self.mu, self.sigma = mu, sigma
        detail = "" if nu_ext is None else f" (least-squares external rates {nu_ext} Hz)"
        super().__init__(
            f"working point mu = {mu * 1e3:g} mV, sigma = {sigma * 1e3:g} mV is infeasible: "
            f"it needs negative external rates{detail}"
        )


@dataclass(frozen=True)
class NnmtArrays:
    """Network parameters in the per-population form nnmt's pure functions take.

    Attributes (SI): J, J_ext in V (target x source); K, K_ext counts;
    tau_m, tau_s, tau_r in s, V_th_rel, V_0_rel in V, all of shape (n_pop,);
    C in F, shape (n_pop,).
    """

    J: np.ndarray
    K: np.ndarray
    J_ext: np.ndarray
    K_ext: np.ndarray
    tau_m: np.ndarray
    tau_s: np.ndarray
    tau_r: np.ndarray
    V_th_rel: np.ndarray
    V_0_rel: np.ndarray
    C: np.ndarray

    def rate_args(self) -> tuple:
        """Leading arguments of the rate solvers (J, K, V_0_rel, V_th_rel, tau_m,
        tau_r, tau_s, J_ext, K_ext), as :mod:`mfval.theory.fast_lif` and nnmt take them."""
        return (
            self.J,
            self.K,
            self.V_0_rel,
            self.V_th_rel,
            self.tau_m,
            self.tau_r,
            self.tau_s,
            self.J_ext,
            self.K_ext,
        )


def nnmt_arrays(network: dict) -> NnmtArrays:
    """Convert the ``network`` parameter section to :class:`NnmtArrays`.

    PSC amplitudes W (A) become PSP-like weights J = tau_s W / C (V), as in
    ``nnmt.models.Basic``; potentials are taken relative to the reset.
    """
    n_pop = len(network["populations"])
    per_pop = lambda x: np.full(n_pop, float(x))  # noqa: E731
    tau_s_over_c = network["tau_s"] / network["C"]
    return NnmtArrays(
        J=tau_s_over_c * np.asarray(network["W"], float),
        K=np.asarray(network["K"], float),
        J_ext=tau_s_over_c * np.asarray(network["W_ext"], float),
        K_ext=np.asarray(network["K_ext"], float),
        tau_m=per_pop(network["tau_m"]),
        tau_s=per_pop(network["tau_s"]),
        tau_r=per_pop(network["tau_r"]),
        V_th_rel=per_pop(network["V_th"] - network["V_reset"]),
        V_0_rel=per_pop(network["V_reset"] - network["V_reset"]),
        C=per_pop(network["C"]),
    )


def external_rates_for_fixed_input(
    mu: float, sigma: float, arrays: NnmtArrays, theory: str = DEFAULT_THEORY
) -> np.ndarray:
    """External Poisson rates (Hz, shape (n_ext,)) that put every population at (mu, sigma).

    Parameters
    ----------
    mu, sigma : float
        Requested mean and standard deviation of the input, in V.
    arrays : NnmtArrays
    theory : {"fast", "nnmt"}

    Raises
    ------
    InfeasibleWorkingPointError
        If the least-squares external rates are negative.
    ValueError
        If sigma is not positive.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got sigma = {sigma!r} V")
    args = arrays.rate_args()
    if check_theory(theory) == "fast":
        nu_ext = fast_lif.external_rates_for_fixed_input(mu, sigma, *args)
        if np.any(nu_ext < 0):
            raise InfeasibleWorkingPointError(mu, sigma, nu_ext)
        return nu_ext
    lif_exp, _ = _nnmt()
    try:
        return np.asarray(
            lif_exp._external_rates_for_fixed_input(mu, sigma, *args),
            float,
        )
    except RuntimeError as err:
        if "Negative rate" in str(err):
            raise InfeasibleWorkingPointError(mu, sigma) from err
        raise


def working_point(
    nu_ext: np.ndarray, arrays: NnmtArrays, theory: str = DEFAULT_THEORY
) -> dict[str, np.ndarray]:
    """Self-consistent firing rates and the realized input at given external rates.

    Solves the self-consistency equations from zero initial rates (nnmt's
    default ODE method), as ``nnmt.lif.exp.working_point`` does; the fast
    path runs the same solver on :func:`mfval.theory.fast_lif.firing_rate_shift`.

    Returns
    -------
    dict
        ``firing_rates`` (Hz), ``mean_input`` (V), ``std_input`` (V), each
        of shape (n_pop,).
    """
    rate_args = (*arrays.rate_args(), nu_ext)
    args = (arrays.J, arrays.K, arrays.tau_m, arrays.J_ext, arrays.K_ext, nu_ext)
    if check_theory(theory) == "fast":
        rates = fast_lif.self_consistent_rates(*rate_args)
        mean, std = fast_lif.mean_input(rates, *args), fast_lif.std_input(rates, *args)
    else:
        lif_exp, lif_general = _nnmt()
        rates = np.asarray(lif_exp._firing_rates(*rate_args), float)
        mean, std = lif_general._mean_input(rates, *args), lif_general._std_input(rates, *args)
    return {
        "firing_rates": rates,
        "mean_input": np.asarray(mean, float),
        "std_input": np.asarray(std, float),
    }


def transfer_function(
    mu: np.ndarray,
    sigma: np.ndarray,
    frequencies: np.ndarray,
    arrays: NnmtArrays,
    synaptic_filter: bool = True,
    theory: str = DEFAULT_THEORY,
) -> np.ndarray:
    """LIF transfer function N(f) in Hz/V, shape (n_freq, n_pop).

    Convention (nnmt): for a mean-input modulation
    delta_mu(t) = Re[dmu exp(i w t)], the rate responds as
    delta_nu(t) = Re[N dmu exp(i w t)]. With ``synaptic_filter=True`` the
    modulation enters through the synaptic current (factor 1/(1 + i w tau_s));
    with ``False`` it is injected into the membrane directly.

    Parameters
    ----------
    mu, sigma : float or array of shape (n_pop,)
        Mean and std of the input, V.
    frequencies : array of shape (n_freq,)
        Frequencies in Hz (not angular).
    """
    mu = np.broadcast_to(np.asarray(mu, float), arrays.tau_m.shape)
    sigma = np.broadcast_to(np.asarray(sigma, float), arrays.tau_m.shape)
    omegas = 2.0 * np.pi * np.atleast_1d(np.asarray(frequencies, float))
    if check_theory(theory) == "fast":
        func = fast_lif.transfer_function_shift
    else:
        func = _nnmt()[0]._transfer_function_shift
    return np.asarray(
        func(
            mu,
            sigma,
            arrays.tau_m,
            arrays.tau_s,
            arrays.tau_r,
            arrays.V_th_rel,
            arrays.V_0_rel,
            omegas,
            synaptic_filter=synaptic_filter,
        ),
        complex,
    )


def fit_low_pass(
    transfer: np.ndarray, frequencies: np.ndarray, arrays: NnmtArrays, theory: str = DEFAULT_THEORY
) -> dict[str, np.ndarray]:
    """Fit h0 / (1 + i w tau) to the amplitude of a transfer function, as nnmt does.

    Parameters
    ----------
    transfer : complex array of shape (n_freq, n_pop)
        Transfer function in Hz/V.
    frequencies : array of shape (n_freq,)
        Frequencies in Hz.

    Returns
    -------
    dict
        ``fit`` (complex, (n_freq, n_pop), Hz/V), ``tau_rate`` (s, (n_pop,)),
        ``W_rate`` (dimensionless, (n_pop, n_pop) = h0 tau_m J K),
        ``h0`` (Hz/V, (n_pop,)), ``fit_error`` (relative, (n_pop,)).
    """
    omegas = 2.0 * np.pi * np.asarray(frequencies, float)
    if check_theory(theory) == "fast":
        fit, tau_rate, h0, fit_error = fast_lif.fit_low_pass(transfer, omegas)
    else:
        fit, tau_rate, h0, fit_error = _nnmt()[1]._fit_transfer_function(transfer, omegas)
    W_rate = h0 * arrays.tau_m * arrays.J * arrays.K
    return {
        "fit": np.asarray(fit, complex),
        "tau_rate": np.asarray(tau_rate, float),
        "W_rate": np.asarray(W_rate, float),
        "h0": np.asarray(h0, float),
        "fit_error": np.asarray(fit_error, float),
    }


def rate_slope(
    mu: float, sigma: float, arrays: NnmtArrays, theory: str = DEFAULT_THEORY
) -> np.ndarray:
    """d nu / d mu at (mu, sigma) in Hz/V, shape (n_pop,) (zero-frequency transfer)."""
    tf = transfer_function(mu, sigma, [0.0], arrays, synaptic_filter=False, theory=theory)
    return np.real(tf[0])


def cv(wp: dict[str, np.ndarray], arrays: NnmtArrays, theory: str = DEFAULT_THEORY) -> np.ndarray:
    """CV of the interspike intervals at a working point (:func:`working_point`), (n_pop,)."""
    args = (
        wp["firing_rates"],
        wp["mean_input"],
        wp["std_input"],
        arrays.V_0_rel,
        arrays.V_th_rel,
        arrays.tau_m,
        arrays.tau_s,
    )
    func = fast_lif.cv if check_theory(theory) == "fast" else _nnmt()[0]._cvs
    return np.asarray(func(*args), float)


def working_point_for(mu: float, sigma: float, network: dict, theory: str = DEFAULT_THEORY) -> dict:
    """The working point that realizes (mu, sigma): external rates and self-consistent rates.

    The one solution of a working point that every protocol uses (theory
    scan, closed-loop theory, the simulation specs). Arguments as
    :func:`analyze_point` (mu, sigma in V; the ``network`` section, SI).

    Returns
    -------
    dict of plain numbers and arrays (SI): ``mu``, ``sigma`` (float),
    ``nu_ext`` (n_ext,), ``firing_rates`` (Hz), ``mean_input``,
    ``std_input`` (V), each (n_pop,).

    Raises
    ------
    InfeasibleWorkingPointError
    """
    check_theory(theory)
    arrays = nnmt_arrays(network)
    nu_ext = external_rates_for_fixed_input(mu, sigma, arrays, theory)
    wp = working_point(nu_ext, arrays, theory)
    return {"mu": float(mu), "sigma": float(sigma), "nu_ext": nu_ext, **wp}


def analyze_point(
    mu: float,
    sigma: float,
    network: dict,
    frequencies: np.ndarray,
    theory: str = DEFAULT_THEORY,
) -> dict:
    """Everything the theory predicts at one working point (the seed's loop body).

    Parameters
    ----------
    mu, sigma : float
        Requested working point in V.
    network : dict
        ``network`` section of the parameters (SI).
    frequencies : array of shape (n_freq,)
        Analysis frequencies in Hz.
    theory : {"fast", "nnmt"}
        Computation path (see module docstring).

    Returns
    -------
    dict of plain numbers and arrays (SI): ``mu``, ``sigma``, ``nu_ext``
    (n_ext,), ``firing_rates``, ``mean_input``, ``std_input``, ``cv``,
    ``rate_slope`` (n_pop,), ``frequencies``, ``transfer_function``,
    ``transfer_function_fit`` (n_freq, n_pop), ``tau_rate``, ``h0``,
    ``fit_error`` (n_pop,), ``W_rate`` (n_pop, n_pop).

    Raises
    ------
    InfeasibleWorkingPointError
    """
    wp = working_point_for(mu, sigma, network, theory)
    arrays = nnmt_arrays(network)
    tf = transfer_function(wp["mean_input"], wp["std_input"], frequencies, arrays, theory=theory)
    fit = fit_low_pass(tf, frequencies, arrays, theory)
    return {
        **wp,
        "cv": cv(wp, arrays, theory),
        "rate_slope": rate_slope(mu, sigma, arrays, theory),
        "frequencies": np.asarray(frequencies, float),
        "transfer_function": tf,
        "transfer_function_fit": fit["fit"],
        "tau_rate": fit["tau_rate"],
        "h0": fit["h0"],
        "W_rate": fit["W_rate"],
        "fit_error": fit["fit_error"],
        "theory": theory,
    }
