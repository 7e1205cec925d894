"""``mfval transfer``: simulated transfer functions of open-loop neurons, and their fits.

Writes ``OUT/simulation_transfer_functions.csv`` (one row per working point,
mode and frequency; see :func:`mfval.simulation.open_loop.simulate_transfer`) and
``OUT/simulation_fits.csv`` (one row per working point and mode; see
:func:`mfval.simulation.open_loop.fit_transfer`). Every working point is one task
of the results store: a rerun with the same parameters, seed and versions
reads the stored result.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from mfval.cli.common import (
    MAX_COUNT,
    add_common_arguments,
    add_point_argument,
    add_simulator_argument,
    integer_option,
    number_option,
    parse_seed,
    require_simulators,
    scheduler_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_argument(parser)
    parser.add_argument(
        "--mode",
        choices=("synaptic", "membrane"),
        action="append",
        default=None,
        help="modulation through the synaptic current (default) or into the membrane; repeatable",
    )
    parser.add_argument(
        "--amplitude",
        type=number_option("--amplitude", "positive", "mV"),
        default=None,
        help="dmu at f_min in mV",
    )
    parser.add_argument(
        "--duration",
        type=number_option("--duration", "positive", "s"),
        default=None,
        help="analysis window in s",
    )
    parser.add_argument(
        "--n-per-frequency",
        type=integer_option("--n-per-frequency", 1, MAX_COUNT),
        default=None,
        help="neurons per frequency",
    )
    parser.add_argument("--seed", type=parse_seed, default=None, help="random seed")
    parser.add_argument(
        "--fit-method",
        choices=("amplitude", "complex"),
        default="amplitude",
        help="low-pass fit to |N| (as nnmt does; default) or to Re and Im",
    )
    add_simulator_argument(parser)
    add_common_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from mfval.config import load_params
    from mfval.io import write_csv
    from mfval.simulation.open_loop.measure import fit_transfer
    from mfval.simulation.open_loop.tasks import transfer_task
    from mfval.store import ResultStore
    from mfval.tasks import run_tasks, scheduler_client

    if len(args.simulator) != 1:
        print("mfval transfer: --simulator takes one simulator here", file=sys.stderr)
        return 2
    require_simulators(args.simulator, "transfer")
    params = load_params(args.params)
    points = args.point or [(float(m), float(s)) for m, s in params["scan"]["marked_points"]]
    modes = args.mode or ["synaptic"]
    kwargs = {
        "amplitude": None if args.amplitude is None else args.amplitude * 1e-3,
        "duration": args.duration,
        "n_per_frequency": args.n_per_frequency,
        "simulator": args.simulator[0],
    }
    try:  # every spec is checked (sizes, frequencies) before any simulation runs
        tasks = [
            transfer_task(mu, sigma, params, mode, args.seed, **kwargs)
            for mu, sigma in points
            for mode in modes
        ]
    except ValueError as err:  # includes InfeasibleWorkingPointError
        print(f"mfval transfer: {err}; nothing written", file=sys.stderr)
        return 2
    store = ResultStore(args.cache_dir)
    with scheduler_client(args.scheduler, **scheduler_options(args)) as client:
        results = run_tasks(
            tasks, store, args.workers, "transfer", progress=not args.quiet, client=client
        )
    table = pd.concat(results, ignore_index=True)
    fits = pd.concat(
        [fit_transfer(df, params, args.fit_method) for df in results], ignore_index=True
    )
    out = write_csv(table, args.out / "simulation_transfer_functions.csv")
    write_csv(fits, args.out / "simulation_fits.csv")
    if not args.quiet:
        print(f"wrote {out} and {args.out / 'simulation_fits.csv'}")
    return 0
