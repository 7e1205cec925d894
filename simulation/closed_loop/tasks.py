"""Closed-loop protocol tasks: chunks of the network protocol, stored one by one.

The closed loop has no backend of its own: each chunk is a
:class:`~mfval.simulation.network.spec.NetworkSpec` run by the network protocol's
backends (:func:`mfval.simulation.network.tasks.stored_recording`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mfval.config import stable_hash
from mfval.simulation.closed_loop.measure import (
    CHUNK_MEASURE_KEYS,
    DEFAULT_MEASURE,
    closed_loop_tables,
    measure_chunk,
    measure_closed_loop,
)
from mfval.simulation.closed_loop.spec import closed_loop_specs
from mfval.tasks import Task

#: bump when the content of a closed-loop result changes
CLOSED_LOOP_SCHEMA = 4


def run_closed_loop_chunk(spec, measure: dict | None = None, store=None) -> dict:
    """Task function: the chunk's Recording (stored, simulated on a miss), measured."""
    from mfval.simulation.network.tasks import stored_recording

    return measure_chunk(stored_recording(spec, store), spec, measure)


def simulate_closed_loop(mu: float, sigma: float, params: dict, seed: int, **options) -> dict:
    """Specs, runs (one after the other) and measurement in one call (scripts).

    ``options``: those of :func:`closed_loop_specs` and ``measure``.
    """
    from mfval.simulation.network.tasks import run_network

    measure = options.pop("measure", None)
    specs = closed_loop_specs(mu, sigma, params, seed, **options)
    return measure_closed_loop([run_network(s) for s in specs], specs, measure)


@dataclass
class ClosedLoopChunks:
    """The store tasks of one closed-loop measurement and their pooling.

    Attributes
    ----------
    specs : list of NetworkSpec
        One per chunk (:func:`closed_loop_specs`).
    tasks : list of Task
        One per chunk (kind ``closed_loop_chunk``): the chunk's measurement
        (:func:`measure_chunk`); the raw recording is stored too (kind
        ``network_recording``).
    measure : dict
        Measurement settings (:data:`DEFAULT_MEASURE` with overrides).
    """

    specs: list
    tasks: list
    measure: dict

    def tables(self, results: list) -> dict:
        """:func:`closed_loop_tables` of the tasks' results (in task order)."""
        return closed_loop_tables(list(results), self.specs, self.measure)


def closed_loop_tasks(
    mu: float, sigma: float, params: dict, seed: int, **options
) -> ClosedLoopChunks:
    """Store tasks of one closed-loop measurement, one per chunk.

    ``options``: duration, chunk_duration, warmup, g, delay_scale,
    weight_scale_inh, drive_scale, simulator, backend (see
    :func:`closed_loop_specs`) and ``measure`` (overrides of
    :data:`DEFAULT_MEASURE`). A chunk's key is its recording's
    key (:func:`mfval.simulation.network.recording_key`) and the settings of the
    per-chunk measurement, so chunks are cached one by one.
    """
    from mfval.simulation.network.tasks import recording_key

    options = dict(options)
    measure = {**DEFAULT_MEASURE, **(options.pop("measure", None) or {})}
    chunk_measure = {k: measure[k] for k in CHUNK_MEASURE_KEYS}
    plain = {k: params[k] for k in ("network", "simulation") if k in params}
    specs = closed_loop_specs(mu, sigma, plain, seed, **options)
    g = options.get("g")
    label = f"closed loop mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV"
    if g is not None:
        label += f" g={g:g}"
    if options.get("delay_scale", 1.0) != 1.0:
        label += f" delay x{options['delay_scale']:g}"
    if options.get("weight_scale_inh", 1.0) != 1.0:
        label += f" W_inh x{options['weight_scale_inh']:g}"
    if options.get("drive_scale"):
        label += f" drive x{tuple(options['drive_scale'])}"
    if specs[0].simulator != "brian2":
        label += f" [{specs[0].simulator}]"
    tasks = [
        Task(
            kind="closed_loop_chunk",
            key=stable_hash(
                "closed_loop_chunk", CLOSED_LOOP_SCHEMA, recording_key(s), chunk_measure
            ),
            func=run_closed_loop_chunk,
            kwargs={"spec": s, "measure": chunk_measure},
            label=f"{label} chunk {i + 1}/{len(specs)}",
            pass_store=True,
        )
        for i, s in enumerate(specs)
    ]
    return ClosedLoopChunks(specs=specs, tasks=tasks, measure=measure)
