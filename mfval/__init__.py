"""mfval: validation of mean-field theory of LIF networks against spiking simulation.

The command-line tool, the parameter loader and the results store live here;
the science lives in the packages ``theory``, ``simulation`` and ``comparison``.
"""

__version__ = "0.1.0"
