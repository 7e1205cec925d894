"""Command-line interface: ``mfval <job>``; one module per job, helpers in :mod:`mfval.cli.common`.

Not fingerprinted: editing a help text leaves stored results valid.
"""

from mfval.cli.main import main

__all__ = ["main"]
