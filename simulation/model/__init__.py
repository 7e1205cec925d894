"""Shared model code: LIF equations, connectivity, drive checks, Recording, devices, NEST."""
