"""Benchmark: the E-I network at (mu, sigma) = (10, 10) mV on Brian2 and NEST, 1 s simulated.

Runs several variants in one process (timings on a shared machine are noisy:
compare only within one run) and prints, per variant, compile (code
generation / cache load) and run wall times separately, and the synaptic
events per wall second of the run, recurrent (spikes times out-degree) and
external (Poisson input events, expected count) separately, with the ratio
of run times to the first variant. Target on 2 cores: >= 5e7 recurrent
events per wall second, excluding compilation.

Variants: ``cython:<sampler>`` (sampler of the external drive, see
:data:`mfval.simulation.network.POISSON_SAMPLERS`),
``cpp_standalone:<threads>[:<sampler>]`` (OpenMP threads, default sampler
``table``) and ``nest:<threads>`` (NEST 3.10, ``local_num_threads``; the
optional extra). For NEST, "setup" is kernel reset, node creation and all
connections (network construction), "compile" is ``nest.Prepare`` (NEST
generates no code). The run ratio is the first variant's run time over each
variant's (> 1: faster than the first); by default the first is ours
(``cpp_standalone:0``, the default of ``mfval simulate``); "total ratio" the
same for setup + compile + run. Each variant is run ``--repeats`` times with
seeds seed, seed + 1, ...: the first run of a standalone variant pays its compilation (unless a
template build of another process is found), later runs reuse the binary
(compile 0). The table lists every run; "total" is setup + compile + run.

    python benchmarks/network_sim.py [--variants cython:table cpp_standalone:2 ...]
"""

from __future__ import annotations

import argparse
import time

from mfval.config import load_params
from mfval.simulation.network.tasks import simulate_network

TARGET_EVENTS_PER_S = 5e7
DEFAULT_VARIANTS = ["cpp_standalone:0", "nest:1", "nest:2"]


def run_variant(variant: str, params: dict, duration: float, seed) -> dict:
    target, _, option = variant.partition(":")
    kwargs = {}
    if target == "cython":
        kwargs["poisson_sampler"] = option or "table"
    elif target == "cpp_standalone":
        threads, _, sampler = option.partition(":")
        kwargs["openmp_threads"] = int(threads or 0)
        kwargs["poisson_sampler"] = sampler or "table"
    elif target == "nest":
        kwargs["simulator"] = "nest"
        kwargs["threads"] = int(option or 1)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    t0 = time.perf_counter()
    frame = simulate_network(
        10e-3,
        10e-3,
        params,
        duration=duration,
        warmup=0.0,
        n_blocks=10,
        seed=seed,
        **({} if target == "nest" else {"target": target}),
        **kwargs,
    )
    row = frame.iloc[0]
    return {
        "variant": variant,
        "wall": time.perf_counter() - t0,
        "setup": float(row["setup_s"]),
        "compile": float(row["compile_s"]),
        "run": float(row["run_s"]),
        "rec": float(row["recurrent_events"]),
        "ext": float(row["external_events"]),
        "rates": ", ".join(
            f"{r.population} {r.rate_hz:.2f} +- {r.rate_se_hz:.2f} Hz" for r in frame.itertuples()
        ),
        "n": int(frame["n_neurons"].sum()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    parser.add_argument("--duration", type=float, default=1.0, help="simulated time in s")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="runs (seeds) per variant")
    args = parser.parse_args(argv)
    params = load_params()
    seed = int(params["simulation"]["seed"] if args.seed is None else args.seed)
    results = [
        run_variant(v, params, args.duration, seed + k)
        for v in args.variants
        for k in range(args.repeats)
    ]
    print(f"(mu, sigma) = (10, 10) mV, {args.duration:g} s simulated, N = {results[0]['n']}")
    print(
        f"{'variant':<26}{'setup s':>9}{'compile s':>10}{'run s':>8}{'total s':>9}"
        f"{'run ratio':>10}{'total ratio':>12}{'rec ev/s':>11}{'ext ev/s':>11}  rates"
    )
    base = results[0]["run"]
    base_total = results[0]["setup"] + results[0]["compile"] + results[0]["run"]
    for r in results:
        total = r["setup"] + r["compile"] + r["run"]
        print(
            f"{r['variant']:<26}{r['setup']:>9.2f}{r['compile']:>10.2f}{r['run']:>8.2f}"
            f"{total:>9.2f}{base / r['run']:>10.2f}{base_total / total:>12.2f}"
            f"{r['rec'] / r['run']:>11.3g}"
            f"{r['ext'] / r['run']:>11.3g}  {r['rates']}"
        )
    print(f"target: >= {TARGET_EVENTS_PER_S:.0e} recurrent events per wall second of the run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
