"""Regenerate the golden values of the theory scan: ``tests/golden/theory_<name>.json``.

The values come from the seed example's own loop (:mod:`mfval.theory.seed_loop`,
nnmt objects, no project code in the numerics), for every working point of
the parameter file's grid, with the versions of nnmt, numpy and scipy
recorded. Run::

    python scripts/make_golden.py              # params/default.yaml -> theory_default.json
    python scripts/make_golden.py params/g6.yaml

Regenerate only on purpose (a deliberate upgrade of nnmt/numpy/scipy whose
changes you have reviewed); the regression tests exist to catch unplanned
moves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import scipy

from mfval.config import load_params
from mfval.theory.nnmt_compat import NNMT_VERSION
from mfval.theory.seed_loop import seed_scan

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "params/default.yaml"
    params = load_params(path)
    points = []
    for r in seed_scan(params, verbose=True):
        points.append(
            {
                "mu_mV": r["mu"] * 1e3,
                "sigma_mV": r["sigma"] * 1e3,
                "nu_ext_exc_hz": r["nu_ext"][0],
                "nu_ext_inh_hz": r["nu_ext"][1],
                "rate_hz": r["firing_rate"],
                "tau_rate_ms": r["tau_rate"] * 1e3,
                "W_rate": r["W_rate"],
                "fit_error": r["fit_error"],
                "tf_re_hz_per_mV": (r["transfer_function"].real * 1e-3).tolist(),
                "tf_im_hz_per_mV": (r["transfer_function"].imag * 1e-3).tolist(),
                "fit_re_hz_per_mV": (r["transfer_function_fit"].real * 1e-3).tolist(),
                "fit_im_hz_per_mV": (r["transfer_function_fit"].imag * 1e-3).tolist(),
            }
        )
    golden = {
        "generator": "scripts/make_golden.py (seed loop: theory/seed_loop.py)",
        "params_file": path.name,
        "versions": {"nnmt": NNMT_VERSION, "numpy": np.__version__, "scipy": scipy.__version__},
        "frequency_hz": r["frequencies"].tolist(),
        "points": points,
    }
    out = GOLDEN_DIR / f"theory_{path.stem}.json"
    out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {out} ({len(points)} points, {len(golden['frequency_hz'])} frequencies)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
