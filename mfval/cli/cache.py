"""``mfval cache info|clear``: show or clear the results store."""

from __future__ import annotations

import argparse

from mfval.cli.common import folder_option
from mfval.store import ResultStore, check_name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["info", "clear"])
    parser.add_argument(
        "--cache-dir",
        type=folder_option("--cache-dir"),
        default=None,
        help="results store folder",
    )
    parser.add_argument("--kind", default=None, help="only this kind (theory, network, ...)")


def main(args: argparse.Namespace) -> int:
    if args.kind is not None:
        check_name("kind", args.kind, source="--kind")  # a ParameterError: exit 2
    store = ResultStore(args.cache_dir)
    if args.action == "info":
        info = store.info(args.kind)
        print(f"results store: {store.root}")
        if not info:
            print("  (empty)")
        for kind, stats in info.items():
            print(
                f"  {kind:<12} {stats['entries']:>6} entries {stats['bytes'] / 1e6:>10.2f} MB"
                f" ({stats['stale']} from other code versions)"
            )
    else:
        n = store.clear(args.kind)
        print(f"removed {n} entries from {store.root}")
    return 0
