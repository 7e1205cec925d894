"""The main job: theory scan, simulations and comparison, with cached tasks.

:func:`run_validation` runs (or reads from the results store) the theory scan
of the whole grid, the network simulations and the open-loop transfer
function simulations at the selected working points, and returns every
table the report, the figure and the ``pytest -m validation`` checks need.
Every simulation is one store task, written atomically as soon as it
finishes, so an interrupted run continues where it stopped.

Planted errors (``planted=``) change the simulation only, never the theory;
they exist to prove that the checks can fail. Their one registry is
:mod:`mfval.comparison.planted`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from mfval.comparison.checks import ValidationConfig, load_validation
from mfval.comparison.metrics import comparison_table
from mfval.comparison.planted import GRADED_PLANTS, parse_plant, plant_options
from mfval.config import scan_points
from mfval.store import ResultStore
from mfval.tasks import run_tasks, task_seed


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
    #: (:mod:`mfval.comparison.cross_simulator`)
    simulators: list = field(default_factory=lambda: ["brian2"])
    #: closed-loop spectra at this point (V), None: not simulated
    closed_loop_point: tuple[float, float] | None = None
    closed_loop_options: dict = field(default_factory=dict)
    #: theory computation path of the scan: "fast" or "nnmt" (:mod:`mfval.theory.fast_lif`)
    theory: str = "fast"


def marked_points(params: dict) -> list[tuple[float, float]]:
    """The marked working points of the parameters (V).

    Examples
    --------
    >>> from mfval.config import load_params
    >>> marked_points(load_params())
    [(0.006, 0.006), (0.006, 0.012), (0.01, 0.01), (0.012, 0.012)]
    """
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
    #: Brian2 vs NEST rows (:func:`mfval.comparison.cross_simulator.cross_simulator_table`)
    cross_simulator: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: closed-loop tables (mfval.comparison.closed_loop.ClosedLoopResult), or None
    closed_loop: object = None


def interleave_structures(transfer: list, network: list) -> list:
    """Task order of a run: transfer and network tasks alternating, then the rest.

    The workers take tasks in this order, so that the first two (different
    compiled structures: the transfer protocol's and the network protocol's,
    shared by the closed-loop chunks) are compiled at the same time rather
    than one after the other.

    Examples
    --------
    >>> interleave_structures(["t1", "t2", "t3"], ["n1"])
    ['t1', 'n1', 't2', 't3']
    """
    out = []
    for i in range(max(len(transfer), len(network))):
        out += transfer[i : i + 1] + network[i : i + 1]
    return out


def simulation_tasks(
    params: dict, settings: RunSettings, simulator: str = "brian2"
) -> tuple[list, list]:
    """Store tasks of the network and transfer simulations of one run on one simulator.

    Every simulator gets the same task seeds (hence the same connectivity
    realization; the simulators' noise is independent).
    """
    from mfval.simulation.network.tasks import network_task
    from mfval.simulation.open_loop.tasks import transfer_task

    run_seed = params["simulation"]["seed"] if settings.seed is None else settings.seed
    network = [
        network_task(
            mu,
            sigma,
            params,
            task_seed(run_seed, "network", mu, sigma),
            simulator=simulator,
            **settings.network_options,
            **plant_options(settings.planted, "network", mu, sigma),
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
            **plant_options(settings.planted, "transfer", mu, sigma),
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
    purpose: str = "verification",
) -> ValidationResult:
    """Run (or read from the store) theory, simulations and comparison.

    Parameters
    ----------
    params : dict
        Loaded parameters (:func:`mfval.config.load_params`).
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
    purpose : {"verification", "calibration"}
        The run seed must lie in this purpose's seed range
        (``seeds`` in ``params/validation.yaml``; disjoint ranges).

    Raises
    ------
    ParameterError
        For a run seed outside the range of ``purpose``.
    """
    from mfval.theory.scan import run_scan

    store = store or ResultStore()
    config = config or load_validation()
    run_seed = params["simulation"]["seed"] if settings.seed is None else settings.seed
    config.check_seed(int(run_seed), purpose)
    scan, theory_transfer = run_scan(
        params, store, workers, progress, client, theory=settings.theory
    )
    per_simulator = [(sim, *simulation_tasks(params, settings, sim)) for sim in settings.simulators]
    closed = None
    if settings.closed_loop_point is not None:
        from mfval.comparison.closed_loop import ClosedLoopRun

        closed = ClosedLoopRun(
            params,
            settings,
            store,
            workers,
            progress,
            client,
            simulator=settings.simulators[0],
            expected=config.expected,
        )
    closed_tasks = closed.simulation_tasks if closed else []
    tasks = interleave_structures(
        [t for _, _, tf in per_simulator for t in tf],
        closed_tasks + [t for _, nt, _ in per_simulator for t in nt],
    )
    values = run_tasks(tasks, store, workers, "simulation", progress, client)
    results = {id(t): v for t, v in zip(tasks, values)}
    by_simulator = {
        simulator: compare(
            params,
            config,
            scan,
            theory_transfer,
            [results[id(t)] for t in network_tasks],
            [results[id(t)] for t in transfer_tasks],
            settings,
            simulator,
        )
        for simulator, network_tasks, transfer_tasks in per_simulator
    }
    result = by_simulator[settings.simulators[0]]
    result.by_simulator = {
        simulator: {"network": r.network, "transfer": r.transfer, "fits": r.fits}
        for simulator, r in by_simulator.items()
    }
    if len(by_simulator) > 1:
        from mfval.comparison.cross_simulator import cross_simulator_table

        result.cross_simulator = cross_simulator_table(result.by_simulator, config.cross)
    if closed is not None:
        result.closed_loop = closed.finish([results[id(t)] for t in closed_tasks], result.transfer)
        from mfval.comparison.aggregate import family_wise_verdicts
        from mfval.comparison.metrics import COLUMNS

        # one family: the closed-loop rows share the family-wise level of the table
        result.comparison = family_wise_verdicts(
            pd.concat([result.comparison, result.closed_loop.comparison], ignore_index=True),
            config.family_wise_alpha,
        ).reindex(columns=COLUMNS)
    return result


def compare(
    params: dict,
    config: ValidationConfig,
    scan: pd.DataFrame,
    theory_transfer: pd.DataFrame,
    network_frames: list[pd.DataFrame],
    transfer_frames: list[pd.DataFrame],
    settings: RunSettings,
    simulator: str = "brian2",
) -> ValidationResult:
    """Measurement plants, low-pass fits and the comparison table of finished simulations.

    The graded measurement plants of ``settings.planted`` act here, so that
    :func:`replant` can judge one set of simulations under many planted
    errors without simulating again.
    """
    from mfval.simulation.open_loop.measure import fit_transfer

    graded = parse_plant(settings.planted)
    measure: Callable = (lambda df: df) if graded is None else graded.measure_network
    network_frames = [measure(df) for df in network_frames]
    measure = (lambda df: df) if graded is None else graded.measure_transfer
    transfer_frames = [measure(df) for df in transfer_frames]
    network = pd.concat(network_frames, ignore_index=True) if network_frames else pd.DataFrame()
    transfer = pd.concat(transfer_frames, ignore_index=True) if transfer_frames else pd.DataFrame()
    fits = (
        pd.concat([fit_transfer(df, params) for df in transfer_frames], ignore_index=True)
        if transfer_frames
        else pd.DataFrame()
    )
    comparison = comparison_table(scan, config, params, network, transfer, fits, simulator)
    return ValidationResult(
        scan=scan,
        theory_transfer=theory_transfer,
        network=network,
        transfer=transfer,
        fits=fits,
        comparison=comparison,
        settings=settings,
        config=config,
    )


def replant(result: ValidationResult, params: dict, planted: str) -> ValidationResult:
    """Judge the simulations of an unplanted result again under a graded measurement plant.

    Only plants that act on the measurement (not ``exc_weight_scale`` or the
    named simulation errors) can be replanted. The closed-loop rows of the result (which
    no measurement plant changes) stay in the table, so that the family-wise verdicts
    are those of the whole run.
    """
    from dataclasses import replace

    if result.settings.planted != "none":
        raise ValueError("replant needs an unplanted result")
    graded = parse_plant(planted)
    if graded is None or GRADED_PLANTS[graded.name].simulated:
        raise ValueError(f"planted = {planted!r} changes the simulation; run it instead")
    frames = {
        "network": [g for _, g in result.network.groupby(["mu_mV", "sigma_mV"], sort=False)]
        if not result.network.empty
        else [],
        "transfer": [g for _, g in result.transfer.groupby(["mu_mV", "sigma_mV"], sort=False)]
        if not result.transfer.empty
        else [],
    }
    out = compare(
        params,
        result.config,
        result.scan,
        result.theory_transfer,
        frames["network"],
        frames["transfer"],
        replace(result.settings, planted=planted),
    )
    if result.closed_loop is not None:  # unchanged by the plant, but part of the family
        from mfval.comparison.aggregate import family_wise_verdicts
        from mfval.comparison.metrics import COLUMNS

        out.closed_loop = result.closed_loop
        out.comparison = family_wise_verdicts(
            pd.concat([out.comparison, result.closed_loop.comparison], ignore_index=True),
            result.config.family_wise_alpha,
        ).reindex(columns=COLUMNS)
    return out
