"""GET /api/v1/track: the citizen's lookup. No login, rate limited per client."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from tracker.errors import NotFound
from tracker.extensions import limiter
from tracker.tracking import queries
from tracker.tracking.schemas import TrackArgs, TrackOut

blp = Blueprint(
    "tracking",
    __name__,
    url_prefix="/api/v1",
    description="Public lookup with the code and secret printed on the receipt",
)

NOT_FOUND_MESSAGE = "No dossier matches what was entered. Check the receipt and try again."


def track_limit() -> str:
    return current_app.config["TRACK_RATE_LIMIT"]


@blp.route("/track")
@limiter.limit(track_limit)
@blp.arguments(TrackArgs, location="query")
@blp.response(200, TrackOut)
def track(args):
    """Status, timeline and appointment date of one dossier, with personal data masked.

    A wrong secret answers exactly as an unknown code does."""
    if "code" in args:
        dossier = queries.find_by_code_and_secret(args["code"], args["secret"])
    else:
        dossier = queries.find_by_item_and_phone(args["item"], args["phone_last4"])
    if dossier is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return dossier
