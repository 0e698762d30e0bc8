"""The pickup pages' URL rules (blueprint `pickup_pages`), and nothing else."""

from __future__ import annotations

from flask import Blueprint

from tracker.pickups import views

bp = Blueprint("pickup_pages", __name__, template_folder="templates")

bp.add_url_rule("/pickups", "today", views.today)
