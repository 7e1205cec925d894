"""Open-loop transfer-function protocol: spec, backends, measurements.

Files: as every protocol of :mod:`mfval.simulation`.

Protocol (issue 4, design "Simulation protocols" 2):

- Every neuron is the shared model of :mod:`mfval.simulation.model.lif` and receives
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
  the warm-up) holds a whole number of cycles (:mod:`mfval.simulation.estimators.fourier`).
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
:func:`mfval.simulation.open_loop.brian2.run_transfer_brian2` or
:func:`mfval.simulation.open_loop.nest.run_transfer_nest`); the measurement
:func:`mfval.simulation.open_loop.measure.measure_transfer`, shared by both.

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
