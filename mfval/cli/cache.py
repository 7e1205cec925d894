"""``mfval cache info|clear``: show or clear the results store and Brian2's build cache.

The build cache (``<store>/brian2``, or ``$MFVAL_BRIAN_CACHE``) is cleared
with the store when no ``--kind`` is given; compiled code that a running
process uses (its lock is held) is kept, see
:func:`mfval.simulation.model.device.clear_brian_cache`.
"""

from __future__ import annotations

import argparse

from mfval.cli.common import folder_option
from mfval.store import ResultStore, check_name, set_active_root


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
    from mfval.simulation.model.device import brian_cache_dir, cache_size, clear_brian_cache

    store = ResultStore(args.cache_dir)
    set_active_root(store.root)
    brian = brian_cache_dir()
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
        print(f"Brian2 build cache: {brian} ({cache_size(brian) / 1e6:.2f} MB)")
    else:
        n = store.clear(args.kind)
        print(f"removed {n} entries from {store.root}")
        if args.kind is None:
            c = clear_brian_cache(brian)
            kept = f"; kept {c['in_use']} in use by running processes" if c["in_use"] else ""
            print(
                f"removed Brian2 build cache {brian}: {c['templates']} templates, "
                f"{c['standalone']} build folders, {c['cython']} Cython caches{kept}"
            )
    return 0
