"""The ``mfval`` command line.

Exit codes of every subcommand: 0 success (``mfval run``: every judged check
passed); 1 ``mfval run``: at least one check failed; 2 bad input (a parameter
error names the file, key and value; a missing ``--tls-*`` file; also
argparse's usage errors); 3 the Dask scheduler given with ``--scheduler``:
a malformed address, an unknown protocol, ``tls://`` without certificates,
a plain ``tcp://`` address of another host without ``--insecure`` (refused
before connecting), no answer within ``--scheduler-timeout``, or workers
that run other code than this client (restart them); 130 interrupted.

Each subcommand lives in the module that owns its work and provides two
functions: ``add_arguments(parser)`` and ``main(args) -> int``. Modules are
imported only when their subcommand runs, so ``mfval theory`` does not load
Brian2.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from mfval.tasks import DEFAULT_SCHEDULER_TIMEOUT

DEFAULT_OUT = Path("output")

#: seeds are 32-bit unsigned integers (NumPy's and the simulators' range)
MAX_SEED = 2**32 - 1
#: most values of one axis of ``--grid`` and points of the whole grid
MAX_AXIS_VALUES, MAX_GRID_POINTS = 10_000, 100_000
#: most values of ``--g``
MAX_G_VALUES = 1_000
#: most local worker processes, NEST threads, blocks, neurons per frequency
MAX_WORKERS, MAX_COUNT = 1024, 10**7


#: exit codes (module docstring)
EXIT_OK, EXIT_CHECKS_FAILED, EXIT_BAD_INPUT, EXIT_SCHEDULER_UNREACHABLE = 0, 1, 2, 3


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand that computes something accepts."""
    parser.add_argument("--params", type=Path, default=None, help="parameter YAML file")
    parser.add_argument(
        "--out",
        type=folder_option("--out"),
        default=str(DEFAULT_OUT),  # a string: argparse checks it with the type, too
        help="output folder (created; must not be a file)",
    )
    parser.add_argument(
        "--cache-dir",
        type=folder_option("--cache-dir"),
        default=None,
        help="results store (default: $MFVAL_CACHE_DIR or ~/.cache/mfval)",
    )
    parser.add_argument(
        "--workers",
        type=integer_option("--workers", 0, MAX_WORKERS),
        default=None,
        help="local worker processes (0 or 1: in-process)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="address of a Dask scheduler to run the tasks on: tls://HOST:8786 (with "
        "--tls-*), or tcp://HOST:8786 on this host (another host needs --insecure)",
    )
    parser.add_argument(
        "--scheduler-timeout",
        type=positive_seconds,
        default=DEFAULT_SCHEDULER_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for --scheduler (default {DEFAULT_SCHEDULER_TIMEOUT:g})",
    )
    add_security_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--grid",
        type=parse_grid,
        default=None,
        metavar="MU0:MU1:STEP,SIG0:SIG1:STEP",
        help="scan grid in mV (stops included), e.g. 6:12:1,6:12:1; overrides the file's scan",
    )


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tls-ca-file``, ``--tls-cert``, ``--tls-key`` and ``--insecure`` (for ``--scheduler``)."""
    group = parser.add_argument_group(
        "cluster security",
        "TLS for a tls:// --scheduler, as for `dask scheduler`/`dask worker`; without these "
        "options, Dask's configuration distributed.comm.tls.* is used",
    )
    group.add_argument(
        "--tls-ca-file",
        type=Path,
        default=None,
        metavar="PEM",
        help="CA certificate that signed the scheduler's and workers' certificates",
    )
    group.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="PEM",
        help="this client's certificate (signed by the CA)",
    )
    group.add_argument(
        "--tls-key",
        type=Path,
        default=None,
        metavar="PEM",
        help="this client's private key (may be inside --tls-cert)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow a plain tcp:// --scheduler on another host: anyone who can reach its "
        "port can run code on the workers",
    )


def scheduler_security(args: argparse.Namespace):
    """The ``distributed.Security`` of the ``--tls-*`` options, or None (Dask's configuration).

    Raises
    ------
    ParameterError
        If a given file does not exist, or --tls-cert / --tls-ca-file is
        missing while other --tls-* options are given.
    """
    from mfval.config import ParameterError

    files = {
        "--tls-ca-file": getattr(args, "tls_ca_file", None),
        "--tls-cert": getattr(args, "tls_cert", None),
        "--tls-key": getattr(args, "tls_key", None),
    }
    if all(v is None for v in files.values()):
        return None
    for option, path in files.items():
        if path is not None and not Path(path).is_file():
            raise ParameterError(option, option.lstrip("-"), str(path), "no such file")
    missing = [o for o in ("--tls-ca-file", "--tls-cert") if files[o] is None]
    if missing:
        raise ParameterError(
            missing[0], missing[0].lstrip("-"), None, "needed with the other --tls-* options"
        )
    from distributed import Security

    key = files["--tls-key"]
    return Security(
        tls_ca_file=str(files["--tls-ca-file"]),
        tls_client_cert=str(files["--tls-cert"]),
        tls_client_key=None if key is None else str(key),
        require_encryption=True,
    )


def scheduler_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`mfval.tasks.open_client` / ``scheduler_client`` from args.

    ``timeout`` (``--scheduler-timeout``), ``security`` (``--tls-*``) and
    ``insecure``; every subcommand with ``--scheduler`` passes all of them.
    """
    return {
        "timeout": args.scheduler_timeout,
        "security": scheduler_security(args) if args.scheduler else None,
        "insecure": bool(getattr(args, "insecure", False)),
    }


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type).

    Examples
    --------
    >>> positive_seconds("2.5")
    2.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text!r}")
    return value


# --- argparse types: each raises argparse.ArgumentTypeError naming the option and value,
# --- which argparse turns into a usage error (one line, exit 2) before any work starts


def number_option(option: str, check: str = "", unit: str = "") -> Callable[[str], float]:
    """argparse type: a finite number; ``check`` "positive", "nonnegative" or "" (any).

    Examples
    --------
    >>> duration = number_option("--duration", "positive", "s")
    >>> duration("2")
    2.0
    >>> duration("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: --duration '-1': expected a positive finite number in s
    """
    wanted = {"positive": "a positive", "nonnegative": "a non-negative", "": "a"}[check]
    suffix = f" in {unit}" if unit else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (
            check == ""
            or (check == "positive" and value > 0)
            or (check == "nonnegative" and value >= 0)
        )
        if not ok:
            raise argparse.ArgumentTypeError(
                f"{option} {text!r}: expected {wanted} finite number{suffix}"
            )
        return value

    parse.__name__ = option.lstrip("-").replace("-", "_")  # argparse names the type on errors
    return parse


def integer_option(option: str, minimum: int, maximum: int) -> Callable[[str], int]:
    """argparse type: an integer in [minimum, maximum] (decimal digits, e.g. ``12345``).

    Examples
    --------
    >>> integer_option("--workers", 0, 64)("3")
    3
    """

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} {text!r}: expected an integer in [{minimum}, {maximum}]"
            ) from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{option} {text!r}: must lie in [{minimum}, {maximum}]"
            )
        return value

    parse.__name__ = option.lstrip("-").replace("-", "_")
    return parse


#: ``--seed``: an integer in [0, 2**32 - 1]
parse_seed = integer_option("--seed", 0, MAX_SEED)


def check_folder(path: Path, option: str) -> Path:
    """``path`` if it is a folder or can be created as one, else ArgumentTypeError.

    Checks, without creating anything, that ``path`` is not a file and that
    its nearest existing ancestor is a folder we may write into.
    """
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{option} '{path}': exists and is not a folder")
    base = path.absolute()
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise argparse.ArgumentTypeError(
            f"{option} '{path}': cannot create it, '{base}' is not a folder"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{option} '{path}': '{base}' is not writable")
    return path


def folder_option(option: str) -> Callable[[str], Path]:
    """argparse type: a folder that exists or can be created (:func:`check_folder`)."""

    def parse(text: str) -> Path:
        if not text or "\0" in text:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a folder name")
        return check_folder(Path(text), option)

    parse.__name__ = option.lstrip("-").replace("-", "_")
    return parse


def file_option(option: str) -> Callable[[str], Path]:
    """argparse type: a file to write: not a folder, in a folder that can be created."""

    def parse(text: str) -> Path:
        if not text or "\0" in text:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a file name")
        path = Path(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{option} '{path}': is a folder, expected a file")
        check_folder(path.parent, option)
        return path

    parse.__name__ = option.lstrip("-").replace("-", "_")
    return parse


def value_range(text: str, option: str, part: str, name: str, max_values: int) -> list[float]:
    """``START:STOP:STEP`` (stop included) -> the values, rounded to 12 decimals.

    ArgumentTypeError for non-finite numbers, STEP <= 0, STOP < START, more
    than ``max_values`` values, or a STEP too small to give distinct values.
    """
    try:
        start, stop, step = (float(x) for x in part.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{option} {text!r}: {name} must be START:STOP:STEP"
        ) from None
    if not all(math.isfinite(x) for x in (start, stop, step)):
        raise argparse.ArgumentTypeError(
            f"{option} {text!r}: {name} START, STOP and STEP must be finite"
        )
    if not step > 0 or stop < start:
        raise argparse.ArgumentTypeError(
            f"{option} {text!r}: {name} needs STEP > 0 and STOP >= START"
        )
    count = (stop - start) / step
    if not count < max_values:  # also catches an infinite count
        raise argparse.ArgumentTypeError(
            f"{option} {text!r}: too many {name} values (more than {max_values})"
        )
    n = int(math.floor(count + 1e-9)) + 1
    values = [round(start + i * step, 12) for i in range(n)]
    if len(set(values)) != n:
        raise argparse.ArgumentTypeError(
            f"{option} {text!r}: {name} STEP is too small to give distinct values"
        )
    return values


def add_theory_argument(parser: argparse.ArgumentParser) -> None:
    """``--theory fast|nnmt``: computation path of the mean-field theory (default fast)."""
    parser.add_argument(
        "--theory",
        choices=("fast", "nnmt"),
        default="fast",
        help="theory computation path: 'fast' (vectorized numpy/scipy, default) or 'nnmt' "
        "(the reference; mpmath, slow); they agree to 1e-9 relative",
    )


def parse_point(text: str) -> tuple[float, float]:
    """``"MU,SIGMA"`` in mV -> (mu, sigma) in V.

    Examples
    --------
    >>> parse_point("10,10")  # mV in, V out
    (0.01, 0.01)
    """
    try:
        mu, sigma = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--point {text!r}: expected MU,SIGMA in mV, e.g. 10,10"
        ) from None
    if not (math.isfinite(mu) and math.isfinite(sigma)):
        raise argparse.ArgumentTypeError(f"--point {text!r}: MU and SIGMA must be finite")
    if not sigma > 0:
        raise argparse.ArgumentTypeError(f"--point {text!r}: sigma must be positive")
    return mu * 1e-3, sigma * 1e-3


def add_point_argument(parser: argparse.ArgumentParser) -> None:
    """``--point MU,SIGMA`` (mV, repeatable; default: the marked points)."""
    parser.add_argument(
        "--point",
        type=parse_point,
        action="append",
        default=None,
        metavar="MU,SIGMA",
        help="working point in mV (repeatable; default: the marked points of the parameters)",
    )


SIMULATORS = ("brian2", "nest")


def parse_simulators(text: str) -> list[str]:
    """``"brian2"``, ``"nest"`` or a comma list (``"brian2,nest"``) -> list of names.

    Examples
    --------
    >>> parse_simulators("brian2,nest")
    ['brian2', 'nest']
    """
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [n for n in names if n not in SIMULATORS]
    if not names or bad or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"--simulator {text!r}: expected one or more of {', '.join(SIMULATORS)} "
            "(comma-separated, each once)"
        )
    return names


def add_simulator_argument(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """``--simulator brian2|nest`` (``several``: a comma list, e.g. ``brian2,nest``)."""
    parser.add_argument(
        "--simulator",
        type=parse_simulators,
        default=["brian2"],
        help=(
            'simulator(s): brian2 (default) or nest (optional extra: pip install -e ".[nest]")'
            + ("; brian2,nest runs both and adds the Brian2 vs NEST checks" if several else "")
        ),
    )


def require_simulators(names: list[str], command: str) -> None:
    """Exit early with the install hint if NEST is selected but missing (ImportError)."""
    if "nest" in names:
        from mfval.simulation.model.nest_support import import_nest

        import_nest()


def parse_grid(text: str) -> tuple[list[float], list[float]]:
    """``"MU0:MU1:STEP,SIG0:SIG1:STEP"`` in mV -> (mu values, sigma values) in V.

    Examples
    --------
    >>> mu, sigma = parse_grid("6:12:2,6:12:2")
    >>> mu
    [0.006, 0.008, 0.01, 0.012]
    """
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"--grid {text!r}: expected MU_RANGE,SIGMA_RANGE")
    mu, sigma = (
        value_range(text, "--grid", part, name, MAX_AXIS_VALUES)
        for part, name in zip(parts, ("mu", "sigma"))
    )
    if min(sigma) <= 0:
        raise argparse.ArgumentTypeError(f"--grid {text!r}: sigma must be positive")
    if len(mu) * len(sigma) > MAX_GRID_POINTS:
        raise argparse.ArgumentTypeError(
            f"--grid {text!r}: {len(mu) * len(sigma)} grid points is too many "
            f"(at most {MAX_GRID_POINTS})"
        )
    return [m * 1e-3 for m in mu], [s_ * 1e-3 for s_ in sigma]


def load_cli_params(args: argparse.Namespace) -> dict:
    """Parameters of a subcommand: ``--params`` file, with ``--grid`` applied."""
    import numpy as np

    from mfval.config import load_params

    params = load_params(args.params)
    grid = getattr(args, "grid", None)
    if grid is not None:
        params["scan"]["mu"], params["scan"]["sigma"] = (np.asarray(g) for g in grid)
    return params
