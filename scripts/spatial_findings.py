"""Markdown tables of a ``mfval spatial`` output folder: the findings of issue 17.

Reads ``spatial_sweep.csv``, ``spatial_spectra.csv``, ``spatial_theory.csv`` and
``spatial_comparison.csv`` of ``--out`` and prints (numbers from the files, never
typed by hand):

1. per setting: the LIF theory's state, the measured rates, peak (n*, f*),
   order parameter and direction, with SEs;
2. the predicted onsets along the control (LIF, rate model, semi-empirical) and
   the measured bracket;
3. P(k_n, f) at the stable setting closest to the onset for a few modes and
   frequencies: simulation +- SE, LIF theory, rate model, and the relative misses;
4. the verdict counts and every failed row.

Usage::

    python scripts/spatial_findings.py output/spatial [--modes 0,1,2,3] [--frequencies 20,100,200]

With ``--record FILE`` (and ``--command``, ``--wall-s``) the same tables are written as
the record that README.md and the documentation quote
(``benchmarks/records/spatial.yaml``, read by ``scripts/readme_numbers.py``), with the
command, seed, date and software versions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from mfval.comparison.tables import markdown_table


def _plain(value):
    """A YAML-safe scalar: int, float (4 significant digits) or str."""
    if isinstance(value, str):
        return value
    if float(value).is_integer() and not isinstance(value, float):
        return int(value)
    return float(f"{float(value):.4g}")


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def psd_rows(spectra: pd.DataFrame, theory: pd.DataFrame, modes, frequencies) -> list[dict]:
    """Simulated and predicted P(k_n, f) of one setting at the given modes and frequencies.

    ``spectra`` and ``theory``: one setting's rows of ``spatial_spectra.csv`` and
    ``spatial_theory.csv``; the simulated bin nearest each frequency, the theory at
    that bin. Full precision (the record rounds).
    """
    rows = []
    for pop in spectra["population"].unique():
        for n in modes:
            for f in frequencies:
                a = spectra[(spectra["population"] == pop) & (spectra["mode"] == n)]
                a = a.iloc[(a["frequency_hz"] - f).abs().argmin()]
                b = theory[(theory["population"] == pop) & (theory["mode"] == n)]
                b = b.iloc[(b["frequency_hz"] - a["frequency_hz"]).abs().argmin()]
                rows.append(
                    {
                        "population": pop,
                        "mode": n,
                        "k_per_mm": a["wave_number_per_mm"],
                        "f_hz": a["frequency_hz"],
                        "sim_per_s": a["psd_per_s"],
                        "se_per_s": a["psd_se_per_s"],
                        "lif_per_s": b["psd_lif_per_s"],
                        "rate_model_per_s": b["psd_rate_per_s"],
                    }
                )
    return rows


def tables(folder: Path, modes, frequencies) -> dict:
    """The findings as plain tables (lists of dicts) from the output folder."""
    sweep = pd.read_csv(folder / "spatial_sweep.csv")
    spectra = pd.read_csv(folder / "spatial_spectra.csv")
    theory = pd.read_csv(folder / "spatial_theory.csv")
    comparison = pd.read_csv(folder / "spatial_comparison.csv")
    control = sweep["control"].fillna("").iloc[0] or "g"
    e = sweep[sweep["population"] == sweep["population"].iloc[0]]
    settings = [
        {
            "setting": r.setting,
            "state_lif": r.state_lif,
            "eigenvalue_max_lif": round(float(r.eigenvalue_max_lif), 3),
            "rate_hz": round(float(r.rate_hz), 2),
            "rate_se_hz": round(float(r.rate_se_hz), 2),
            "theory_rate_hz": round(float(r.theory_rate_hz), 2),
            "peak_mode": int(r.peak_mode),
            "peak_frequency_hz": float(r.peak_frequency_hz),
            "peak_frequency_se_hz": round(float(r.peak_frequency_se_hz), 1),
            "order_parameter": round(float(r.order_parameter), 1),
            "order_parameter_se": round(float(r.order_parameter_se), 1),
        }
        for r in e.itertuples()
    ]
    first = e.iloc[0]
    onset = {"control": control}
    for model in ("lif", "rate", "semi", "sim"):
        for key in (
            f"{control}_c_{model}",
            f"mode_{control}_{model}",
            f"f_star_{control}_{model}_hz",
        ):
            if key in e and pd.notna(first[key]):
                onset[key] = _plain(first[key])
    for key in (
        f"{control}_c_sim_se",
        f"{control}_c_sim_bracket",
        "g_c_lif",
        "g_c_rate",
        "g_c_semi",
    ):
        if key in e and pd.notna(first[key]):
            onset[key] = _plain(first[key])
    psd = []
    stable = sweep[sweep["state_lif"] == "stable"]
    setting = ""
    if len(stable):
        setting = stable.sort_values("eigenvalue_max_lif")["setting"].iloc[-1]
        s = spectra[(spectra["setting"] == setting) & (spectra["simulator"] == "brian2")]
        t = theory[theory["setting"] == setting]
        psd = [
            {
                "population": r["population"],
                "mode": int(r["mode"]),
                "k_per_mm": round(float(r["k_per_mm"]), 2),
                "f_hz": float(r["f_hz"]),
                "sim_per_s": float(f"{r['sim_per_s']:.4g}"),
                "se_per_s": float(f"{r['se_per_s']:.2g}"),
                "lif_per_s": float(f"{r['lif_per_s']:.4g}"),
                "rate_model_per_s": float(f"{r['rate_model_per_s']:.4g}"),
            }
            for r in psd_rows(s, t, modes, frequencies)
        ]
    counts = {str(k): int(v) for k, v in comparison["verdict"].value_counts().items()}
    return {
        "settings": settings,
        "onset": onset,
        "psd_setting": setting,
        "psd": psd,
        "verdicts": counts,
    }


def write_record(folder: Path, path: Path, command: str, wall_s: float, modes, frequencies):
    """Write the record of a ``mfval spatial`` run (its tables with provenance)."""
    import datetime

    import yaml

    from mfval.simulation.model.versions import brian2_version
    from mfval.theory.versions import software_versions

    sweep = pd.read_csv(folder / "spatial_sweep.csv")
    record = {
        "record": {
            "id": f"spatial-{datetime.date.today().isoformat()}-s{int(sweep['seed'].iloc[0])}",
            "date": datetime.date.today().isoformat(),
            "command": command,
            "wall_s": round(float(wall_s)),
            "cores": 2,
            "first_setting_seed": int(sweep["seed"].iloc[0]),
            "simulators": sorted(set(sweep["simulator"])),
            "versions": {**software_versions(), "brian2": brian2_version()},
        },
        **tables(folder, modes, frequencies),
    }
    header = (
        "# Findings of the spatial ring (issue 17), written by\n"
        "# `python scripts/spatial_findings.py OUT --record benchmarks/records/spatial.yaml`\n"
        "# from the output of the command below. Do not edit by hand (README.md and the\n"
        "# documentation are generated from this file by scripts/readme_numbers.py).\n"
    )
    path.write_text(header + yaml.safe_dump(record, sort_keys=False, width=100))


def findings(folder: Path, modes, frequencies) -> str:
    sweep = pd.read_csv(folder / "spatial_sweep.csv")
    spectra = pd.read_csv(folder / "spatial_spectra.csv")
    theory = pd.read_csv(folder / "spatial_theory.csv")
    comparison = pd.read_csv(folder / "spatial_comparison.csv")
    out = []
    cols = [
        "setting",
        "simulator",
        "population",
        "state_lif",
        "eigenvalue_max_lif",
        "rate_hz",
        "rate_se_hz",
        "theory_rate_hz",
        "peak_mode",
        "peak_frequency_hz",
        "peak_frequency_se_hz",
        "order_parameter",
        "order_parameter_se",
        "direction_asymmetry",
        "direction_asymmetry_se",
        "phase_velocity_mm_per_s",
    ]
    out.append("## Settings\n\n" + markdown_table(sweep[[c for c in cols if c in sweep]]))
    control = sweep["control"].fillna("").iloc[0] or "g"
    pred_cols = [
        c
        for c in sweep.columns
        if c.startswith(
            (f"{control}_c_", f"mode_{control}_", f"k_star_{control}_", f"f_star_{control}_")
        )
        or (control == "g" and c.startswith(("g_c_", "mode_", "k_star_", "f_star_")))
    ]
    onset = sweep.groupby(["simulator", "population"])[pred_cols].first().reset_index()
    out.append(f"## Onset along {control}\n\n" + markdown_table(onset))
    stable = sweep[sweep["state_lif"] == "stable"]
    if len(stable):
        setting = stable.sort_values("eigenvalue_max_lif")["setting"].iloc[-1]
        s = spectra[(spectra["setting"] == setting) & (spectra["simulator"] == "brian2")]
        t = theory[theory["setting"] == setting]
        rows = [
            {
                **r,
                "lif_miss": r["sim_per_s"] / r["lif_per_s"] - 1,
                "rate_miss": r["sim_per_s"] / r["rate_model_per_s"] - 1,
            }
            for r in psd_rows(s, t, modes, frequencies)
        ]
        out.append(f"## P(k_n, f) at {setting} (stable)\n\n" + markdown_table(pd.DataFrame(rows)))
    counts = comparison["verdict"].value_counts().to_dict()
    failed = comparison[comparison["verdict"] == "fail"]
    text = f"## Verdicts\n\n{counts}\n"
    if len(failed):
        keep = ["setting", "simulator", "quantity", "population", "mode", "frequency_hz"]
        keep += ["theory", "simulation", "se", "allowance", "p_holm"]
        text += "\n" + markdown_table(failed[keep])
    out.append(text)
    return "\n\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--modes", type=_floats, default=[0, 1, 2, 3, 6])
    parser.add_argument("--frequencies", type=_floats, default=[20, 100, 200, 300])
    parser.add_argument("--record", type=Path, default=None, help="write the YAML record here")
    parser.add_argument("--command", default="mfval spatial", help="the command that ran")
    parser.add_argument("--wall-s", type=float, default=float("nan"), help="its wall time, s")
    args = parser.parse_args(argv)
    modes = [int(m) for m in args.modes]
    print(findings(args.folder, modes, args.frequencies))
    if args.record:
        write_record(args.folder, args.record, args.command, args.wall_s, modes, args.frequencies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
