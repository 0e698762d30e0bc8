"""`flask report ...`: baselines, targets, recomputes and snapshots from the command line."""

from __future__ import annotations

from flask.cli import AppGroup

report_cli = AppGroup("report", help="Growth reports: baselines, targets, rollups.")


# Baselines and targets --------------------------------------------------------------------


# Rollups and snapshots --------------------------------------------------------------------
