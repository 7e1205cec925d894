"""``mfval run``: the main job (theory, simulations, comparison, figure, report).

Exit codes (documented in the README): 0 every judged check passed; 1 at least
one check failed (the report names it); 2 bad input (a parameter or
validation file, a seed outside the verification range, or no row judged at
all because no calibration applies); 3 the Dask
scheduler given with ``--scheduler`` was refused (malformed, unknown protocol,
TLS without certificates, plain tcp:// to another host without --insecure)
or did not answer; 130 interrupted.

Every input is checked (:func:`check_inputs`) before the Dask cluster starts.
The outputs are written into a staging folder next to ``--out`` and swapped
in whole (:func:`mfval.io.replace_folder`): an interrupted run leaves the
previous outputs as they were.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from mfval.cli.common import (
    EXIT_BAD_INPUT,
    add_common_arguments,
    add_simulator_argument,
    add_theory_argument,
    load_cli_params,
    parse_seed,
    require_simulators,
    scheduler_options,
)
from mfval.config import ParameterError
from mfval.io import replace_folder, staging_folder, write_csv, write_text
from mfval.store import ResultStore
from mfval.tasks import close_client, open_client


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_theory_argument(parser)
    parser.add_argument("--quick", action="store_true", help="a quarter of the simulated time")
    parser.add_argument(
        "--full-grid", action="store_true", help="simulate every grid point, not only the marked"
    )
    parser.add_argument(
        "--seed",
        type=parse_seed,
        default=None,
        help="simulation seed (in the verification range of the validation file)",
    )
    add_simulator_argument(parser, several=True)
    parser.add_argument(
        "--validation",
        type=Path,
        default=None,
        help="verdict rules YAML",
    )
    parser.add_argument(
        "--planted",
        default="none",
        help="planted error (to test the suite): a name of mfval.comparison.planted.PLANTED_ERRORS "
        "or NAME=SIZE[@MU,SIGMA][@F1-F2Hz], e.g. tf_gain=1.08",
    )


def check_inputs(args: argparse.Namespace):
    """Every check of ``mfval run`` that needs no simulation: (params, config, settings).

    Runs before the Dask cluster starts. Raises ParameterError (exit 2) for a
    bad parameter or validation file, a seed outside the verification range,
    a bad ``--planted`` or one whose point or band matches nothing simulated,
    and an output folder whose parent is not writable; ValueError for a
    working point or protocol that cannot be simulated (the specs are built).
    """
    from mfval.comparison.checks import load_validation
    from mfval.comparison.pipeline import default_settings, simulation_tasks
    from mfval.comparison.planted import check_plant_targets, parse_plant
    from mfval.simulation.open_loop.spec import default_frequencies

    parse_plant(args.planted)
    params = load_cli_params(args)
    config = load_validation(args.validation)
    settings = default_settings(params, full_grid=args.full_grid, quick=args.quick)
    settings.seed = args.seed
    settings.theory = args.theory
    settings.simulators = list(args.simulator)
    settings.planted = args.planted
    run_seed = params["simulation"]["seed"] if args.seed is None else args.seed
    config.check_seed(int(run_seed), "verification")
    require_simulators(args.simulator, "run")
    out = Path(args.out).absolute()
    if out.parent.exists() and not os.access(out.parent, os.W_OK | os.X_OK):  # the swap
        raise ParameterError("--out", "out", str(args.out), "its parent folder is not writable")
    check_plant_targets(
        args.planted,
        settings.network_points,
        settings.transfer_points,
        default_frequencies(params, settings.transfer_options.get("duration")),
    )
    for simulator in settings.simulators:
        simulation_tasks(params, settings, simulator)  # every spec checked; nothing run
    if settings.closed_loop_point is not None:  # e.g. a planted delay off the time grid
        from mfval.comparison.planted import plant_options
        from mfval.simulation.closed_loop.tasks import closed_loop_tasks

        mu, sigma = settings.closed_loop_point
        options = plant_options(settings.planted, "closed_loop", mu, sigma)
        try:
            closed_loop_tasks(mu, sigma, params, 0, simulator=settings.simulators[0], **options)
        except ValueError as err:
            raise ValueError(f"--planted {settings.planted}: {err}") from None
    return params, config, settings


def main(args: argparse.Namespace) -> int:
    from mfval.comparison.pipeline import run_validation

    start = time.perf_counter()
    try:
        params, config, settings = check_inputs(args)
    except ParameterError:
        raise
    except ValueError as err:  # includes InfeasibleWorkingPointError
        print(f"mfval run: {err}; nothing written", file=sys.stderr)
        return EXIT_BAD_INPUT
    client = open_client(args.scheduler, args.workers, **scheduler_options(args))
    try:
        result = run_validation(
            params,
            settings,
            ResultStore(args.cache_dir),
            config,
            workers=args.workers,
            progress=not args.quiet,
            client=client,
        )
    finally:
        close_client(client)
    out = args.out
    staging = staging_folder(out)
    try:
        code = write_outputs(result, params, staging, start)
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    elapsed = time.perf_counter() - start
    from mfval.comparison.report import summary_table

    print(summary_table(result.comparison).to_string(index=False))
    failed = result.comparison[result.comparison["verdict"] == "fail"]
    if len(failed):
        from mfval.comparison.metrics import check_id

        print("\nfailed: " + ", ".join(check_id(r) for _, r in failed.iterrows()))
    print(f"\nwrote {out}/comparison.csv, report.md, figure5_comparison.png/.pdf ({elapsed:.0f} s)")
    return code


def write_outputs(result, params: dict, out: Path, start: float) -> int:
    """Every output file of ``mfval run`` into the (fresh) folder ``out``; the exit code."""
    from mfval.comparison.report import render_report
    from mfval.figures.comparison import comparison_figure
    from mfval.figures.figure5 import save_figure

    write_csv(result.comparison, out / "comparison.csv")
    write_csv(result.scan, out / "theory_scan.csv")
    write_csv(result.theory_transfer, out / "theory_transfer_functions.csv")
    write_csv(result.network, out / "simulation_rates.csv")
    write_csv(result.transfer, out / "simulation_transfer_functions.csv")
    write_csv(result.fits, out / "simulation_fits.csv")
    if not result.cross_simulator.empty:
        write_csv(result.cross_simulator, out / "cross_simulator.csv")
    save_figure(comparison_figure(result, params), out / "figure5_comparison")
    if result.closed_loop is not None:
        write_closed_loop_outputs(result.closed_loop, out)
    elapsed = time.perf_counter() - start
    command = "mfval " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "mfval run"
    code = exit_code(result.comparison)
    write_text(
        render_report(result, "figure5_comparison.png", elapsed, command, code), out / "report.md"
    )
    return code


def exit_code(comparison) -> int:
    """1 if a row failed; 2 if no row could be judged (no calibration applies); else 0."""
    from mfval.cli.common import EXIT_BAD_INPUT, EXIT_CHECKS_FAILED, EXIT_OK
    from mfval.comparison.checks import VERDICT_FAIL, VERDICT_NOT_JUDGED

    if (comparison["verdict"] == VERDICT_FAIL).any():
        return EXIT_CHECKS_FAILED
    if len(comparison) and (comparison["verdict"] == VERDICT_NOT_JUDGED).all():
        print(
            "mfval run: no row could be judged (no expected deviation applies: run "
            "`mfval calibrate` for these working points)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


def write_closed_loop_outputs(result, out) -> list:
    """``simulation_spectra.csv``, ``theory_spectra.csv`` and the spectra figure in ``out``."""
    from mfval.figures.closed_loop import closed_loop_figure
    from mfval.io import write_csv

    out = Path(out)
    paths = [
        write_csv(result.spectra, out / "simulation_spectra.csv"),
        write_csv(result.theory_spectra, out / "theory_spectra.csv"),
    ]
    return paths + closed_loop_figure(result.spectra, result.theory_spectra, out / "closed_loop")
