"""``mfval spatial``: wave trains of the E-I network on a ring, theory vs simulation.

Runs the spatial protocol (:mod:`mfval.simulation.spatial`) at every setting of
the sweep (the relative inhibition g times the values of one control
parameter) and the spatial theory (:mod:`mfval.theory.spatial`), compares them
(:mod:`mfval.comparison.spatial`) and writes, into ``--out``:

- ``spatial_spectra.csv``: simulated P(k_n, f) per setting, population and mode,
  with SE;
- ``spatial_theory.csv``: the same keys, LIF theory and rate model (and the
  semi-empirical spectrum where the open-loop transfer function was measured);
- ``spatial_stability.csv``: growth rate and frequency of each ring mode, both
  models, per setting;
- ``spatial_sweep.csv``: one row per setting and population: measured rates,
  CVs, the peak (n*, f*), direction, phase velocity, order parameter with SE,
  and the predicted onsets with their (k*, f*);
- ``spatial_comparison.csv``: the judged rows (pointwise and aggregate, Holm);
- ``spatial.png`` / ``spatial.pdf``: the figure (:mod:`mfval.figures.spatial`).

Exit status: 0 when every judged row passes, 1 when a row fails, 2 on bad
input (nothing written), 3 when the scheduler cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mfval.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CHECKS_FAILED,
    MAX_G_VALUES,
    add_common_arguments,
    add_simulator_argument,
    load_cli_params,
    number_option,
    parse_point,
    parse_seed,
    require_simulators,
    scheduler_options,
    value_range,
)

#: control parameters of ``--control``: name -> (unit in the option, SI factor, theory name)
CONTROLS = {
    "radius_ratio": ("", 1.0, "radius_ratio"),
    "delay_ms": ("ms", 1e-3, "delay"),
}


def _values(text: str, option: str, name: str) -> list[float]:
    """``START:STOP:STEP`` (stop included) or ``V1,V2,...`` -> finite values."""
    if ":" in text:
        return value_range(text, option, text, name, MAX_G_VALUES)
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{option} {text!r}: expected START:STOP:STEP (stop included) or a list V1,V2,..."
        ) from None
    if not values or not all(v == v and abs(v) != float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"{option} {text!r}: every {name} must be finite")
    if len(values) > MAX_G_VALUES:
        raise argparse.ArgumentTypeError(f"{option} {text!r}: too many values")
    return values


def parse_g_values(text: str) -> list[float]:
    """``--g``: g values (> 0), ``START:STOP:STEP`` or a list."""
    values = _values(text, "--g", "g")
    if min(values) <= 0:
        raise argparse.ArgumentTypeError(f"--g {text!r}: every g must be positive")
    return values


def parse_control(text: str) -> tuple[str, list[float]]:
    """``--control NAME=VALUES`` -> (theory name, SI values)."""
    name, sep, part = text.partition("=")
    if not sep or name not in CONTROLS:
        raise argparse.ArgumentTypeError(
            f"--control {text!r}: expected NAME=VALUES with NAME one of {sorted(CONTROLS)}"
        )
    unit, factor, theory_name = CONTROLS[name]
    values = _values(part, "--control", name)
    if min(values) <= 0:
        raise argparse.ArgumentTypeError(f"--control {text!r}: every {name} must be positive")
    return theory_name, [v * factor for v in values]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument(
        "--spatial-params",
        type=Path,
        default=None,
        metavar="YAML",
        help="spatial parameter file (default: the packaged params/spatial.yaml)",
    )
    parser.add_argument(
        "--point",
        type=parse_point,
        default=None,
        metavar="MU,SIGMA",
        help="working point in mV (default: params/spatial.yaml)",
    )
    parser.add_argument(
        "--g",
        type=parse_g_values,
        default=None,
        help="relative inhibition values, e.g. 4:5:0.5 or 4,5 (default: params/spatial.yaml)",
    )
    parser.add_argument(
        "--control",
        type=parse_control,
        default=None,
        metavar="NAME=VALUES",
        help="second control parameter and its values: radius_ratio=0.35,0.5,1 (R_I / R_E "
        "at fixed R_E) or delay_ms=0.75:1.5:0.25 (default: params/spatial.yaml)",
    )
    parser.add_argument(
        "--duration",
        type=number_option("--duration", "positive", "s"),
        default=None,
        help="measured time per setting, s: a whole number of chunks (default: "
        "params/spatial.yaml)",
    )
    parser.add_argument("--seed", type=parse_seed, default=None, help="run seed")
    parser.add_argument(
        "--no-figure", action="store_true", help="write the tables only (no matplotlib)"
    )
    add_simulator_argument(parser, several=True)
    parser.add_argument(
        "--planted",
        default="none",
        help="planted error of the simulation (name of mfval.comparison.planted.PLANTED_ERRORS, "
        "e.g. ring_inhibitory_width_x1.5)",
    )


def main(args: argparse.Namespace) -> int:
    from mfval.comparison.spatial import (
        SpatialSettingsError,
        load_spatial_config,
        run_spatial,
        spatial_tasks,
    )
    from mfval.store import ResultStore
    from mfval.tasks import scheduler_client

    params = load_cli_params(args)
    config = load_spatial_config(args.spatial_params)
    require_simulators(args.simulator, "spatial")
    settings = dict(
        point=args.point,
        g_values=args.g,
        control=args.control,
        duration=args.duration,
        seed=args.seed,
        simulators=tuple(args.simulator),
        planted=args.planted,
    )
    try:  # every spec is built (and checked) before any work starts
        spatial_tasks(params, config, **settings)
    except (ValueError, SpatialSettingsError) as err:
        print(f"mfval spatial: {err}; nothing written", file=sys.stderr)
        return EXIT_BAD_INPUT
    store = ResultStore(args.cache_dir)
    with scheduler_client(args.scheduler, **scheduler_options(args)) as client:
        result = run_spatial(
            params,
            config,
            store=store,
            workers=args.workers,
            progress=not args.quiet,
            client=client,
            **settings,
        )
    paths = write_spatial_outputs(result, args.out, figure=not args.no_figure)
    if not args.quiet:
        print(result.summary())
        print("wrote " + ", ".join(str(p) for p in paths))
    return EXIT_CHECKS_FAILED if result.failed() else 0


def write_spatial_outputs(result, out, figure: bool = True) -> list:
    """Write the tables (and the figure) of ``mfval spatial`` into ``out``; returns the paths."""
    from mfval.io import write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        write_csv(result.spectra, out / "spatial_spectra.csv"),
        write_csv(result.theory, out / "spatial_theory.csv"),
        write_csv(result.stability, out / "spatial_stability.csv"),
        write_csv(result.sweep, out / "spatial_sweep.csv"),
        write_csv(result.comparison, out / "spatial_comparison.csv"),
    ]
    if figure:
        from mfval.figures.spatial import spatial_figure

        sweep = result.sweep.copy()
        control = sweep["control"].iloc[0]
        sweep["control_value"] = sweep["control_value"] if control else sweep["g"]
        stable = sweep[sweep["state_lif"] == "stable"]
        shown = stable["setting"].iloc[-1] if len(stable) else result.shown_setting
        sim = result.spectra[
            (result.spectra["setting"] == shown)
            & (result.spectra["simulator"] == result.spectra["simulator"].iloc[0])
        ]
        th = result.theory[result.theory["setting"] == shown]
        predictions = {k: v for k, v in result.predictions.items() if not k.startswith("measured")}
        paths += spatial_figure(
            result.raster,
            sim,
            th,
            result.stability,
            sweep[sweep["simulator"] == sweep["simulator"].iloc[0]],
            result.control_label,
            predictions,
            out / "spatial",
        )
    return paths
