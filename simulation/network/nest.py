"""NEST backend of the E-I network protocol: ``run_network_nest(spec) -> Recording``.

The model of :mod:`mfval.simulation.network` in NEST 3.10 (optional extra, see
:mod:`mfval.simulation.model.nest_support` for NEST's numerical conventions):

- ``iaf_psc_exp`` neurons (grid-based, exact propagation), parameters of
  ``spec.simulated_network()`` (perturbation applied), populations in order
  (node id = global index + 1);
- recurrent connections: the realization of
  :func:`mfval.simulation.network.build_connectivity` for the spec's seed (fixed
  in-degree, no autapses, no multapses; the same as the Brian2 backend),
  created with ``nest.Connect(pre_ids, post_ids, "one_to_one")``, weight
  W[t, s] (pA), delay ``network['delay']``;
- external drive: one ``poisson_generator`` per source kind (rates nu_ext),
  connected ``all_to_all`` with weights W_ext[t, :] and delay dt; NEST's
  generator sends an independent exact Poisson train to every target (a
  count per step, no rate * dt limit);
- initial state: v0 of :func:`mfval.simulation.network.initial_state`; the
  synaptic currents start at 0 (NEST does not let them be set; Brian2
  starts at the mean I0): a difference of the first few tau_s = 0.5 ms,
  long gone after the warm-up;
- recording: ``spike_recorder`` of all neurons; ``multimeter`` of
  I_syn_ex + I_syn_in of the recorded neurons every step.

Timings: ``setup_s`` (kernel and node creation, connections), ``compile_s``
(``nest.Prepare``: NEST has no code generation; connection infrastructure),
``run_s`` (``nest.Run``).
"""

from __future__ import annotations

import time

import numpy as np

from mfval.simulation.model.nest_support import (
    event_steps,
    iaf_psc_exp_params,
    nest_version,
    recorded_spikes,
    reset_kernel,
    sample_grid,
    set_quiet,
)
from mfval.simulation.model.recording import STATE_AFTER_JUMPS, Recording


def run_network_nest(spec) -> Recording:
    """Simulate a :class:`mfval.simulation.network.NetworkSpec` with NEST; the raw Recording.

    Backend options (``spec.backend``): ``threads`` (NEST
    ``local_num_threads``, default 1).
    """
    from mfval.simulation.model.connectivity import population_slices
    from mfval.simulation.network.spec import initial_state

    if spec.perturbation.poisson_split_p is not None:
        raise NotImplementedError(
            "perturbation poisson_split_p (binomial drive) exists only in the Brian2 backend"
        )
    threads = int(spec.backend_options()["threads"])
    dt = spec.dt
    net = spec.simulated_network()
    pops = population_slices(net)
    n_total = int(sum(n for _, _, n in pops))
    t_setup = time.perf_counter()
    set_quiet()
    nest = reset_kernel(dt, spec.seed, threads)
    state = initial_state(spec)
    conn, v0, record_idx = state["conn"], state["v0"], state["record_idx"]
    params = iaf_psc_exp_params(net)
    neurons = nest.Create("iaf_psc_exp", n_total, params=params)
    neurons.set(V_m=(params["E_L"] + v0 * 1e3).tolist())
    first = neurons[0].global_id
    W = np.asarray(net["W"], float)
    W_ext = np.asarray(net["W_ext"], float)
    delay_ms = net["delay"] * 1e3
    for (t, s), (i, j) in conn.items():
        if len(i) == 0:
            continue
        nest.Connect(
            np.asarray(i, np.int64) + first,
            np.asarray(j, np.int64) + first,
            conn_spec="one_to_one",
            syn_spec={
                "synapse_model": "static_synapse",
                "weight": np.full(len(i), W[t, s] * 1e12),
                "delay": np.full(len(i), delay_ms),
            },
        )
    lam = spec.lam()
    drive_scale = spec.perturbation.drive_scale  # planted error: one generator per population
    for k, rate in enumerate(lam / dt):
        if rate <= 0:
            continue
        gen = (
            None if drive_scale else nest.Create("poisson_generator", params={"rate": float(rate)})
        )
        for t, (_, off, n) in enumerate(pops):
            if drive_scale:
                gen = nest.Create(
                    "poisson_generator", params={"rate": float(rate * drive_scale[t])}
                )
            nest.Connect(
                gen,
                neurons[off : off + n],
                syn_spec={"weight": W_ext[t, k] * 1e12, "delay": dt * 1e3},
            )
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    meter = nest.Create(
        "multimeter", params={"record_from": ["I_syn_ex", "I_syn_in"], "interval": dt * 1e3}
    )
    nest.Connect(meter, neurons[record_idx.tolist()])
    setup_s = time.perf_counter() - t_setup
    t0 = time.perf_counter()
    nest.Prepare()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    nest.Run(spec.n_steps * dt * 1e3)
    run_s = time.perf_counter() - t0
    nest.Cleanup()

    spike_step, spike_sender = recorded_spikes(recorder, first, dt)
    mv = meter.get("events")
    m_sender = np.asarray(mv["senders"], np.int64) - first
    current = (np.asarray(mv["I_syn_ex"], float) + np.asarray(mv["I_syn_in"], float)) * 1e-12
    samples, steps = sample_grid(
        np.searchsorted(record_idx, m_sender),
        event_steps(mv["times"], dt),
        current,
        len(record_idx),
    )
    if np.isnan(samples).any():
        raise RuntimeError("NEST multimeter returned an incomplete sample grid")
    return Recording(
        simulator="nest",
        version=nest_version(),
        dt=dt,
        n_steps=spec.n_steps,
        n_neurons=n_total,
        spike_step=spike_step,
        spike_sender=spike_sender,
        state={"I": samples},
        state_index={"I": np.asarray(record_idx, np.int32)},
        state_step={"I": steps},
        conventions={"state_sample": STATE_AFTER_JUMPS},
        metadata={
            "target": "nest",
            "threads": threads,
            "seed": int(spec.seed),
            "setup_s": float(setup_s),
            "compile_s": float(compile_s),
            "run_s": float(run_s),
            "out_degree": state["out_degree"],
        },
    )
