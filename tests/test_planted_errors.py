"""The suite must be able to fail: planted errors in the simulation flip the verdicts.

Each planted error changes the simulation only (never the theory) through a
hook of :mod:`simulation` (see ``mfval.comparison.planted.PLANTED_ERRORS``). At
the stability point (10, 10) mV and reduced simulated time, the unplanted
run passes every check, and every planted error makes at least one check of
the quantities that must see it fail. The checks that caught each error are
printed (run with ``-s``) and attached to the test report.

Reduced size: network 0.5 s (full 5000-neuron network), transfer function
1 s with 500 neurons per frequency (antithetic design, compiled once, a few
seconds per run). Power: with the single-run design this size gave the gain
aggregate of one curve an SE of 1.4 % and an 8 % gain error slipped below the
family-wise bound once (measured 1.059 +- 0.014, z 3.5); the antithetic design
divides the variance of N by ~20 at (10, 10) mV
(``benchmarks/transfer_sim.py --compare-designs``), an SE of ~0.3 %.
"""

from __future__ import annotations

import pytest

from mfval.comparison.checks import VERDICT_FAIL
from mfval.comparison.metrics import check_id
from mfval.comparison.pipeline import (
    RunSettings,
    interleave_structures,
    run_validation,
    simulation_tasks,
)
from mfval.tasks import run_tasks

pytestmark = pytest.mark.slow

POINT = [(10e-3, 10e-3)]

#: planted error -> quantities of which at least one check must fail
MUST_CATCH = {
    "exc_weight_plus_10pct": {"rate"},
    "external_source_dropped": {"rate", "mu_realized"},
    "binomial_poisson_split_p0.05": {"sigma_realized"},
    "modulation_latency_1.5ms": {"tf_phase"},
    "missing_synaptic_filter": {"tf_amplitude", "tf_phase"},
    # amplitude calibration error of the modulation (issue 10: hid in the old envelopes)
    "tf_gain=1.08": {"tf_amplitude"},
    # the same error simulated: the applied modulation is 8 % too large
    "modulation_amplitude_plus_8pct": {"tf_amplitude"},
    # membrane time constant too long in both protocols (issue 10: 5 % passed 127 of 128
    # checks). At this reduced size (0.5 s network, one point) x 1.05 moved the rates by
    # ~3.5 % and failed a single row (rate I); x 1.1 keeps a margin. The default-size
    # power (x 1.01 caught, x 1.02 by 12 rows) is measured by benchmarks/verdict_power.py.
    "tau_m_scale=1.1": {"rate", "mu_realized"},
}


def _settings(planted: str) -> RunSettings:
    return RunSettings(
        network_points=POINT,
        transfer_points=POINT,
        network_options={"duration": 0.5, "warmup": 0.2},
        transfer_options={"duration": 1.0, "n_per_frequency": 500},
        planted=planted,
    )


def _run(params, store, planted):
    return run_validation(params, _settings(planted), store, workers=1, progress=False)


@pytest.fixture(scope="module")
def simulated(params, session_store) -> None:
    """Every simulation of this module, once, in worker processes (the usable cores).

    The unplanted run and each planted one share the tasks that the plant
    does not change (e.g. the network run of a transfer-only plant: same
    store key), so this is 5 network and 5 transfer simulations, not 18;
    the tests then judge them with :func:`run_validation` from the store.
    """
    unique: dict = {}
    for planted in ["none", *sorted(MUST_CATCH)]:
        network, transfer = simulation_tasks(params, _settings(planted))
        for task in network + transfer:
            unique.setdefault((task.kind, task.key), task)
    tasks = list(unique.values())
    order = interleave_structures(
        [t for t in tasks if t.kind != "network"], [t for t in tasks if t.kind == "network"]
    )
    run_tasks(order, session_store, what="simulation", progress=False)


@pytest.fixture(scope="module")
def baseline(params, session_store, simulated):
    return _run(params, session_store, "none")


def test_unplanted_run_passes(baseline):
    failed = baseline.comparison[baseline.comparison["verdict"] == VERDICT_FAIL]
    assert failed.empty, "baseline fails:\n" + "\n".join(
        f"{check_id(r)} theory {r.theory:.4g} sim {r.simulation:.4g} +- {r.se:.2g} z {r.z:+.1f}"
        for _, r in failed.iterrows()
    )


@pytest.mark.parametrize("planted", sorted(MUST_CATCH))
def test_planted_error_is_caught(
    params, session_store, simulated, baseline, planted, record_property
):
    result = _run(params, session_store, planted)
    table = result.comparison
    failed = table[table["verdict"] == VERDICT_FAIL]
    caught = sorted(check_id(r) for _, r in failed.iterrows())
    record_property("caught_by", ", ".join(caught))
    print(f"\n{planted}: caught by {len(caught)} checks: {', '.join(caught) or 'none'}")
    caught_quantities = set(failed["quantity"])
    assert caught_quantities & MUST_CATCH[planted], (
        f"planted error {planted} not caught by {sorted(MUST_CATCH[planted])}; "
        f"failed checks: {caught or 'none'}"
    )
