"""Spiking simulation: one subpackage per protocol, shared model code and estimators.

Protocols: :mod:`~mfval.simulation.network` (the E-I network at a working point),
:mod:`~mfval.simulation.open_loop` (the transfer function N(f)),
:mod:`~mfval.simulation.closed_loop` (spectra, CV, Fano factor on the network's
backends). Shared: :mod:`~mfval.simulation.model` (LIF equations, connectivity,
drive checks, Recording, Brian2 device and build cache, NEST support) and
:mod:`~mfval.simulation.estimators` (Fourier response, spectra, CV).

Files (the same in every protocol): ``spec`` (plain data: model, drive, stimulus,
seed, perturbation, and the helpers every backend needs), one module per backend
(``brian2``, ``nest``) that turns a spec into a
:class:`~mfval.simulation.model.recording.Recording`, ``measure`` (pure functions of a
Recording, with standard errors) and ``tasks`` (store keys, task functions, the
dispatch to a backend). Backends and measurements import ``spec``, never ``tasks``.
"""
