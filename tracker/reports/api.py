"""REST endpoints: reports. Managers and admins only; every change is audited."""

from __future__ import annotations

from tracker.api import Blueprint

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", description="reports")

READERS = ("manager", "admin")


# Growth report and its exports ------------------------------------------------------------


# Baselines and targets --------------------------------------------------------------------


# Refresh jobs -----------------------------------------------------------------------------
