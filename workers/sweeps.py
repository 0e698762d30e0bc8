"""Tasks: sweeps."""
