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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from mfval.comparison.tables import markdown_table


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


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
        rows = []
        for pop in s["population"].unique():
            for n in modes:
                for f in frequencies:
                    a = s[(s["population"] == pop) & (s["mode"] == n)]
                    a = a.iloc[(a["frequency_hz"] - f).abs().argmin()]
                    b = t[(t["population"] == pop) & (t["mode"] == n)]
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
                            "lif_miss": a["psd_per_s"] / b["psd_lif_per_s"] - 1,
                            "rate_miss": a["psd_per_s"] / b["psd_rate_per_s"] - 1,
                        }
                    )
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
    args = parser.parse_args(argv)
    print(findings(args.folder, [int(m) for m in args.modes], args.frequencies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
