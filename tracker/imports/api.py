"""REST endpoints: imports."""

from __future__ import annotations

from tracker.api import Blueprint

blp = Blueprint("imports", __name__, url_prefix="/api/v1", description="imports")
