"""``mfval calibrate``: measure the expected deviations of the theory, with provenance.

Runs the protocols of ``mfval run`` (the same working points, protocols and
estimators) at calibration seeds, which must lie in the calibration range of
``params/validation.yaml`` (disjoint from every verification seed), with the
durations times ``calibration.duration_factor``; pools the seeds per
simulator (inverse-variance weighted), keeps only what all simulators agree
on (:func:`mfval.comparison.calibration.combine_simulators`) and writes the
expected-deviation file named in ``params/validation.yaml`` with a record of
the command, seeds, durations, points, versions, code fingerprints, git
commit and date. ``--simulator`` names the simulators to run
(:data:`SIMULATORS`; NEST needs the optional extra ``.[nest]``).
``--closed-loop`` calibrates the closed-loop rows instead (spectra per population and
frequency, their band means, centroid and peak frequency, CV; at the stability point,
``duration_factor`` times the chunks) and replaces only their entries in the file, so
that the open-loop calibration and its record stay as they are.
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from mfval.cli.common import (
    add_common_arguments,
    file_option,
    load_cli_params,
    number_option,
    parse_seed,
    require_simulators,
    scheduler_options,
)
from mfval.config import ParameterError

#: simulators a calibration can run
SIMULATORS = ("brian2", "nest")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument(
        "--seed",
        type=parse_seed,
        action="append",
        default=None,
        help="calibration run seed (repeatable; default: the first seed of the calibration range)",
    )
    parser.add_argument(
        "--simulator",
        action="append",
        default=None,
        help=f"simulator to calibrate with (repeatable; default brian2; known: {SIMULATORS})",
    )
    parser.add_argument(
        "--duration-factor",
        type=number_option("--duration-factor", "positive"),
        default=None,
        help="durations times this factor (default: calibration.duration_factor of the rules)",
    )
    parser.add_argument("--full-grid", action="store_true", help="calibrate every grid point")
    parser.add_argument(
        "--closed-loop",
        action="store_true",
        help="calibrate the closed-loop rows only (spectra, their shape, CV at the stability "
        "point) and replace only their entries in the expected-deviation file",
    )
    parser.add_argument("--validation", type=Path, default=None, help="verdict rules YAML")
    parser.add_argument(
        "--output-file",
        type=file_option("--output-file"),
        default=None,
        help="expected-deviation file to write (default: the one named in the rules)",
    )


def pool_seeds(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Inverse-variance weighted mean over seeds of measured deviation tables (same keys)."""
    from mfval.comparison.calibration import KEY_COLUMNS

    if len(frames) == 1:
        return frames[0]
    table = pd.concat(frames, ignore_index=True)
    table["_f"] = table["frequency_hz"].fillna(-1.0).round(6)
    rows = []
    keys = ["quantity", "population", "mu_mV", "sigma_mV", "_f"]
    for _, g in table.groupby(keys, sort=False):
        if len(g) != len(frames):
            continue  # a key not measured at every seed (e.g. another frequency grid)
        w = 1 / g["se"].to_numpy(float) ** 2
        first = g.iloc[0]
        rows.append(
            {
                **{c: first[c] for c in KEY_COLUMNS},
                "scale": first["scale"],
                "deviation": float((w * g["deviation"].to_numpy(float)).sum() / w.sum()),
                "se": float(1 / math.sqrt(w.sum())),
            }
        )
    return pd.DataFrame(rows)


def git_state() -> dict:
    """Commit and dirty flag of the source tree (empty if not a git checkout)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "theory", "simulation", "comparison"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": bool(dirty)} if commit else {}


def main(args: argparse.Namespace) -> int:
    from mfval.comparison.calibration import (
        combine_simulators,
        measured_deviations,
        utc_now,
        write_expected_deviations,
    )
    from mfval.comparison.checks import load_validation
    from mfval.comparison.metrics import measurement_rows
    from mfval.comparison.pipeline import default_settings, run_validation
    from mfval.io import write_csv
    from mfval.simulation.model.versions import software_versions
    from mfval.store import ResultStore, code_fingerprint
    from mfval.tasks import close_client, open_client

    start = time.perf_counter()
    params = load_cli_params(args)
    config = load_validation(args.validation)
    simulators = args.simulator or ["brian2"]
    for name in simulators:
        if name not in SIMULATORS:
            raise ParameterError(
                "--simulator", "simulator", name, f"not available here (known: {SIMULATORS})"
            )
    seeds = args.seed or [config.seeds["calibration"][0]]
    for seed in seeds:
        config.check_seed(seed, "calibration")
    factor = config.duration_factor if args.duration_factor is None else args.duration_factor
    if not factor > 0:
        raise ParameterError("--duration-factor", "duration_factor", factor, "must be positive")
    sim = params["simulation"]
    settings = default_settings(params, full_grid=args.full_grid)
    settings.network_options = {"duration": factor * sim["network_duration"]}
    settings.transfer_options = {"duration": factor * sim["transfer_duration"]}
    closed_config = None
    if args.closed_loop:
        from mfval.comparison.closed_loop import load_closed_loop_config

        closed_config = load_closed_loop_config()
        # the closed loop at the stability point only; the chunks keep their length, their
        # number grows. The semi-empirical spectrum (its prediction uses the run's own
        # open-loop N) is not calibrated: its rows are reported, not judged
        settings.network_points = []
        settings.transfer_points = []
        settings.closed_loop_options = {"duration": factor * closed_config["duration"]}
    else:
        settings.closed_loop_point = None  # expected deviations of the open-loop protocols
    per_simulator: dict[str, pd.DataFrame] = {}
    measured_all = []
    if "nest" in simulators:
        require_simulators(simulators, "calibrate")
    from mfval.comparison.pipeline import simulation_tasks

    try:  # every spec is built (and checked) before the cluster starts
        for name in simulators:
            settings.simulators = [name]
            simulation_tasks(params, settings, name)
    except ValueError as err:  # includes InfeasibleWorkingPointError
        print(f"mfval calibrate: {err}; nothing written", file=sys.stderr)
        return 2
    client = open_client(args.scheduler, args.workers, **scheduler_options(args))
    try:
        for name in simulators:
            settings.simulators = [name]
            frames = []
            for seed in seeds:
                settings.seed = seed
                result = run_validation(
                    params,
                    settings,
                    ResultStore(args.cache_dir),
                    config,
                    workers=args.workers,
                    progress=not args.quiet,
                    client=client,
                    purpose="calibration",
                )
                if args.closed_loop:
                    from mfval.comparison.closed_loop import measured_deviation_rows

                    measurements = result.closed_loop.measurements
                    measured_all.append(
                        pd.DataFrame(measurements).assign(simulator=name, seed=seed)
                    )
                    frames.append(measured_deviation_rows(measurements))
                    continue
                measured = measurement_rows(
                    result.scan, params, result.network, result.transfer, result.fits, name
                )
                measured_all.append(measured.assign(simulator=name, seed=seed))
                frames.append(measured_deviations(measured))
            per_simulator[name] = pool_seeds(frames)
    finally:
        close_client(client)
    recorded, not_recorded = combine_simulators(per_simulator, config.k_agree)
    points = sorted({(float(m), float(s)) for m, s in zip(recorded["mu_mV"], recorded["sigma_mV"])})
    record_id = f"cal-{utc_now()[:10]}-{'+'.join(simulators)}-s{'-'.join(map(str, seeds))}"
    record = {
        "id": record_id + ("-closed-loop" if args.closed_loop else ""),
        "date": utc_now(),
        "command": "mfval " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "mfval calibrate",
        "simulators": simulators,
        "run_seeds": [int(s) for s in seeds],
        "seed_ranges": {k: list(v) for k, v in config.seeds.items()},
        "duration_factor": float(factor),
        "network_duration_s": float(settings.network_options["duration"]),
        "network_warmup_s": float(sim["network_warmup"]),
        "network_blocks": int(sim["network_blocks"]),
        "transfer_duration_s": float(settings.transfer_options["duration"]),
        "transfer_warmup_s": float(sim["transfer_warmup"]),
        "transfer_neurons_per_frequency": int(sim["transfer_neurons_per_frequency"]),
        "transfer_amplitude_mV": float(sim["transfer_amplitude"] * 1e3),
        "dt_ms": float(sim["dt"] * 1e3),
        "points_mV": [list(p) for p in points],
        **(
            {
                "protocols": ["closed_loop"],
                "closed_loop_duration_s": float(settings.closed_loop_options["duration"]),
                "closed_loop_chunk_s": float(sim["network_duration"]),
                "closed_loop_chunks": int(
                    round(settings.closed_loop_options["duration"] / sim["network_duration"])
                ),
                "closed_loop_point_mV": [round(x * 1e3, 6) for x in settings.closed_loop_point],
            }
            if args.closed_loop
            else {}
        ),
        "k_agree": float(config.k_agree),
        "versions": {**software_versions(), "python": platform.python_version()},
        "code_fingerprints": {k: code_fingerprint(k) for k in ("theory", "network", "transfer")},
        **git_state(),
        "wall_s": round(time.perf_counter() - start, 1),
        "n_entries": int(len(recorded)),
        "n_not_recorded": int(len(not_recorded)),
    }
    path = args.output_file or Path(config.expected.source)
    if args.closed_loop:
        from mfval.comparison.calibration import merge_expected_deviations
        from mfval.comparison.closed_loop import CLOSED_LOOP_QUANTITIES

        merge_expected_deviations(path, recorded, record, not_recorded, CLOSED_LOOP_QUANTITIES)
    else:
        write_expected_deviations(path, recorded, record, not_recorded)
    write_csv(pd.concat(measured_all, ignore_index=True), args.out / "calibration_measured.csv")
    print(
        f"wrote {path}: {len(recorded)} expected deviations, {len(not_recorded)} not recorded "
        f"(record {record['id']}, {record['wall_s']:.0f} s)"
    )
    print(
        recorded.groupby(["quantity", "population"])["deviation"]
        .agg(["count", "min", "max"])
        .to_string()
    )
    return 0
