"""Simulator and library versions that can move a simulated result (part of store keys).

The one place where the simulation side reads versions: the recording keys of
every protocol (:func:`simulator_version`), the compiled Brian2 binaries
(:func:`brian2_version`) and the open-loop transfer keys
(:func:`software_versions`, the theory's versions plus Brian2).
"""

from __future__ import annotations


def brian2_version() -> str:
    """Version string of the installed Brian2 (imports it)."""
    import brian2

    return brian2.__version__


def simulator_version(simulator: str) -> str:
    """Version string of a simulator (imports it): ``"nest"``, else Brian2."""
    if simulator == "nest":
        from mfval.simulation.model.nest_support import nest_version

        return nest_version()
    return brian2_version()


def software_versions() -> dict[str, str]:
    """Versions that can move a simulated transfer function: Brian2 and the theory's."""
    from mfval.theory.versions import software_versions as theory_versions

    theory = theory_versions()
    return {
        "brian2": brian2_version(),
        "numpy": theory["numpy"],
        "scipy": theory["scipy"],
        "nnmt": theory["nnmt"],
    }
