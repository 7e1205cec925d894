"""Compare two result tables (e.g. ``comparison.csv``) number by number, exactly.

Used to show that a change of structure leaves every number as it was::

    mfval run --quick --seed 777 --out /tmp/before   # on the old commit
    mfval run --quick --seed 777 --out /tmp/after    # on the new one
    python scripts/compare_tables.py /tmp/before/comparison.csv /tmp/after/comparison.csv

Exit 0 when the shapes, the column names and every cell agree (NaN equals NaN;
numbers compared as float64, text as text), 1 otherwise, naming the columns
that differ and the largest difference of each.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd


def differing_columns(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, str]:
    """Column -> description of the difference, for every column that differs."""
    out = {}
    for column in a.columns:
        x, y = a[column], b[column]
        if x.dtype.kind in "fiub" and y.dtype.kind in "fiub":
            xf, yf = x.to_numpy(float), y.to_numpy(float)
            if not np.array_equal(xf, yf, equal_nan=True):
                out[column] = f"max |difference| {np.nanmax(np.abs(xf - yf)):.3g}"
        elif not x.astype(str).equals(y.astype(str)):
            out[column] = f"{int((x.astype(str) != y.astype(str)).sum())} cells differ"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args(argv)
    a, b = pd.read_csv(args.before), pd.read_csv(args.after)
    if a.shape != b.shape or list(a.columns) != list(b.columns):
        print(f"shapes or columns differ: {a.shape} {list(a.columns)}")
        print(f"                      vs: {b.shape} {list(b.columns)}")
        return 1
    diff = differing_columns(a, b)
    for column, what in diff.items():
        print(f"differs: {column}: {what}")
    print(f"{a.shape[0]} rows x {a.shape[1]} columns, {a.size} cells: {len(diff)} columns differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
