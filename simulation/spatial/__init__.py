"""The spatial ring protocol: the E-I network on a ring with boxcar connectivity.

Files: as every protocol of :mod:`mfval.simulation` (``spec``, ``measure``,
``tasks``); the backends are the network protocol's (a ring is a connectivity
rule of the :class:`~mfval.simulation.network.spec.NetworkSpec`, so Brian2 and
NEST run it unchanged and get the same connections from the same seed).

Model (design, "Spatial ring"): the Figure 5 network (``params/default.yaml``) on
a ring of length L (``params/spatial.yaml``, default 1 mm); neuron j of population
a at x_j = (j + 0.5) L / N_a; each target neuron draws its K_ab inputs from
population b uniformly without replacement (no autapses, no multapses) among the
neurons of b within ring distance R_b (boxcar half-width: R_E = 0.2 mm, R_I = 0.07
mm); fixed in-degree; delay 1.5 ms; external Poisson drive at the theory's rates
for (mu, sigma) at the relative inhibition g
(:func:`mfval.theory.closed_loop.network_with_g`, external rates re-derived). A
ring whose box wraps it (L <= 2 R) or holds fewer neurons than K is refused. At
L = 1 mm the E box holds 1600 neurons (4 K_E), the I box 140 (1.4 K_I).

- :func:`~.spec.spatial_spec` -> :class:`~.spec.SpatialSpec` (nominal ring,
  perturbation: ``radius_scale`` per source population, ``delay_scale``; one
  NetworkSpec per chunk with its own seed :func:`~.spec.spatial_chunk_seed`);
  :func:`~.spec.load_spatial_params` reads ``params/spatial.yaml``.
- :mod:`.measure` (pure): activity modes A_n(t) = (1 / (N_a dt)) sum over the
  spikes of a bin of exp(-i k_n x_j), their two-sided PSD at +f and -f (the two
  travelling directions), the peak (n*, f*) over n >= 1, direction and phase
  velocity, rates, CVs, order parameter; tables :func:`~.measure.spatial_tables`;
  :func:`~.measure.space_time_raster`.
- :mod:`.tasks`: store kind ``spatial_chunk`` per chunk (raw recordings as
  ``network_recording``), :func:`~.tasks.spatial_tasks`,
  :func:`~.tasks.simulate_spatial`.
"""
