"""Cost of the stability-point spectra that ``mfval run`` adds (cold: fresh store).

Runs, in one process with a fresh results store (so the Brian2 standalone
binary of the network protocol is compiled too, unless its template is in
the Brian2 cache; ``mfval run`` shares it with the network protocol): the
closed-loop theory task, the closed-loop simulation (10 chunks of 1 s at
(10, 10) mV, the run's settings, one after the other), its measurement and
the comparison rows; prints the wall time of each part and the total. The
open-loop transfer function is part of ``mfval run`` anyway and is not
counted.

    python benchmarks/closed_loop_cost.py [--duration S]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from mfval.comparison.closed_loop import ClosedLoopRun
from mfval.comparison.pipeline import RunSettings
from mfval.config import load_params
from mfval.store import ResultStore
from mfval.tasks import run_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="simulated time, s")
    args = parser.parse_args()
    params = load_params()
    point = tuple(float(x) for x in params["scan"]["stability_point"])
    options = {} if args.duration is None else {"duration": args.duration}
    with tempfile.TemporaryDirectory() as root:
        store = ResultStore(root)
        settings = RunSettings([], [], closed_loop_point=point, closed_loop_options=options)
        t0 = time.perf_counter()
        run = ClosedLoopRun(params, settings, store, workers=1, progress=False)
        t1 = time.perf_counter()
        sims = run_tasks(run.simulation_tasks, store, 1, progress=False)
        t2 = time.perf_counter()
        result = run.finish(sims)
        t3 = time.perf_counter()
    print(f"closed-loop theory (cold):               {t1 - t0:6.1f} s")
    print(f"closed-loop simulation + measure (cold): {t2 - t1:6.1f} s")
    print(f"comparison rows:                         {t3 - t2:6.1f} s")
    print(f"total added to mfval run (one core):     {t3 - t0:6.1f} s")
    print(f"rows: {len(result.comparison)}")


if __name__ == "__main__":
    main()
