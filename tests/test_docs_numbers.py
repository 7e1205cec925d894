"""The numbers README.md quotes are those of their recorded sources (never stale).

README.md carries every measured number between ``<!-- generated:NAME -->`` markers,
filled by ``python scripts/readme_numbers.py`` from ``params/expected_deviations.yaml``
and ``benchmarks/records/verdict_power.yaml``. Changing a record without
regenerating fails here, naming the marker.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def numbers_module():
    spec = importlib.util.spec_from_file_location(
        "readme_numbers", REPO / "scripts" / "readme_numbers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def numbers():
    return numbers_module()


def test_readme_numbers_match_their_sources(numbers):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    _, stale = numbers.render(text, numbers.generated_values(REPO))
    assert not stale, (
        f"README.md quotes numbers that differ from their records: {', '.join(stale)}; "
        "run `python scripts/readme_numbers.py`"
    )


def test_readme_quotes_the_findings(numbers):
    """The README's findings section is generated (the markers are there, none unknown)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    names = {m["name"] for m in numbers.MARKER.finditer(text)}
    assert {"cal.table", "cal.record", "power.table", "power.false_alarms"} <= names
    assert names <= set(numbers.generated_values(REPO))


def test_findings_section_has_no_hand_typed_numbers(numbers):
    """Outside the markers, "What it finds" holds no measured number (only names and dates
    inside markers); a number typed by hand there would go stale unnoticed."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## What it finds", 1)[1].split("\n## ", 1)[0]
    bare = numbers.MARKER.sub("", section)
    bare = re.sub(r"`[^`]*`", "", bare)  # file and command names
    assert not re.findall(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])", bare.replace("2 cores", ""))


def test_a_changed_calibration_entry_is_caught(numbers, tmp_path):
    """Changing a recorded expected deviation without regenerating makes the check fail."""
    for rel in (numbers.CALIBRATION, numbers.POWER, numbers.SPATIAL):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((REPO / rel).read_bytes())
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert not numbers.render(readme, numbers.generated_values(tmp_path))[1]

    path = tmp_path / numbers.CALIBRATION
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry = next(
        e for e in data["entries"] if e["quantity"] == "rate" and e["mu_mV"] == e["sigma_mV"] == 6
    )
    entry["deviation"] -= 0.01  # the (6, 6) mV rate: 1 % further below theory
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert numbers.render(readme, numbers.generated_values(tmp_path))[1] == ["cal.table"]


def test_a_changed_power_threshold_is_caught(numbers, tmp_path):
    for rel in (numbers.CALIBRATION, numbers.POWER, numbers.SPATIAL):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((REPO / rel).read_bytes())
    path = tmp_path / numbers.POWER
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["thresholds"][0]["every_seed_from"] = 1.05
    data["false_alarms"]["false_alarms"] = 1
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    stale = numbers.render(readme, numbers.generated_values(tmp_path))[1]
    assert set(stale) == {"power.table", "power.false_alarms"}


def test_a_changed_spatial_finding_is_caught(numbers, tmp_path):
    for rel in (numbers.CALIBRATION, numbers.POWER, numbers.SPATIAL):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((REPO / rel).read_bytes())
    path = tmp_path / numbers.SPATIAL
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["settings"][0]["peak_mode"] += 1
    data["onset"][f"{data['onset']['control']}_c_sim"] += 0.05
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    stale = numbers.render(readme, numbers.generated_values(tmp_path))[1]
    assert set(stale) == {"spatial.settings_table", "spatial.onset_table"}


def test_check_mode_exits_1_on_a_stale_readme(numbers, tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = (REPO / "README.md").read_text(encoding="utf-8")
    readme.write_text(
        text.replace("<!-- generated:cal.keys -->", "<!-- generated:cal.keys -->1", 1),
        encoding="utf-8",
    )
    assert numbers.main(["--readme", str(readme), "--check"]) == 1
    assert "generated:cal.keys differs" in capsys.readouterr().err
    assert numbers.main(["--readme", str(readme)]) == 0
    assert numbers.main(["--readme", str(readme), "--check"]) == 0
