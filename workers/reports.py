"""Report tasks: the nightly rollup recompute and snapshots, and recomputes managers ask for."""

from __future__ import annotations
