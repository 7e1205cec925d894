"""``mfval sweep``: onset of the oscillatory instability versus g at a fixed working point.

Writes ``sweep.csv`` (one row per g and population), ``sweep_spectra.csv``
(simulated spectra, same columns as ``simulation_spectra.csv``),
``sweep_theory_spectra.csv``, ``sweep_comparison.csv`` (onset checks) and
the closed-loop figure (``closed_loop.png/.pdf``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from mfval.cli.common import (
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
from mfval.io import write_csv
from mfval.store import ResultStore
from mfval.tasks import scheduler_client


def parse_g_range(text: str) -> list[float]:
    """``"G0:G1:STEP"`` (stop included) or ``"G0,G1,..."`` -> list of g values.

    Examples
    --------
    >>> parse_g_range("5:10:1")
    [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    """
    if ":" in text:
        values = value_range(text, "--g", text, "g", MAX_G_VALUES)
    else:
        try:
            values = [float(x) for x in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--g {text!r}: expected START:STOP:STEP (stop included) or a list G1,G2,..."
            ) from None
    if not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"--g {text!r}: every g must be finite")
    if len(values) > MAX_G_VALUES:
        raise argparse.ArgumentTypeError(
            f"--g {text!r}: too many g values (more than {MAX_G_VALUES})"
        )
    if len(values) < 3 or min(values) <= 4.0:
        raise argparse.ArgumentTypeError(
            f"--g {text!r}: need at least 3 values, all > 4 (inhibition-dominated)"
        )
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument(
        "--point",
        type=parse_point,
        default=None,
        metavar="MU,SIGMA",
        help="working point in mV (default: the stability point of the parameters)",
    )
    parser.add_argument(
        "--g", type=parse_g_range, default=parse_g_range("5:10:1"), help="g values, e.g. 5:10:1"
    )
    parser.add_argument(
        "--duration",
        type=number_option("--duration", "positive", "s"),
        default=None,
        help="measured time per g, s: a whole number of chunks of the network protocol's "
        "duration (simulation.network_duration)",
    )
    parser.add_argument("--seed", type=parse_seed, default=None, help="run seed")
    add_simulator_argument(parser)


def main(args: argparse.Namespace) -> int:
    from mfval.comparison.sweep import run_sweep
    from mfval.figures.closed_loop import closed_loop_figure

    params = load_cli_params(args)
    point = args.point or tuple(float(x) for x in params["scan"]["stability_point"])
    if args.duration is not None and not args.duration > 0:
        print(f"mfval sweep: duration must be positive, got {args.duration!r} s", file=sys.stderr)
        return 2
    if args.duration is not None:
        from mfval.simulation.closed_loop.spec import chunk_count

        sim = params["simulation"]
        try:
            chunk_count(args.duration, sim["network_duration"], sim["dt"], "--duration")
        except ValueError as err:
            print(f"mfval sweep: {err}", file=sys.stderr)
            return 2
    require_simulators(args.simulator, "sweep")
    from mfval.comparison.sweep import sweep_tasks

    try:  # every spec is built (and checked) before any work starts
        sweep_tasks(params, point, args.g, args.seed, args.duration, None, args.simulator[0])
    except ValueError as err:  # includes InfeasibleWorkingPointError
        print(f"mfval sweep: {err}; nothing written", file=sys.stderr)
        return 2
    store = ResultStore(args.cache_dir)
    with scheduler_client(args.scheduler, **scheduler_options(args)) as client:
        result = run_sweep(
            params,
            point,
            args.g,
            store,
            args.workers,
            not args.quiet,
            client,
            seed=args.seed,
            duration=args.duration,
            simulator=args.simulator[0],
        )
    out = args.out
    write_csv(result.table, out / "sweep.csv")
    write_csv(result.spectra, out / "sweep_spectra.csv")
    write_csv(result.theory_spectra, out / "sweep_theory_spectra.csv")
    write_csv(result.comparison, out / "sweep_comparison.csv")
    from mfval.theory.closed_loop import relative_inhibition

    g0 = relative_inhibition(params["network"])
    g_show = min(args.g, key=lambda g: abs(g - g0))  # spectra at the file's g (or nearest)
    paths = closed_loop_figure(
        result.spectra[np.isclose(result.spectra["g"], g_show)],
        result.theory_spectra[np.isclose(result.theory_spectra["g"], g_show)],
        out / "closed_loop",
        result.table,
        result.predictions,
        result.measured,
    )
    if not args.quiet:
        cols = [
            "g",
            "population",
            "rate_hz",
            "band_ratio",
            "band_ratio_se",
            "theory_band_ratio_lif",
            "peak_frequency_hz",
            "peak_frequency_se_hz",
        ]
        print(result.table[cols].to_string(index=False, float_format="%.4g"))
        for name, pred in result.predictions.items():
            se = pred.get("g_c_se")
            print(
                f"predicted onset ({name}): g_c = {pred['g_c']:.3f}"
                + (f" +- {se:.3f}" if se else "")
                + f", f* = {pred['f_star']:.1f} Hz"
            )
        for name, m in result.measured.items():
            print(
                f"measured onset ({name}): g_c = {m['g_c']:.3f} +- {m['g_c_se']:.3f}, "
                f"f* = {m['f_star']:.1f} +- {m['f_star_se']:.1f} Hz"
            )
        print(f"wrote {out / 'sweep.csv'} and {', '.join(str(p) for p in paths)}")
    return 0
