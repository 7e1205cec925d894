"""Benchmark: the project's theory scan against the seed example's plain loop.

Times, in one run and on the same machine:

1. the seed's plain loop (``theory/seed_loop.py``: nnmt network object, one
   point after the other) over the default 16-point grid,
2. the project's scan of the same grid on the fast path, cold (empty results
   store), in this one process (``workers=1``): the ratio 1 / 2 is the
   speed-up of the computation itself (target >= 10),
3. the same scan again (warm: every point read from the store),
4. optionally (``--nnmt-scan``) the project's scan on the nnmt path, cold, in
   one process,
5. a dense grid (mu and sigma 5..14 mV in 0.25 mV steps, 37 x 37 points, 199
   frequencies each) on the fast path, cold, with ``--dense-workers`` worker
   processes (default 2; target < 60 s), and drawing its Figure 5,

and prints the times and ratios. Run::

    python benchmarks/theory_scan.py [--dense-workers N] [--no-dense] [--nnmt-scan]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from mfval.config import load_params
from mfval.store import ResultStore
from mfval.theory.scan import run_scan
from mfval.theory.seed_loop import seed_scan


def _timed(func, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense-workers", type=int, default=2)
    parser.add_argument("--no-dense", action="store_true", help="skip the dense grid")
    parser.add_argument("--nnmt-scan", action="store_true", help="also the scan on the nnmt path")
    args = parser.parse_args()
    params = load_params()
    n = len(params["scan"]["mu"]) * len(params["scan"]["sigma"])

    t_seed, _ = _timed(seed_scan, params)
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(tmp)
        t_cold, _ = _timed(run_scan, params, store, workers=1, progress=False, theory="fast")
        t_warm, _ = _timed(run_scan, params, store, workers=1, progress=False, theory="fast")
        if args.nnmt_scan:
            t_nnmt, _ = _timed(run_scan, params, store, workers=1, progress=False, theory="nnmt")

    print(f"theory scan, {n} working points, 199 frequencies each")
    print(f"  seed plain loop (nnmt)               {t_seed:8.2f} s")
    print(
        f"  project scan, fast, cold, 1 process  {t_cold:8.2f} s   "
        f"speed-up x{t_seed / t_cold:.1f} (target >= 10)"
    )
    print(
        f"  project scan, fast, warm             {t_warm:8.3f} s   speed-up x{t_seed / t_warm:.0f}"
    )
    if args.nnmt_scan:
        print(
            f"  project scan, nnmt, cold, 1 process  {t_nnmt:8.2f} s   "
            f"speed-up x{t_seed / t_nnmt:.2f}"
        )

    if args.no_dense:
        return
    from mfval.figures.figure5 import figure5, save_figure

    dense = load_params()
    axis = np.round(np.arange(5.0, 14.0 + 1e-9, 0.25), 12) * 1e-3
    dense["scan"]["mu"], dense["scan"]["sigma"] = axis, axis
    with tempfile.TemporaryDirectory() as tmp:
        t_dense, (scan, transfer) = _timed(
            run_scan, dense, ResultStore(tmp), workers=args.dense_workers, progress=False
        )
        t_fig, fig = _timed(lambda: figure5(scan, transfer, dense)[0])
        t_save, _ = _timed(save_figure, fig, f"{tmp}/dense_figure5")
    n_ok = int((scan["status"] == "ok").sum())
    print(
        f"dense grid {len(axis)} x {len(axis)} = {len(scan)} points ({n_ok} feasible), "
        f"fast, cold, {args.dense_workers} workers"
    )
    print(f"  scan                                 {t_dense:8.2f} s   (target < 60 s)")
    print(f"  Figure 5 drawn and saved (png, pdf)  {t_fig + t_save:8.2f} s")


if __name__ == "__main__":
    main()
