"""Figures (matplotlib): Figure 5 panels, the comparison overlay, the closed-loop spectra.

Not fingerprinted: editing a figure leaves stored results valid.
"""
