"""The E-I network protocol at one working point.

``spec`` (plain data), one module per backend (``brian2``, ``nest``), ``measure`` (pure
functions of a Recording, with SEs), ``tasks`` (store keys, task functions, dispatch).
"""
