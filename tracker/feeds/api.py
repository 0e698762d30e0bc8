"""REST endpoints: feeds."""

from __future__ import annotations

from tracker.api import Blueprint

blp = Blueprint("feeds", __name__, url_prefix="/api/v1", description="feeds")
