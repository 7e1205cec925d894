"""Shared estimators of spike data: Fourier response, population spectra, CV, Fano factor."""
