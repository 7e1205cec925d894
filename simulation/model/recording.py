"""What a simulator backend returns: spikes and sampled state on the time grid, and metadata.

A :class:`Recording` is the only thing a backend (Brian2, NEST) hands to the
measurements (:mod:`mfval.simulation.network.measure`,
:mod:`mfval.simulation.open_loop.measure`); the measurements never ask which
simulator produced it, they read the numerical conventions from it.

Time-grid conventions (shared by every backend; a backend that cannot meet
one says so in :attr:`Recording.conventions` and the measurement refuses it):

``spike_step`` (:data:`SPIKE_STEP_CONVENTION`)
    Integer step k of the grid time k dt at which the spike was *detected*:
    the membrane potential of the grid state at time k dt was at or above
    threshold, i.e. the continuous-time crossing lies in ((k - 1) dt, k dt]
    (a mean latency of dt/2). NEST stamps spikes at exactly this time.
    Brian2 labels a spike with the clock time at the *start* of the step in
    which the state was advanced to k dt, i.e. (k - 1) dt; its backend adds
    one step. (Binning by integer step avoids rounding float times that sit
    at half steps, a measured pitfall of the design.)
``state_step`` with ``state_sample`` (:data:`STATE_AFTER_JUMPS`)
    Synaptic currents are sampled at grid time k dt *after* all input jumps
    that take effect at k dt (external Poisson counts and recurrent spikes
    arriving then); over the following step they decay continuously. The
    realized-mean-input estimator of :mod:`mfval.simulation.network.measure`
    depends on this (see there).
``stimulus_factor`` (open-loop protocol only, complex per frequency)
    The modulation of the mean input that the membrane actually sees at the
    grid times, relative to the nominal Re[dmu H(w) e^{i w t}] of the spec,
    in the frame of ``spike_step``: 1 for a continuous modulation, otherwise
    the exactly computed effect of the backend's discretization (e.g. NEST's
    piecewise-constant currents, one step late). The measurement divides by
    it; it is computed from the backend's documented update equations, never
    fitted to the judged run (tested against a deterministic run).

Storage: a Recording pickles its arrays compressed (zlib), so the results
store keeps raw recordings and a new measured quantity does not re-simulate.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field

import numpy as np

#: spike_step convention: grid step at which a threshold crossing was detected
SPIKE_STEP_CONVENTION = "detected_at_step_end"
#: state samples at grid time k dt after all input jumps of that time
STATE_AFTER_JUMPS = "after_jumps"


def open_loop_conventions(stimulus_factor) -> dict:
    """Conventions of an open-loop Recording: states after jumps and the stimulus factor.

    ``stimulus_factor``: complex array (n_freq,), stored as real and
    imaginary lists (plain data).
    """
    factor = np.asarray(stimulus_factor, complex)
    return {
        "state_sample": STATE_AFTER_JUMPS,
        "stimulus_factor_re": factor.real.tolist(),
        "stimulus_factor_im": factor.imag.tolist(),
    }


class StepGrid:
    """Step counts of a protocol spec with ``dt``, ``warmup`` and ``duration`` (s) attributes."""

    @property
    def n_steps(self) -> int:
        """Simulated steps, warm-up included."""
        return int(round((self.warmup + self.duration) / self.dt))

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup / self.dt))

    @property
    def duration_steps(self) -> int:
        return int(round(self.duration / self.dt))


@dataclass
class Recording:
    """Raw output of one simulator run (SI units).

    Attributes
    ----------
    simulator : str
        ``"brian2"`` or ``"nest"``.
    version : str
        Simulator version.
    dt : float
        Time step, s.
    n_steps : int
        Simulated steps (warm-up included); the grid times are k dt, k = 0..n_steps.
    n_neurons : int
        Neurons whose spikes are recorded (indices 0..n_neurons-1).
    spike_step : int64 array (n_spikes,)
        Detection step of each spike (see module docstring), sorted by step.
    spike_sender : int32 array (n_spikes,)
        Neuron index of each spike.
    state : dict of str -> float array (n_recorded, n_samples)
        Sampled state variables (SI: A for currents, V for potentials
        relative to E_L).
    state_index : dict of str -> int array (n_recorded,)
        Neuron index of each row of ``state[name]`` (indices may lie beyond
        ``n_neurons`` for non-spiking probe neurons of the open-loop protocol).
    state_step : dict of str -> int array (n_samples,)
        Grid step of each sample of ``state[name]``.
    conventions : dict
        ``spike_step``, ``state_sample`` (see module docstring) and
        protocol-specific entries (``stimulus_factor_re``/``_im``).
    metadata : dict
        Timings (``setup_s``, ``compile_s``, ``run_s``), seed, target,
        threads and whatever else the backend reports (plain data).
    """

    simulator: str
    version: str
    dt: float
    n_steps: int
    n_neurons: int
    spike_step: np.ndarray
    spike_sender: np.ndarray
    state: dict = field(default_factory=dict)
    state_index: dict = field(default_factory=dict)
    state_step: dict = field(default_factory=dict)
    conventions: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.spike_step = np.asarray(self.spike_step, np.int64)
        self.spike_sender = np.asarray(self.spike_sender, np.int32)
        if self.spike_step.shape != self.spike_sender.shape:
            raise ValueError(
                f"spike_step and spike_sender differ in length "
                f"({self.spike_step.size} vs {self.spike_sender.size})"
            )
        self.conventions.setdefault("spike_step", SPIKE_STEP_CONVENTION)

    @property
    def spike_times(self) -> np.ndarray:
        """Detection times of the spikes, s (k dt; for display and legacy users)."""
        return self.spike_step * self.dt

    def require(self, name: str, value) -> None:
        """Raise ValueError unless convention ``name`` is ``value`` (measurements call this)."""
        got = self.conventions.get(name)
        if got != value:
            raise ValueError(
                f"recording of {self.simulator} has convention {name} = {got!r}; "
                f"this measurement needs {value!r}"
            )

    # ----------------------------------------------------------------- storage

    def __reduce__(self):
        return (_from_blob, (self.to_bytes(),))

    def to_bytes(self) -> bytes:
        """Compressed serialization (npz of the arrays, header as pickled plain data)."""
        import pickle

        arrays = {"spike_step": self.spike_step, "spike_sender": self.spike_sender}
        for name in self.state:
            arrays[f"state/{name}"] = np.asarray(self.state[name])
            arrays[f"index/{name}"] = np.asarray(self.state_index[name])
            arrays[f"step/{name}"] = np.asarray(self.state_step[name])
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        header = {
            "simulator": self.simulator,
            "version": self.version,
            "dt": self.dt,
            "n_steps": self.n_steps,
            "n_neurons": self.n_neurons,
            "conventions": self.conventions,
            "metadata": self.metadata,
            "state_names": list(self.state),
        }
        return pickle.dumps((header, zlib.compress(buf.getvalue(), 6)), protocol=5)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Recording:
        import pickle

        header, packed = pickle.loads(blob)
        with np.load(io.BytesIO(zlib.decompress(packed))) as data:
            arrays = {k: data[k] for k in data.files}
        names = header.pop("state_names")
        return cls(
            spike_step=arrays["spike_step"],
            spike_sender=arrays["spike_sender"],
            state={n: arrays[f"state/{n}"] for n in names},
            state_index={n: arrays[f"index/{n}"] for n in names},
            state_step={n: arrays[f"step/{n}"] for n in names},
            **header,
        )


def _from_blob(blob: bytes) -> Recording:
    return Recording.from_bytes(blob)
