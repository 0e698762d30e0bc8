"""The pickup pages' URL rules (blueprint `pickup_pages`), and nothing else.

The day's list, the call form, assignment and the route sheet are in `views.py`; a request's
page, its change and its cancellation in `request_views.py`; the postman's visit (collected,
not collected) in `visit_views.py`.
"""

from __future__ import annotations

from flask import Blueprint

from tracker.pickups import request_views, views, visit_views

bp = Blueprint("pickup_pages", __name__, template_folder="templates")

bp.add_url_rule("/pickups", "index", views.index)
bp.add_url_rule("/pickups/new", "new_call", views.new_call, methods=["GET", "POST"])
bp.add_url_rule("/pickups/route", "route_sheet", views.route_sheet)
bp.add_url_rule("/pickups/<ref>", "pickup", request_views.pickup)
bp.add_url_rule("/pickups/<ref>/change", "change", request_views.change, methods=["POST"])
bp.add_url_rule("/pickups/<ref>/cancel", "cancel", request_views.cancel, methods=["POST"])
bp.add_url_rule("/pickups/<ref>/postman", "assign", views.assign, methods=["POST"])
bp.add_url_rule("/pickups/<ref>/collect", "collect", visit_views.collect, methods=["GET", "POST"])
bp.add_url_rule(
    "/pickups/<ref>/not-collected",
    "not_collected",
    visit_views.not_collected,
    methods=["GET", "POST"],
)
