"""Benchmark: the E-I network at (mu, sigma) = (10, 10) mV, 1 s of simulated time.

Prints compile (code generation / cache load) and run wall times separately,
and the synaptic events per wall second of the run, recurrent (spikes times
out-degree) and external (Poisson input events, expected count) separately.
Target on 2 cores: >= 5e7 recurrent events per wall second, excluding
compilation.

    python benchmarks/network_sim.py [--target cython|cpp_standalone] [--threads N]
"""

from __future__ import annotations

import argparse
import time

from mfval.params import load_params
from simulation.network import simulate_network

TARGET_EVENTS_PER_S = 5e7


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cython", choices=["cython", "cpp_standalone"])
    parser.add_argument("--threads", type=int, default=0, help="OpenMP threads (standalone)")
    parser.add_argument("--duration", type=float, default=1.0, help="simulated time in s")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    params = load_params()
    t0 = time.perf_counter()
    frame = simulate_network(
        10e-3,
        10e-3,
        params,
        duration=args.duration,
        warmup=0.0,
        n_blocks=10,
        seed=args.seed,
        target=args.target,
        openmp_threads=args.threads,
    )
    wall = time.perf_counter() - t0
    row = frame.iloc[0]
    run_s = float(row["run_s"])
    rec, ext = float(row["recurrent_events"]), float(row["external_events"])
    print(f"target              : {args.target} (OpenMP threads: {args.threads})")
    print(
        f"simulated time      : {args.duration:g} s at (10, 10) mV, N = "
        f"{int(frame['n_neurons'].sum())}"
    )
    print(
        "rates               : "
        + ", ".join(
            f"{r.population} {r.rate_hz:.2f} +- {r.rate_se_hz:.2f} Hz" for r in frame.itertuples()
        )
    )
    print(f"wall time total     : {wall:.2f} s")
    print(f"  setup (numpy conn): {float(row['setup_s']):.2f} s")
    print(f"  compile           : {float(row['compile_s']):.2f} s")
    print(f"  run               : {run_s:.2f} s")
    print(
        f"recurrent events    : {rec:.4g} ({rec / run_s:.3g} per wall second; target "
        f">= {TARGET_EVENTS_PER_S:.0e})"
    )
    print(f"external events     : {ext:.4g} ({ext / run_s:.3g} per wall second)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
