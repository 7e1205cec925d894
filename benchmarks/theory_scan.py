"""Benchmark: the project's theory scan against the seed example's plain loop.

Times, in one run and on the same machine:

1. the seed's plain loop (``theory/seed_loop.py``: nnmt network object, one
   point after the other) over the default 16-point grid,
2. the project's scan with an empty results store (cold: worker processes),
3. the same scan again (warm: every point read from the store),

and prints the ratios. Run::

    python benchmarks/theory_scan.py [--workers N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from mfval.params import load_params
from mfval.store import ResultStore
from theory.scan import run_scan
from theory.seed_loop import seed_scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    params = load_params()

    t0 = time.perf_counter()
    seed_scan(params)
    t_seed = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(tmp)
        t0 = time.perf_counter()
        run_scan(params, store, workers=args.workers, progress=False)
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_scan(params, store, workers=args.workers, progress=False)
        t_warm = time.perf_counter() - t0

    n = len(params["scan"]["mu"]) * len(params["scan"]["sigma"])
    print(f"theory scan, {n} working points")
    print(f"  seed plain loop        {t_seed:8.2f} s")
    print(f"  project scan, cold     {t_cold:8.2f} s   speed-up x{t_seed / t_cold:.2f}")
    print(f"  project scan, warm     {t_warm:8.3f} s   speed-up x{t_seed / t_warm:.0f}")


if __name__ == "__main__":
    main()
