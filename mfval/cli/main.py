"""The ``mfval`` command: one parser with a subcommand per job (``mfval.cli.<job>``)."""

from __future__ import annotations

import argparse
import importlib
import sys

from mfval.cli.common import EXIT_BAD_INPUT, EXIT_SCHEDULER_UNREACHABLE
from mfval.config import ParameterError
from mfval.tasks import SchedulerUnreachableError, StaleWorkerCodeError

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "theory": ("mfval.cli.theory", "theory scan over the grid: CSV tables and the Figure 5 panels"),
    "simulate": ("mfval.cli.simulate", "spiking E-I network at working points: rates"),
    "transfer": ("mfval.cli.transfer", "open-loop neurons with modulated input: N(f)"),
    "run": ("mfval.cli.run", "main job: theory, simulations, comparison, figure, report"),
    "sweep": (
        "mfval.cli.sweep",
        "onset of the oscillatory instability versus g (closed loop)",
    ),
    "spatial": (
        "mfval.cli.spatial",
        "wave trains of the E-I network on a ring: spatial theory vs simulation",
    ),
    "calibrate": (
        "mfval.cli.calibrate",
        "expected deviations of the theory at calibration seeds, with provenance",
    ),
    "cache": ("mfval.cli.cache", "show or clear the results store and Brian2's build cache"),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``mfval`` command, with a subparser per job of :data:`SUBCOMMANDS`.

    The documentation's command-line reference is generated from it.

    Examples
    --------
    >>> args = build_parser().parse_args(["run", "--quick", "--seed", "7"])
    >>> args.command, args.quick, args.seed
    ('run', True, 7)
    """
    parser = argparse.ArgumentParser(
        prog="mfval", description="Validate mean-field theory of LIF networks against simulation."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            p.set_defaults(_missing=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        parser.error(f"subcommand '{args.command}' is not available in this installation")
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except ParameterError as err:
        print(f"mfval {args.command}: parameter error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (SchedulerUnreachableError, StaleWorkerCodeError) as err:
        print(f"mfval {args.command}: {err}", file=sys.stderr)
        return EXIT_SCHEDULER_UNREACHABLE
    except ImportError as err:
        if "optional extra" not in str(err):
            raise
        print(f"mfval {args.command}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(
            f"mfval {args.command}: interrupted; finished tasks are stored, rerun to continue",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
