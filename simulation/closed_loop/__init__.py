"""Closed-loop protocol: the E-I network's population-rate spectra, CVs and Fano factors.

Files: as every protocol of :mod:`mfval.simulation`.

Built on the network protocol's three layers (:mod:`mfval.simulation.network`):
the specs (:func:`closed_loop_specs`: :class:`mfval.simulation.network.NetworkSpec`
at a working point, optionally with another relative inhibition g, external
rates re-derived so that (mu, sigma) stay fixed, see
:mod:`mfval.theory.closed_loop`), a backend run of each into a
:class:`mfval.simulation.model.recording.Recording` (Brian2 or NEST; the raw recording is
kept in the results store, kind ``network_recording``, so new measurements do
not re-simulate), and the pure measurements :func:`measure_chunk` (per
recording) and :func:`pool_chunks` / :func:`closed_loop_tables` (pooled).

Chunks: the measured time is split into independent chunks with the network
protocol's warm-up and duration (``network_warmup``, ``network_duration``),
each with its own seed (:func:`chunk_seed`, a hash of the measurement's seed
and the chunk index): a chunk is an independent realization (connectivity,
initial state, drive). With the network protocol's durations the chunks
share its compiled Brian2 binary (no compilation of their own) and run as
separate store tasks (:func:`closed_loop_tasks`, kind ``closed_loop_chunk``),
in parallel and cached one by one. The pooled spectrum is the mean over the
segments of all chunks; standard errors come from the spread between chunks
(:func:`pool_chunks`).

Window: as :mod:`mfval.simulation.network.measure` (detection steps w + 1 .. w + n
after the warm-up of w steps; spikes binned by their exact integer step).

Planted errors, in the simulated network only (the theory, the external rates and
the predictions keep the parameter file's network): ``delay_scale`` multiplies the
recurrent delay (open-loop checks cannot see it: rates and transfer function do
not depend on the delay; the spectra must), ``weight_scale_inh`` the recurrent
inhibitory PSC amplitudes (the loop gain), ``drive_scale`` the external Poisson
rates of each population.
"""
