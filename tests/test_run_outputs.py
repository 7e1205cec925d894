"""``mfval run`` outputs land whole: written into a staging folder, then swapped into place.

No simulation runs here: the input checks and ``run_validation`` are replaced by
a small stored result, and the figure and report by cheap stand-ins.
"""

from __future__ import annotations

import os
import signal
import time
import types

import pandas as pd
import pytest

from mfval.cli.main import main
from mfval.io import replace_folder, staging_folder


def _result(cross: bool = False):
    table = pd.DataFrame({"mu_mV": [10.0], "sigma_mV": [10.0], "value": [1.0]})
    return types.SimpleNamespace(
        comparison=pd.DataFrame({"quantity": ["rate"], "verdict": ["pass"]}),
        scan=table,
        theory_transfer=table,
        network=table,
        transfer=table,
        fits=table,
        cross_simulator=table if cross else pd.DataFrame(),
        closed_loop=None,
    )


@pytest.fixture
def cheap_run(monkeypatch):
    """``mfval run`` with a stored result; returns a dict to steer it (``interrupt``)."""
    import mfval.cli.run
    import mfval.comparison.pipeline
    import mfval.comparison.report
    import mfval.figures.comparison
    import mfval.figures.figure5

    steer = {"interrupt": False, "cross": False, "signal": False}

    def report(*args, **kwargs):
        if steer["interrupt"]:
            raise KeyboardInterrupt  # midway: the CSVs and the figure are written
        if steer["signal"]:  # a real SIGINT, as from Ctrl-C, in the output phase
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises KeyboardInterrupt here
            raise AssertionError("SIGINT was not delivered")
        return "# report\n"

    def save_figure(fig, stem):
        stem.with_suffix(".png").write_bytes(b"png")
        return [stem.with_suffix(".png")]

    monkeypatch.setattr(mfval.cli.run, "check_inputs", lambda args: ({}, None, None))
    monkeypatch.setattr(mfval.cli.run, "open_client", lambda *a, **k: None)
    monkeypatch.setattr(
        mfval.comparison.pipeline, "run_validation", lambda *a, **k: _result(steer["cross"])
    )
    monkeypatch.setattr(mfval.comparison.report, "render_report", report)
    monkeypatch.setattr(mfval.comparison.report, "summary_table", lambda c: c)
    monkeypatch.setattr(mfval.figures.comparison, "comparison_figure", lambda r, p: None)
    monkeypatch.setattr(mfval.figures.figure5, "save_figure", save_figure)
    return steer


def _previous_outputs(out):
    out.mkdir()
    (out / "comparison.csv").write_text("old comparison\n")
    (out / "cross_simulator.csv").write_text("old cross\n")
    (out / "report.md").write_text("old report\n")
    return {p.name: p.read_text() for p in out.iterdir()}


def _run(out, tmp_path):
    return main(["run", "--quiet", "--out", str(out), "--cache-dir", str(tmp_path / "c")])


def test_run_replaces_the_whole_folder(cheap_run, tmp_path, capsys):
    out = tmp_path / "out"
    _previous_outputs(out)
    assert _run(out, tmp_path) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "cross_simulator.csv" not in names  # stale: this run has one simulator
    assert "report.md" in names and "comparison.csv" in names
    assert (out / "comparison.csv").read_text().startswith("quantity,verdict")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left
    (tmp_path / "ref").mkdir()  # the mode a new folder gets, not mkdtemp's 0o700
    assert (out.stat().st_mode & 0o777) == ((tmp_path / "ref").stat().st_mode & 0o777)


def test_interrupted_run_keeps_previous_outputs(cheap_run, tmp_path, capsys):
    out = tmp_path / "out"
    before = _previous_outputs(out)
    cheap_run["interrupt"] = True
    assert _run(out, tmp_path) == 130
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # staging removed
    assert "interrupted" in capsys.readouterr().err


def test_sigint_in_the_output_phase_keeps_previous_outputs(cheap_run, tmp_path, capsys):
    out = tmp_path / "out"
    before = _previous_outputs(out)
    cheap_run["signal"] = True
    assert _run(out, tmp_path) == 130
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # staging removed


def test_interrupted_first_run_leaves_no_folder(cheap_run, tmp_path):
    out = tmp_path / "new" / "out"
    cheap_run["interrupt"] = True
    assert _run(out, tmp_path) == 130
    assert not out.exists() and list((tmp_path / "new").iterdir()) == []


def test_cross_simulator_table_is_written_when_produced(cheap_run, tmp_path):
    out = tmp_path / "out"
    cheap_run["cross"] = True
    assert _run(out, tmp_path) == 0
    assert (out / "cross_simulator.csv").exists()


def test_replace_folder_puts_the_old_one_back_on_failure(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.csv").write_text("old")
    with pytest.raises(FileNotFoundError):
        replace_folder(tmp_path / "missing", target)
    assert (target / "a.csv").read_text() == "old"
    staging = staging_folder(target)
    (staging / "b.csv").write_text("new")
    replace_folder(staging, target)
    assert [p.name for p in target.iterdir()] == ["b.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
