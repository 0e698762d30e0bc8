"""The dossier pages' URL rules (blueprint `dossier_pages`), and nothing else.

The work queue, the dossier page and the batch scan are in `views.py`; intake and the receipt
in `intake_views.py`. The view modules know no blueprint: they are registered here, the one
module that imports both (`views` takes only the intake roles from `intake_views`).
"""

from __future__ import annotations

from flask import Blueprint

from tracker.dossiers import intake_views, registration_views, views

bp = Blueprint("dossier_pages", __name__, template_folder="templates")

bp.add_url_rule("/dossiers", "queue", views.queue)
bp.add_url_rule("/dossiers/scan", "batch_scan", views.batch_scan, methods=["GET", "POST"])
bp.add_url_rule("/dossiers/new", "intake", intake_views.intake, methods=["GET", "POST"])
bp.add_url_rule(
    "/registrations/new",
    "registration",
    registration_views.registration,
    methods=["GET", "POST"],
)
bp.add_url_rule("/dossiers/<code>", "dossier", views.dossier)
bp.add_url_rule("/dossiers/<code>/events", "record_event", views.record_event, methods=["POST"])
bp.add_url_rule(
    "/dossiers/<code>/receipt", "reissue_receipt", intake_views.reissue_receipt, methods=["POST"]
)
