"""Expected deviations of the theory: the calibration table, its records, interpolation.

A calibration run (``mfval calibrate``, seeds disjoint from every verification
seed, longer durations) measures the deviation of the simulation from the
theory per quantity, working point, population and frequency, with its
standard error. Those deviations, and the record of how they were obtained
(command, seeds, durations, versions, code fingerprints, date), are written
to a committed file (``params/expected_deviations.yaml``). A verification run
then expects ``theory + expected deviation`` (:mod:`mfval.comparison.checks`).

Scale of a deviation (:data:`SCALES`): relative, ``sim / theory - 1``, for
rates, gains and fit parameters; absolute, ``sim - theory`` in the row's unit,
for the realized mean input (mV) and the phase (deg, wrapped).

Interpolation (:meth:`ExpectedDeviations.lookup`): linear in log f between
the two neighbouring calibrated frequencies; bilinear over the (mu, sigma)
grid inside a cell whose four corners (or two ends of an edge) are
calibrated. A frequency outside the calibrated range or a working point
outside every calibrated cell raises :class:`NotCalibrated` with the reason:
the suite never extrapolates an expected deviation. The SE of an
interpolated value combines the corners' SEs (independent estimates) with
the interpolation weights.

Several simulators (:func:`combine_simulators`): an expected deviation is
recorded only where every simulator that was run measured it and they agree
within ``k_agree`` standard errors of their difference; their weighted mean
is recorded. Rows where they disagree are kept apart (``not_recorded``) and
are not judged.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mfval.config import ParameterError, mapping, number, read_yaml

#: quantity -> scale of its deviation
SCALES: dict[str, str] = {
    "rate": "relative",
    "mu_realized": "absolute",
    "sigma_realized": "relative",
    "tf_amplitude": "relative",
    "tf_phase": "absolute",
    "tau_rate": "relative",
    "W_rate": "relative",
    # closed loop (mfval.comparison.closed_loop, `mfval calibrate --closed-loop`)
    "psd": "relative",
    "psd_rate_model": "relative",
    "psd_semi_empirical": "relative",
    "psd_aggregate": "relative",
    "psd_rate_model_aggregate": "relative",
    "psd_centroid": "absolute",
    "psd_peak": "absolute",
    "cv": "relative",
    "closed_loop_rate": "relative",
}

#: columns identifying one expected deviation
KEY_COLUMNS = ["quantity", "population", "mu_mV", "sigma_mV", "frequency_hz"]
#: columns of the table of expected deviations
ENTRY_COLUMNS = [*KEY_COLUMNS, "scale", "deviation", "se", "simulators", "record"]


class NotCalibrated(LookupError):
    """No expected deviation may be given for this row (the message says why)."""


def _close(a, b) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _is_nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


@dataclass
class ExpectedDeviations:
    """The table of expected deviations and the calibration records it comes from."""

    entries: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ENTRY_COLUMNS))
    records: list[dict] = field(default_factory=list)
    not_recorded: list[dict] = field(default_factory=list)
    source: str = ""

    def _curve(self, quantity, population, mu_mV, sigma_mV) -> pd.DataFrame:
        """Entries of one quantity, population and point (grouped once, then looked up)."""
        key = (id(self.entries), len(self.entries))
        if getattr(self, "_index_key", None) != key:
            e = self.entries
            groups = e.groupby(
                [
                    e["quantity"],
                    e["population"],
                    e["mu_mV"].astype(float).round(6),
                    e["sigma_mV"].astype(float).round(6),
                ],
                sort=False,
            )
            self._index = {k: g for k, g in groups}
            self._index_key = key
        found = self._index.get(
            (quantity, population, round(float(mu_mV), 6), round(float(sigma_mV), 6))
        )
        return found if found is not None else self.entries.iloc[:0]

    def _at_point(self, quantity, population, mu_mV, sigma_mV, frequency_hz):
        """(deviation, se, records) at a calibrated point, interpolated in log f."""
        curve = self._curve(quantity, population, mu_mV, sigma_mV)
        if curve.empty:
            return None
        records = set(curve["record"])
        if _is_nan(frequency_hz):
            row = curve.iloc[0]
            return float(row["deviation"]), float(row["se"]), records
        curve = curve.sort_values("frequency_hz")
        f = curve["frequency_hz"].to_numpy(float)
        for bad in self.not_recorded:
            same = (
                bad.get("quantity") == quantity
                and bad.get("population") == population
                and _close(float(bad.get("mu_mV")), mu_mV)
                and _close(float(bad.get("sigma_mV")), sigma_mV)
            )
            fb = bad.get("frequency_hz")
            if same and fb is not None:
                lo = f[f <= frequency_hz * (1 + 1e-9)]
                hi = f[f >= frequency_hz * (1 - 1e-9)]
                if (lo.size == 0 or float(fb) >= lo[-1] * (1 - 1e-9)) and (
                    hi.size == 0 or float(fb) <= hi[0] * (1 + 1e-9)
                ):
                    raise NotCalibrated(
                        f"the calibration recorded no expected deviation at {float(fb):g} Hz, "
                        f"next to {frequency_hz:g} Hz ({bad.get('reason', 'not recorded')})"
                    )
        d, s = curve["deviation"].to_numpy(float), curve["se"].to_numpy(float)
        if frequency_hz < f[0] * (1 - 1e-9) or frequency_hz > f[-1] * (1 + 1e-9):
            raise NotCalibrated(
                f"{frequency_hz:g} Hz is outside the calibrated frequencies "
                f"[{f[0]:g}, {f[-1]:g}] Hz at ({mu_mV:g}, {sigma_mV:g}) mV (no extrapolation)"
            )
        j = int(np.clip(np.searchsorted(f, frequency_hz), 1, f.size - 1)) if f.size > 1 else 0
        if f.size == 1 or _close(f[j], frequency_hz):
            return float(d[j]), float(s[j]), records
        t = (math.log(frequency_hz) - math.log(f[j - 1])) / (math.log(f[j]) - math.log(f[j - 1]))
        t = min(max(t, 0.0), 1.0)
        value = (1 - t) * d[j - 1] + t * d[j]
        se = math.hypot((1 - t) * s[j - 1], t * s[j])
        return float(value), float(se), records

    def lookup(
        self,
        quantity: str,
        population: str,
        mu_mV: float,
        sigma_mV: float,
        frequency_hz: float = math.nan,
    ) -> tuple[float, float, str]:
        """Expected deviation (value, SE, record ids) of one row.

        Raises
        ------
        NotCalibrated
            With the reason, where the row lies outside the calibrated region.
        """
        for bad in self.not_recorded:
            if (
                bad.get("frequency_hz") is None
                and _is_nan(frequency_hz)
                and bad.get("quantity") == quantity
                and bad.get("population") == population
                and _close(float(bad.get("mu_mV")), mu_mV)
                and _close(float(bad.get("sigma_mV")), sigma_mV)
            ):
                raise NotCalibrated(
                    f"the calibration recorded no expected deviation here "
                    f"({bad.get('reason', 'not recorded')})"
                )
        exact = self._at_point(quantity, population, mu_mV, sigma_mV, frequency_hz)
        if exact is not None:
            value, se, records = exact
            return value, se, ",".join(sorted(records))
        e = self.entries[
            (self.entries["quantity"] == quantity) & (self.entries["population"] == population)
        ]
        if e.empty:
            raise NotCalibrated(f"no calibration of {quantity} {population}".strip())
        mus = np.unique(e["mu_mV"].to_numpy(float))
        sigmas = np.unique(e["sigma_mV"].to_numpy(float))

        def bracket(values, x):
            if x < values[0] - 1e-9 or x > values[-1] + 1e-9:
                return None
            hit = np.isclose(values, x)
            if hit.any():
                return [(float(values[hit][0]), 1.0)]
            j = int(np.searchsorted(values, x))
            lo, hi = float(values[j - 1]), float(values[j])
            t = (x - lo) / (hi - lo)
            return [(lo, 1 - t), (hi, t)]

        where = f"({mu_mV:g}, {sigma_mV:g}) mV"
        bm, bs = bracket(mus, mu_mV), bracket(sigmas, sigma_mV)
        if bm is None or bs is None:
            raise NotCalibrated(
                f"{where} lies outside the calibrated working points of {quantity} "
                f"(mu {mus.min():g}..{mus.max():g}, sigma {sigmas.min():g}..{sigmas.max():g} mV; "
                "no extrapolation)"
            )
        value, var, records = 0.0, 0.0, set()
        for m, wm in bm:
            for s, ws in bs:
                corner = self._at_point(quantity, population, m, s, frequency_hz)
                if corner is None:
                    raise NotCalibrated(
                        f"{where} is not calibrated and its grid cell lacks the calibrated "
                        f"corner ({m:g}, {s:g}) mV (no extrapolation)"
                    )
                value += wm * ws * corner[0]
                var += (wm * ws * corner[1]) ** 2
                records |= corner[2]
        return float(value), float(math.sqrt(var)), ",".join(sorted(records))


def measured_deviations(rows: pd.DataFrame) -> pd.DataFrame:
    """Deviation entries (value and SE per key) from measured comparison rows.

    ``rows`` are pointwise rows of :func:`mfval.comparison.metrics.measurement_rows`
    (columns ``deviation`` and ``deviation_se`` on the scale of
    :data:`SCALES`).
    """
    point = rows[rows["kind"] == "point"] if "kind" in rows else rows
    out = point[KEY_COLUMNS].copy()
    out["scale"] = [SCALES[q] for q in point["quantity"]]
    out["deviation"] = point["deviation"].to_numpy(float)
    out["se"] = point["deviation_se"].to_numpy(float)
    return out.reset_index(drop=True)


def combine_simulators(
    deviations: dict[str, pd.DataFrame], k_agree: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gate expected deviations on the agreement of the simulators.

    Parameters
    ----------
    deviations : dict
        Simulator name -> table with :data:`KEY_COLUMNS`, ``scale``,
        ``deviation`` and ``se`` (:func:`measured_deviations`).
    k_agree : float
        Two simulators agree on a key if ``|d1 - d2| <= k_agree sqrt(se1^2 + se2^2)``.

    Returns
    -------
    recorded : DataFrame
        Keys that every simulator measured and on which all pairs agree:
        inverse-variance weighted mean deviation and its SE, ``simulators``
        (names joined by ``+``). With one simulator, all its keys.
    not_recorded : DataFrame
        Keys missing in a simulator or with a disagreeing pair, with each
        simulator's deviation and SE and a ``reason``.
    """
    if not deviations:
        raise ValueError("combine_simulators needs the results of at least one simulator")
    if not k_agree > 0:
        raise ValueError(f"k_agree must be positive, got {k_agree!r}")
    names = sorted(deviations)

    def keyed(df):
        df = df.copy()
        df["_f"] = df["frequency_hz"].astype(float).fillna(-1.0).round(9)
        df["_mu"] = df["mu_mV"].astype(float).round(9)
        df["_sigma"] = df["sigma_mV"].astype(float).round(9)
        return df.set_index(["quantity", "population", "_mu", "_sigma", "_f"])

    tables = {name: keyed(deviations[name]) for name in names}
    keys = sorted(set().union(*(set(t.index) for t in tables.values())), key=str)
    recorded, rejected = [], []
    for key in keys:
        present = {n: t.loc[key] for n, t in tables.items() if key in t.index}
        any_row = next(iter(present.values()))
        base = {
            "quantity": key[0],
            "population": key[1],
            "mu_mV": float(any_row["mu_mV"]),
            "sigma_mV": float(any_row["sigma_mV"]),
            "frequency_hz": float(any_row["frequency_hz"]),
            "scale": any_row["scale"],
        }
        values = {n: (float(r["deviation"]), float(r["se"])) for n, r in present.items()}
        missing = [n for n in names if n not in present]
        disagree = [
            (a, b)
            for i, a in enumerate(names)
            for b in names[i + 1 :]
            if a in values
            and b in values
            and abs(values[a][0] - values[b][0]) > k_agree * math.hypot(values[a][1], values[b][1])
        ]
        finite = all(np.isfinite(v).all() and v[1] > 0 for v in values.values())
        if missing or disagree or not finite:
            reason = (
                f"not measured by {', '.join(missing)}"
                if missing
                else f"simulators disagree: {', '.join(f'{a} vs {b}' for a, b in disagree)}"
                if disagree
                else "no finite deviation with a positive SE"
            )
            rejected.append(
                {
                    **base,
                    **{f"deviation_{n}": v[0] for n, v in values.items()},
                    **{f"se_{n}": v[1] for n, v in values.items()},
                    "reason": reason,
                }
            )
            continue
        w = np.array([1 / s**2 for _, s in values.values()])
        d = np.array([v for v, _ in values.values()])
        recorded.append(
            {
                **base,
                "deviation": float((w * d).sum() / w.sum()),
                "se": float(1 / math.sqrt(w.sum())),
                "simulators": "+".join(names),
            }
        )
    return (
        pd.DataFrame(recorded, columns=[*KEY_COLUMNS, "scale", "deviation", "se", "simulators"]),
        pd.DataFrame(rejected),
    )


def _plain(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def write_expected_deviations(
    path: str | Path,
    recorded: pd.DataFrame,
    record: dict,
    not_recorded: pd.DataFrame | None = None,
) -> Path:
    """Write the committed file: the calibration record, its entries, the rows not recorded.

    ``record`` is the provenance (id, date, command, seeds, durations,
    versions, code fingerprints, ...); every entry points to it by ``id``.
    """
    from mfval.io import write_text

    doc = _document(recorded, record, not_recorded)
    text = EXPECTED_HEADER + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=None, width=200
    )
    return write_text(text, path)


#: first lines of the expected-deviation file
EXPECTED_HEADER = (
    "# Expected deviations of the theory (sim vs nnmt), written by `mfval calibrate`.\n"
    "# Do not edit by hand: rerun the calibration. Each entry names its record (provenance).\n"
    "# scale: relative = sim/theory - 1; absolute = sim - theory (mV, deg or Hz).\n"
)


def _document(recorded: pd.DataFrame, record: dict, not_recorded: pd.DataFrame | None) -> dict:
    """The YAML document of one calibration: its record, entries and rows not recorded."""
    if "id" not in record:
        raise ValueError("a calibration record needs an 'id'")
    entries = []
    for _, row in recorded.iterrows():
        entry = {c: _plain(row[c]) for c in [*KEY_COLUMNS, "scale", "simulators"]}
        entry["deviation"] = float(f"{row['deviation']:.6g}")
        entry["se"] = float(f"{row['se']:.4g}")
        entry["record"] = record["id"]
        entries.append(entry)
    rejected = []
    if not_recorded is not None and not not_recorded.empty:
        for _, row in not_recorded.iterrows():
            rejected.append({c: _plain(v) for c, v in row.items()} | {"record": record["id"]})
    return {"records": [record], "entries": entries, "not_recorded": rejected}


def merge_expected_deviations(
    path: str | Path,
    recorded: pd.DataFrame,
    record: dict,
    not_recorded: pd.DataFrame | None,
    quantities,
) -> Path:
    """Replace the entries of ``quantities`` in the file by a new calibration's, keep the rest.

    Entries and not-recorded rows of other quantities, and the records they name,
    stay as they are (e.g. the open-loop calibration when only the closed loop
    is calibrated again); the new ``record`` is appended. Without a file this is
    :func:`write_expected_deviations`.
    """
    from mfval.io import write_text

    path = Path(path)
    if not path.exists():
        return write_expected_deviations(path, recorded, record, not_recorded)
    load_expected_deviations(path)  # a bad file is refused before it is rewritten
    raw = yaml.safe_load(path.read_text()) or {}
    quantities = set(quantities)
    new_ids = {record["id"]}
    entries = [e for e in raw.get("entries") or [] if e.get("quantity") not in quantities]
    rejected = [e for e in raw.get("not_recorded") or [] if e.get("quantity") not in quantities]
    fresh = yaml.safe_load(
        yaml.safe_dump(
            _document(recorded, record, not_recorded), sort_keys=False, default_flow_style=None
        )
    )
    used = {e.get("record") for e in entries + rejected}
    records = [r for r in raw.get("records") or [] if r.get("id") in used - new_ids]
    doc = {
        "records": records + fresh["records"],
        "entries": entries + fresh["entries"],
        "not_recorded": rejected + fresh["not_recorded"],
    }
    text = EXPECTED_HEADER + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=None, width=200
    )
    return write_text(text, path)


#: top-level sections of ``params/expected_deviations.yaml``
EXPECTED_SECTIONS = ("records", "entries", "not_recorded")


def load_expected_deviations(path: str | Path) -> ExpectedDeviations:
    """Read the file of :func:`write_expected_deviations`; a missing file is an empty table.

    ``mu_mV``, ``sigma_mV`` (mV) and ``frequency_hz`` (Hz; null for a
    quantity without frequency) locate an entry; ``deviation`` and ``se`` are
    on the scale of the quantity (:data:`SCALES`).

    Raises
    ------
    ParameterError
        For an unreadable or non-mapping file, an unknown section, an entry
        without a record, a record id that does not exist, or a bad value.
    """
    path = Path(path)
    if not path.exists():
        return ExpectedDeviations(source=str(path))
    raw = read_yaml(path, EXPECTED_SECTIONS, allow_empty=True)
    records = _list(path, "records", raw.get("records"))
    for i, record in enumerate(records):
        mapping(path, f"records[{i}]", record)
    ids = {r.get("id") for r in records}
    rows = []
    for i, entry in enumerate(_list(path, "entries", raw.get("entries"))):
        key = f"entries[{i}]"
        mapping(path, key, entry)
        if entry.get("record") not in ids:
            raise ParameterError(path, f"{key}.record", entry.get("record"), "no such record")
        if entry.get("quantity") not in SCALES:
            raise ParameterError(path, f"{key}.quantity", entry.get("quantity"), "unknown")
        if entry.get("scale") != SCALES[entry["quantity"]]:
            raise ParameterError(
                path, f"{key}.scale", entry.get("scale"), f"expected {SCALES[entry['quantity']]}"
            )
        try:
            se = float(entry["se"])
            deviation = float(entry["deviation"])
        except (KeyError, TypeError, ValueError):
            raise ParameterError(path, key, entry, "needs numbers deviation and se") from None
        if not (se > 0 and math.isfinite(deviation)):
            raise ParameterError(path, f"{key}.se", entry.get("se"), "expected a positive SE")
        f = entry.get("frequency_hz")
        rows.append(
            {
                **{c: entry.get(c) for c in ("quantity", "population", "scale", "simulators")},
                "mu_mV": number(path, f"{key}.mu_mV", entry.get("mu_mV"), ""),
                "sigma_mV": number(path, f"{key}.sigma_mV", entry.get("sigma_mV"), ""),
                "frequency_hz": (
                    math.nan if f is None else number(path, f"{key}.frequency_hz", f, "")
                ),
                "deviation": deviation,
                "se": se,
                "record": entry["record"],
            }
        )
    return ExpectedDeviations(
        entries=pd.DataFrame(rows, columns=ENTRY_COLUMNS),
        records=records,
        not_recorded=_list(path, "not_recorded", raw.get("not_recorded")),
        source=str(path),
    )


def _list(path, key: str, value) -> list:
    """A list-valued section (``[]`` if absent or empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParameterError(path, key, value, "expected a list")
    return value


def utc_now() -> str:
    """ISO date and time (UTC, seconds) for a calibration record."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
