"""Measurements of an open-loop Recording, shared by every simulator backend.

:func:`measure_transfer` returns the table of
:func:`mfval.simulation.open_loop.transfer_task` (one row per frequency). Its
measured columns come from:

================================================  ==================================
column                                            function
================================================  ==================================
``tf_*``, ``amp_*``, ``phase_*``, ``rate_hz``,    :func:`measure_response`
``rate_se_hz``                                    (:func:`~.estimators.fourier.fourier_response`)
``rate_mean_hz``, ``rate_mean_se_hz``             :func:`measure_mean_rate`
``mu_realized_mV``, ``mu_realized_se_mV``         :func:`measure_probe_mu`
================================================  ==================================

Design: a Recording of an antithetic spec holds both runs (arms), arm a's
neuron i recorded as i + a n_neurons (:func:`mfval.simulation.open_loop.stack_arms`);
the response of a -dmu neuron enters with the opposite sign
(:func:`mfval.simulation.open_loop.recorded_layout`).

Window: spikes with detection steps w + 1 .. w + n (w warm-up steps, n
analysis steps; Recording convention ``spike_step``), i.e. the grid
interval (t0, t0 + T] with T a whole number of cycles of every frequency.

Stimulus: the response is divided by the nominal dmu of the spec times the
Recording's ``stimulus_factor`` (complex, per frequency: how the backend's
modulation is realized on the grid relative to the nominal one, see
:mod:`mfval.simulation.model.recording`). A perturbation of the applied amplitude is
*not* in that factor, so it shows up in N.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfval.simulation.estimators.fourier import (
    fit_low_pass,
    fourier_response,
    group_mean_stats,
)
from mfval.simulation.estimators.windows import spike_window
from mfval.simulation.model.recording import SPIKE_STEP_CONVENTION


def stimulus_factor(recording) -> np.ndarray:
    """Complex factor per frequency of the Recording (1 if the backend states none)."""
    conv = recording.conventions
    if "stimulus_factor_re" not in conv:
        raise ValueError(
            f"recording of {recording.simulator} states no stimulus_factor: the phase "
            "convention of its modulation is unknown"
        )
    return np.asarray(conv["stimulus_factor_re"], float) + 1j * np.asarray(
        conv["stimulus_factor_im"], float
    )


def measure_response(recording, spec) -> dict:
    """N(f) (Hz/V) with SEs from independent sub-groups (:func:`fourier_response`).

    Returns the dict of :func:`mfval.simulation.estimators.fourier.fourier_response` with
    ``N``, ``N_groups``, ``se_re``, ``se_im``, ``amp``, ``amp_se``,
    ``phase``, ``phase_se`` referred to the realized stimulus.
    """
    from mfval.simulation.open_loop.spec import recorded_layout

    recording.require("spike_step", SPIKE_STEP_CONVENTION)
    check_arms(recording, spec)
    group_of, sub_of, sign = recorded_layout(spec)
    factor = stimulus_factor(recording)
    dt = spec.dt
    # detection times k dt; the window (t0 + dt/2, t0 + T + dt/2) selects k = w+1 .. w+n
    # without float rounding at its edges and still holds whole cycles
    r = fourier_response(
        recording.spike_step * dt,
        recording.spike_sender,
        group_of,
        sub_of,
        np.asarray(spec.frequencies, float),
        np.asarray(spec.amplitudes, float),
        spec.warmup_steps * dt + 0.5 * dt,
        spec.duration,
        n_subgroups=spec.n_subgroups,
        neuron_sign=sign,
    )
    # divide by the realized stimulus factor F: N -> N / F (rotation and scaling)
    inv = 1.0 / factor
    return {**r, **group_mean_stats(r["N_groups"] * inv[:, None], r["N"] * inv)}


def check_arms(recording, spec) -> None:
    """Raise ValueError unless the Recording holds the spec's runs (arms) of n_neurons each."""
    expected = len(spec.arm_signs) * spec.n_neurons
    if recording.n_neurons != expected:
        raise ValueError(
            f"recording holds {recording.n_neurons} spiking neurons; design {spec.design!r} "
            f"of this spec needs {expected}"
        )


def measure_mean_rate(recording, spec) -> tuple[float, float]:
    """Mean rate (Hz) over all modulated neurons in the window, SE over neurons.

    With several arms a neuron's rate is its mean over the arms (the arms of
    one neuron share their input noise, so they are not independent).
    """
    recording.require("spike_step", SPIKE_STEP_CONVENTION)
    check_arms(recording, spec)
    _, keep = spike_window(recording.spike_step, spec.warmup_steps, spec.duration_steps)
    n, arms = spec.n_neurons, len(spec.arm_signs)
    counts = np.bincount(recording.spike_sender[keep], minlength=n * arms)[: n * arms]
    per_neuron = counts.reshape(arms, n).mean(axis=0) / spec.duration
    return float(per_neuron.mean()), float(per_neuron.std(ddof=1) / np.sqrt(n))


def measure_probe_mu(recording, spec) -> tuple[float, float]:
    """Realized mean input (V): mean free potential of the probe neurons after the warm-up.

    SE over probe neurons (independent). NaN without probes.
    """
    if spec.n_probe <= 0 or "v" not in recording.state:
        return float("nan"), float("nan")
    v = recording.state["v"][:, recording.state_step["v"] >= spec.warmup_steps]
    means = v.mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / np.sqrt(len(means)))


def measure_transfer(recording, spec) -> pd.DataFrame:
    """The transfer table, one row per frequency.

    Columns: mu_mV, sigma_mV, mode, frequency_hz, tf_re_hz_per_mV,
    tf_im_hz_per_mV, tf_re_se_hz_per_mV, tf_im_se_hz_per_mV, amp_hz_per_mV,
    amp_se_hz_per_mV, phase_deg, phase_se_deg, rate_hz, rate_se_hz,
    rate_mean_hz, rate_mean_se_hz, mu_realized_mV, mu_realized_se_mV,
    theory_rate_hz, theory_amp_hz_per_mV, theory_phase_deg, amplitude_mV,
    duration_s, warmup_s, seed, n_neurons, n_subgroups, mod_delay_s,
    drop_synaptic_filter, amplitude_scale, design, simulator, simulator_version,
    wall_s.
    """
    r = measure_response(recording, spec)
    rate_mean, rate_mean_se = measure_mean_rate(recording, spec)
    mu_real, mu_real_se = measure_probe_mu(recording, spec)
    N_th = np.asarray(spec.theory_N_re) + 1j * np.asarray(spec.theory_N_im)
    pert = spec.perturbation
    return pd.DataFrame(
        {
            "mu_mV": spec.mu * 1e3,
            "sigma_mV": spec.sigma * 1e3,
            "mode": spec.mode,
            "frequency_hz": np.asarray(spec.frequencies, float),
            "tf_re_hz_per_mV": r["N"].real * 1e-3,
            "tf_im_hz_per_mV": r["N"].imag * 1e-3,
            "tf_re_se_hz_per_mV": r["se_re"] * 1e-3,
            "tf_im_se_hz_per_mV": r["se_im"] * 1e-3,
            "amp_hz_per_mV": r["amp"] * 1e-3,
            "amp_se_hz_per_mV": r["amp_se"] * 1e-3,
            "phase_deg": np.degrees(r["phase"]),
            "phase_se_deg": np.degrees(r["phase_se"]),
            "rate_hz": r["rate"],
            "rate_se_hz": r["rate_se"],
            "rate_mean_hz": rate_mean,
            "rate_mean_se_hz": rate_mean_se,
            "mu_realized_mV": mu_real * 1e3,
            "mu_realized_se_mV": mu_real_se * 1e3,
            "theory_rate_hz": spec.theory_rate,
            "theory_amp_hz_per_mV": np.abs(N_th) * 1e-3,
            "theory_phase_deg": np.degrees(np.angle(N_th)),
            "amplitude_mV": np.asarray(spec.amplitudes) * 1e3,
            "duration_s": spec.duration,
            "warmup_s": spec.warmup,
            "seed": spec.seed,
            "n_neurons": r["n_neurons"],
            "n_subgroups": spec.n_subgroups,
            "mod_delay_s": float(pert.mod_delay),
            "drop_synaptic_filter": bool(pert.drop_synaptic_filter),
            "amplitude_scale": float(pert.amplitude_scale),
            "design": spec.design,
            "simulator": recording.simulator,
            "simulator_version": recording.version,
            "wall_s": float(recording.metadata.get("wall_s", np.nan)),
        }
    )


def fit_transfer(df: pd.DataFrame, params: dict, method: str = "amplitude") -> pd.DataFrame:
    """Fit h0 / (1 + i w tau) to one simulated transfer function; one-row DataFrame.

    Columns: mu_mV, sigma_mV, mode, method, tau_rate_ms, tau_rate_se_ms,
    W_rate, W_rate_se, h0_hz_per_mV, h0_se_hz_per_mV, chi2, dof.
    W_rate = h0 tau_m J_EE K_EE with J = tau_s W / C (nnmt).
    """
    network = params["network"]
    J = network["tau_s"] * float(np.asarray(network["W"])[0, 0]) / network["C"]
    K = float(np.asarray(network["K"])[0, 0])
    N = (df["tf_re_hz_per_mV"].to_numpy() + 1j * df["tf_im_hz_per_mV"].to_numpy()) * 1e3
    fit = fit_low_pass(
        df["frequency_hz"].to_numpy(),
        N,
        df["amp_se_hz_per_mV"].to_numpy() * 1e3,
        se_re=df["tf_re_se_hz_per_mV"].to_numpy() * 1e3,
        se_im=df["tf_im_se_hz_per_mV"].to_numpy() * 1e3,
        method=method,
        tau_m=network["tau_m"],
        J=J,
        K=K,
    )
    first = df.iloc[0]
    return pd.DataFrame(
        [
            {
                "mu_mV": first["mu_mV"],
                "sigma_mV": first["sigma_mV"],
                "mode": first["mode"],
                "method": method,
                "tau_rate_ms": fit["tau_rate_s"] * 1e3,
                "tau_rate_se_ms": fit["tau_rate_se_s"] * 1e3,
                "W_rate": fit["W_rate"],
                "W_rate_se": fit["W_rate_se"],
                "h0_hz_per_mV": fit["h0"] * 1e-3,
                "h0_se_hz_per_mV": fit["h0_se"] * 1e-3,
                "chi2": fit["chi2"],
                "dof": fit["dof"],
            }
        ]
    )
