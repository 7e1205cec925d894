"""The numbers and tables that README.md and the documentation quote, generated from records.

Nothing quoted here is typed by hand. Every value comes from a recorded file:

- ``params/expected_deviations.yaml``: the calibration records and the expected
  deviations of the theory (written by ``mfval calibrate``);
- ``benchmarks/records/verdict_power.yaml``: false alarms at fresh seeds and the
  detection thresholds of planted errors (written by
  ``python benchmarks/verdict_power.py --record FILE``);
- ``benchmarks/records/spatial.yaml``: the spatial ring's sweep, onsets and spectra
  (written by ``python scripts/spatial_findings.py OUT --record FILE`` from the output
  of ``mfval spatial``).

README.md carries each generated value between markers::

    <!-- generated:NAME -->TEXT<!-- /generated -->

``python scripts/readme_numbers.py`` rewrites every TEXT from the sources;
``--check`` rewrites nothing and exits 1, naming each marker whose TEXT differs
from its source (``tests/test_docs_numbers.py`` runs it). The documentation site
(``docs/``) renders the same values and tables at build time (``docs/_ext``).

New quantities or planted errors in the records (e.g. closed-loop calibration
entries, closed-loop power rows) appear in the tables without an edit here: rows
are grouped by whatever ``quantity``, ``population`` and planted names the records
hold.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = Path("params") / "expected_deviations.yaml"
POWER = Path("benchmarks") / "records" / "verdict_power.yaml"
SPATIAL = Path("benchmarks") / "records" / "spatial.yaml"
MARKER = re.compile(r"<!-- generated:(?P<name>[\w.-]+) -->(?P<text>.*?)<!-- /generated -->", re.S)

#: readable names of the planted-error families of benchmarks/verdict_power.py
PLANT_LABELS = {
    "delay_scale": "closed loop: recurrent delay x (1 + e)",
    "inh_weight_scale": "closed loop: inhibitory weights (loop gain) x (1 + e)",
    "drive_e_scale": "closed loop: external drive of E x (1 + e)",
    "rate_scale": "rate x (1 + e)",
    "tf_gain": "gain x (1 + e)",
    "tf_phase_deg": "phase + d",
    "tf_latency_ms": "latency",
}
#: readable names of the calibrated quantities
QUANTITY_LABELS = {
    "rate": "rate",
    "mu_realized": "realized mu",
    "sigma_realized": "realized sigma",
    "tau_rate": "fitted tau_rate",
    "W_rate": "fitted W_rate",
    "tf_amplitude": "gain of N(f)",
    "tf_phase": "phase of N(f)",
}
#: band of the "low frequencies" column of the findings table (Hz)
LOW_BAND_HZ = 25.0


# -- sources -------------------------------------------------------------------------------


def load(root: Path = ROOT) -> dict:
    """The recorded sources, parsed: ``{"calibration": ..., "power": ..., "spatial": ...}``."""
    out = {}
    for name, rel in (("calibration", CALIBRATION), ("power", POWER), ("spatial", SPATIAL)):
        with open(Path(root) / rel, encoding="utf-8") as fh:
            out[name] = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return out


def is_closed_loop(record: dict) -> bool:
    """Whether a calibration record is the closed loop's (``mfval calibrate --closed-loop``)."""
    return "closed_loop" in (record.get("protocols") or [])


def main_record(calibration: dict, closed_loop: bool = False) -> dict:
    """The open-loop (or closed-loop) calibration record that most entries name (in force)."""
    counts: dict = defaultdict(int)
    for entry in calibration.get("entries") or []:
        counts[entry.get("record")] += 1
    records = [
        r for r in calibration.get("records") or [] if is_closed_loop(r) == bool(closed_loop)
    ]
    if not records:
        raise ValueError("no calibration record in the expected deviations")
    return max(records, key=lambda r: counts.get(r["id"], 0))


# -- formatting ----------------------------------------------------------------------------


def signed(x: float, digits: int = 1) -> str:
    """``+1.2`` / ``-0.3``: a signed number at fixed precision.

    >>> signed(0.0123 * 100), signed(-12.634, 1)
    ('+1.2', '-12.6')
    """
    return f"{x:+.{digits}f}"


def point_label(mu: float, sigma: float) -> str:
    """``(6, 12)``: a working point in mV.

    >>> point_label(6.0, 12.0)
    '(6, 12)'
    """
    return f"({mu:g}, {sigma:g})"


def deviation_text(entries: list[dict]) -> str:
    """One table cell: the deviation +- SE, or the range of several.

    Relative deviations in %, absolute ones in the quantity's unit (deg, mV).

    >>> deviation_text([{"deviation": -0.12635, "se": 0.01084, "scale": "relative"}])
    '-12.6 +- 1.1 %'
    >>> deviation_text([{"deviation": d, "se": 0.1, "scale": "absolute", "quantity": "tf_phase"}
    ...                 for d in (0.3, 2.1)])
    '+0.3..+2.1 deg'
    """
    rel = entries[0]["scale"] == "relative"
    factor, unit = (100.0, "%") if rel else (1.0, unit_of(entries[0].get("quantity", "")))
    digits = 2 if unit == "mV" else 1
    values = [factor * e["deviation"] for e in entries]
    if len(values) == 1:
        se = factor * entries[0]["se"]
        return f"{signed(values[0], digits)} +- {se:.{digits}f} {unit}".strip()
    return f"{signed(min(values), digits)}..{signed(max(values), digits)} {unit}".strip()


def unit_of(quantity: str) -> str:
    """Unit of an absolute deviation.

    >>> unit_of("tf_phase"), unit_of("mu_realized")
    ('deg', 'mV')
    """
    return {"tf_phase": "deg", "mu_realized": "mV"}.get(quantity, "")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table.

    >>> print(markdown_table(["a", "b"], [["1", "2"]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# -- calibration ---------------------------------------------------------------------------


def calibration_rows(calibration: dict) -> tuple[list[str], list[list[str]]]:
    """The findings table: expected deviation of the theory per quantity and working point.

    Scalar quantities get one cell per point (deviation +- SE); curves over
    frequency get two rows: the range below :data:`LOW_BAND_HZ` and the value at
    the highest calibrated frequency.
    """
    entries = calibration.get("entries") or []
    where = lambda e: (e.get("mu_mV"), e.get("sigma_mV"))  # noqa: E731
    points = sorted(
        {where(e) for e in entries}, key=lambda p: [math.inf if x is None else x for x in p]
    )
    groups: dict = defaultdict(list)
    for e in entries:
        groups[(e["quantity"], e["population"])].append(e)
    rows = []
    order = list(QUANTITY_LABELS)

    def rank(key):
        quantity, population = key
        return (order.index(quantity) if quantity in order else len(order), quantity, population)

    for quantity, population in sorted(groups, key=rank):
        group = groups[(quantity, population)]
        pop = str(population).replace(" (", ", ").replace(")", "")
        name = f"{QUANTITY_LABELS.get(quantity, quantity)} ({pop})"
        freqs = sorted({e["frequency_hz"] for e in group if e.get("frequency_hz") is not None})
        group = [e for e in group if not freqs or e.get("frequency_hz") is not None]
        if not freqs:
            variants = [(name, lambda e: True)]
        else:
            top = freqs[-1]
            low = [f for f in freqs if f < LOW_BAND_HZ] or freqs[:1]
            variants = [
                (
                    f"{name}, {low[0]:g}-{low[-1]:g} Hz",
                    lambda e: e["frequency_hz"] < LOW_BAND_HZ,
                ),
                (f"{name}, {top:g} Hz", lambda e, top=top: e["frequency_hz"] == top),
            ]
        for label, keep in variants:
            cells = []
            for mu, sigma in points:
                at = [e for e in group if where(e) == (mu, sigma) and keep(e)]
                cells.append(deviation_text(at) if at else "not calibrated")
            rows.append([label, *cells])
    header = ["quantity (population)"] + [
        "no working point" if None in p else f"{point_label(*p)} mV" for p in points
    ]
    return header, rows


def calibration_values(calibration: dict, closed_loop: bool = False) -> dict[str, str]:
    """Named values of the calibration in force (``cal.*``; closed loop: ``calcl.*``)."""
    record = main_record(calibration, closed_loop)
    entries = [e for e in calibration.get("entries") or [] if e.get("record") == record["id"]]
    missing = [e for e in calibration.get("not_recorded") or [] if e.get("record") == record["id"]]
    keys = len(entries) + len(missing)
    k = float(record.get("k_agree", 3.0))
    chance = keys * math.erfc(k / math.sqrt(2))
    points = ", ".join(point_label(*p) for p in record.get("points_mV", []))
    values = {
        "cal.record": record["id"],
        "cal.command": record.get("command", ""),
        "cal.date": str(record.get("date", ""))[:10],
        "cal.simulators": " and ".join(record.get("simulators", [])),
        "cal.seeds": ", ".join(str(s) for s in record.get("run_seeds", [])),
        "cal.points": points,
        "cal.duration_factor": f"{record.get('duration_factor', 1):g}",
        "cal.wall_s": f"{record.get('wall_s', float('nan')):.0f}",
        "cal.keys": str(keys),
        "cal.recorded": str(len(entries)),
        "cal.not_recorded": str(len(missing)),
        "cal.k_agree": f"{k:g}",
        "cal.chance_disagreements": f"{chance:.2f}",
        "cal.versions": ", ".join(f"{k} {v}" for k, v in (record.get("versions") or {}).items()),
        "cal.git_commit": str(record.get("git_commit", ""))[:12],
    }
    header, rows = calibration_rows({"entries": entries})
    values["cal.table"] = markdown_table(header, rows)
    if closed_loop:
        values = {"calcl." + k.split(".", 1)[1]: v for k, v in values.items()}
    return values


# -- power ---------------------------------------------------------------------------------


def size_text(planted: str, size: float) -> str:
    """A planted error's size in words.

    >>> size_text("rate_scale", 1.03), size_text("tf_phase_deg", 0.5)
    ('3 %', '0.5 deg')
    >>> size_text("tf_latency_ms", 0.05)
    '0.05 ms (1.8 deg at 100 Hz)'
    """
    if planted.endswith("_scale") or planted == "tf_gain":
        return f"{round((size - 1) * 100, 6):g} %"
    if planted.endswith("_deg"):
        return f"{size:g} deg"
    if planted.endswith("_ms"):
        return f"{size:g} ms ({360 * 100 * size * 1e-3:.1f} deg at 100 Hz)"
    return f"{size:g}"


def region_text(region: str, quantity: str) -> str:
    """Where a planted error acts, from its region suffix (``@MU,SIGMA``, ``@F1-F2Hz``).

    >>> region_text("", "rate"), region_text("@6,6@25-80Hz", "tf_gain")
    ('all points', '(6, 6) mV, 25-80 Hz')
    >>> region_text("@25-80Hz", "tf_phase")
    '25-80 Hz only'
    """
    parts = [p for p in region.split("@") if p]
    if not parts:
        return "stability point" if quantity == "closed loop" else "all points"
    words = []
    for p in parts:
        if p.endswith("Hz"):
            words.append(p[:-2] + " Hz")
        else:
            words.append("(" + ", ".join(p.split(",")) + ") mV")
    return ", ".join(words) + (" only" if len(words) == 1 else "")


def power_rows(power: dict) -> list[list[str]]:
    """The detection-threshold table (README "Power and false alarms")."""
    rows = []
    for t in power.get("thresholds") or []:
        name, n = t["planted"], t["seeds"]
        every = t.get("every_seed_from")
        some = t.get("some_seed_from")
        every_text = "not caught" if every is None else size_text(name, every)
        if some is None:
            some_text = "not caught"
        else:
            some_text = size_text(name, some)
            caught = t.get("some_seed_caught", n)
            if caught < n:
                some_text += f" ({caught}/{n})"
        rows.append(
            [
                PLANT_LABELS.get(name, name),
                region_text(t.get("region", ""), t["quantity"]),
                every_text,
                some_text,
            ]
        )
    return rows


def power_values(power: dict) -> dict[str, str]:
    """Named values of the power benchmark's record (``power.*``)."""
    record = power["record"]
    alarms = power["false_alarms"]
    n = len(record["seeds"])
    seeds = record["seeds"]
    values = {
        "power.id": record["id"],
        "power.command": record["command"],
        "power.date": str(record["date"])[:10],
        "power.seeds": f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0]),
        "power.n_seeds": str(n),
        "power.wall_s": "not recorded"
        if record.get("wall_s") is None
        else f"{record['wall_s']:.0f}",
        "power.alpha": f"{record['family_wise_alpha']:g}",
        "power.calibration": ", ".join(record.get("expected_deviations", [])),
        "power.false_alarms": (
            f"{alarms['false_alarms']} false alarm{'s' if alarms['false_alarms'] != 1 else ''} "
            f"in {n} seeds"
        ),
        "power.judged_rows": str(alarms["judged_rows_per_seed"]),
        "power.seeds_with_alarm": str(alarms["seeds_with_false_alarm"]),
    }
    header = [
        "planted error",
        "where",
        f"caught at {n}/{n} seeds from",
        "(caught at some from)",
    ]
    values["power.table"] = markdown_table(header, power_rows(power))
    physical = power.get("physical") or []
    values["power.physical_table"] = markdown_table(
        ["planted error", "rate change (E)", "failing rows"],
        [
            [
                p["description"],
                p["rate_change_E"],
                f"{p['failed_rows']} ({', '.join(p['failed_quantities'])})",
            ]
            for p in physical
        ],
    )
    values["power.physical_seed"] = str(physical[0]["seed"]) if physical else ""
    return values


def spatial_values(spatial: dict) -> dict[str, str]:
    """Named values of the spatial ring's record (``spatial.*``)."""
    record, onset = spatial["record"], spatial["onset"]
    control = onset["control"]
    values = {
        "spatial.id": record["id"],
        "spatial.command": record["command"],
        "spatial.date": str(record["date"])[:10],
        "spatial.wall_s": f"{record['wall_s']:.0f}",
        "spatial.verdicts": ", ".join(f"{v} {k}" for k, v in sorted(spatial["verdicts"].items())),
        "spatial.psd_setting": spatial["psd_setting"],
    }
    values["spatial.settings_table"] = markdown_table(
        ["setting", "LIF theory", "rate (Hz)", "peak mode n*", "peak f* (Hz)", "order parameter"],
        [
            [
                s["setting"],
                f"{s['state_lif']} ({s['eigenvalue_max_lif']:g})",
                f"{s['rate_hz']:.1f} +- {s['rate_se_hz']:.1f} (theory {s['theory_rate_hz']:.1f})",
                str(s["peak_mode"]),
                f"{s['peak_frequency_hz']:.0f} +- {s['peak_frequency_se_hz']:.0f}",
                f"{s['order_parameter']:.1f} +- {s['order_parameter_se']:.1f}",
            ]
            for s in spatial["settings"]
        ],
    )
    rows = []
    for tag, label in (("lif", "LIF theory"), ("rate", "rate model"), ("semi", "semi-empirical")):
        if f"{control}_c_{tag}" in onset:
            rows.append(
                [
                    label,
                    f"{onset[f'{control}_c_{tag}']:g}",
                    str(onset.get(f"mode_{control}_{tag}", "")),
                    f"{onset.get(f'f_star_{control}_{tag}_hz', math.nan):.0f}",
                ]
            )
    if f"{control}_c_sim" in onset:
        rows.append(
            [
                "simulation (Brian2)",
                f"{onset[f'{control}_c_sim']:g} +- {onset[f'{control}_c_sim_se']:.2g} "
                f"(between {onset[f'{control}_c_sim_bracket'].replace('..', ' and ')})",
                "",
                "",
            ]
        )
    values["spatial.onset_table"] = markdown_table(
        [f"onset along {control}", "value", "mode", "f* (Hz)"], rows
    )
    values["spatial.psd_table"] = markdown_table(
        [
            "population",
            "mode n",
            "k (1/mm)",
            "f (Hz)",
            "simulation (1/s)",
            "LIF theory",
            "rate model",
        ],
        [
            [
                p["population"],
                str(p["mode"]),
                f"{p['k_per_mm']:.1f}",
                f"{p['f_hz']:.0f}",
                f"{p['sim_per_s']:.3g} +- {p['se_per_s']:.2g}",
                f"{p['lif_per_s']:.3g} ({p['sim_per_s'] / p['lif_per_s'] - 1:+.0%})",
                f"{p['rate_model_per_s']:.3g} ({p['sim_per_s'] / p['rate_model_per_s'] - 1:+.0%})",
            ]
            for p in spatial["psd"]
        ],
    )
    return values


def generated_values(root: Path = ROOT) -> dict[str, str]:
    """Every named value and table the README and the documentation may quote."""
    sources = load(root)
    return {
        **calibration_values(sources["calibration"]),
        **calibration_values(sources["calibration"], closed_loop=True),
        **power_values(sources["power"]),
        **spatial_values(sources["spatial"]),
    }


# -- README markers ------------------------------------------------------------------------


def render(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with every marker filled from ``values``; also the names that changed.

    A table (a value with several lines) goes on lines of its own between the markers; a
    value quoted as code (between backticks inside the markers) stays quoted.

    >>> render("n = <!-- generated:n -->7<!-- /generated -->.", {"n": "8"})
    ('n = <!-- generated:n -->8<!-- /generated -->.', ['n'])
    >>> render("<!-- generated:id -->`a`<!-- /generated -->", {"id": "b"})[0]
    '<!-- generated:id -->`b`<!-- /generated -->'

    """
    changed = []

    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in values:
            raise KeyError(f"README marker 'generated:{name}' has no source (known: see --list)")
        new = values[name]
        if "\n" in new:
            new = "\n" + new + "\n"
        elif len(match["text"]) > 1 and match["text"][0] == match["text"][-1] == "`":
            new = f"`{new}`"  # a value quoted as code stays code
        if new != match["text"]:
            changed.append(name)
        return f"<!-- generated:{name} -->{new}<!-- /generated -->"

    return MARKER.sub(fill, text), changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a number is stale"
    )
    parser.add_argument("--list", action="store_true", help="print every name and value")
    args = parser.parse_args(argv)
    values = generated_values()
    if args.list:
        for name, value in values.items():
            print(f"{name}: {value}")
        return 0
    text = args.readme.read_text(encoding="utf-8")
    new, changed = render(text, values)
    if args.check:
        for name in changed:
            print(f"{args.readme.name}: generated:{name} differs from its source", file=sys.stderr)
        return 1 if changed else 0
    if changed:
        args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme.name}: {len(changed)} generated value(s) updated: {', '.join(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
