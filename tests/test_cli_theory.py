"""``mfval theory`` end to end, and its error paths."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from mfval.cli.main import main
from tests.conftest import REPO


def test_theory_cli_writes_tables_and_figure(tmp_path, session_store, theory_scan):
    out = tmp_path / "out"
    # the session store already holds the scan: this run reads it from the cache
    rc = main(["theory", "--out", str(out), "--cache-dir", str(session_store.root), "--quiet"])
    assert rc == 0
    scan = pd.read_csv(out / "theory_scan.csv")
    assert len(scan) == 16
    tf = pd.read_csv(out / "theory_transfer_functions.csv")
    assert {"frequency_hz", "tf_re_hz_per_mV", "fit_im_hz_per_mV"} <= set(tf.columns)
    for suffix in ("png", "pdf"):
        assert (out / f"theory_figure5.{suffix}").stat().st_size > 10_000
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_bad_yaml_gives_named_error_and_writes_nothing(tmp_path, capsys):
    raw = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
    raw["network"]["tau_m"] = {"value": -5.0, "unit": "ms"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    rc = main(["theory", "--params", str(bad), "--out", str(out), "--cache-dir", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "network.tau_m" in err and "-5.0" in err
    assert not out.exists()


def test_point_parser_rejects_garbage():
    import argparse

    from mfval.cli.common import parse_point

    assert parse_point("10,12") == pytest.approx((0.01, 0.012))
    with pytest.raises(argparse.ArgumentTypeError, match="MU,SIGMA"):
        parse_point("10")
    with pytest.raises(argparse.ArgumentTypeError, match="sigma must be positive"):
        parse_point("10,-1")


def test_grid_option_changes_scan_and_figure(tmp_path, session_store, theory_scan):
    out = tmp_path / "grid"
    rc = main(
        [
            "theory",
            "--grid",
            "6:12:6,8:12:2",
            "--out",
            str(out),
            "--quiet",
            "--cache-dir",
            str(session_store.root),
        ]
    )
    assert rc == 0
    scan = pd.read_csv(out / "theory_scan.csv")
    assert sorted(set(scan["mu_mV"])) == [6, 12] and sorted(set(scan["sigma_mV"])) == [8, 10, 12]
    assert (out / "theory_figure5.png").exists()


def test_grid_parser():
    import argparse

    from mfval.cli.common import parse_grid

    mu, sigma = parse_grid("6:12:0.5,6:12:1")
    assert len(mu) == 13 and len(sigma) == 7
    assert mu[-1] == pytest.approx(12e-3) and sigma[0] == pytest.approx(6e-3)
    for bad in ["6:12", "6:12:0,6:12:1", "12:6:1,6:12:1", "6:12:1,-2:2:1"]:
        with pytest.raises(argparse.ArgumentTypeError, match="--grid"):
            parse_grid(bad)
