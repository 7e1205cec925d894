"""Network protocol tasks: dispatch a spec to its backend, store keys, task functions.

:func:`run_network` runs a :class:`~mfval.simulation.network.spec.NetworkSpec` on its
simulator; :func:`network_task` is the store task of ``mfval run`` (raw recording kept
in the store, kind ``network_recording``; measured table, kind ``network``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from mfval.config import stable_hash
from mfval.simulation.model.versions import simulator_version
from mfval.simulation.network.spec import (
    SIMULATORS,
    NetworkPerturbation,
    NetworkSpec,
    initial_state,
    make_network_spec,
)
from mfval.tasks import Task

#: bump when the content of a network result changes
NETWORK_SCHEMA = 5


#: bump when the content of a network recording changes
RECORDING_SCHEMA = 1


def run_network(spec: NetworkSpec, report: str | None = None):
    """Run ``spec`` on its simulator; the raw :class:`~mfval.simulation.model.recording.Recording`.

    Dispatches to the backend module of ``spec.simulator`` (``brian2`` or ``nest``).
    """
    if spec.simulator == "brian2":
        from mfval.simulation.network.brian2 import run_network_brian2

        return run_network_brian2(spec, report=report)
    if spec.simulator == "nest":
        from mfval.simulation.network.nest import run_network_nest

        return run_network_nest(spec)
    raise ValueError(f"simulator must be one of {SIMULATORS}, got {spec.simulator!r}")


def simulate_network(
    mu: float,
    sigma: float,
    params: dict,
    duration: float | None = None,
    seed: int | None = None,
    n_blocks: int | None = None,
    theory: dict | None = None,
    warmup: float | None = None,
    n_record: int = 100,
    target: str = "cpp_standalone",
    openmp_threads: int = 0,
    report: str | None = None,
    return_details: bool = False,
    poisson_sampler: str = "table",
    simulator: str = "brian2",
    threads: int = 1,
    perturbation: NetworkPerturbation | None = None,
    **planted,
):
    """Spec, run and measurement of the E-I network at (mu, sigma) in one call.

    Convenience for scripts and tests: :func:`make_network_spec`, then
    :func:`run_network`, then :func:`mfval.simulation.network.measure.measure_network`.
    ``target``, ``openmp_threads``, ``poisson_sampler`` are Brian2 backend
    options, ``threads`` NEST's; ``planted`` accepts the planted-error
    keywords of :meth:`NetworkPerturbation.from_options` (``weight_scale_exc``,
    ``drop_external``, ``poisson_split_p``, ``allow_biased_poisson``) and
    turns them into the spec's perturbation.

    Returns
    -------
    pandas.DataFrame
        :func:`mfval.simulation.network.measure.measure_network`; with
        ``return_details``, a tuple ``(frame, details)`` with ``spike_i``,
        ``spike_t`` (detection times, s), ``connectivity``, ``record_idx``,
        ``record_t``, ``record_I``, ``lam``, ``v0``, ``recording``, ``spec``.
    """
    from mfval.simulation.network.measure import measure_network

    if planted:
        if perturbation is not None:
            raise TypeError("give either perturbation or planted-error keywords, not both")
        perturbation = NetworkPerturbation.from_options(planted)
        if planted:
            raise TypeError(f"unknown options {sorted(planted)}")
    backend = (
        {
            "target": target,
            "openmp_threads": int(openmp_threads),
            "poisson_sampler": poisson_sampler,
        }
        if simulator == "brian2"
        else {"threads": int(threads)}
    )
    spec = make_network_spec(
        mu,
        sigma,
        params,
        seed=seed,
        duration=duration,
        warmup=warmup,
        n_blocks=n_blocks,
        n_record=n_record,
        theory=theory,
        simulator=simulator,
        backend=backend,
        perturbation=perturbation,
    )
    recording = run_network(spec, report=report)
    frame = measure_network(recording, spec)
    if return_details:
        state = initial_state(spec)
        details = {
            "spike_i": recording.spike_sender.astype(np.int64),
            "spike_t": recording.spike_times,
            "connectivity": state["conn"],
            "record_idx": recording.state_index["I"],
            "record_t": recording.state_step["I"] * spec.dt,
            "record_I": recording.state["I"],
            "lam": spec.lam(),
            "v0": state["v0"],
            "recording": recording,
            "spec": spec,
        }
        return frame, details
    return frame


def spec_data(spec: NetworkSpec) -> dict:
    """The spec as plain data (for keys and tables)."""
    return dataclasses.asdict(spec)


def recording_key(spec: NetworkSpec) -> str:
    """Store key of a network recording: every field that affects the simulation."""
    data = spec_data(spec)
    data.pop("n_blocks")
    if data.get("connectivity") is None:  # random rule: keys of earlier recordings unchanged
        data.pop("connectivity", None)
    return stable_hash(
        "network-recording",
        RECORDING_SCHEMA,
        {spec.simulator: simulator_version(spec.simulator), "numpy": np.__version__},
        data,
    )


def network_key_from_spec(spec: NetworkSpec) -> str:
    """Store key of the measured network table: recording key, block count, schema."""
    return stable_hash("network", NETWORK_SCHEMA, recording_key(spec), spec.n_blocks)


def stored_recording(spec: NetworkSpec, store=None, report: str | None = None):
    """The spec's Recording from the store (kind ``network_recording``), simulated on a miss."""
    if store is None:
        return run_network(spec, report=report)
    value, _ = store.get_or_compute(
        "network_recording", recording_key(spec), lambda: run_network(spec, report=report)
    )
    return value


def run_network_task(spec: NetworkSpec, store=None, report: str | None = None) -> pd.DataFrame:
    """Task function (top level, picklable): recording (stored) and its measurement."""
    from mfval.simulation.network.measure import measure_network

    return measure_network(stored_recording(spec, store, report), spec)


def network_task(mu: float, sigma: float, params: dict, seed: int | None = None, **options) -> Task:
    """A :class:`mfval.tasks.Task` (kind ``network``) for one simulation.

    ``options``: keyword arguments of :func:`make_network_spec` (duration,
    warmup, n_blocks, n_record, simulator, backend, perturbation), the
    Brian2 backend options ``target``, ``openmp_threads``,
    ``poisson_sampler``, NEST's ``threads``, ``report``, and the planted-error
    keywords of :meth:`NetworkPerturbation.from_options`. The result is the
    DataFrame of :func:`mfval.simulation.network.measure.measure_network`; the raw
    recording is stored too (kind ``network_recording``), so a new
    measurement does not re-simulate.
    """
    options = dict(options)
    report = options.pop("report", None)
    simulator = options.get("simulator", "brian2")
    backend = dict(options.pop("backend", {}) or {})
    for name in ("target", "openmp_threads", "poisson_sampler", "threads"):
        if name in options:
            backend[name] = options.pop(name)
    perturbation = options.pop("perturbation", None)
    planted = {
        k: options.pop(k)
        for k in list(options)
        if k
        in (
            "weight_scale_exc",
            "weight_scale",
            "drop_external",
            "poisson_split_p",
            "allow_biased_poisson",
            "tau_s",
            "tau_m_scale",
        )
    }
    if planted:
        perturbation = NetworkPerturbation.from_options(planted)
    params_plain = {k: params[k] for k in ("network", "simulation") if k in params}
    spec = make_network_spec(
        mu, sigma, params_plain, seed, backend=backend, perturbation=perturbation, **options
    )
    return Task(
        kind="network",
        key=network_key_from_spec(spec),
        func=run_network_task,
        kwargs={"spec": spec, "report": report},
        label=(
            f"network mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV seed={spec.seed}"
            + ("" if simulator == "brian2" else f" [{simulator}]")
        ),
        pass_store=True,
    )
