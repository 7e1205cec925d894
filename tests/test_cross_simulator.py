"""Brian2 vs NEST: the two simulators agree, and a perturbation of one of them is caught.

Each perturbation is a field of the spec of one simulator only (never a hook
in production code); the other simulator runs the unperturbed spec. The
rows of :mod:`mfval.comparison.cross_simulator` (k = 4 combined SEs, no allowance)
must flag it. Reduced sizes (seconds to tens of seconds per simulation on 2
cores): a network of 1000 E + 250 I neurons with the model's in-degrees
(400, 100), 0.1 s warm-up + 0.4 s, 8 blocks; open loop with 8 frequencies x
500 neurons, 0.1 s + 1 s. Both simulators share the connectivity realization
and the initial potentials (same seed), their noise is independent. The seven
simulations (:data:`RUNS`) run once per session, side by side in worker
processes (fixture ``simulated``), before the tests judge them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("nest")

from mfval.comparison.checks import load_cross_config
from mfval.comparison.cross_simulator import (
    VERDICT_FAIL,
    cross_id,
    network_cross_rows,
    transfer_cross_rows,
)
from mfval.simulation.network.measure import measure_network
from mfval.simulation.network.spec import NetworkPerturbation, make_network_spec
from mfval.simulation.network.tasks import run_network
from mfval.simulation.open_loop.measure import measure_transfer
from mfval.simulation.open_loop.spec import TransferPerturbation, make_transfer_spec
from mfval.simulation.open_loop.tasks import run_transfer
from tests.conftest import run_side_by_side

pytestmark = pytest.mark.slow

POINT = (10e-3, 10e-3)
NETWORK = {"duration": 0.4, "warmup": 0.1, "n_blocks": 8, "n_record": 200, "seed": 11}
TRANSFER = {
    "frequencies": [2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 200.0],
    "duration": 1.0,
    "warmup": 0.1,
    "n_per_frequency": 500,
    # large and constant: linearity does not matter between two simulators of the same
    # spec, and the relative SE of N falls as 1/dmu
    "amplitude": 4e-3,
    "amplitude_scaling": "constant",
    "n_probe": 50,
    "seed": 5,
}


@pytest.fixture(scope="module")
def config():
    return load_cross_config()


@pytest.fixture(scope="module")
def small(params):
    p = {**params, "network": {**params["network"], "N": np.array([1000, 250])}}
    return p


def network_run(params, simulator, perturbation=None):
    backend = {"target": "cython"} if simulator == "brian2" else {}
    spec = make_network_spec(
        *POINT, params, simulator=simulator, backend=backend, perturbation=perturbation, **NETWORK
    )
    return measure_network(run_network(spec), spec)


def transfer_run(params, simulator, perturbation=None):
    spec = make_transfer_spec(
        *POINT, params, simulator=simulator, perturbation=perturbation, **TRANSFER
    )
    return measure_transfer(run_transfer(spec), spec)


#: every simulation of this module: name -> (protocol, simulator, perturbation)
RUNS = {
    "network-brian2": ("network", "brian2", None),
    "network-nest": ("network", "nest", None),
    "network-nest-weight": (
        "network",
        "nest",
        NetworkPerturbation(weight_scale=((1.05, 1), (1, 1))),
    ),
    "network-nest-tau_s": ("network", "nest", NetworkPerturbation(tau_s=0.4e-3)),
    "transfer-brian2": ("transfer", "brian2", None),
    "transfer-nest": ("transfer", "nest", None),
    "transfer-brian2-amplitude": (
        "transfer",
        "brian2",
        TransferPerturbation(amplitude_scale=1.05),
    ),
}


@pytest.fixture(scope="module")
def simulated(params, small, session_store) -> dict:
    """The measurements of :data:`RUNS`, simulated once, in worker processes (usable cores)."""
    jobs = {
        name: (
            network_run if protocol == "network" else transfer_run,
            {
                "params": small if protocol == "network" else params,
                "simulator": simulator,
                "perturbation": perturbation,
            },
        )
        for name, (protocol, simulator, perturbation) in RUNS.items()
    }
    return run_side_by_side(session_store, "test_cross_simulator", jobs)


@pytest.fixture(scope="module")
def network_base(simulated):
    return {sim: simulated[f"network-{sim}"] for sim in ("brian2", "nest")}


@pytest.fixture(scope="module")
def transfer_base(simulated):
    return {sim: simulated[f"transfer-{sim}"] for sim in ("brian2", "nest")}


def _show(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    cols = ["quantity", "population", "frequency_hz", "value_a", "value_b", "se", "z", "verdict"]
    print("\n" + table[[c for c in cols if c in table]].to_string(float_format="%.4g"))
    return table


def _caught(table: pd.DataFrame) -> set[str]:
    return {cross_id(r) for _, r in table[table["verdict"] == VERDICT_FAIL].iterrows()}


def test_unperturbed_simulators_agree(network_base, transfer_base, config):
    """Every network and transfer row passes (a false alarm per row: ~1e-4 at k = 4)."""
    rows = network_cross_rows(network_base["brian2"], network_base["nest"], config)
    rows += transfer_cross_rows(transfer_base["brian2"], transfer_base["nest"], config)
    table = _show(rows)
    assert len(table) == 8 + 2 * 8 + 4
    assert not _caught(table), _caught(table)


def test_recurrent_weight_error_caught(simulated, network_base, config, record_property):
    """NEST with the E->E weight 5 % too large.

    Power: before any feedback, the mean input to E rises by 5 % of
    tau_m K_EE J_EE nu_E = 19.3 mV, i.e. 0.97 mV, against a combined SE of
    mu_realized of about 0.28 mV (unperturbed runs here): z ~ 3.5 from the
    open-loop shift alone; the recurrent excitation amplifies it (measured:
    E rate 55 -> ~120 Hz, mu_realized E +6 mV), so z ~ 7-10 is expected in
    the rate, mu_realized and sigma_realized rows of both populations.
    """
    perturbed = simulated["network-nest-weight"]  # weight_scale=((1.05, 1), (1, 1))
    table = _show(network_cross_rows(network_base["brian2"], perturbed, config))
    caught = _caught(table)
    record_property("caught_by", ", ".join(sorted(caught)))
    assert {"mu10-sigma10-rate-E", "mu10-sigma10-mu_realized-E"} <= caught, caught


def test_synaptic_time_constant_error_caught(simulated, network_base, config, record_property):
    """NEST with tau_s = 0.4 ms instead of 0.5 ms, PSC charge W tau_s kept (W x 1.25).

    The mean input is unchanged by construction, and the diffusion-limit sigma
    too; the rates move only through the colored-noise correction (a few %).
    But the shared measurement reads the current samples with the nominal
    tau_s: the sampled current then has variance sum rate W'^2 dt / (1 - a'^2),
    a' = exp(-dt / 0.4 ms), so the realized sigma comes out by
    sqrt(1.25^2 (1 - e^{-0.4}) / (1 - e^{-0.5})) = 1.144, i.e. 11.4 instead of
    10 mV, against a combined SE of about 0.07 mV: z ~ 20 in sigma_realized of
    both populations.
    """
    perturbed = simulated["network-nest-tau_s"]  # tau_s=0.4e-3
    table = _show(network_cross_rows(network_base["brian2"], perturbed, config))
    caught = _caught(table)
    record_property("caught_by", ", ".join(sorted(caught)))
    assert {"mu10-sigma10-sigma_realized-E", "mu10-sigma10-sigma_realized-I"} <= caught, caught


def test_modulation_amplitude_error_caught(simulated, transfer_base, config, record_property):
    """Brian2 with a modulation amplitude 5 % too large (the measurement divides by the nominal).

    Power: per frequency the relative SE of |N| is about 1.4 % here (4 mV,
    500 neurons, 1 s), so a single-frequency ratio has SE ~2 % and a 5 % error
    gives z ~ 2.5: no pointwise row is expected to catch it. The aggregate
    gain ratio averages 8 independent frequencies: SE ~0.73 % (measured 0.95 %
    at 3 mV), expected z ~ 0.05 / 0.0073 ~ 7 (power at k = 4 > 99 %).
    """
    perturbed = simulated["transfer-brian2-amplitude"]  # amplitude_scale=1.05
    table = _show(transfer_cross_rows(perturbed, transfer_base["nest"], config))
    caught = _caught(table)
    record_property("caught_by", ", ".join(sorted(caught)))
    assert "mu10-sigma10-tf_gain_ratio-synaptic" in caught, caught
    gain = table[table["quantity"] == "tf_gain_ratio"].iloc[0]
    # NEST over perturbed Brian2: 1 / 1.05, within k SE
    assert abs(gain["value_b"] - 1 / 1.05) <= config.k * gain["se"]
