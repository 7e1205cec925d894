"""NEST (optional extra): import, kernel set-up, model parameters, numerical conventions.

Install with ``pip install -e ".[nest]"`` (``nest-simulator`` 3.10). NEST is
imported only when a NEST backend is selected; without it, :func:`import_nest`
raises an ImportError that says how to install it.

NEST's numerical conventions, and how the Recording accounts for them
(:mod:`mfval.simulation.model.recording`; all verified against deterministic NEST runs
in ``tests/test_nest.py``):

- Grid-based ``iaf_psc_exp`` (not the ``_ps`` precise-spike variant): spike
  times are stamped at the end of the step in which V reached threshold,
  i.e. exactly the Recording's ``spike_step`` convention
  (``spike_step = round(t / dt)``). Multimeter samples are stamped the same
  way (state at the end of the step; the sample of the very last step is
  delivered only by a later ``Simulate`` and is missing).
- Input spikes (Poisson generators, recurrent connections) are added to the
  synaptic current at the end of the step *before* the threshold check of
  the next one, and the membrane propagates the current exactly over the
  step: the sampled I_syn is "after all jumps" (``state_sample``) as in the
  Brian2 backend. A connection delay d (a multiple of dt, >= dt) makes a
  spike stamped t act from t + d on, as in Brian2.
- Currents from devices are piecewise constant over a step and act one step
  after their connection delay: with delay dt, the value the generator
  computes for time t_s drives the interval [t_{s+1}, t_{s+2}]. Into
  receptor port 0 (membrane), V_{m} = P22 V_{m-1} + P20 c_{m-2}; into port 1
  (filtered by the excitatory synapse), i_m = P11 i_{m-1} + (1 - P11) c_{m-2}
  and V_m = P22 V_{m-1} + P21 i_{m-1}. Port 1 thus delivers the current as a
  jump (1 - P11) c at the grid time, whose charge is (tau_s/dt)(1 - P11) =
  0.906 of c dt for tau_s = 0.5 ms, dt = 0.1 ms. :func:`stimulus_factor`
  evaluates these discrete transfer functions exactly and divides by the
  ideal continuous response dmu H(w); the measurement divides it out.
- Seeds: ``rng_seed`` must lie in [1, 2^31 - 1]; :func:`nest_seed` maps the
  spec's seed there. ``local_num_threads`` is set explicitly: the same seed
  and thread count give the same numbers; another thread count gives another
  realization of the Poisson drive.
"""

from __future__ import annotations

import math
import os

import numpy as np

INSTALL_HINT = (
    'NEST is an optional extra: install it with pip install -e ".[nest]" '
    "(the nest-simulator package, 3.10)"
)


def import_nest():
    """The ``nest`` module, quiet; ImportError with the install command if missing."""
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
    try:
        import nest
    except ImportError as err:
        raise ImportError(
            f"simulator 'nest' selected but NEST is not installed: {INSTALL_HINT}"
        ) from err
    return nest


def nest_version() -> str:
    """Version of the installed NEST (ImportError with the install hint if missing)."""
    return str(import_nest().__version__)


def nest_seed(seed: int) -> int:
    """Map any non-negative seed into NEST's admissible range [1, 2^31 - 1]."""
    return 1 + int(seed) % (2**31 - 2)


def reset_kernel(dt: float, seed: int, threads: int = 1):
    """Fresh NEST kernel: resolution dt (s), rng_seed, local_num_threads; returns ``nest``."""
    nest = import_nest()
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"NEST threads must be >= 1, got threads = {threads}")
    nest.ResetKernel()
    nest.set(
        resolution=dt * 1e3,
        rng_seed=nest_seed(seed),
        local_num_threads=threads,
        print_time=False,
        overwrite_files=True,
    )
    return nest


def set_quiet() -> None:
    nest = import_nest()
    level = getattr(nest, "VerbosityLevel", None)
    if level is not None:  # NEST >= 3.9
        nest.verbosity = level.ERROR
    else:  # pragma: no cover - older NEST
        nest.set_verbosity("M_ERROR")


def iaf_psc_exp_params(network: dict, V_th: float | None = None) -> dict:
    """NEST ``iaf_psc_exp`` parameters (pF, ms, mV) from the SI network parameters.

    ``V_th``: threshold relative to E_L in V (default: the network's).
    """
    E_L = network["E_L"] * 1e3
    v_th = (network["V_th"] - network["E_L"]) if V_th is None else V_th
    return {
        "C_m": network["C"] * 1e12,
        "tau_m": network["tau_m"] * 1e3,
        "tau_syn_ex": network["tau_s"] * 1e3,
        "tau_syn_in": network["tau_s"] * 1e3,
        "t_ref": network["tau_r"] * 1e3,
        "E_L": E_L,
        "V_reset": network["V_reset"] * 1e3,
        "V_th": E_L + v_th * 1e3,
        "V_m": E_L,
        "I_e": 0.0,
    }


#: receptor port of iaf_psc_exp for current filtered by the excitatory synapse
FILTERED_CURRENT_PORT = 1
#: receptor port for current straight into the membrane
MEMBRANE_CURRENT_PORT = 0
#: extra steps between a device current's time and the start of the interval it drives
DEVICE_CURRENT_LATENCY_STEPS = 1


def discrete_current_response(frequencies, network: dict, dt: float, port: int) -> np.ndarray:
    """Grid response of V (V per A) to a device current Re[e^{i w t}] in NEST (delay dt).

    Exact for the update equations in the module docstring (complex, shape
    like ``frequencies``; the V samples are Re[R e^{i w k dt}]).
    """
    w = 2 * np.pi * np.asarray(frequencies, float)
    tau_m, tau_s, C = network["tau_m"], network["tau_s"], network["C"]
    P22 = math.exp(-dt / tau_m)
    P11 = math.exp(-dt / tau_s)
    P20 = tau_m / C * (1 - P22)
    P21 = tau_s * tau_m / (C * (tau_m - tau_s)) * (P22 - P11)
    z = np.exp(1j * w * dt)
    lag = z ** -(1 + DEVICE_CURRENT_LATENCY_STEPS)
    if port == MEMBRANE_CURRENT_PORT:
        return P20 * lag / (1 - P22 / z)
    if port == FILTERED_CURRENT_PORT:
        i = (1 - P11) * lag / (1 - P11 / z)
        return P21 / z * i / (1 - P22 / z)
    raise ValueError(f"port must be 0 or 1, got port = {port!r}")


def stimulus_factor(frequencies, network: dict, dt: float, mode: str) -> np.ndarray:
    """Realized / nominal mean-input modulation of the NEST open-loop backend, per frequency.

    The backend injects the current C dmu / tau_m cos(w t) into port 1
    (``mode="synaptic"``) or port 0 (``"membrane"``); the ideal response of
    V is dmu H(w) (:func:`mfval.simulation.model.lif.modulation_filter`). The factor is
    the exact discrete response times C / tau_m, divided by H(w), for the
    *nominal* parameters (a perturbation of the simulated model is not
    corrected).
    """
    from mfval.simulation.model.lif import modulation_filter

    port = FILTERED_CURRENT_PORT if mode == "synaptic" else MEMBRANE_CURRENT_PORT
    R = discrete_current_response(frequencies, network, dt, port)
    H = modulation_filter(frequencies, network["tau_m"], network["tau_s"], mode)
    return R * network["C"] / network["tau_m"] / H


def event_steps(times_ms, dt: float) -> np.ndarray:
    """Grid step (int64) of NEST event times (ms) on a grid of dt (s)."""
    return np.round(np.asarray(times_ms, float) / (dt * 1e3)).astype(np.int64)


def recorded_spikes(recorder, first: int, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Spikes of a ``spike_recorder`` as (spike_step int64, sender int32), in step order.

    NEST's spike time is the detection step (Recording convention
    ``spike_step``); senders are counted from the global id ``first``; ties
    in a step are ordered by sender.
    """
    ev = recorder.get("events")
    step = event_steps(ev["times"], dt)
    sender = np.asarray(ev["senders"], np.int64) - first
    order = np.lexsort((sender, step))
    return step[order], sender[order].astype(np.int32)


def sample_grid(rows, m_step, values, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Multimeter samples as a (n_rows, n_sample_steps) array (NaN where none) and its steps."""
    steps = np.unique(m_step)
    samples = np.full((n_rows, len(steps)), np.nan)
    samples[rows, np.searchsorted(steps, m_step)] = values
    return samples, steps
