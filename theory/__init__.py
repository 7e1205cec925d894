"""Theory side: mean-field predictions of nnmt for LIF networks with exponential PSCs.

Pure functions of plain SI parameters live in :mod:`theory.mean_field`; the
grid scan with caching and parallel processes in :mod:`theory.scan`; the
theory-only Figure 5 in :mod:`theory.figure`.
"""
