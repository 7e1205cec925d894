"""Theory side: mean-field predictions of nnmt for LIF networks with exponential PSCs.

Pure functions of plain SI parameters live in :mod:`mfval.theory.mean_field`; the
grid scan with caching and parallel processes in :mod:`mfval.theory.scan`; the
theory-only Figure 5 in :mod:`mfval.figures.figure5`.
"""
