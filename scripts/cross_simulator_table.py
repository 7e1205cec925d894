"""Brian2 and NEST side by side, from the ``cross_simulator.csv`` of ``mfval run``.

    mfval run --simulator brian2,nest [--quick] --out OUT
    python scripts/cross_simulator_table.py OUT/cross_simulator.csv

Prints, per working point, one markdown table: every cross-simulator row
(rates, CV, realized mu and sigma per population; transfer amplitude and
phase per frequency; mean rate and probe mu of the open loop; low-pass fit;
aggregate gain ratio and phase offset), each simulator's value +- SE, z and
the verdict.
"""

from __future__ import annotations

import argparse
import math

import pandas as pd


def fmt(value: float, se: float) -> str:
    if not math.isfinite(se) or se == 0:
        return f"{value:.4g}"
    digits = max(0, 1 - int(math.floor(math.log10(abs(se))))) if se > 0 else 3
    return f"{value:.{digits}f} ± {se:.{digits}f}"


def side_by_side(table: pd.DataFrame) -> str:
    out = []
    a, b = table["simulator_a"].iloc[0], table["simulator_b"].iloc[0]
    for (mu, sigma), rows in table.groupby(["mu_mV", "sigma_mV"], sort=False):
        n_fail = int((rows["verdict"] != "pass").sum())
        out += [
            f"### ({mu:g}, {sigma:g}) mV: {len(rows) - n_fail}/{len(rows)} rows pass",
            "",
            f"| quantity | where | unit | {a} | {b} | z | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows.itertuples(index=False):
            where = " ".join(
                x
                for x in (
                    str(r.population) if isinstance(r.population, str) else "",
                    str(r.mode) if isinstance(r.mode, str) else "",
                    "" if pd.isna(r.frequency_hz) else f"{r.frequency_hz:g} Hz",
                )
                if x
            )
            out.append(
                f"| {r.quantity} | {where} | {r.unit} | {fmt(r.value_a, r.se_a)} | "
                f"{fmt(r.value_b, r.se_b)} | {r.z:+.2f} | {r.verdict} |"
            )
        out.append("")
    n_fail = int((table["verdict"] != "pass").sum())
    out.append(f"All points: {len(table) - n_fail} pass, {n_fail} fail of {len(table)} rows.")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="cross_simulator.csv written by mfval run")
    args = parser.parse_args(argv)
    table = pd.read_csv(args.csv, keep_default_na=True)
    table["population"] = table["population"].fillna("")
    table["mode"] = table["mode"].fillna("")
    print(side_by_side(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
