"""Measured false-alarm rate and power (detection thresholds) of the validation verdicts.

(a) False alarms: the default comparison at fresh verification seeds, with no
    planted error; every failed row is a false alarm (counted per quantity,
    pointwise and aggregate).
(b) Power: planted errors of graded size (``mfval.comparison.planted.GRADED_PLANTS``),
    everywhere and restricted to regions where the old suite carried flat
    known-deviation envelopes ((6, 6) mV; 25-80 Hz); for each, the fraction
    of seeds at which a row of the target quantity fails, and the detection
    threshold: the smallest size caught at every seed. Measurement plants
    (``rate_scale``, ``tf_gain``, ``tf_phase_deg``, ``tf_latency_ms``) judge
    the same simulations again (:func:`mfval.comparison.pipeline.replant`), so all
    sizes and seeds cost one set of simulations; ``exc_weight_scale`` (a
    physical error of the network) is simulated at the first seed only, and
    its induced rate change is measured against the unplanted run of the same
    seed (same connectivity and noise); so is ``tau_m_scale`` (membrane time
    constant of both protocols). Option ``--simulated``.

(c) Closed loop (issue 18): the physical plants of the closed-loop simulation
    (``mfval.comparison.planted.CLOSED_LOOP_PLANTS``: recurrent delay, recurrent
    inhibitory weights, external drive of E, each times 1 + e) are simulated at every
    seed (only the stability-point chunks; the open-loop simulations of the seed are
    read back from the store, same keys) and judged with the whole table; a plant is
    caught at a seed if a closed-loop row (``CLOSED_LOOP_QUANTITIES``, pointwise,
    chi-square or shape) fails where the unplanted run of that seed failed none.
    Option ``--closed-loop``.

Sizes are configurable, so that the script runs at whatever compute is at
hand: ``--duration-scale 0.25`` is the ``--quick`` size of ``mfval run``
(larger SEs, less power); 1 is the default ``mfval run``.

Example (the numbers in the README)::

    python benchmarks/verdict_power.py --seeds 20001-20005 --duration-scale 1 --workers 2
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

from mfval.comparison.checks import VERDICT_FAIL, load_validation
from mfval.comparison.metrics import check_id
from mfval.comparison.pipeline import default_settings, replant, run_validation
from mfval.config import load_params
from mfval.store import ResultStore

ROOT = Path(__file__).resolve().parents[1]

#: planted families: (name, region suffix, target quantity, sizes)
FAMILIES = [
    ("rate_scale", "", "rate", [1.005, 1.01, 1.02, 1.03, 1.05]),
    ("rate_scale", "@6,6", "rate", [1.02, 1.03, 1.05, 1.08, 1.12]),
    ("rate_scale", "@10,10", "rate", [1.01, 1.02, 1.03, 1.05, 1.08]),
    ("rate_scale", "@6,12", "rate", [1.02, 1.03, 1.05, 1.08]),
    ("rate_scale", "@12,12", "rate", [1.02, 1.03, 1.05, 1.08]),
    ("tf_gain", "", "tf_amplitude", [1.005, 1.01, 1.02, 1.03, 1.05]),
    ("tf_gain", "@6,6", "tf_amplitude", [1.01, 1.02, 1.03, 1.05, 1.08]),
    ("tf_gain", "@25-80Hz", "tf_amplitude", [1.01, 1.02, 1.03, 1.05, 1.08]),
    ("tf_gain", "@6,6@25-80Hz", "tf_amplitude", [1.02, 1.03, 1.05, 1.08, 1.12]),
    ("tf_phase_deg", "", "tf_phase", [0.25, 0.5, 1.0, 2.0, 3.0]),
    ("tf_phase_deg", "@6,6", "tf_phase", [0.5, 1.0, 2.0, 3.0, 5.0]),
    ("tf_phase_deg", "@25-80Hz", "tf_phase", [0.5, 1.0, 2.0, 3.0, 5.0]),
    ("tf_latency_ms", "", "tf_phase", [0.005, 0.01, 0.02, 0.05, 0.1]),
]


def parse_seeds(text: str) -> list[int]:
    """``"20001-20005"`` or ``"1,2,3"`` -> list of seeds."""
    if "-" in text:
        a, b = (int(x) for x in text.split("-"))
        return list(range(a, b + 1))
    return [int(x) for x in text.split(",")]


def markdown_thresholds(
    thresholds: pd.DataFrame, power: pd.DataFrame, alarms: pd.DataFrame, seeds: list
) -> str:
    """The README's power table (markdown), generated: thresholds, counts and false alarms."""
    lines = [
        f"False alarms: {int(alarms['false alarms'].sum())} in {len(seeds)} seeds "
        f"({int(alarms['judged rows'].sum())} judged rows in all, "
        f"{int(alarms.groupby('seed')['judged rows'].sum().min())}-"
        f"{int(alarms.groupby('seed')['judged rows'].sum().max())} per seed).",
        "",
        "| planted error | judged by | caught at 5/5 seeds from | caught at some seeds from "
        "| seeds caught per size |",
        "|---|---|---|---|---|",
    ]
    for _, t in thresholds.iterrows():
        group = power[
            (power["planted"] == t["planted error"]) & (power["quantity"] == t["quantity"])
        ]
        per_size = ", ".join(
            f"{r['size']:g}: {int(r['caught'])}/{int(r['seeds'])}" for _, r in group.iterrows()
        )
        lines.append(
            f"| {t['planted error']} | {t['quantity']} | {t['caught at every seed from']} "
            f"| {t['caught at some seed from']} | {per_size} |"
        )
    return "\n".join(lines) + "\n"


def failed_rows(comparison: pd.DataFrame, quantity: str | None = None) -> pd.DataFrame:
    rows = comparison[comparison["verdict"] == VERDICT_FAIL]
    return rows if quantity is None else rows[rows["quantity"] == quantity]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="20001-20005", help="fresh verification seeds")
    parser.add_argument("--duration-scale", type=float, default=1.0, help="durations x this")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--simulated",
        default="exc_weight_scale=1.02,exc_weight_scale=1.05,tau_m_scale=1.01,tau_m_scale=1.02",
        help="physical plants simulated at the first seed, comma-separated ('' for none)",
    )
    parser.add_argument(
        "--no-measurement-plants",
        action="store_true",
        help="skip the graded measurement plants (FAMILIES; false alarms and simulated "
        "plants only)",
    )
    parser.add_argument(
        "--closed-loop",
        default="delay_scale=1.05,1.1;inh_weight_scale=1.025,1.05;drive_e_scale=1.025,1.05",
        help="closed-loop plants simulated at every seed: NAME=SIZE,SIZE;NAME=... ('' for none)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "power")
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="also write the record that README.md and the docs quote "
        "(benchmarks/records/verdict_power.yaml; scripts/readme_numbers.py)",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    params = load_params(None)
    config = load_validation()
    store = ResultStore(args.cache_dir)
    seeds = parse_seeds(args.seeds)
    sim = params["simulation"]

    def settings(seed, planted="none"):
        s = default_settings(params)
        s.seed, s.planted = seed, planted
        if args.duration_scale != 1.0:
            s.network_options = {"duration": args.duration_scale * sim["network_duration"]}
            s.transfer_options = {"duration": args.duration_scale * sim["transfer_duration"]}
        return s

    baseline = {}
    alarms = []
    for seed in seeds:
        t = time.perf_counter()
        result = run_validation(
            params, settings(seed), store, config, workers=args.workers, progress=False
        )
        baseline[seed] = result
        table = result.comparison
        judged = table[table["verdict"] != "not judged"]
        for quantity, group in judged.groupby("quantity", sort=False):
            bad = failed_rows(group)
            alarms.append(
                {
                    "seed": seed,
                    "quantity": quantity,
                    "judged rows": len(group),
                    "false alarms": len(bad),
                    "rows": ", ".join(check_id(r) for _, r in bad.iterrows()),
                }
            )
        print(f"seed {seed}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    alarms = pd.DataFrame(alarms)

    power = []
    for name, region, quantity, sizes in [] if args.no_measurement_plants else FAMILIES:
        for size in sizes:
            planted = f"{name}={size:g}{region}"
            caught = []
            for seed in seeds:
                base_failed = not failed_rows(baseline[seed].comparison, quantity).empty
                table = replant(baseline[seed], params, planted).comparison
                hit = failed_rows(table, quantity)
                caught.append(
                    {
                        "seed": seed,
                        "caught": not hit.empty and not base_failed,
                        "by": ", ".join(check_id(r) for _, r in hit.head(3).iterrows()),
                    }
                )
            power.append(
                {
                    "planted": f"{name}{region}",
                    "quantity": quantity,
                    "size": size,
                    "caught": sum(c["caught"] for c in caught),
                    "seeds": len(seeds),
                    "example rows": caught[0]["by"],
                }
            )
    power = pd.DataFrame(
        power, columns=["planted", "quantity", "size", "caught", "seeds", "example rows"]
    )

    from mfval.comparison.closed_loop import CLOSED_LOOP_QUANTITIES

    closed = []
    for family in [x.strip() for x in args.closed_loop.split(";") if x.strip()]:
        name, _, sizes = family.partition("=")
        for size in [float(x) for x in sizes.split(",")]:
            planted = f"{name}={size:.10g}"  # a delay must stay on the time grid
            caught = []
            for seed in seeds:
                t = time.perf_counter()
                table = run_validation(
                    params,
                    settings(seed, planted),
                    store,
                    config,
                    workers=args.workers,
                    progress=False,
                ).comparison
                base = baseline[seed].comparison
                base_failed = base["quantity"].isin(CLOSED_LOOP_QUANTITIES) & (
                    base["verdict"] == VERDICT_FAIL
                )
                hit = failed_rows(table)
                hit = hit[hit["quantity"].isin(CLOSED_LOOP_QUANTITIES)]
                caught.append(
                    {
                        "caught": not hit.empty and not base_failed.any(),
                        "by": ", ".join(check_id(r) for _, r in hit.iterrows()),
                        "n": len(hit),
                    }
                )
                print(
                    f"{planted} seed {seed}: {len(hit)} closed-loop rows fail "
                    f"({time.perf_counter() - t:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            closed.append(
                {
                    "planted": name,
                    "quantity": "closed loop",
                    "size": size,
                    "caught": sum(c["caught"] for c in caught),
                    "seeds": len(seeds),
                    "failing rows per seed": ", ".join(str(c["n"]) for c in caught),
                    "example rows": "; ".join(c["by"] for c in caught[:1]),
                }
            )
    closed = pd.DataFrame(closed)

    weight = []
    for planted in [x.strip() for x in args.simulated.split(",") if x.strip()]:
        seed = seeds[0]
        result = run_validation(
            params, settings(seed, planted), store, config, workers=args.workers, progress=False
        )
        base = baseline[seed].network.set_index(["mu_mV", "sigma_mV", "population"])["rate_hz"]
        now = result.network.set_index(["mu_mV", "sigma_mV", "population"])["rate_hz"]
        change = (now / base - 1).mul(100).round(1)
        hit = failed_rows(result.comparison)
        weight.append(
            {
                "planted": planted,
                "seed": seed,
                "rate change % (E, per point)": ", ".join(
                    f"({m:g},{s:g}) {v:+.1f}" for (m, s, pop), v in change.items() if pop == "E"
                ),
                "failed rows": len(hit),
                "failed quantities": ", ".join(sorted(set(hit["quantity"]))),
                "example rows": ", ".join(check_id(r) for _, r in hit.head(3).iterrows()),
            }
        )
    weight = pd.DataFrame(weight)

    thresholds = []
    both = pd.concat([power, closed], ignore_index=True) if len(closed) else power
    for (planted, quantity), group in both.groupby(["planted", "quantity"], sort=False):
        every = group[group["caught"] == group["seeds"]]["size"]
        some = group[group["caught"] > 0]["size"]
        thresholds.append(
            {
                "planted error": planted,
                "quantity": quantity,
                "caught at every seed from": f"{every.min():g}" if len(every) else "not caught",
                "caught at some seed from": f"{some.min():g}" if len(some) else "not caught",
                "sizes tried": ", ".join(f"{x:g}" for x in group["size"]),
            }
        )
    thresholds = pd.DataFrame(thresholds)

    args.out.mkdir(parents=True, exist_ok=True)
    from mfval.io import write_csv, write_text

    write_csv(alarms, args.out / "false_alarms.csv")
    write_csv(power, args.out / "power.csv")
    write_csv(weight, args.out / "weight_plants.csv")
    write_csv(closed, args.out / "closed_loop_plants.csv")
    write_csv(thresholds, args.out / "thresholds.csv")
    write_text(markdown_thresholds(thresholds, both, alarms, seeds), args.out / "power_table.md")
    summary = alarms.groupby("quantity", sort=False)[["judged rows", "false alarms"]].sum()
    print(
        f"# verdict power: seeds {seeds}, duration scale {args.duration_scale:g}, "
        f"family-wise alpha {config.family_wise_alpha:g}, "
        f"expected deviations {', '.join(r['id'] for r in config.expected.records) or 'none'}"
    )
    print("\n## False alarms (no planted error), summed over seeds\n")
    print(summary.to_string())
    print(
        f"\nseeds with any false alarm: {alarms.groupby('seed')['false alarms'].sum().gt(0).sum()}"
    )
    print("\n## Detection thresholds (size: factor, deg or ms)\n")
    print(thresholds.to_string(index=False))
    print("\n## Caught fraction per size\n")
    print(power.drop(columns="example rows").to_string(index=False))
    if len(closed):
        print("\n## Closed-loop plants, simulated at every seed\n")
        print(closed.drop(columns="example rows").to_string(index=False))
        for _, row in closed.iterrows():
            print(f"  {row['planted']}={row['size']:g}, first seed: {row['example rows']}")
    if len(weight):
        print("\n## Physical plants, simulated (first seed)\n")
        print(weight.to_string(index=False))
    print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.record is not None:
        write_record(args, seeds, config, alarms, power, weight, time.perf_counter() - start)
    print(f"command: python benchmarks/verdict_power.py {shlex.join(argv or sys.argv[1:])}")
    return 0


def thresholds_of(power: pd.DataFrame, n_seeds: int) -> list[dict]:
    """Detection thresholds per planted family (the record's ``thresholds``).

    ``power``: one row per planted family, quantity and size with ``caught`` (seeds
    at which a row of the quantity failed) and ``seeds``.
    """
    thresholds = []
    for (planted, quantity), group in power.groupby(["planted", "quantity"], sort=False):
        name, _, region = planted.partition("@")
        every = group[group["caught"] == group["seeds"]]["size"]
        some = group[group["caught"] > 0]
        first = some.loc[some["size"].idxmin()] if len(some) else None
        thresholds.append(
            {
                "planted": name,
                "region": f"@{region}" if region else "",
                "quantity": quantity,
                "seeds": int(n_seeds),
                "every_seed_from": float(every.min()) if len(every) else None,
                "some_seed_from": None if first is None else float(first["size"]),
                "some_seed_caught": 0 if first is None else int(first["caught"]),
                "sizes": [float(x) for x in group["size"]],
            }
        )
    return thresholds


def write_record(args, seeds, config, alarms, power, weight, wall_s: float) -> None:
    """The record of this run (provenance, false alarms, thresholds, physical plants), as YAML.

    ``scripts/readme_numbers.py`` generates the README's and the documentation's
    power tables from it; ``tests/test_docs_numbers.py`` fails when they differ.
    """
    import datetime
    import shlex
    import subprocess

    import yaml

    from mfval.theory.versions import software_versions

    def commit() -> str:
        run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return run.stdout.strip()

    thresholds = thresholds_of(power, len(seeds))
    judged = alarms.groupby("seed")["judged rows"].sum()
    record = {
        "record": {
            "id": f"power-{datetime.date.today().isoformat()}-s{seeds[0]}-{seeds[-1]}",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": "python benchmarks/verdict_power.py " + shlex.join(sys.argv[1:]),
            "seeds": seeds,
            "duration_scale": args.duration_scale,
            "family_wise_alpha": float(config.family_wise_alpha),
            "expected_deviations": [r["id"] for r in config.expected.records],
            "wall_s": round(wall_s, 1),
            "workers": args.workers,
            "versions": {k: str(v) for k, v in software_versions().items()},
            "git_commit": commit(),
        },
        "false_alarms": {
            "judged_rows_per_seed": int(judged.max()) if len(judged) else 0,
            "false_alarms": int(alarms["false alarms"].sum()),
            "seeds_with_false_alarm": int(alarms.groupby("seed")["false alarms"].sum().gt(0).sum()),
        },
        "thresholds": thresholds,
        "physical": [
            {
                "planted": row["planted"],
                "description": row["planted"],
                "seed": int(row["seed"]),
                "rate_change_E": row["rate change % (E, per point)"],
                "failed_rows": int(row["failed rows"]),
                "failed_quantities": [q for q in row["failed quantities"].split(", ") if q],
            }
            for _, row in weight.iterrows()
        ],
    }
    header = (
        "# Measured false alarms and detection thresholds of the verdicts, written by\n"
        "# `python benchmarks/verdict_power.py --record FILE`. Do not edit by hand: rerun.\n"
    )
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(header + yaml.safe_dump(record, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
