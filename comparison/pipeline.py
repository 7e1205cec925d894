"""The main job: theory scan, simulations and comparison, with cached tasks.

:func:`run_validation` runs (or reads from the results store) the theory scan
of the whole grid, the network simulations and the open-loop transfer
function simulations at the selected working points, and returns every
table the report, the figure and the ``pytest -m validation`` checks need.
Every simulation is one store task, written atomically as soon as it
finishes, so an interrupted run continues where it stopped.

Planted errors (``planted=``) change the simulation only, never the theory;
they exist to prove that the checks can fail (see ``tests/test_planted_errors.py``
and ``benchmarks/verdict_power.py``). Two kinds:

- named errors of :data:`PLANTED_ERRORS` (options of the simulation tasks);
- graded errors ``NAME=SIZE[@MU,SIGMA][@F1-F2Hz]`` of :data:`GRADED_PLANTS`,
  optionally restricted to one working point (mV) and a frequency band.
  ``exc_weight_scale`` is a simulation option (recurrent excitatory weights
  times SIZE). The others act on the measurement of a finished simulation,
  which lets one simulation serve every size: ``tf_gain`` multiplies the
  estimated N(f) by SIZE and leaves its SE (exactly what an applied
  modulation SIZE times larger than the dmu the estimate divides by gives in
  linear response: an amplitude calibration error); ``tf_phase_deg`` adds
  SIZE degrees to the phase; ``tf_latency_ms`` delays the response by SIZE ms
  (phase - 360 f SIZE); ``rate_scale`` multiplies the simulated rates (and
  their SEs) by SIZE.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from mfval.comparison.checks import ValidationConfig, load_validation
from mfval.comparison.metrics import comparison_table

from mfval.config import scan_points, stable_hash
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
    # the 8 % stimulus calibration error of issue 10, simulated (spec perturbation)
    "modulation_amplitude_plus_8pct": ({}, {"amplitude_scale": 1.08}),
    # closed loop only (comparison.closed_loop.CLOSED_LOOP_PLANTED): delay x2
    "recurrent_delay_doubled": ({}, {}),
}


#: graded planted errors: name -> (where it acts, what SIZE means)
GRADED_PLANTS: dict[str, tuple[str, str]] = {
    "exc_weight_scale": ("network", "factor on the recurrent excitatory weights"),
    "tau_m_scale": (
        "simulation",
        "factor on the simulated membrane time constant (both protocols)",
    ),
    "rate_scale": ("network measurement", "factor on the simulated rates and SEs"),
    "tf_gain": ("transfer measurement", "factor on the estimated N(f) (amplitude calibration)"),
    "tf_phase_deg": ("transfer measurement", "degrees added to the phase"),
    "tf_latency_ms": ("transfer measurement", "latency of the response (ms)"),
}

_PLANT = re.compile(
    r"^(?P<name>[a-z_]+)=(?P<size>[-+0-9.eE]+)"
    r"(?:@(?P<mu>[-0-9.]+),(?P<sigma>[0-9.]+))?"
    r"(?:@(?P<f1>[0-9.]+)-(?P<f2>[0-9.]+)Hz)?$"
)


@dataclass(frozen=True)
class GradedPlant:
    """A parsed graded planted error (see module docstring)."""

    name: str
    size: float
    point_mV: tuple[float, float] | None = None
    band_hz: tuple[float, float] | None = None

    def _where(self, df: pd.DataFrame) -> np.ndarray:
        mask = np.ones(len(df), bool)
        if self.point_mV is not None:
            mask &= np.isclose(df["mu_mV"], self.point_mV[0]) & np.isclose(
                df["sigma_mV"], self.point_mV[1]
            )
        if self.band_hz is not None and "frequency_hz" in df:
            f = df["frequency_hz"].to_numpy(float)
            mask &= (f >= self.band_hz[0]) & (f <= self.band_hz[1])
        return mask

    def _at(self, mu: float, sigma: float) -> bool:
        """Whether the plant acts at the working point (mu, sigma) (V)."""
        return self.point_mV is None or bool(
            np.isclose(mu * 1e3, self.point_mV[0]) and np.isclose(sigma * 1e3, self.point_mV[1])
        )

    def network_options(self, mu: float, sigma: float) -> dict:
        """Network task options of a simulated plant at (mu, sigma) (V)."""
        if not self._at(mu, sigma):
            return {}
        if self.name == "exc_weight_scale":
            return {"weight_scale_exc": self.size}
        if self.name == "tau_m_scale":
            return {"tau_m_scale": self.size}
        return {}

    def transfer_options(self, mu: float, sigma: float) -> dict:
        """Transfer task options of a simulated plant at (mu, sigma) (V)."""
        if self.name == "tau_m_scale" and self._at(mu, sigma):
            return {"tau_m_scale": self.size}
        return {}

    def measure_network(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.name != "rate_scale" or df.empty:
            return df
        df = df.copy()
        mask = self._where(df)
        for column in ("rate_hz", "rate_se_hz"):
            df.loc[mask, column] = df.loc[mask, column] * self.size
        return df

    def measure_transfer(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.name not in ("tf_gain", "tf_phase_deg", "tf_latency_ms") or df.empty:
            return df
        df = df.copy()
        mask = self._where(df)
        f = df["frequency_hz"].to_numpy(float)
        if self.name == "tf_gain":
            factor = np.full(len(df), self.size, complex)
        elif self.name == "tf_phase_deg":
            factor = np.full(len(df), np.exp(1j * np.radians(self.size)))
        else:
            factor = np.exp(-2j * np.pi * f * self.size * 1e-3)
        factor = np.where(mask, factor, 1.0)
        N = (df["tf_re_hz_per_mV"] + 1j * df["tf_im_hz_per_mV"]).to_numpy() * factor
        df["tf_re_hz_per_mV"], df["tf_im_hz_per_mV"] = N.real, N.imag
        df["amp_hz_per_mV"] = df["amp_hz_per_mV"] * np.abs(factor)
        df["phase_deg"] = np.degrees(np.angle(N))
        return df


def parse_plant(text: str) -> GradedPlant | None:
    """A graded planted error from ``NAME=SIZE[@MU,SIGMA][@F1-F2Hz]``; None for a named one.

    Raises
    ------
    ValueError
        Naming the text, for an unknown name or a malformed size or region.
    """
    if text in PLANTED_ERRORS:
        return None
    match = _PLANT.match(text)
    if not match or match["name"] not in GRADED_PLANTS:
        raise ValueError(
            f"planted = {text!r} is neither one of {sorted(PLANTED_ERRORS)} nor "
            f"NAME=SIZE[@MU,SIGMA][@F1-F2Hz] with NAME in {sorted(GRADED_PLANTS)}"
        )
    point = (float(match["mu"]), float(match["sigma"])) if match["mu"] else None
    band = (float(match["f1"]), float(match["f2"])) if match["f1"] else None
    return GradedPlant(match["name"], float(match["size"]), point, band)


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
    #: theory computation path of the scan: "fast" or "nnmt" (:mod:`theory.fast_lif`)
    theory: str = "fast"


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


def interleave_structures(transfer: list, network: list) -> list:
    """Task order of a run: transfer and network tasks alternating, then the rest.

    The workers take tasks in this order, so that the first two (different
    compiled structures: the transfer protocol's and the network protocol's,
    shared by the closed-loop chunks) are compiled at the same time rather
    than one after the other.
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

    graded = parse_plant(settings.planted)
    net_plant, tf_plant = PLANTED_ERRORS.get(settings.planted, ({}, {}))
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
            **(graded.network_options(mu, sigma) if graded else {}),
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
            **(graded.transfer_options(mu, sigma) if graded else {}),
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
            params, settings, store, workers, progress, client, simulator=settings.simulators[0]
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
    named simulation errors) can be replanted.
    """
    from dataclasses import replace

    if result.settings.planted != "none":
        raise ValueError("replant needs an unplanted result")
    graded = parse_plant(planted)
    if graded is None or GRADED_PLANTS[graded.name][0] in ("network", "simulation"):
        raise ValueError(f"planted = {planted!r} changes the simulation; run it instead")
    frames = {
        "network": [g for _, g in result.network.groupby(["mu_mV", "sigma_mV"], sort=False)]
        if not result.network.empty
        else [],
        "transfer": [g for _, g in result.transfer.groupby(["mu_mV", "sigma_mV"], sort=False)]
        if not result.transfer.empty
        else [],
    }
    return compare(
        params,
        result.config,
        result.scan,
        result.theory_transfer,
        frames["network"],
        frames["transfer"],
        replace(result.settings, planted=planted),
    )
