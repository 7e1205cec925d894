"""Write ``benchmarks/records/verdict_power.yaml`` from saved ``verdict_power.py`` outputs.

``benchmarks/verdict_power.py --out DIR`` saves its tables (``power.csv``,
``closed_loop_plants.csv``, ``false_alarms.csv``) in DIR. When a benchmark was run in
parts (open-loop families in one run, closed-loop plants in another, same seeds),
this script joins the saved tables into the one record that README.md and the
documentation quote, with the commands of the parts as provenance. It computes the
thresholds with the benchmark's own :func:`thresholds_of`; nothing is typed by hand.
The physical plants section is carried over from the previous record (not rerun).

Usage::

    python scripts/power_record_from_outputs.py --false-alarms OPEN_DIR \\
        --part OPEN_DIR "COMMAND" --part CLOSED_DIR "COMMAND" --wall-s S
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from verdict_power import thresholds_of  # noqa: E402

RECORD = ROOT / "benchmarks" / "records" / "verdict_power.yaml"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", nargs=2, action="append", metavar=("DIR", "COMMAND"))
    parser.add_argument("--false-alarms", type=Path, required=True, help="DIR of the full run")
    parser.add_argument("--seeds", required=True, help="e.g. 40001-40005")
    parser.add_argument("--expected-deviations", nargs="+", required=True)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args(argv)
    a, b = (int(x) for x in args.seeds.split("-"))
    seeds = list(range(a, b + 1))
    frames = []
    for folder, _ in args.part:
        for name in ("power.csv", "closed_loop_plants.csv"):
            path = Path(folder) / name
            if path.is_file() and path.stat().st_size > 1:
                frame = pd.read_csv(path)
                if len(frame):
                    frames.append(frame[["planted", "quantity", "size", "caught", "seeds"]])
    power = pd.concat(frames, ignore_index=True).drop_duplicates(
        ["planted", "quantity", "size"], keep="last"
    )
    alarms = pd.read_csv(args.false_alarms / "false_alarms.csv")
    judged = alarms.groupby("seed")["judged rows"].sum()
    previous = yaml.safe_load(args.record.read_text(encoding="utf-8"))
    record = {
        "record": {
            "id": f"power-{datetime.date.today().isoformat()}-s{seeds[0]}-{seeds[-1]}",
            "date": datetime.date.today().isoformat(),
            "command": " ; ".join(command for _, command in args.part),
            "seeds": seeds,
            "duration_scale": 1.0,
            "family_wise_alpha": args.alpha,
            "expected_deviations": list(args.expected_deviations),
            "wall_s": None,
            "source": "joined from the saved outputs of the commands above by "
            "scripts/power_record_from_outputs.py; physical plants carried over from "
            + previous["record"]["id"],
        },
        "false_alarms": {
            "judged_rows_per_seed": int(judged.max()),
            "false_alarms": int(alarms["false alarms"].sum()),
            "seeds_with_false_alarm": int(alarms.groupby("seed")["false alarms"].sum().gt(0).sum()),
        },
        "thresholds": thresholds_of(power, len(seeds)),
        "physical": previous.get("physical") or [],
    }
    header = (
        "# Measured false alarms and detection thresholds of the verdicts, written by\n"
        "# scripts/power_record_from_outputs.py from saved outputs of benchmarks/verdict_power.py\n"
        "# (see record.source). Do not edit by hand: rerun.\n"
    )
    args.record.write_text(header + yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    print(f"wrote {args.record}: {len(record['thresholds'])} thresholds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
