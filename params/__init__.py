"""Parameter files (YAML) shipped with the package: network, analysis, scan, validation rules."""
