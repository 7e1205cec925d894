"""Closed-loop protocol: the E-I network's population-rate spectra, CVs and Fano factors.

Built on the network protocol's three layers (:mod:`simulation.network`):
the specs (:func:`closed_loop_specs`: :class:`simulation.network.NetworkSpec`
at a working point, optionally with another relative inhibition g, external
rates re-derived so that (mu, sigma) stay fixed, see
:mod:`theory.closed_loop`), a backend run of each into a
:class:`simulation.recording.Recording` (Brian2 or NEST; the raw recording is
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

Window: as :mod:`simulation.network_measure` (detection steps w + 1 .. w + n
after the warm-up of w steps; spikes binned by their exact integer step).

Planted error (``delay_scale``): the recurrent delay of the simulated network
only is multiplied by this factor; the theory (external rates, predictions)
keeps the parameter file's delay. Open-loop checks cannot see it (rates and
transfer function do not depend on the delay), the spectra must.
"""

from __future__ import annotations

from dataclasses import dataclass

from mfval.simulation.closed_loop.measure import (
    CHUNK_MEASURE_KEYS,
    DEFAULT_MEASURE,
    closed_loop_tables,
    measure_chunk,
    measure_closed_loop,
)
from mfval.simulation.closed_loop.spec import closed_loop_specs

from mfval.config import stable_hash
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
    simulator, backend (see :func:`closed_loop_specs`) and ``measure``
    (overrides of :data:`DEFAULT_MEASURE`). A chunk's key is its recording's
    key (:func:`simulation.network.recording_key`) and the settings of the
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
