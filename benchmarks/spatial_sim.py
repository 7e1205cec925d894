"""Benchmark: the spatial ring network on Brian2 and NEST in one run.

The ring of ``params/spatial.yaml`` (default L = 1 mm, R_E = 0.2 mm, R_I = 0.07 mm)
with the Figure 5 network at (mu, sigma) = (10, 10) mV and relative inhibition
``--g``, one chunk of ``--duration`` s after ``--warmup`` s, same seed (hence the
same connectivity) on both simulators: Brian2 ``cpp_standalone`` (0 OpenMP threads,
the default of the suite) and NEST (1 thread). Timings on a shared machine are
noisy: compare only within one run.

Printed per run: setup (connectivity, network construction), compile (Brian2 code
generation and compilation or template load; NEST ``Prepare``), run wall time,
simulated seconds per wall second of the run (and of setup + compile + run), spikes
per wall second and recurrent synaptic events (spikes times out-degree) per wall
second of the run, the Brian2 / NEST ratio of the run speeds, and what was measured
(rates, the peak (n*, f*)). With ``--repeats 2`` a second Brian2 run (another
seed) shows the reuse of the compiled binary (compile 0).

    python benchmarks/spatial_sim.py [--duration S] [--warmup S] [--g G] [--repeats N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mfval.config import load_params
from mfval.simulation.spatial.measure import measure_spatial
from mfval.simulation.spatial.spec import load_spatial_params, spatial_spec


def run_one(params: dict, simulator: str, seed: int, args) -> dict:
    from mfval.simulation.network.tasks import run_network

    backend = {"openmp_threads": 0} if simulator == "brian2" else {"threads": 1}
    spec = spatial_spec(
        10e-3,
        10e-3,
        params,
        seed,
        g=args.g,
        n_chunks=1,
        chunk_duration=args.duration,
        warmup=args.warmup,
        simulator=simulator,
        backend=backend,
    )
    t0 = time.perf_counter()
    recording = run_network(spec.chunks[0])
    wall = time.perf_counter() - t0
    md = recording.metadata
    simulated = spec.chunks[0].n_steps * spec.chunks[0].dt
    spikes = recording.spike_sender.size
    out_degree = np.asarray(md["out_degree"], np.int64)
    events = int(out_degree[recording.spike_sender].sum())
    summary = measure_spatial([recording], spec)["summary"]
    return {
        "simulator": simulator,
        "seed": seed,
        "wall": wall,
        "setup": float(md["setup_s"]),
        "compile": float(md["compile_s"]),
        "run": float(md["run_s"]),
        "simulated": simulated,
        "spikes": spikes,
        "events": events,
        "measured": ", ".join(
            f"{r.population} {r.rate_hz:.1f} Hz (n*={r.peak_mode}, f*={r.peak_frequency_hz:g} Hz, "
            f"asym {r.direction_asymmetry:+.2f})"
            for r in summary.itertuples()
        ),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1.0, help="measured time, s")
    parser.add_argument("--warmup", type=float, default=0.2, help="warm-up, s")
    parser.add_argument("--g", type=float, default=5.0, help="relative inhibition")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="Brian2 runs (seeds seed, +1, ..)")
    parser.add_argument("--simulators", nargs="+", default=["brian2", "nest"])
    args = parser.parse_args(argv)
    params = load_params()
    params["spatial"] = load_spatial_params()
    seed = int(params["simulation"]["seed"] if args.seed is None else args.seed)
    results = []
    for simulator in args.simulators:
        repeats = args.repeats if simulator == "brian2" else 1
        for k in range(repeats):
            results.append(run_one(params, simulator, seed + k, args))
    ring = params["spatial"]["ring"]
    print(
        f"ring L = {ring['length'] * 1e3:g} mm, R = "
        f"{', '.join(f'{r * 1e3:g}' for r in ring['radius'])} mm; (10, 10) mV, g = {args.g:g}; "
        f"{args.warmup:g} + {args.duration:g} s simulated per run"
    )
    print(
        f"{'simulator':<10}{'seed':>7}{'setup s':>9}{'compile s':>10}{'run s':>8}"
        f"{'sim s/wall s':>13}{'(total)':>9}{'spikes/s':>11}{'syn ev/s':>11}{'run ratio':>10}"
        "  measured"
    )
    nest_run = next((r["run"] for r in results if r["simulator"] == "nest"), None)
    for r in results:
        total = r["setup"] + r["compile"] + r["run"]
        ratio = f"{nest_run / r['run']:>10.2f}" if nest_run else f"{'':>10}"
        print(
            f"{r['simulator']:<10}{r['seed']:>7}{r['setup']:>9.2f}{r['compile']:>10.2f}"
            f"{r['run']:>8.2f}{r['simulated'] / r['run']:>13.3f}{r['simulated'] / total:>9.3f}"
            f"{r['spikes'] / r['run']:>11.3g}{r['events'] / r['run']:>11.3g}{ratio}"
            f"  {r['measured']}"
        )
    print("run ratio: NEST run time over each run's (> 1: faster than NEST)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
