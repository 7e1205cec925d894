"""Spatial ring tasks: chunks of the network protocol on a ring, stored one by one.

The ring has no backend of its own: each chunk is a
:class:`~mfval.simulation.network.spec.NetworkSpec` with a ring connectivity rule,
run by the network protocol's backends
(:func:`mfval.simulation.network.tasks.stored_recording`: Brian2 ``cpp_standalone``
reuses one compiled binary for every seed, g and ring, NEST builds the same
connections); the chunk's measurement is the ``spatial_chunk`` store task.
"""

from __future__ import annotations

from dataclasses import dataclass

from mfval.config import stable_hash
from mfval.simulation.spatial.measure import (
    check_measure,
    measure_spatial,
    measure_spatial_chunk,
    spatial_tables,
)
from mfval.simulation.spatial.spec import SpatialSpec, spatial_spec
from mfval.tasks import Task, task_seed

#: bump when the content of a spatial chunk result changes
SPATIAL_SCHEMA = 1


def spatial_seed(run_seed: int, mu: float, sigma: float, g: float | None = None) -> int:
    """Base seed of one ring measurement (chunk seeds: ``spec.spatial_chunk_seed``).

    :func:`mfval.tasks.task_seed` of the run seed with kind ``"spatial"`` (and
    ``g``, as the closed-loop sweep does): independent of workers and order, and
    different for different working points and g (no shared realizations).
    """
    kind = "spatial" if g is None else f"spatial g={float(g):g}"
    return task_seed(run_seed, kind, mu, sigma)


def run_spatial_chunk(spec, measure: dict | None = None, store=None) -> dict:
    """Task function: the chunk's Recording (stored, simulated on a miss), measured."""
    from mfval.simulation.network.tasks import stored_recording

    return measure_spatial_chunk(stored_recording(spec, store), spec, measure)


def simulate_spatial(
    mu: float, sigma: float, params: dict, seed: int, measure: dict | None = None, **options
) -> dict:
    """Spec, runs (one after the other) and measurement in one call (scripts, tests).

    ``options``: those of :func:`mfval.simulation.spatial.spec.spatial_spec`.
    Returns :func:`spatial_tables` with ``spec`` and ``recordings`` added.
    """
    from mfval.simulation.network.tasks import run_network

    spec = spatial_spec(mu, sigma, params, seed, **options)
    recordings = [run_network(c) for c in spec.chunks]
    out = measure_spatial(recordings, spec, measure)
    out["spec"], out["recordings"] = spec, recordings
    return out


@dataclass
class SpatialChunks:
    """The store tasks of one ring measurement and their pooling.

    Attributes
    ----------
    spec : SpatialSpec
    tasks : list of Task
        One per chunk (kind ``spatial_chunk``): the chunk's measurement
        (:func:`measure_spatial_chunk`); the raw recording is stored too
        (kind ``network_recording``).
    measure : dict
        Measurement settings (``measure.DEFAULT_MEASURE`` with overrides, checked).
    """

    spec: SpatialSpec
    tasks: list
    measure: dict

    def tables(self, results: list) -> dict:
        """:func:`spatial_tables` of the tasks' results (in task order)."""
        return spatial_tables(list(results), self.spec, self.measure)


def spatial_chunk_key(chunk_spec, measure: dict) -> str:
    """Store key of a chunk: its recording key and the measurement settings."""
    from mfval.simulation.network.tasks import recording_key

    return stable_hash("spatial_chunk", SPATIAL_SCHEMA, recording_key(chunk_spec), measure)


def spatial_tasks(mu: float, sigma: float, params: dict, seed: int, **options) -> SpatialChunks:
    """Store tasks of one ring measurement, one per chunk (distributable with run_tasks).

    ``options``: those of :func:`mfval.simulation.spatial.spec.spatial_spec` and
    ``measure`` (overrides of ``measure.DEFAULT_MEASURE``, checked against the chunk
    window before anything runs: :func:`check_measure`). Chunks are cached one by
    one (key: :func:`spatial_chunk_key`); the same seed gives the same numbers
    (base ``seed``: e.g. :func:`spatial_seed` of the run seed).
    """
    options = dict(options)
    measure = options.pop("measure", None)
    spec = spatial_spec(mu, sigma, params, seed, **options)
    first = spec.chunks[0]
    measure = check_measure(measure, first.duration_steps, first.dt)
    label = f"spatial mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV"
    if spec.g is not None:
        label += f" g={spec.g:g}"
    label += f" L={spec.ring.length * 1e3:g} mm"
    pert = spec.perturbation
    if pert.radius_scale != tuple(1.0 for _ in pert.radius_scale):
        label += f" radius x{pert.radius_scale}"
    if pert.delay_scale != 1.0:
        label += f" delay x{pert.delay_scale:g}"
    if spec.chunks[0].simulator != "brian2":
        label += f" [{spec.chunks[0].simulator}]"
    tasks = [
        Task(
            kind="spatial_chunk",
            key=spatial_chunk_key(c, measure),
            func=run_spatial_chunk,
            kwargs={"spec": c, "measure": measure},
            label=f"{label} chunk {i + 1}/{len(spec.chunks)}",
            pass_store=True,
        )
        for i, c in enumerate(spec.chunks)
    ]
    return SpatialChunks(spec=spec, tasks=tasks, measure=measure)
