"""Comparison: rows with standard errors, verdicts, calibration, planted errors, the main job."""
