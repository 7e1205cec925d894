"""Brian2 backend of the open-loop transfer-function protocol: ``run_transfer_brian2(spec)``.

Modulation without losing exact integration: the subthreshold system is
linear, so the response of v to the deterministic modulation
delta_mu(t) = Re[dmu e^{i w t}] is known in closed form, v_mod(t) =
Re[dmu H(w) e^{i w t}] with H of :func:`simulation.lif.modulation_filter`
(through the synaptic current or into the membrane). The state variable
holds v - v_mod and the threshold is ``v + v_mod > V_th``
(:mod:`simulation.lif`), so every grid value of the total potential is exact.

Recording conventions (:mod:`simulation.recording`):

- ``spike_step = round(t / dt) + 1``: Brian2 labels a spike with the clock
  time t at the start of the step that advanced the state to t + dt;
- the threshold condition evaluates v_mod at that clock time t, i.e. one
  step before the detection step: at the grid time k dt of detection the
  membrane sees the modulation of (k - 1) dt, so ``stimulus_factor =
  exp(-i w dt)`` (the measurement divides it out; the net effect on N is
  nil: the result equals labelling spikes by the clock time);
- probe potentials ``v`` (relative to E_L) are sampled at ``when="start"``,
  the grid state at the clock time (``state_step = round(t / dt)``), every
  ``spec.probe_interval``.

Seeds: ``brian2.seed(seed)`` for the Poisson drive, numpy
``default_rng(seed)`` for the initial potentials. Target: Cython runtime
(``spec.backend["target"]``: ``"cython"`` or ``"numpy"``).
"""

from __future__ import annotations

import time

import numpy as np

from simulation.recording import STATE_AFTER_JUMPS, Recording


def run_transfer_brian2(spec) -> Recording:
    """Simulate a :class:`simulation.open_loop.TransferSpec` with Brian2; the raw Recording."""
    import brian2 as b2

    from simulation.device import configure_runtime
    from simulation.lif import make_lif_group, modulation_filter
    from simulation.open_loop import neuron_layout

    sim = spec.simulated()
    network = sim["network"]
    dt = spec.dt
    freqs = np.asarray(spec.frequencies, float)
    tau_m, tau_s = float(network["tau_m"]), float(network["tau_s"])
    H = modulation_filter(freqs, tau_m, tau_s, sim["filter_mode"])
    group_of, _ = neuron_layout(spec)
    n = spec.n_neurons
    target = spec.backend_options()["target"]

    t_wall = time.perf_counter()
    configure_runtime(target)
    b2.start_scope()
    b2.defaultclock.dt = dt * b2.second
    b2.seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    v_th = float(network["V_th"] - network["E_L"])
    v_reset = float(network["V_reset"] - network["E_L"])

    neurons = make_lif_group(
        n, network, sim["W_exc"], sim["W_inh"], modulated=True, name="open_loop"
    )
    neurons.namespace["mod_delay"] = sim["mod_delay"] * b2.second
    neurons.lam_exc = spec.rate_exc * dt
    neurons.lam_inh = spec.rate_inh * dt
    neurons.f_mod = freqs[group_of] * b2.Hz
    neurons.mod_amp = (sim["amplitudes"] * np.abs(H))[group_of] * b2.volt
    neurons.mod_phase = np.angle(H)[group_of]
    neurons.v = rng.uniform(v_reset, v_th, n) * b2.volt
    spikes = b2.SpikeMonitor(neurons, name="open_loop_spikes")
    objects = [neurons, spikes]
    n_probe = int(spec.n_probe)
    if n_probe > 0:
        probe = make_lif_group(
            n_probe, network, sim["W_exc"], sim["W_inh"], modulated=False, name="probe"
        )
        probe.namespace["V_th"] = 1.0 * b2.volt  # never reached: free membrane potential
        probe.lam_exc = spec.rate_exc * dt
        probe.lam_inh = spec.rate_inh * dt
        probe.v = float(spec.mu) * b2.volt
        probe_mon = b2.StateMonitor(
            probe, "v", record=True, dt=spec.probe_interval * b2.second, name="probe_v"
        )
        objects += [probe, probe_mon]
    net = b2.Network(*objects)
    net.run((spec.warmup + spec.duration) * b2.second, namespace={})
    wall = time.perf_counter() - t_wall

    state, state_index, state_step = {}, {}, {}
    if n_probe > 0:
        state["v"] = np.asarray(probe_mon.v / b2.volt, float)
        state_index["v"] = n + np.arange(n_probe, dtype=np.int32)
        state_step["v"] = np.round(np.asarray(probe_mon.t / b2.second) / dt).astype(np.int64)
    factor = np.exp(-1j * 2 * np.pi * freqs * dt)
    return Recording(
        simulator="brian2",
        version=b2.__version__,
        dt=dt,
        n_steps=spec.n_steps,
        n_neurons=n,
        spike_step=np.round(np.asarray(spikes.t / b2.second) / dt).astype(np.int64) + 1,
        spike_sender=np.asarray(spikes.i, np.int32),
        state=state,
        state_index=state_index,
        state_step=state_step,
        conventions={
            "state_sample": STATE_AFTER_JUMPS,
            "stimulus_factor_re": factor.real.tolist(),
            "stimulus_factor_im": factor.imag.tolist(),
        },
        metadata={"target": target, "threads": 1, "seed": int(spec.seed), "wall_s": wall},
    )
