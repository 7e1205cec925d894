"""The E-I network protocol at one working point: spec, backends, measurements.

Files: as every protocol of :mod:`mfval.simulation`.

Three layers (design, "Simulation protocols"):

- :class:`~.spec.NetworkSpec` (``spec``): plain data that fully defines a run:
  model parameters, fixed in-degree connectivity rule, drive (the theory's
  external rates), durations, seed, recorded neurons, simulator and its
  options, and any deliberate :class:`NetworkPerturbation` (planted errors
  live here, nowhere else). :func:`make_network_spec` builds it from the
  parameters and the theory.
- backends ``run(spec) -> Recording``: :func:`run_network` dispatches to
  :func:`mfval.simulation.network.brian2.run_network_brian2` (default) or
  :func:`mfval.simulation.network.nest.run_network_nest` (optional extra,
  imported only when selected).
- measurements of :mod:`mfval.simulation.network.measure`, pure functions of
  (recording, spec), shared by every backend: :func:`measure_network` gives
  the table :func:`simulate_network` and :func:`network_task` return.

Model (both backends): all neurons are the shared LIF model of
:mod:`mfval.simulation.model.lif` (NEST ``iaf_psc_exp`` semantics, exact integration,
potentials relative to E_L), populations in the order of ``network
['populations']`` (E first, then I), neuron indices global in that order.

- Recurrent connectivity: fixed in-degree. Every neuron of target population
  t receives exactly ``K[t, s]`` connections from population s, drawn
  **without replacement** (no multapses), never from itself (no autapses):
  for each target, the ``K`` smallest of uniform random keys over the source
  population, with the key of the target itself set above all others
  (vectorized ``argpartition``, :func:`build_connectivity`). PSC amplitude
  ``W[t, s]``, one delay ``network['delay']`` for all recurrent connections.
  Both backends use the same realization (from the spec's seed), so that a
  cross-simulator comparison is not blurred by quenched disorder that the
  block standard errors do not sample.
  With ``spec.connectivity`` a
  :class:`~mfval.simulation.model.connectivity.RingConnectivity` (the spatial
  ring protocol, :mod:`mfval.simulation.spatial`), the inputs of a target are
  drawn the same way among the source neurons within ring distance R of it
  (:func:`~mfval.simulation.model.connectivity.build_ring_connectivity`); the
  backends run it unchanged (Brian2: the same compiled binary, connections are
  run-time data).
- External drive: two Poisson sources per neuron (K_ext = 1 each) at the
  rates ``nu_ext`` that the theory derives for (mu, sigma), weights
  ``W_ext[t, :]``, exact Poisson counts per step.
- Initial state: v uniform in [V_reset, V_th) (relative), I at its mean
  value C mu / tau_m; a warm-up is simulated and discarded
  (:func:`initial_state`).
- Seeds: a ``numpy.random.RandomState(seed)`` for connectivity, initial v
  and recorded neurons; the simulator's own generator, seeded with the same
  seed, for the Poisson drive. Same seed and options, same numbers.

Perturbations (:class:`NetworkPerturbation`, to prove that the checks can
fail): a factor on any recurrent pathway's weight, a dropped external
source, a binomial split of the Poisson drive (refused above
``max_poisson_p`` unless explicitly allowed), and a different synaptic time
constant with the PSC charge W tau_s kept. They change what is simulated,
never the measurement, which interprets the Recording with the nominal
parameters.
"""
