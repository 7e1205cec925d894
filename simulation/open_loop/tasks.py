"""Open-loop transfer-function protocol: spec, backends, measurements.

Protocol (issue 4, design "Simulation protocols" 2):

- Every neuron is the shared model of :mod:`simulation.lif` and receives
  independent Poisson input reproducing the working point without feedback:
  the external sources at nnmt's derived rates plus the recurrent inputs
  replaced by Poisson sources at the theory rates with the recurrent weights.
  External and recurrent inputs of one sign have equal weights in this model,
  so each neuron needs two Poisson streams, excitatory with rate
  nu_ext_E K_ext + K_EE nu_E and inhibitory with rate nu_ext_I K_ext + K_EI nu_I
  (checked; other weights raise ``NotImplementedError``).
- The mean input alone is modulated, delta_mu(t) = Re[dmu e^{i w t}],
  deterministically (no change of the input variance), through the synaptic
  current (``mode="synaptic"``, comparable with nnmt
  ``transfer_function(synaptic_filter=True)``) or straight into the membrane
  (``mode="membrane"``, ``synaptic_filter=False``).
- All frequencies share one simulation: n_freq x n_per_frequency neurons,
  neuron i modulated at frequency i // n_per_frequency, in independent
  sub-group (i % n_per_frequency) % n_subgroups (:func:`neuron_layout`).
  Frequencies are log-spaced and rounded so that the analysis window (after
  the warm-up) holds a whole number of cycles (:mod:`simulation.spectral`).
- Amplitude: ``amplitude`` (default ``transfer_amplitude``) is dmu at the
  lowest frequency. With ``amplitude_scaling="response"`` (default) dmu grows
  at higher frequencies as |N_theory(f_min)| / |N_theory(f)| (capped at
  ``max_amplitude_factor``), so that the rate modulation, the quantity that
  must stay small for linearity, has the same depth at every frequency and the
  relative standard error is about equal across frequencies. The theory only
  sets the stimulus size; the estimate divides by the dmu of the spec, so it
  is not biased towards theory (linearity is checked by doubling dmu).
  ``amplitude_scaling="constant"`` uses the same dmu everywhere.
- Design (``design`` option): ``"antithetic"`` (default) runs the spec twice
  with the same seed, i.e. the same Poisson input realization and initial
  potentials, once with +dmu and once with -dmu (:meth:`TransferSpec.arm`),
  and averages the two estimates of N (neuron i of the second arm is recorded
  as i + n_neurons, :func:`stack_arms`). The stimulus-independent part of the
  spike trains, which is most of their variance at the stimulus frequency,
  cancels in the difference (common random numbers), and even-order
  nonlinear terms cancel too. Measured (``python benchmarks/transfer_sim.py
  --compare-designs --seeds 2``, default sizes, the four marked points): the
  variance of N is smaller than that of the +dmu run alone by a median factor
  of 6 at (6, 6) mV and 20-34 at the other points (range 3.8-81 over
  frequencies and seeds), at twice the simulated time: 3-17x less simulated
  time for the same SE. The estimate is unbiased whether
  or not a backend reproduces the noise exactly (the arms are then simply two
  independent runs); the SE comes from independent sub-groups, each holding
  both arms of its neurons. ``"single"``: one run with +dmu.
- ``n_probe`` non-spiking neurons (threshold out of reach), same input, no
  modulation, measure the realized mean input: their mean free membrane
  potential is mu.

Three layers: :class:`TransferSpec` (plain data, perturbations included,
built by :func:`make_transfer_spec`); backends ``run(spec) -> Recording``
(:func:`run_transfer` dispatches to
:func:`simulation.open_loop_brian2.run_transfer_brian2` or
:func:`simulation.open_loop_nest.run_transfer_nest`); the measurement
:func:`simulation.open_loop_measure.measure_transfer`, shared by both.

Phase convention: N = |N| e^{i phi} with delta_nu(t) = Re[N dmu e^{i w t}];
phi < 0 is a lag. Spike times are the grid times at which the threshold
crossing is detected (Recording convention); on average a crossing occurs
dt/2 earlier in continuous time, a latency of the time-discretized model
(w dt / 2 = 3.6 degrees at 200 Hz for dt = 0.1 ms), not corrected here. How
each backend's modulation is realized on the grid is its Recording's
``stimulus_factor``, divided out by the measurement.

Perturbations (:class:`TransferPerturbation`, only to prove that the checks
detect them): a modulation latency, a missing synaptic filter, an error of
the applied modulation amplitude, and a different synaptic time constant
with the PSC charge kept.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from mfval.simulation.model.versions import simulator_version, software_versions
from mfval.simulation.open_loop.measure import fit_transfer
from mfval.simulation.open_loop.spec import SIMULATORS, TransferSpec, spec_from_options, stack_arms

from mfval.config import stable_hash
from mfval.tasks import Task

#: bump when the content of a transfer result changes
TRANSFER_SCHEMA = 3


#: bump when the content of a transfer recording changes
RECORDING_SCHEMA = 2


def run_transfer(spec: TransferSpec):
    """Run ``spec`` on its simulator; the raw :class:`simulation.recording.Recording`.

    A design with several arms runs each arm (:meth:`TransferSpec.arm`) and
    stacks them (:func:`stack_arms`).
    """
    if len(spec.arm_signs) > 1:
        runs = [run_transfer(spec.arm(sign)) for sign in spec.arm_signs]
        return stack_arms(runs, spec.n_neurons)
    if spec.simulator == "brian2":
        from mfval.simulation.open_loop.brian2 import run_transfer_brian2

        return run_transfer_brian2(spec)
    if spec.simulator == "nest":
        from mfval.simulation.open_loop.nest import run_transfer_nest

        return run_transfer_nest(spec)
    raise ValueError(f"simulator must be one of {SIMULATORS}, got {spec.simulator!r}")


def simulate_transfer(mu: float, sigma: float, params: dict, **kwargs) -> pd.DataFrame:
    """Simulated transfer function N(f) at (mu, sigma) (V), one row per frequency.

    Spec (:func:`spec_from_options`: the keywords of :func:`make_transfer_spec`
    and planted-error keywords), run (:func:`run_transfer`) and measurement
    (:func:`simulation.open_loop_measure.measure_transfer`) in one call.

    Returns
    -------
    DataFrame of :func:`simulation.open_loop_measure.measure_transfer`.
    """
    from mfval.simulation.open_loop.measure import measure_transfer

    spec = spec_from_options(mu, sigma, params, **kwargs)
    return measure_transfer(run_transfer(spec), spec)


def recording_key(spec: TransferSpec) -> str:
    """Store key of an open-loop recording: the spec (minus reference values), versions."""
    data = dataclasses.asdict(spec)
    for name in ("theory_rate", "theory_N_re", "theory_N_im"):
        data.pop(name)
    versions = {spec.simulator: simulator_version(spec.simulator), "numpy": np.__version__}
    return stable_hash("transfer-recording", RECORDING_SCHEMA, versions, data)


def transfer_key_from_spec(spec: TransferSpec) -> str:
    """Store key of a measured transfer table."""
    versions = software_versions()
    return stable_hash(
        "transfer",
        TRANSFER_SCHEMA,
        recording_key(spec),
        versions["scipy"],
        versions["nnmt"],
        spec.theory_rate,
        spec.theory_N_re,
        spec.theory_N_im,
    )


def stored_recording(spec: TransferSpec, store=None):
    """The spec's Recording from the store (kind ``transfer_recording``), simulated on a miss."""
    if store is None:
        return run_transfer(spec)
    value, _ = store.get_or_compute(
        "transfer_recording", recording_key(spec), lambda: run_transfer(spec)
    )
    return value


def run_transfer_task(spec: TransferSpec, store=None) -> pd.DataFrame:
    """Task function (top level, picklable): recording (stored) and its measurement."""
    from mfval.simulation.open_loop.measure import measure_transfer

    return measure_transfer(stored_recording(spec, store), spec)


def transfer_task(
    mu: float, sigma: float, params: dict, mode: str = "synaptic", seed: int | None = None, **kwargs
) -> Task:
    """Store task (kind ``"transfer"``): :func:`make_transfer_spec`, run, measure.

    ``kwargs`` are keyword arguments of :func:`make_transfer_spec`
    (frequencies, amplitude, duration, n_per_frequency, simulator, backend,
    perturbation, options) or perturbation keywords (``mod_delay``,
    ``drop_synaptic_filter``, ``amplitude_scale``, ``tau_s``). The raw
    recording is stored too (kind ``transfer_recording``).
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    plain = {k: v for k, v in params.items() if k in ("network", "simulation", "analysis")}
    spec = spec_from_options(mu, sigma, plain, mode=mode, seed=seed, **kwargs)
    simulator = spec.simulator
    return Task(
        kind="transfer",
        key=transfer_key_from_spec(spec),
        func=run_transfer_task,
        kwargs={"spec": spec},
        label=(
            f"transfer mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV {mode}"
            + ("" if simulator == "brian2" else f" [{simulator}]")
        ),
        pass_store=True,
    )


def fit_task(df: pd.DataFrame, params: dict, method: str = "amplitude") -> pd.DataFrame:
    """Alias of :func:`fit_transfer` (fits are cheap; no store task needed)."""
    return fit_transfer(df, params, method)
