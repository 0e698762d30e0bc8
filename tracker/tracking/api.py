"""GET /api/v1/track: the citizen's lookup. No login, rate limited per client."""

from __future__ import annotations

from flask import current_app, jsonify, request

from tracker.api import Blueprint
from tracker.dossiers import s10
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


def item_limit() -> str:
    return current_app.config["TRACK_ITEM_RATE_LIMIT"]


def item_key() -> str:
    return "item:" + s10.normalise(request.args.get("item", ""))


def not_an_item_lookup() -> bool:
    return "item" not in request.args


@blp.route("/track")
@limiter.limit(track_limit)
# Only 10,000 phone endings exist: an item is also limited by itself, whoever asks.
@limiter.limit(item_limit, key_func=item_key, exempt_when=not_an_item_lookup)
@blp.arguments(TrackArgs(), location="query")
@blp.response(200, TrackOut())
def track(args):
    """Status, timeline and appointment date of one dossier, with personal data masked.

    A wrong secret answers exactly as an unknown code does."""
    if "code" in args:
        dossier = queries.find_by_code_and_secret(args["code"], args["secret"])
    else:
        dossier = queries.find_by_item_and_phone(args["item"], args["phone_last4"])
    if dossier is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    # A Response passes through @blp.response untouched: the view is JSON-shaped already.
    return jsonify(dossier)
