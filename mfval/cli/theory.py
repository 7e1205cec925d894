"""``mfval theory``: the theory scan, its tables and the theory-only Figure 5."""

from __future__ import annotations

import argparse
import sys

from mfval.cli.common import (
    add_common_arguments,
    add_theory_argument,
    load_cli_params,
    scheduler_options,
)
from mfval.io import write_csv
from mfval.store import ResultStore
from mfval.tasks import scheduler_client


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_theory_argument(parser)


def main(args: argparse.Namespace) -> int:
    from mfval.figures.figure5 import figure5, save_figure
    from mfval.theory.scan import run_scan

    params = load_cli_params(args)
    store = ResultStore(args.cache_dir)
    with scheduler_client(args.scheduler, **scheduler_options(args)) as client:
        scan, transfer = run_scan(
            params,
            store,
            workers=args.workers,
            progress=not args.quiet,
            client=client,
            theory=args.theory,
        )
    out = args.out
    written = [
        write_csv(scan, out / "theory_scan.csv"),
        write_csv(transfer, out / "theory_transfer_functions.csv"),
    ]
    fig, _ = figure5(scan, transfer, params)
    written += save_figure(fig, out / "theory_figure5")
    infeasible = scan[scan["status"] != "ok"]
    for _, row in infeasible.iterrows():
        print(f"warning: {row['error']}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return 0
