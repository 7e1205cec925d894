"""NEST backend of the open-loop transfer-function protocol: ``run_transfer_nest(spec)``.

The protocol of :mod:`mfval.simulation.open_loop` in NEST 3.10 (optional extra;
conventions in :mod:`mfval.simulation.model.nest_support`):

- ``iaf_psc_exp`` neurons, parameters of the simulated model (perturbation
  applied); initial V uniform in [V_reset, V_th) from numpy
  ``default_rng(seed)`` (as the Brian2 backend);
- two ``poisson_generator`` streams (rates ``spec.rate_exc``,
  ``spec.rate_inh``), weights W_exc, W_inh, delay dt: an independent exact
  Poisson train per neuron;
- mean-only modulation: one ``ac_generator`` per frequency, current
  C dmu / tau_m cos(w (t - mod_delay)) (``phase`` 90 degrees), delay dt,
  connected to the neurons of that frequency:

  - ``mode="synaptic"``: into receptor port 1 of ``iaf_psc_exp``, which
    filters the current through the excitatory synapse (tau_syn_ex): NEST
    itself applies the synaptic filter 1/(1 + i w tau_s), no analytic
    pre-filtering;
  - ``mode="membrane"``: into port 0 (straight into the membrane);

  the grid discretization of either path (piecewise-constant current, a
  one-step device latency, port 1's jump of (1 - P11) c per step) is the
  Recording's ``stimulus_factor``
  (:func:`mfval.simulation.model.nest_support.stimulus_factor`, exact; verified against
  a deterministic NEST run in the tests);
- probes: ``n_probe`` neurons with an unreachable threshold, same input, no
  modulation; multimeter of V_m every ``spec.probe_interval``.
"""

from __future__ import annotations

import time

import numpy as np

from mfval.simulation.model.nest_support import (
    FILTERED_CURRENT_PORT,
    MEMBRANE_CURRENT_PORT,
    event_steps,
    iaf_psc_exp_params,
    nest_version,
    recorded_spikes,
    reset_kernel,
    sample_grid,
    set_quiet,
    stimulus_factor,
)
from mfval.simulation.model.recording import Recording, open_loop_conventions


def run_transfer_nest(spec) -> Recording:
    """Simulate a :class:`mfval.simulation.open_loop.TransferSpec` with NEST; the raw Recording.

    Backend options (``spec.backend``): ``threads`` (``local_num_threads``, default 1).
    """
    sim = spec.simulated()
    network = sim["network"]
    dt = spec.dt
    threads = int(spec.backend_options()["threads"])
    freqs = np.asarray(spec.frequencies, float)
    n, n_per = spec.n_neurons, spec.n_per_frequency
    t_wall = time.perf_counter()
    set_quiet()
    nest = reset_kernel(dt, spec.seed, threads)
    rng = np.random.default_rng(spec.seed)
    params = iaf_psc_exp_params(network)
    v_th = float(network["V_th"] - network["E_L"])
    v_reset = float(network["V_reset"] - network["E_L"])
    neurons = nest.Create("iaf_psc_exp", n, params=params)
    neurons.set(V_m=(params["E_L"] + rng.uniform(v_reset, v_th, n) * 1e3).tolist())
    targets = neurons
    n_probe = int(spec.n_probe)
    if n_probe > 0:
        probe = nest.Create("iaf_psc_exp", n_probe, params=iaf_psc_exp_params(network, V_th=1e3))
        probe.set(V_m=params["E_L"] + spec.mu * 1e3)
        targets = neurons + probe
    delay_ms = dt * 1e3
    for rate, weight in ((spec.rate_exc, sim["W_exc"]), (spec.rate_inh, sim["W_inh"])):
        gen = nest.Create("poisson_generator", params={"rate": float(rate)})
        nest.Connect(gen, targets, syn_spec={"weight": weight * 1e12, "delay": delay_ms})
    port = FILTERED_CURRENT_PORT if sim["filter_mode"] == "synaptic" else MEMBRANE_CURRENT_PORT
    current_per_volt = spec.network["C"] / spec.network["tau_m"]  # A per V of mean input
    for k, f in enumerate(freqs):
        phase = 90.0 - np.degrees(2 * np.pi * f * sim["mod_delay"])
        ac = nest.Create(
            "ac_generator",
            params={
                "amplitude": float(sim["amplitudes"][k] * current_per_volt * 1e12),
                "frequency": float(f),
                "phase": float(phase),
                "offset": 0.0,
            },
        )
        nest.Connect(
            ac,
            neurons[k * n_per : (k + 1) * n_per],
            syn_spec={"receptor_type": port, "delay": delay_ms},
        )
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    if n_probe > 0:
        meter = nest.Create(
            "multimeter", params={"record_from": ["V_m"], "interval": spec.probe_interval * 1e3}
        )
        nest.Connect(meter, probe)
    nest.Simulate(spec.n_steps * dt * 1e3)
    wall = time.perf_counter() - t_wall

    first = neurons[0].global_id
    spike_step, spike_sender = recorded_spikes(recorder, first, dt)
    state, state_index, state_step = {}, {}, {}
    if n_probe > 0:
        mv = meter.get("events")
        m_sender = np.asarray(mv["senders"], np.int64) - probe[0].global_id
        v_rel = (np.asarray(mv["V_m"], float) - params["E_L"]) * 1e-3
        state["v"], steps = sample_grid(m_sender, event_steps(mv["times"], dt), v_rel, n_probe)
        state_index["v"] = n + np.arange(n_probe, dtype=np.int32)
        state_step["v"] = steps
    # the nominal model's discretization factor (a perturbed model is not corrected)
    factor = stimulus_factor(freqs, spec.network, dt, spec.mode)
    return Recording(
        simulator="nest",
        version=nest_version(),
        dt=dt,
        n_steps=spec.n_steps,
        n_neurons=n,
        spike_step=spike_step,
        spike_sender=spike_sender,
        state=state,
        state_index=state_index,
        state_step=state_step,
        conventions=open_loop_conventions(factor),
        metadata={"target": "nest", "threads": threads, "seed": int(spec.seed), "wall_s": wall},
    )
