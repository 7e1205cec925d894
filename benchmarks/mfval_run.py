"""Wall time of the main job, ``mfval run``, cold and warm; optionally against an older revision.

Cold: a fresh results store and a fresh Brian2 code cache (compilation
included), as on a new machine after ``pip install``. Warm: the same command
again on the filled store (everything cached). With ``--baseline REV`` the same
two runs are made, in the same invocation and alternating with the current
code, on a ``git worktree`` of revision REV (same virtual environment, its
own source tree), and the ratios are printed: these machines are noisy, so
only ratios measured in one run are comparable.

    python benchmarks/mfval_run.py [--baseline REV] [--repeats N] [-- RUN-OPTIONS...]

RUN-OPTIONS are passed to ``mfval run`` (e.g. ``--quick``). Every run writes
its output into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_run(source: Path, cache: Path, out: Path, options: list[str]) -> float:
    """Seconds of one ``python -m mfval.cli run`` with the code of ``source``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(source),
        "MFVAL_CACHE_DIR": str(cache),
        "MFVAL_BRIAN_CACHE": str(cache / "brian2"),
    }
    cmd = [sys.executable, "-m", "mfval.cli", "run", "--out", str(out), "--quiet", *options]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=source, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: some checks failed, still a complete run
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"mfval run failed in {source} (exit {proc.returncode})")
    return elapsed


def measure(source: Path, options: list[str], tmp: Path, label: str) -> dict:
    cache = tmp / f"cache-{label}"
    shutil.rmtree(cache, ignore_errors=True)
    cold = timed_run(source, cache, tmp / f"out-{label}", options)
    warm = timed_run(source, cache, tmp / f"out-{label}", options)
    print(f"  {label:>8}: cold {cold:7.1f} s   warm {warm:6.1f} s", flush=True)
    return {"cold": cold, "warm": warm}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=None, help="git revision to compare with")
    ap.add_argument("--repeats", type=int, default=1, help="cold+warm pairs per code version")
    args, rest = ap.parse_known_args(argv)
    options = [a for a in rest if a != "--"]
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1, got --repeats {args.repeats}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        sources = {"current": REPO}
        if args.baseline:
            base = tmp / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(base), args.baseline],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            sources = {"baseline": base, "current": REPO}
        results: dict[str, list[dict]] = {k: [] for k in sources}
        try:
            for r in range(args.repeats):
                print(f"repeat {r + 1}/{args.repeats} (mfval run {' '.join(options)})")
                for label, source in sources.items():
                    results[label].append(measure(source, options, tmp, label))
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tmp / "baseline")],
                    cwd=REPO,
                    capture_output=True,
                )
    print("\nmedian over repeats:")
    med = {
        k: {m: statistics.median(x[m] for x in v) for m in ("cold", "warm")}
        for k, v in results.items()
    }
    for label, m in med.items():
        print(f"  {label:>8}: cold {m['cold']:7.1f} s   warm {m['warm']:6.1f} s")
    if "baseline" in med:
        for m in ("cold", "warm"):
            ratio = med["baseline"][m] / med["current"][m]
            print(f"  speed-up {m}: baseline / current = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
