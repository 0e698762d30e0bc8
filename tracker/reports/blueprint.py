"""The manager pages' URL rules (blueprint `report_pages`), and nothing else.

The dashboard, its exports and the problems page are in `views.py`; the settings pages
(baselines, growth targets, the go-live date, each office's and channel's targets) in
`setting_views.py`. Both register here, so neither imports the other for the blueprint.
"""

from __future__ import annotations

from flask import Blueprint

from tracker.reports import setting_views, views

bp = Blueprint("report_pages", __name__, template_folder="templates")
bp.context_processor(views.page_helpers)

bp.add_url_rule("/manager", "dashboard", views.dashboard)
bp.add_url_rule("/manager/export", "export", views.download)
bp.add_url_rule("/manager/problems", "problems", views.problems)
bp.add_url_rule("/manager/pickups", "pickups", views.pickups)
bp.add_url_rule("/manager/settings", "settings", setting_views.settings, methods=["GET", "POST"])
bp.add_url_rule(
    "/manager/settings/targets/<any(office, channel):dimension>/<code>",
    "unit_target",
    setting_views.unit_target,
    methods=["GET", "POST"],
)
