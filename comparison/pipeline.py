"""The main job: theory scan, simulations and comparison, with cached tasks.

:func:`run_validation` runs (or reads from the results store) the theory scan
of the whole grid, the network simulations and the open-loop transfer
function simulations at the selected working points, and returns every
table the report, the figure and the ``pytest -m validation`` checks need.
Every simulation is one store task, written atomically as soon as it
finishes, so an interrupted run continues where it stopped.

Planted errors (``planted=``) change the simulation only, never the theory;
they exist to prove that the checks can fail (see ``tests/test_planted_errors.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from comparison.checks import ValidationConfig, load_validation
from comparison.metrics import comparison_table
from mfval.params import scan_points, stable_hash
from mfval.store import ResultStore
from mfval.tasks import run_tasks

#: planted errors: name -> (network task options, transfer task options)
PLANTED_ERRORS: dict[str, tuple[dict, dict]] = {
    "none": ({}, {}),
    "exc_weight_plus_10pct": ({"weight_scale_exc": 1.1}, {}),
    "modulation_latency_1.5ms": ({}, {"mod_delay": 1.5e-3}),
    "missing_synaptic_filter": ({}, {"drop_synaptic_filter": True}),
    "external_source_dropped": ({"drop_external": "inh"}, {}),
    "binomial_poisson_split_p0.05": (
        {"poisson_split_p": 0.05, "allow_biased_poisson": True},
        {},
    ),
    # closed loop only (comparison.closed_loop.CLOSED_LOOP_PLANTED): delay x2
    "recurrent_delay_doubled": ({}, {}),
}


@dataclass
class RunSettings:
    """What to simulate and how long (SI). Defaults come from the parameters."""

    network_points: list[tuple[float, float]]
    transfer_points: list[tuple[float, float]]
    network_options: dict = field(default_factory=dict)
    transfer_options: dict = field(default_factory=dict)
    seed: int | None = None
    planted: str = "none"
    #: simulators to run; the first is compared with theory, the others with it
    #: (:mod:`comparison.cross_simulator`)
    simulators: list = field(default_factory=lambda: ["brian2"])
    #: closed-loop spectra at this point (V), None: not simulated
    closed_loop_point: tuple[float, float] | None = None
    closed_loop_options: dict = field(default_factory=dict)


def marked_points(params: dict) -> list[tuple[float, float]]:
    """The marked working points of the parameters (V)."""
    return [(float(m), float(s)) for m, s in params["scan"]["marked_points"]]


def default_settings(params: dict, full_grid: bool = False, quick: bool = False) -> RunSettings:
    """Settings of ``mfval run`` (and of ``pytest -m validation``).

    Default: network and transfer simulations at the marked points with the
    durations of ``params['simulation']``. ``full_grid``: network and
    transfer simulations at every grid point. ``quick``: the marked points
    with a quarter of the simulated time (larger errors, same checks).
    """
    points = scan_points(params) if full_grid else marked_points(params)
    sim = params["simulation"]
    network_options, transfer_options = {}, {}
    if quick:
        network_options = {"duration": sim["network_duration"] / 4}
        transfer_options = {"duration": sim["transfer_duration"] / 4}
    return RunSettings(
        network_points=points,
        transfer_points=points,
        network_options=network_options,
        transfer_options=transfer_options,
        closed_loop_point=tuple(float(x) for x in params["scan"]["stability_point"]),
        closed_loop_options={"quick": True} if quick else {},
    )


@dataclass
class ValidationResult:
    """Every table of one validation run."""

    scan: pd.DataFrame
    theory_transfer: pd.DataFrame
    network: pd.DataFrame
    transfer: pd.DataFrame
    fits: pd.DataFrame
    comparison: pd.DataFrame
    settings: RunSettings
    config: ValidationConfig
    #: simulator -> {"network", "transfer", "fits"} (every simulator run)
    by_simulator: dict = field(default_factory=dict)
    #: Brian2 vs NEST rows (:func:`comparison.cross_simulator.cross_simulator_table`)
    cross_simulator: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: closed-loop tables (comparison.closed_loop.ClosedLoopResult), or None
    closed_loop: object = None


def task_seed(run_seed: int, kind: str, mu: float, sigma: float) -> int:
    """Seed of one simulation task, derived from the run seed and the task's identity.

    Independent of the number of workers and of the order of completion, and
    different for different working points (no shared noise realizations).
    """
    return int(stable_hash("seed", int(run_seed), kind, float(mu), float(sigma))[:8], 16)


def simulation_tasks(
    params: dict, settings: RunSettings, simulator: str = "brian2"
) -> tuple[list, list]:
    """Store tasks of the network and transfer simulations of one run on one simulator.

    Every simulator gets the same task seeds (hence the same connectivity
    realization; the simulators' noise is independent).
    """
    from simulation.network import network_task
    from simulation.open_loop import transfer_task

    if settings.planted not in PLANTED_ERRORS:
        raise ValueError(f"planted = {settings.planted!r} is not one of {sorted(PLANTED_ERRORS)}")
    net_plant, tf_plant = PLANTED_ERRORS[settings.planted]
    run_seed = params["simulation"]["seed"] if settings.seed is None else settings.seed
    network = [
        network_task(
            mu,
            sigma,
            params,
            task_seed(run_seed, "network", mu, sigma),
            simulator=simulator,
            **settings.network_options,
            **net_plant,
        )
        for mu, sigma in settings.network_points
    ]
    transfer = [
        transfer_task(
            mu,
            sigma,
            params,
            "synaptic",
            task_seed(run_seed, "transfer", mu, sigma),
            simulator=simulator,
            **settings.transfer_options,
            **tf_plant,
        )
        for mu, sigma in settings.transfer_points
    ]
    return network, transfer


def run_validation(
    params: dict,
    settings: RunSettings,
    store: ResultStore | None = None,
    config: ValidationConfig | None = None,
    workers: int | None = None,
    progress: bool = True,
    client=None,
) -> ValidationResult:
    """Run (or read from the store) theory, simulations and comparison.

    Parameters
    ----------
    params : dict
        Loaded parameters (:func:`mfval.params.load_params`).
    settings : RunSettings
        Points, durations, seed and planted error.
    store : ResultStore, optional
    config : ValidationConfig, optional
        Default ``params/validation.yaml``.
    workers : int, optional
        Local worker processes.
    progress : bool
        Progress lines on stderr.
    client : dask.distributed.Client, optional
        Run the tasks on this Dask cluster instead of local processes.
    """
    from simulation.open_loop import fit_transfer
    from theory.scan import run_scan

    store = store or ResultStore()
    config = config or load_validation()
    scan, theory_transfer = run_scan(params, store, workers, progress, client)
    per_simulator = [(sim, *simulation_tasks(params, settings, sim)) for sim in settings.simulators]
    # longest tasks first, so that the workers finish together
    transfer_all = [t for _, _, transfer_tasks in per_simulator for t in transfer_tasks]
    network_all = [t for _, network_tasks, _ in per_simulator for t in network_tasks]
    closed = None
    if settings.closed_loop_point is not None:
        from comparison.closed_loop import ClosedLoopRun

        closed = ClosedLoopRun(
            params, settings, store, workers, progress, client, simulator=settings.simulators[0]
        )
    closed_tasks = closed.simulation_tasks if closed else []
    tasks = closed_tasks + transfer_all + network_all
    values = run_tasks(tasks, store, workers, "simulation", progress, client)
    results = {id(t): v for t, v in zip(tasks, values)}
    by_simulator = {}
    for simulator, network_tasks, transfer_tasks in per_simulator:
        transfer_frames = [results[id(t)] for t in transfer_tasks]
        network_frames = [results[id(t)] for t in network_tasks]
        by_simulator[simulator] = {
            "network": _concat(network_frames),
            "transfer": _concat(transfer_frames),
            "fits": _concat([fit_transfer(df, params) for df in transfer_frames]),
        }
    primary = by_simulator[settings.simulators[0]]
    network, transfer, fits = primary["network"], primary["transfer"], primary["fits"]
    comparison = comparison_table(scan, config, params, network, transfer, fits)
    cross = pd.DataFrame()
    if len(by_simulator) > 1:
        from comparison.cross_simulator import cross_simulator_table

        cross = cross_simulator_table(by_simulator)
    closed_loop = (
        closed.finish([results[id(t)] for t in closed_tasks], transfer) if closed else None
    )
    if closed_loop is not None:
        comparison = pd.concat([comparison, closed_loop.comparison], ignore_index=True)
    return ValidationResult(
        scan=scan,
        theory_transfer=theory_transfer,
        network=network,
        transfer=transfer,
        fits=fits,
        comparison=comparison,
        settings=settings,
        config=config,
        by_simulator=by_simulator,
        cross_simulator=cross,
        closed_loop=closed_loop,
    )


def _concat(frames: list) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
