"""Open-loop protocol tasks: dispatch a spec to its backend, store keys, task functions.

:func:`run_transfer` runs a :class:`~mfval.simulation.open_loop.spec.TransferSpec`
(both arms of the antithetic design) on its simulator; :func:`transfer_task` and
:func:`fit_task` are the store tasks of ``mfval run``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from mfval.config import stable_hash
from mfval.simulation.model.versions import simulator_version, software_versions
from mfval.simulation.open_loop.measure import fit_transfer
from mfval.simulation.open_loop.spec import SIMULATORS, TransferSpec, spec_from_options, stack_arms
from mfval.tasks import Task

#: bump when the content of a transfer result changes
TRANSFER_SCHEMA = 3


#: bump when the content of a transfer recording changes
RECORDING_SCHEMA = 2


def run_transfer(spec: TransferSpec):
    """Run ``spec`` on its simulator; the raw :class:`mfval.simulation.model.recording.Recording`.

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
    (:func:`mfval.simulation.open_loop.measure.measure_transfer`) in one call.

    Returns
    -------
    DataFrame of :func:`mfval.simulation.open_loop.measure.measure_transfer`.
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
