"""Theory-vs-simulation checks: ``pytest -m validation`` (``--full-grid`` for all 16 points).

One test per working point and quantity; its id names both (e.g.
``mu10-sigma10-rate-E``), plus one per quantity for the aggregates over all
points. A test fails if a row of it (pointwise, or an aggregate of the
curve at that point) fails the family-wise verdict of the whole table
(expectation theory + calibrated expected deviation, Holm at the
family-wise level of ``params/validation.yaml``) and prints what each
failing row compared; it is skipped, with the reason, where no row was
judged (outside the calibrated region).

The simulations run once per session (in worker processes) and are cached in
the validation tests' own results store (``$MFVAL_VALIDATION_CACHE_DIR``, else
``~/.cache/mfval-validation``, see ``tests/conftest.py``), so a rerun reads
them back and the tests never read results of a ``mfval run`` store.
"""

from __future__ import annotations

import pytest

from mfval.comparison.checks import VERDICT_FAIL, VERDICT_NOT_JUDGED
from mfval.comparison.metrics import check_id
from tests.conftest import validation_points

pytestmark = pytest.mark.validation

#: (quantity, population) of every test per working point
CHECKS = [
    ("rate", "E"),
    ("rate", "I"),
    ("mu_realized", "E"),
    ("mu_realized", "I"),
    ("sigma_realized", "E"),
    ("sigma_realized", "I"),
    ("tf_amplitude", "E (synaptic)"),
    ("tf_phase", "E (synaptic)"),
    ("tau_rate", "E (synaptic)"),
    ("W_rate", "E (synaptic)"),
]


def pytest_generate_tests(metafunc):
    if "point" in metafunc.fixturenames:
        points = validation_points(metafunc.config)
        cases = [(p, c) for p in points for c in CHECKS]
        ids = [
            f"mu{p[0] * 1e3:g}-sigma{p[1] * 1e3:g}-{q}-{pop.split()[0]}" for p, (q, pop) in cases
        ]
        metafunc.parametrize("point, check", cases, ids=ids)


@pytest.fixture(scope="session")
def validation_result(request, params, validation_store):
    from mfval.comparison.pipeline import RunSettings, run_validation

    points = validation_points(request.config)
    stability = tuple(float(x) for x in params["scan"]["stability_point"])
    settings = RunSettings(
        network_points=points, transfer_points=points, closed_loop_point=stability
    )
    # the store is shared with the slow tests that simulate a task of this run
    # (tests/test_closed_loop.py: the closed loop and the transfer function at (10, 10) mV)
    return run_validation(params, settings, validation_store, progress=True)


def _describe(row) -> str:
    if row["kind"] == "chi2":
        return (
            f"{check_id(row)}: chi2 = {row['chi2']:.1f} over {int(row['dof'])} rows, "
            f"p = {row['p_value']:.2g} (Holm {row['p_holm']:.2g})"
        )
    return (
        f"{check_id(row)}: expected {row['expected']:.4g} {row['unit']} (theory "
        f"{row['theory']:.4g} + expected deviation), simulation {row['simulation']:.4g}, "
        f"sigma (run+cal) {row['sigma']:.2g}, allowance {row['allowance']:.3g}, "
        f"z = {row['z']:.1f}, p = {row['p_value']:.2g} (Holm {row['p_holm']:.2g})"
    )


def _assert_rows(rows, what):
    assert len(rows), f"no rows for {what}"
    failed = rows[rows["verdict"] == VERDICT_FAIL]
    assert failed.empty, "\n".join(_describe(r) for _, r in failed.iterrows())
    if (rows["verdict"] == VERDICT_NOT_JUDGED).all():
        pytest.skip("not judged: " + "; ".join(sorted(set(rows["reason"]))))


#: closed-loop checks at the stability point (comparison/closed_loop.py)
CLOSED_LOOP_CHECKS = [
    (q, pop)
    for q in (
        "psd",
        "psd_aggregate",
        "psd_rate_model",
        "psd_rate_model_aggregate",
        "psd_semi_empirical",
        "cv",
    )
    for pop in ("E", "I")
]


@pytest.mark.parametrize(
    "check", CLOSED_LOOP_CHECKS, ids=[f"closed-loop-{q}-{p}" for q, p in CLOSED_LOOP_CHECKS]
)
def test_closed_loop_vs_theory(validation_result, params, check):
    stability = tuple(float(x) for x in params["scan"]["stability_point"])
    quantity, population = check
    table = validation_result.comparison
    rows = table[
        (abs(table["mu_mV"] - stability[0] * 1e3) < 1e-9)
        & (abs(table["sigma_mV"] - stability[1] * 1e3) < 1e-9)
        & (table["quantity"] == quantity)
        & (table["population"] == population)
    ]
    _assert_rows(rows, f"closed-loop {quantity} {population} at {stability}")


def test_theory_vs_simulation(validation_result, point, check):
    _assert_checks(validation_result, point, *check)


def _assert_checks(validation_result, point, quantity, population):
    table = validation_result.comparison
    rows = table[
        (abs(table["mu_mV"] - point[0] * 1e3) < 1e-9)
        & (abs(table["sigma_mV"] - point[1] * 1e3) < 1e-9)
        & (table["quantity"] == quantity)
        & (table["population"] == population)
    ]
    _assert_rows(rows, f"{quantity} {population} at {point}")


@pytest.mark.parametrize("check", CHECKS, ids=[f"{q}-{p.split()[0]}" for q, p in CHECKS])
def test_aggregate_over_all_points(validation_result, check):
    quantity, population = check
    table = validation_result.comparison
    rows = table[
        table["mu_mV"].isna()
        & (table["quantity"] == quantity)
        & (table["population"] == population)
    ]
    if rows.empty:
        pytest.skip(f"no aggregate of {quantity} {population} (fewer than two judged points)")
    _assert_rows(rows, f"{quantity} {population} over all points")
