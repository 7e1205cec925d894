"""``mfval simulate``: the spiking E-I network at working points -> simulation_rates.csv.

Every point is checked (feasibility, duration, dt) before any simulation
runs; the CSV is written atomically at the end, so a failed run leaves
nothing half-written in the output folder. Simulations are cached in the
results store (kind ``network``) and run in parallel worker processes.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from mfval.cli.common import (
    MAX_COUNT,
    MAX_WORKERS,
    add_common_arguments,
    add_point_argument,
    add_simulator_argument,
    integer_option,
    number_option,
    parse_seed,
    require_simulators,
    scheduler_options,
)
from mfval.config import load_params
from mfval.io import write_csv
from mfval.store import ResultStore
from mfval.tasks import run_tasks, scheduler_client

OUTPUT_NAME = "simulation_rates.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_point_argument(parser)
    parser.add_argument(
        "--duration",
        type=number_option("--duration", "positive", "s"),
        default=None,
        help="measured time in s",
    )
    parser.add_argument(
        "--warmup",
        type=number_option("--warmup", "nonnegative", "s"),
        default=None,
        help="discarded warm-up in s",
    )
    parser.add_argument("--seed", type=parse_seed, default=None, help="random seed")
    parser.add_argument(
        "--blocks",
        type=integer_option("--blocks", 2, MAX_COUNT),
        default=None,
        help="blocks for standard errors (>= 2)",
    )
    add_simulator_argument(parser)
    parser.add_argument(
        "--threads",
        type=integer_option("--threads", 1, MAX_WORKERS),
        default=None,
        help="NEST threads (default 1)",
    )
    parser.add_argument(
        "--target",
        choices=["cython", "cpp_standalone"],
        default=None,
        help="Brian2 code generation (default: cpp_standalone, one binary reused; "
        "chosen by measurement, see benchmarks/network_sim.py)",
    )


def main(args: argparse.Namespace) -> int:
    from mfval.simulation.model.drive import check_duration, check_poisson_drive
    from mfval.simulation.network.spec import theory_for_point
    from mfval.simulation.network.tasks import network_task

    if len(args.simulator) != 1:
        print("mfval simulate: --simulator takes one simulator here", file=sys.stderr)
        return 2
    simulator = args.simulator[0]
    require_simulators(args.simulator, "simulate")
    params = load_params(args.params)
    points = args.point or [(float(m), float(s)) for m, s in params["scan"]["marked_points"]]
    try:
        duration = check_duration(
            params["simulation"]["network_duration"] if args.duration is None else args.duration
        )
        if args.warmup is not None and not args.warmup >= 0:
            raise ValueError(f"warmup must be >= 0, got warmup = {args.warmup!r} s")
        store = ResultStore(args.cache_dir)
        for mu, sigma in points:  # external rates only (fast): fail before simulating
            th = theory_for_point(mu, sigma, params)
            check_poisson_drive(th["nu_ext"], params["simulation"]["dt"], params)
    except ValueError as err:  # includes InfeasibleWorkingPointError
        print(f"mfval simulate: {err}; nothing written", file=sys.stderr)
        return 2
    options = {"duration": duration}
    if args.warmup is not None:
        options["warmup"] = args.warmup
    if args.blocks is not None:
        options["n_blocks"] = args.blocks
    options["simulator"] = simulator
    if args.target is not None and simulator == "brian2":
        options["target"] = args.target
    if args.threads is not None and simulator == "nest":
        options["threads"] = args.threads
    if not args.quiet and simulator == "brian2":
        options["report"] = "stderr"
    try:  # every spec is built (and checked) before any simulation runs
        tasks = [network_task(mu, sigma, params, args.seed, **options) for mu, sigma in points]
    except ValueError as err:
        print(f"mfval simulate: {err}; nothing written", file=sys.stderr)
        return 2
    try:
        with scheduler_client(args.scheduler, **scheduler_options(args)) as client:
            frames = run_tasks(
                tasks, store, args.workers, "simulate", progress=not args.quiet, client=client
            )
    except ValueError as err:
        print(f"mfval simulate: {err}; nothing written", file=sys.stderr)
        return 2
    table = pd.concat(frames, ignore_index=True)
    path = write_csv(table, args.out / OUTPUT_NAME)
    if not args.quiet:
        cols = [
            "mu_mV",
            "sigma_mV",
            "population",
            "rate_hz",
            "rate_se_hz",
            "theory_rate_hz",
            "cv",
            "mu_realized_mV",
        ]
        print(table[cols].to_string(index=False, float_format="%.4g"))
        print(f"wrote {path}")
    return 0
