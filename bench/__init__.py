"""Performance benchmark of the dossier registry: `python -m bench.run` (see bench/README.md)."""
