"""False alarms and power of the spatial (ring) verdicts at fresh seeds (issue 17).

For each seed: the two judged settings of ``pytest -m validation``
(``tests/test_spatial_validation.py``: g = 5, R_I / R_E = 1 stable and 0.35
unstable, (10, 10) mV, the chunks of ``params/spatial.yaml``) without a
planted error (every failed row is a false alarm) and with the inhibitory
boxcar half-width of the simulation scaled by each size
(``ring_inhibitory_width_scale=SIZE``, simulation only). Prints, per size, at
how many seeds a row failed and which quantities failed; the smallest size
caught at every seed is the published detection threshold.

Example (the numbers of the closing note of issue 17)::

    python benchmarks/spatial_power.py --seeds 50001-50003 --sizes 1.1,1.25,1.5 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from mfval.comparison.checks import VERDICT_FAIL
from mfval.comparison.spatial import load_spatial_config, run_spatial
from mfval.config import load_params
from mfval.store import ResultStore


def parse_seeds(text: str) -> list[int]:
    """``"50001-50003"`` or ``"1,2,3"`` -> list of seeds."""
    if "-" in text:
        a, b = (int(x) for x in text.split("-"))
        return list(range(a, b + 1))
    return [int(x) for x in text.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="50001-50003", help="fresh verification seeds")
    parser.add_argument("--sizes", default="1.1,1.25,1.5", help="factors on R_I")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    params, config = load_params(), load_spatial_config()
    store = ResultStore(args.cache_dir)
    seeds = parse_seeds(args.seeds)
    sizes = [float(x) for x in args.sizes.split(",")]
    start = time.perf_counter()
    rows = []
    for seed in seeds:
        for size in [None, *sizes]:
            planted = "none" if size is None else f"ring_inhibitory_width_scale={size:g}"
            result = run_spatial(
                params,
                config,
                store=store,
                workers=args.workers,
                progress=False,
                raster=False,
                predictions=False,
                g_values=[5.0],
                control=("radius_ratio", [0.35, 1.0]),
                seed=seed,
                planted=planted,
            )
            c = result.comparison
            failed = c[c["verdict"] == VERDICT_FAIL]
            rows.append(
                {
                    "seed": seed,
                    "planted": planted,
                    "judged": int((c["verdict"] != "not judged").sum()),
                    "failed": len(failed),
                    "failed_quantities": ",".join(sorted(set(failed["quantity"]))),
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    summary = table.groupby("planted", sort=False).agg(
        seeds=("seed", "size"), caught=("failed", lambda f: int((f > 0).sum()))
    )
    print(summary.to_string())
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
