"""Measurements of an E-I network Recording, shared by every simulator backend.

Every function is pure: ``measure_*(recording, spec)`` with a
:class:`mfval.simulation.model.recording.Recording` and the
:class:`mfval.simulation.network.NetworkSpec` it was simulated from; each value
comes with a standard error. :func:`measure_network` assembles the table of
:func:`mfval.simulation.network.network_task` (one row per population); each of
its measured columns comes from exactly one function here:

==========================================  ===============================
column                                      function
==========================================  ===============================
``rate_hz``, ``rate_se_hz``                 :func:`measure_rates`
``cv``, ``cv_n_neurons``                    :func:`measure_cvs`
``mu_realized_mV``, ``mu_realized_se_mV``   :func:`measure_mu_realized`
``sigma_realized_mV``, ``..._se_mV``        :func:`measure_sigma_realized`
==========================================  ===============================

Window and blocks. After the warm-up (``spec.warmup_steps`` = w steps), the
measurement window holds the n = ``spec.duration_steps`` grid intervals
((w + k - 1) dt, (w + k) dt], k = 1..n: a spike counts if its detection step
(Recording convention ``spike_step``) lies in [w + 1, w + n], and a state
sample if its step lies in [w, w + n). The window is cut into
``spec.n_blocks`` consecutive blocks of equal length. A rate is the count
over the window / (neurons x duration); its SE is the standard error of the
mean of the block rates, std(ddof=1) / sqrt(n_blocks). This is a fair
uncertainty because the blocks (>= 100 ms for the defaults) are much longer
than every correlation time of the asynchronous network activity (tau_m =
5 ms, tau_s = 0.5 ms, delay 1.5 ms), so the block means are approximately
independent, and it includes the population-rate fluctuations that a
per-neuron estimate would miss. (It does not sample the quenched
connectivity; independent seeds would.)

Realized input. The synaptic current I of ``spec.n_record`` neurons per
population is sampled every step *after all jumps* of that grid time
(Recording convention ``state_sample == "after_jumps"``; the measurements
refuse a recording with another convention). Between samples I decays
continuously with the exact propagator, so

- the continuous-time mean over a step is the sample times
  (tau_s/dt)(1 - exp(-dt/tau_s)); mu_realized = tau_m <I> / C (measured:
  without this correction, and sampling before the external jumps, mu came
  out 8.0 instead of 10 mV at (10, 10) mV);
- with X_n = a X_{n-1} + J_n, a = exp(-dt/tau_s), Var(X) = sum_k rate_k
  W_k^2 dt / (1 - a^2) for shot noise, and sigma^2 = tau_m (tau_s/C)^2
  sum_k rate_k W_k^2 (nnmt convention), see :func:`sigma_from_samples`.

The nominal tau_s, tau_m and C of ``spec.network`` are used (a perturbation
of the simulated tau_s shows up as a realized sigma that differs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mfval.simulation.estimators.cv import isi_cv, mean_with_se
from mfval.simulation.estimators.windows import in_window, spike_window
from mfval.simulation.model.recording import SPIKE_STEP_CONVENTION, STATE_AFTER_JUMPS


def _population_slices(spec):
    from mfval.simulation.model.connectivity import population_slices

    return population_slices(spec.network)


def _window_spikes(recording, spec):
    """(local step 0..n-1, sender) of the spikes in the measurement window."""
    recording.require("spike_step", SPIKE_STEP_CONVENTION)
    k, keep = spike_window(recording.spike_step, spec.warmup_steps, spec.duration_steps)
    return k, recording.spike_sender[keep]


def measure_rates(recording, spec) -> dict:
    """Population rates (Hz) over the window and their block SEs.

    Returns
    -------
    dict of name -> (rate_hz, rate_se_hz), in population order.
    """
    k, sender = _window_spikes(recording, spec)
    n_blocks = spec.n_blocks
    steps_per_block = spec.duration_steps // n_blocks
    block = k // steps_per_block
    block_len = spec.duration / n_blocks
    out = {}
    for name, off, n in _population_slices(spec):
        sel = (sender >= off) & (sender < off + n)
        counts = np.bincount(block[sel], minlength=n_blocks)
        block_rates = counts / (n * block_len)
        out[name] = (
            float(sel.sum() / (n * spec.duration)),
            float(block_rates.std(ddof=1) / math.sqrt(n_blocks)),
        )
    return out


def measure_cvs(recording, spec) -> dict:
    """Mean ISI CV per population over neurons with >= 3 spikes in the window.

    Returns
    -------
    dict of name -> (cv, n_neurons_used, cv_se); cv_se is the standard error
    of the mean over neurons (std(ddof=1) / sqrt(n)), an approximate SE
    (neurons of one network are weakly correlated through shared input).
    """
    k, sender = _window_spikes(recording, spec)
    out = {}
    for name, off, n in _population_slices(spec):
        sel = (sender >= off) & (sender < off + n)
        # intervals from spike times in s (not steps): the numbers of the stored tables
        cvs = isi_cv(sender[sel] - off, k[sel] * spec.dt)
        cv, se = mean_with_se(cvs)
        out[name] = (cv, int(len(cvs)), se)
    return out


def _current_window(recording, spec, off: int, n: int):
    """Samples of I (neurons x window steps) of one population and their block index."""
    recording.require("state_sample", STATE_AFTER_JUMPS)
    idx, steps = recording.state_index["I"], recording.state_step["I"]
    current = recording.state["I"]
    n_steps = spec.duration_steps
    local, window = in_window(steps, spec.warmup_steps, n_steps)
    block = local // (n_steps // spec.n_blocks)
    rows = (idx >= off) & (idx < off + n)
    return current[rows][:, window], block


def measure_mu_realized(recording, spec) -> dict:
    """Realized mean input tau_m <I> / C (V) per population, with block SE (see module)."""
    net, dt = spec.network, spec.dt
    step_mean = net["tau_s"] / dt * -math.expm1(-dt / net["tau_s"])
    out = {}
    for name, off, n in _population_slices(spec):
        I_rec, block = _current_window(recording, spec, off, n)
        I_pop = I_rec.mean(axis=0) * step_mean
        mu_blocks = (
            np.array([I_pop[block == b].mean() for b in range(spec.n_blocks)])
            * net["tau_m"]
            / net["C"]
        )
        out[name] = (
            float(mu_blocks.mean()),
            float(mu_blocks.std(ddof=1) / math.sqrt(spec.n_blocks)),
        )
    return out


def measure_sigma_realized(recording, spec) -> dict:
    """Realized input fluctuation sigma (V) per population, with block SE (see module)."""
    out = {}
    for name, off, n in _population_slices(spec):
        I_rec, block = _current_window(recording, spec, off, n)
        blocks = sigma_from_samples(I_rec, block, spec.n_blocks, spec.dt, spec.network)
        out[name] = (
            float(blocks.mean()),
            float(blocks.std(ddof=1) / math.sqrt(spec.n_blocks)),
        )
    return out


def sigma_from_samples(
    I_rec: np.ndarray, rec_block: np.ndarray, n_blocks: int, dt: float, net: dict
) -> np.ndarray:
    """Realized input fluctuation sigma (V) in each block, from sampled currents.

    ``I_rec`` (neurons x steps) holds I sampled once per step after all
    jumps of the step. Between two samples I decays by a = exp(-dt/tau_s)
    and receives the jumps of the step undecayed, X_n = a X_{n-1} + J_n;
    for shot noise with independent Poisson counts, Var(J) = sum_k rate_k
    W_k^2 dt, so Var(X) = sum_k rate_k W_k^2 dt / (1 - a^2) exactly, and

        sigma^2 = tau_m (tau_s/C)^2 sum_k rate_k W_k^2
                = tau_m (tau_s/C)^2 Var(X) (1 - a^2) / dt

    (nnmt convention, J = tau_s W / C). Var(X) is the variance over time of
    each neuron about its own mean over the window, averaged over neurons,
    per block; the removal of the mean biases it low by the factor
    1 - g/T (T samples, g = (1 + a)/(1 - a) for the AR(1) sample
    correlation a^|lag|), which is divided out (0.25 % in the variance for
    T = 4000; slower, network-generated correlations are not corrected).
    """
    tau_s, tau_m, C = net["tau_s"], net["tau_m"], net["C"]
    a = math.exp(-dt / tau_s)
    n_t = I_rec.shape[1]
    g = (1 + a) / (1 - a)
    dev2 = ((I_rec - I_rec.mean(axis=1, keepdims=True)) ** 2).mean(axis=0)
    var = np.array([dev2[rec_block == b].mean() for b in range(n_blocks)]) / (1 - g / n_t)
    return tau_s / C * np.sqrt(tau_m * var * -math.expm1(-2 * dt / tau_s) / dt)


def event_counts(recording, spec) -> tuple[int, float]:
    """(recurrent events = spikes x out-degree, expected external events) of the whole run."""
    n_total = recording.n_neurons
    out_degree = np.asarray(recording.metadata["out_degree"], np.int64)
    recurrent = int(out_degree[recording.spike_sender].sum())
    lam = spec.lam_per_neuron()
    external = float((spec.lam().sum() * n_total if lam is None else lam.sum()) * spec.n_steps)
    return recurrent, external


def measure_network(recording, spec) -> pd.DataFrame:
    """The network table: one row per population (see the module's column table).

    Columns: ``mu_mV, sigma_mV, population, rate_hz, rate_se_hz,
    theory_rate_hz, cv, cv_se, cv_n_neurons, mu_realized_mV,
    mu_realized_se_mV, sigma_realized_mV, sigma_realized_se_mV,
    nu_ext_exc_hz, nu_ext_inh_hz, duration_s, warmup_s, n_blocks, seed,
    n_neurons, dt_s, simulator, simulator_version, target, threads, setup_s,
    compile_s, run_s, recurrent_events, external_events, weight_scale_exc,
    drop_external, poisson_split_p, perturbation``.
    """
    rates = measure_rates(recording, spec)
    cvs = measure_cvs(recording, spec)
    mus = measure_mu_realized(recording, spec)
    sigmas = measure_sigma_realized(recording, spec)
    recurrent, external = event_counts(recording, spec)
    meta = recording.metadata
    pert = spec.perturbation
    scale = np.asarray(pert.weight_scale, float)
    perturbation = "" if _is_null(pert) else repr(pert)
    rows = []
    for p_idx, (name, _, n) in enumerate(_population_slices(spec)):
        rows.append(
            {
                "mu_mV": spec.mu * 1e3,
                "sigma_mV": spec.sigma * 1e3,
                "population": name,
                "rate_hz": rates[name][0],
                "rate_se_hz": rates[name][1],
                "theory_rate_hz": float(spec.theory_rates[p_idx]),
                "cv": cvs[name][0],
                "cv_se": cvs[name][2],
                "cv_n_neurons": cvs[name][1],
                "mu_realized_mV": mus[name][0] * 1e3,
                "mu_realized_se_mV": mus[name][1] * 1e3,
                "sigma_realized_mV": sigmas[name][0] * 1e3,
                "sigma_realized_se_mV": sigmas[name][1] * 1e3,
                "nu_ext_exc_hz": float(spec.nu_ext[0]),
                "nu_ext_inh_hz": float(spec.nu_ext[1]),
                "duration_s": spec.duration,
                "warmup_s": spec.warmup,
                "n_blocks": spec.n_blocks,
                "seed": spec.seed,
                "n_neurons": n,
                "dt_s": spec.dt,
                "simulator": recording.simulator,
                "simulator_version": recording.version,
                "target": meta.get("target", ""),
                "threads": int(meta.get("threads", 1)),
                "setup_s": float(meta.get("setup_s", math.nan)),
                "compile_s": float(meta.get("compile_s", math.nan)),
                "run_s": float(meta.get("run_s", math.nan)),
                "recurrent_events": recurrent,
                "external_events": external,
                "weight_scale_exc": float(scale[0, 0])
                if np.all(scale[:, 0] == scale[0, 0])
                else math.nan,
                "drop_external": pert.drop_external or "",
                "poisson_split_p": (
                    float("nan") if pert.poisson_split_p is None else pert.poisson_split_p
                ),
                "perturbation": perturbation,
            }
        )
    return pd.DataFrame(rows)


def _is_null(pert) -> bool:
    from mfval.simulation.network.spec import NetworkPerturbation

    return pert == NetworkPerturbation()
