"""Markdown tables of the reports (no optional dependency such as tabulate).

The one table writer of :mod:`mfval.comparison.report`,
:mod:`mfval.comparison.cross_simulator` and :mod:`mfval.comparison.closed_loop`; each
caller keeps its own float format.
"""

from __future__ import annotations

import math

import pandas as pd


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3g", nan: str = "") -> str:
    """A GitHub markdown table of ``df`` (columns as header, index dropped).

    Floats are written with ``format(value, floatfmt)``, NaN as ``nan``;
    everything else with ``str``.

    Examples
    --------
    >>> import pandas as pd
    >>> print(markdown_table(pd.DataFrame({"rate_hz": [12.345], "population": ["E"]})))
    | rate_hz | population |
    |---|---|
    | 12.3 | E |
    """

    def cell(value):
        if isinstance(value, float):
            return nan if math.isnan(value) else format(value, floatfmt)
        return str(value)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
