"""Estimate a complex rate response N(f) from spike times, and fit a low-pass filter.

Pure numpy/scipy (no Brian2), so the estimator is testable on synthetic spikes.

Convention (as in nnmt and the design): the mean input is modulated as
delta_mu(t) = Re[dmu exp(i w t)] and the population rate responds as
delta_nu(t) = Re[N dmu exp(i w t)], N in Hz/V. At low frequency N is nearly
real and positive; a response that lags the input has a negative phase.

Estimator. For n neurons observed over the window [t0, t0 + T), with spike
times t_k, ::

    X = sum_k exp(-i w t_k) - n_spikes * <exp(-i w t)>_window
    N = 2 X / (n T dmu)

because E[sum_k exp(-i w t_k)] = n int (nu0 + Re[N dmu e^{iwt}]) e^{-iwt} dt
= n T N dmu / 2 + nu0 n int e^{-iwt} dt. The second term (the leak of the
mean rate into the Fourier component) is removed explicitly; it vanishes
anyway when T holds a whole number of modulation cycles, which
:func:`whole_cycle_frequencies` arranges (the design measured 50 degree phase
errors without either precaution).

Standard errors. The neurons of one frequency are independent (open loop,
independent Poisson input, independent initial conditions), so splitting them
into M groups (neuron index modulo M) gives M independent, identically
distributed estimates N_g of the same N; their mean is the full-population
estimate (equal group sizes) and the standard error of the mean,
std(N_g) / sqrt(M), is an honest SE of the real and imaginary parts, which
makes no assumption about the spike-train statistics (Poisson or not). The
amplitude and phase SEs follow by first-order error propagation with the
sample covariance of (Re, Im); this is accurate when SE << |N|, which the
protocol ensures (target: 5 %).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize


def whole_cycle_frequencies(frequencies, duration: float) -> np.ndarray:
    """Round frequencies to whole numbers of cycles in ``duration`` (s); unique, sorted.

    f -> max(1, round(f T)) / T. A window of length T then holds an integer
    number of cycles of every frequency.

    Examples
    --------
    >>> whole_cycle_frequencies([1.1, 2.6], 4.0)  # 4 s: multiples of 0.25 Hz
    array([1. , 2.5])
    """
    cycles = np.maximum(1, np.round(np.asarray(frequencies, float) * duration))
    return np.unique(cycles) / duration


def log_frequencies(f_min: float, f_max: float, n: int, duration: float) -> np.ndarray:
    """``n`` log-spaced frequencies from f_min to f_max, rounded to whole cycles in ``duration``.

    If rounding merges two frequencies, more log-spaced candidates are taken
    until ``n`` distinct frequencies result (possible while n <= f_max T).

    Examples
    --------
    >>> log_frequencies(1.0, 200.0, 5, 4.0).tolist()
    [1.0, 3.75, 14.25, 53.25, 200.0]
    """
    for m in range(n, 50 * n):
        f = whole_cycle_frequencies(np.geomspace(f_min, f_max, m), duration)
        if f.size >= n:
            return f if f.size == n else _thin(f, n)
    raise ValueError(f"cannot place {n} distinct whole-cycle frequencies in [{f_min}, {f_max}] Hz")


def _thin(f: np.ndarray, n: int) -> np.ndarray:
    idx = np.unique(np.round(np.linspace(0, f.size - 1, n)).astype(int))
    return f[idx]


def fourier_response(
    spike_times,
    spike_neurons,
    neuron_group,
    neuron_subgroup,
    frequencies,
    amplitudes,
    t_start: float,
    duration: float,
    n_subgroups: int | None = None,
    neuron_sign=None,
):
    """Complex response N (Hz per unit of ``amplitudes``) per frequency, with SEs.

    Parameters
    ----------
    spike_times : array (n_spikes,)
        Spike times in s.
    spike_neurons : int array (n_spikes,)
        Index of the neuron of each spike.
    neuron_group : int array (n_neurons,)
        Frequency index of each neuron (into ``frequencies``).
    neuron_subgroup : int array (n_neurons,)
        Independent sub-group (0 .. M-1) of each neuron, for the SE.
    frequencies : array (n_freq,)
        Modulation frequency of each group, Hz.
    amplitudes : array (n_freq,) or float
        Modulation amplitude dmu of each group (V for N in Hz/V).
    t_start, duration : float
        Analysis window [t_start, t_start + duration) in s.
    n_subgroups : int, optional
        M (default: ``neuron_subgroup.max() + 1``).
    neuron_sign : float array (n_neurons,), optional
        Sign of each neuron's modulation (default +1): a neuron driven with
        -dmu contributes its response with the opposite sign, so that the
        estimate of a cell is the mean over its neurons of the response per
        dmu (antithetic design, :mod:`mfval.simulation.open_loop`).

    Returns
    -------
    dict of arrays (n_freq,): ``N`` (complex, mean over sub-groups),
    ``se_re``, ``se_im``, ``cov_re_im``, ``amp``, ``amp_se``, ``phase``
    (rad), ``phase_se`` (rad), ``rate`` (Hz), ``rate_se`` (Hz),
    ``n_neurons``; and ``N_groups`` (n_freq, M) complex.
    """
    spike_times = np.asarray(spike_times, float)
    spike_neurons = np.asarray(spike_neurons, int)
    neuron_group = np.asarray(neuron_group, int)
    neuron_subgroup = np.asarray(neuron_subgroup, int)
    frequencies = np.asarray(frequencies, float)
    n_freq = frequencies.size
    amplitudes = np.broadcast_to(np.asarray(amplitudes, float), (n_freq,))
    m = int(neuron_subgroup.max() + 1) if n_subgroups is None else int(n_subgroups)
    if m < 2:
        raise ValueError("need at least two independent sub-groups for a standard error")

    keep = (spike_times >= t_start) & (spike_times < t_start + duration)
    t, nrn = spike_times[keep], spike_neurons[keep]
    g, sg = neuron_group[nrn], neuron_subgroup[nrn]
    w = 2 * np.pi * frequencies
    # counts of neurons per (group, sub-group)
    n_cell = np.zeros((n_freq, m))
    np.add.at(n_cell, (neuron_group, neuron_subgroup), 1)
    if np.any(n_cell == 0):
        raise ValueError("every (frequency, sub-group) cell needs at least one neuron")
    # sum over spikes of exp(-i w t), per cell
    sign = np.ones(neuron_group.size) if neuron_sign is None else np.asarray(neuron_sign, float)
    if sign.shape != neuron_group.shape:
        raise ValueError(f"neuron_sign has shape {sign.shape}, expected {neuron_group.shape}")
    s = sign[nrn]
    phasors = s * np.exp(-1j * w[g] * t)
    x = np.zeros((n_freq, m), complex)
    np.add.at(x, (g, sg), phasors)
    counts = np.zeros((n_freq, m))
    np.add.at(counts, (g, sg), 1)
    signed_counts = np.zeros((n_freq, m))
    np.add.at(signed_counts, (g, sg), s)
    # remove the mean-rate leak: <exp(-i w t)> over the window (0 for whole cycles)
    mean_phasor = (np.exp(-1j * w * (t_start + duration)) - np.exp(-1j * w * t_start)) / (
        -1j * w * duration
    )
    x = x - signed_counts * mean_phasor[:, None]
    n_groups = 2 * x / (n_cell * duration * amplitudes[:, None])
    weights = n_cell / n_cell.sum(axis=1, keepdims=True)
    rate_groups = counts / (n_cell * duration)
    return {
        **group_mean_stats(n_groups, np.sum(weights * n_groups, axis=1)),
        "rate": np.sum(counts, axis=1) / (n_cell.sum(axis=1) * duration),
        "rate_se": rate_groups.std(axis=1, ddof=1) / np.sqrt(m),
        "n_neurons": n_cell.sum(axis=1).astype(int),
    }


def group_mean_stats(groups: np.ndarray, N: np.ndarray | None = None) -> dict:
    """Mean of M independent complex estimates per row, with SEs (delta method).

    Parameters
    ----------
    groups : complex array (n, M)
        Independent estimates (sub-groups) of each of n complex values.
    N : complex array (n,), optional
        The estimate (default: the mean over sub-groups; a weighted mean with
        weights equal up to one neuron may be given).

    Returns
    -------
    dict of arrays (n,): ``N``, ``N_groups`` (the input), ``se_re``,
    ``se_im``, ``cov_re_im`` (SE-scale covariance of Re and Im), ``amp``,
    ``amp_se``, ``phase`` (rad), ``phase_se`` (rad).
    """
    groups = np.asarray(groups, complex)
    m = groups.shape[1]
    N = groups.mean(axis=1) if N is None else np.asarray(N, complex)
    re, im = groups.real, groups.imag
    se_re = re.std(axis=1, ddof=1) / np.sqrt(m)
    se_im = im.std(axis=1, ddof=1) / np.sqrt(m)
    cov = np.array([np.cov(re[i], im[i])[0, 1] for i in range(len(N))]) / m
    amp = np.abs(N)
    amp_se = np.sqrt(
        np.maximum(N.real**2 * se_re**2 + N.imag**2 * se_im**2 + 2 * N.real * N.imag * cov, 0)
    ) / np.where(amp > 0, amp, np.nan)
    phase_se = np.sqrt(
        np.maximum(N.imag**2 * se_re**2 + N.real**2 * se_im**2 - 2 * N.real * N.imag * cov, 0)
    ) / np.where(amp > 0, amp**2, np.nan)
    return {
        "N": N,
        "N_groups": groups,
        "se_re": se_re,
        "se_im": se_im,
        "cov_re_im": cov,
        "amp": amp,
        "amp_se": amp_se,
        "phase": np.angle(N),
        "phase_se": phase_se,
    }


def _low_pass(w, h0, tau):
    return h0 / (1 + 1j * w * tau)


def fit_low_pass(
    frequencies,
    N,
    N_se=None,
    se_re=None,
    se_im=None,
    method: str = "amplitude",
    tau_m: float | None = None,
    J: float | None = None,
    K: float | None = None,
) -> dict:
    """Weighted least-squares fit of h0 / (1 + i w tau) to measured N(f).

    Parameters
    ----------
    frequencies : array (n,)
        Hz.
    N : complex array (n,)
        Measured response (any unit; h0 comes out in the same unit).
    N_se : array (n,), optional
        SE of |N| (weights of the amplitude fit; also used for Re and Im
        in the complex fit when ``se_re``/``se_im`` are not given).
    se_re, se_im : array (n,), optional
        SEs of Re N and Im N (complex fit).
    method : {"amplitude", "complex"}
        ``"amplitude"`` (default) fits |h0 / (1 + i w tau)| to |N|, which is
        what nnmt does for the theory (phase ignored), so that simulated and
        theoretical tau_rate are produced by the same estimator; the
        synaptic-filter phase, which a one-pole filter cannot represent,
        then does not pull tau. ``"complex"`` fits Re and Im jointly.
    tau_m, J, K : float, optional
        If all given, W_rate = h0 tau_m J K (nnmt's definition, J = tau_s W / C
        in V, h0 in Hz/V) is added with its SE.

    Returns
    -------
    dict: ``tau_rate_s``, ``tau_rate_se_s``, ``h0``, ``h0_se``, ``W_rate``,
    ``W_rate_se`` (NaN without tau_m, J, K), ``chi2``, ``dof``, ``method``.
    SEs come from the covariance of the weighted fit, scaled by
    sqrt(chi2/dof) when that exceeds 1 (the one-pole model is not exact, so
    a poor fit widens the errors instead of hiding in them).
    """
    f = np.asarray(frequencies, float)
    N = np.asarray(N, complex)
    w = 2 * np.pi * f
    if method == "amplitude":
        if N_se is None:
            raise ValueError("the amplitude fit needs N_se")
        sig = np.asarray(N_se, float)

        def resid(p):
            return (np.abs(_low_pass(w, p[0], p[1])) - np.abs(N)) / sig

    elif method == "complex":
        sr = np.asarray(se_re if se_re is not None else N_se, float)
        si = np.asarray(se_im if se_im is not None else N_se, float)

        def resid(p):
            d = _low_pass(w, p[0], p[1]) - N
            return np.concatenate([d.real / sr, d.imag / si])

    else:
        raise ValueError(f"method must be 'amplitude' or 'complex', got {method!r}")
    h0_start = float(np.abs(N[np.argmin(f)]))
    # initial tau from the half-amplitude frequency
    tau_start = 1.0 / (2 * np.pi * max(f.max(), 1.0))
    below = np.abs(N) < h0_start / np.sqrt(2)
    if np.any(below):
        tau_start = 1.0 / (2 * np.pi * f[np.argmax(below)])
    sol = optimize.least_squares(resid, [h0_start, tau_start], method="lm", x_scale="jac")
    r = sol.fun
    chi2 = float(r @ r)
    dof = int(r.size - 2)
    jac = sol.jac
    cov = np.linalg.pinv(jac.T @ jac)
    if dof > 0 and chi2 / dof > 1:
        cov = cov * chi2 / dof
    h0, tau = (float(x) for x in sol.x)
    if method == "amplitude":
        tau = abs(tau)  # |N| depends on tau^2 only; a low-pass lags: tau > 0
    h0_se, tau_se = (float(x) for x in np.sqrt(np.diag(cov)))
    out = {
        "tau_rate_s": tau,
        "tau_rate_se_s": tau_se,
        "h0": h0,
        "h0_se": h0_se,
        "W_rate": np.nan,
        "W_rate_se": np.nan,
        "chi2": chi2,
        "dof": dof,
        "method": method,
    }
    if tau_m is not None and J is not None and K is not None:
        scale = tau_m * J * K
        out["W_rate"], out["W_rate_se"] = h0 * scale, h0_se * abs(scale)
    return out
