"""REST endpoints: sweeps."""

from __future__ import annotations

from tracker.api import Blueprint

blp = Blueprint("sweeps", __name__, url_prefix="/api/v1", description="sweeps")
