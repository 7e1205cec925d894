"""The closed-loop protocol (spectra, CV, Fano factor) on the network protocol's binary.

``spec`` (plain data), one module per backend (``brian2``, ``nest``), ``measure`` (pure
functions of a Recording, with SEs), ``tasks`` (store keys, task functions, dispatch).
"""
