"""Benchmark: wall time of the default scan with 1 and 2 local Dask workers.

Runs the main job's workload (theory scan of the grid, network and
transfer-function simulations at the marked points; ``--quick`` for a
quarter of the simulated time) twice from an empty results store, once
in-process (1 worker) and once on a LocalCluster with 2 worker processes,
and prints both wall times and their ratio. The Brian2 code cache is warmed
first, so compilation is not part of either timing. Run::

    python benchmarks/scan_scaling.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from mfval.comparison.pipeline import default_settings, run_validation
from mfval.config import load_params
from mfval.store import ResultStore
from mfval.tasks import close_client, open_client


def timed_run(params, settings, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        client = open_client(workers=workers)
        try:
            start = time.perf_counter()
            run_validation(
                params, settings, ResultStore(tmp), progress=False, client=client, workers=workers
            )
            return time.perf_counter() - start
        finally:
            close_client(client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    params = load_params()
    settings = default_settings(params, quick=args.quick)

    # warm the Brian2 code cache (compilation excluded from the timings)
    warm = default_settings(params, quick=True)
    warm.network_points = warm.network_points[:1]
    warm.transfer_points = warm.transfer_points[:1]
    warm.network_options = {"duration": 0.05, "warmup": 0.01}
    warm.transfer_options = {"duration": 1.0, "n_per_frequency": 40}
    timed_run(params, warm, workers=1)

    t1 = timed_run(params, settings, workers=1)
    t2 = timed_run(params, settings, workers=2)
    n_sim = len(settings.network_points) + len(settings.transfer_points)
    print(
        f"default scan ({'quick' if args.quick else 'full length'}): 16 theory points, "
        f"{n_sim} simulations"
    )
    print(f"  1 worker (in-process)   {t1:8.1f} s")
    print(f"  2 workers (LocalCluster){t2:8.1f} s   speed-up x{t1 / t2:.2f}")


if __name__ == "__main__":
    main()
