"""Benchmark of the open-loop transfer-function simulation (issue 4, item 6).

Runs the transfer-function protocol at working points (default: the four
marked points) at all default frequencies, in parallel worker processes
(default: usable cores), with a fresh results store (nothing cached; the
Brian2 Cython cache is warmed first so that the one-time compilation is
reported separately). Reports the wall time per point and in total, and the
achieved amplitude standard error relative to the theory amplitude.

    python benchmarks/transfer_sim.py [--points 10,10 6,6] [--n-per-frequency N]
        [--duration T] [--amplitude MV] [--workers W] [--csv FILE]

With ``--compare-backends`` it instead runs the same spec at the first point
on the Brian2 backends in one process, interleaved: the former default
(Cython runtime, Brian2's ``poisson()``) and the current default
(``cpp_standalone`` compiled once, table Poisson sampler), each twice (the
first run includes code generation and compilation, the second reuses it),
and prints the wall times and the ratio of the run times.

With ``--compare-designs`` it runs the default (antithetic) design at the
given points for ``--seeds`` seeds and measures each run twice: as the
antithetic pair and as its +dmu arm alone (a single-design run of the same
seed, neurons and duration, at half the simulated time). It prints per
frequency the ratio of the variances of N (SE^2 of Re N plus Im N) and the
efficiency gain per simulated time, (var_single t_single) / (var_anti t_anti)
with t_anti = 2 t_single.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from mfval.cli.common import parse_point
from mfval.config import load_params
from mfval.simulation.open_loop.measure import fit_transfer
from mfval.simulation.open_loop.tasks import simulate_transfer, transfer_task
from mfval.store import ResultStore
from mfval.tasks import run_tasks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", nargs="+", type=parse_point, default=None)
    ap.add_argument("--n-per-frequency", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None, help="s")
    ap.add_argument("--amplitude", type=float, default=None, help="mV")
    ap.add_argument("--mode", default="synaptic")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--params", default=None)
    ap.add_argument("--csv", default=None, help="write the transfer table here")
    ap.add_argument(
        "--compare-backends",
        action="store_true",
        help="former (Cython, poisson()) vs current (standalone, table) backend, one process",
    )
    ap.add_argument(
        "--compare-designs",
        action="store_true",
        help="variance of N: antithetic pair vs its +dmu arm alone (module docstring)",
    )
    ap.add_argument("--seeds", type=int, default=3, help="seeds of --compare-designs")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    points = args.points or [tuple(map(float, p)) for p in params["scan"]["marked_points"]]
    kw = {
        "n_per_frequency": args.n_per_frequency,
        "duration": args.duration,
        "amplitude": None if args.amplitude is None else args.amplitude * 1e-3,
    }
    if args.compare_backends:
        return compare_backends(params, points[0], kw)
    if args.compare_designs:
        return compare_designs(params, points, kw, args.seeds)
    t0 = time.perf_counter()
    simulate_transfer(0.01, 0.01, params, frequencies=[5.0], n_per_frequency=20, duration=0.05)
    print(f"warm-up (compile or load cached code): {time.perf_counter() - t0:.1f} s")
    tasks = [transfer_task(mu, s, params, args.mode, **kw) for mu, s in points]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        dfs = run_tasks(tasks, ResultStore(tmp), args.workers, "transfer")
        total = time.perf_counter() - t0
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    for (mu, s), df in zip(points, dfs):
        rel = df["amp_se_hz_per_mV"] / df["theory_amp_hz_per_mV"]
        print(
            f"\n(mu, sigma) = ({mu * 1e3:g}, {s * 1e3:g}) mV: wall {df['wall_s'].iloc[0]:.1f} s, "
            f"{df['n_neurons'].sum()} neurons x "
            f"{df['duration_s'].iloc[0] + df['warmup_s'].iloc[0]:g} s; "
            f"amp SE / theory amp: max {100 * rel.max():.2f} %, median {100 * rel.median():.2f} %"
        )
        print(
            df[
                [
                    "frequency_hz",
                    "amplitude_mV",
                    "theory_amp_hz_per_mV",
                    "theory_phase_deg",
                    "amp_hz_per_mV",
                    "amp_se_hz_per_mV",
                    "phase_deg",
                    "phase_se_deg",
                ]
            ]
            .round(3)
            .to_string(index=False)
        )
        fit = fit_transfer(df, params)
        print(
            fit[["tau_rate_ms", "tau_rate_se_ms", "W_rate", "W_rate_se", "chi2", "dof"]]
            .round(4)
            .to_string(index=False)
        )
        print(
            f"rate {df['rate_mean_hz'].iloc[0]:.3f} +- {df['rate_mean_se_hz'].iloc[0]:.3f} Hz "
            f"(theory {df['theory_rate_hz'].iloc[0]:.3f}); mu realized "
            f"{df['mu_realized_mV'].iloc[0]:.3f} +- {df['mu_realized_se_mV'].iloc[0]:.3f} mV"
        )
    worst = max(float((d["amp_se_hz_per_mV"] / d["theory_amp_hz_per_mV"]).max()) for d in dfs)
    print(
        f"\nTOTAL: {len(points)} points, wall {total:.1f} s; worst amp SE / theory amp "
        f"{100 * worst:.2f} % (target < 5 %, < 300 s)"
    )
    if args.csv:
        pd.concat(dfs).to_csv(args.csv, index=False)
    return 0 if np.isfinite(worst) else 1


#: Brian2 backend options: the former default and the current one
BACKENDS = {
    "former: cython + poisson()": {"target": "cython", "poisson_sampler": "brian2"},
    "current: cpp_standalone + table": {"target": "cpp_standalone", "poisson_sampler": "table"},
}


def compare_backends(params: dict, point: tuple[float, float], kw: dict) -> int:
    """Wall times of the same open-loop spec on both backends (module docstring)."""
    from mfval.simulation.open_loop.spec import make_transfer_spec
    from mfval.simulation.open_loop.tasks import run_transfer

    kw = {k: v for k, v in kw.items() if v is not None}
    specs = {
        name: make_transfer_spec(*point, params, backend=backend, **kw)
        for name, backend in BACKENDS.items()
    }
    spec = next(iter(specs.values()))
    print(
        f"({point[0] * 1e3:g}, {point[1] * 1e3:g}) mV: {spec.n_neurons} neurons x "
        f"{spec.warmup + spec.duration:g} s simulated, {len(spec.frequencies)} frequencies"
    )
    run_s: dict[str, list[float]] = {name: [] for name in specs}
    for attempt in ("first (with compilation)", "second (compiled)"):
        for name, spec in specs.items():
            t0 = time.perf_counter()
            run_transfer(spec)
            wall = time.perf_counter() - t0
            run_s[name].append(wall)
            print(f"  {name:<34} {attempt:<26} {wall:7.1f} s", flush=True)
    former, current = (run_s[name][1] for name in BACKENDS)
    print(f"\nrun time ratio former / current (compiled runs): {former / current:.2f}x")
    return 0


def compare_designs(params: dict, points: list, kw: dict, n_seeds: int) -> int:
    """Variance of N of the antithetic pair vs its +dmu arm alone (module docstring)."""
    from mfval.simulation.open_loop.measure import measure_response
    from mfval.simulation.open_loop.spec import make_transfer_spec, split_arms
    from mfval.simulation.open_loop.tasks import run_transfer

    kw = {k: v for k, v in kw.items() if v is not None}
    rows = []
    for mu, sigma in points:
        for seed in range(90001, 90001 + n_seeds):
            spec = make_transfer_spec(mu, sigma, params, seed=seed, **kw)
            t0 = time.perf_counter()
            rec = run_transfer(spec)
            wall = time.perf_counter() - t0
            pair = measure_response(rec, spec)
            plus = measure_response(split_arms(rec, spec.n_neurons)[0], spec.arm(1.0))
            for i, f in enumerate(spec.frequencies):
                rows.append(
                    {
                        "mu_mV": mu * 1e3,
                        "sigma_mV": sigma * 1e3,
                        "seed": seed,
                        "frequency_hz": f,
                        "var_ratio": (plus["se_re"][i] ** 2 + plus["se_im"][i] ** 2)
                        / (pair["se_re"][i] ** 2 + pair["se_im"][i] ** 2),
                        "amp_se_rel_single": plus["amp_se"][i] / plus["amp"][i],
                        "amp_se_rel_anti": pair["amp_se"][i] / pair["amp"][i],
                        "wall_s": wall,
                    }
                )
            print(f"  ({mu * 1e3:g}, {sigma * 1e3:g}) mV seed {seed}: {wall:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    table = df.groupby(["mu_mV", "sigma_mV", "frequency_hz"])[
        ["var_ratio", "amp_se_rel_single", "amp_se_rel_anti"]
    ].mean()
    pd.set_option("display.width", 200)
    print("\nmean over seeds: variance ratio single / antithetic, relative amplitude SEs")
    print(table.round(4).to_string())
    by_point = df.groupby(["mu_mV", "sigma_mV"])["var_ratio"]
    print("\nper point: median and range of the variance ratio; efficiency = ratio / 2")
    for (mu, sigma), r in by_point:
        print(
            f"  ({mu:g}, {sigma:g}) mV: median {r.median():.2f} (min {r.min():.2f}, "
            f"max {r.max():.2f}); efficiency per simulated time {r.median() / 2:.2f}x"
        )
    print(
        f"all points: median variance ratio {df['var_ratio'].median():.2f}, "
        f"efficiency {df['var_ratio'].median() / 2:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
