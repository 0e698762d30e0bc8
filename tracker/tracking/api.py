"""GET /api/v1/track: the citizen's lookup. No login, rate limited per client."""

from __future__ import annotations

from collections.abc import Callable

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


# The lookup page (tracking/views.py) counts in the same buckets: alternating the page and the
# API gives a guesser no extra tries.
TRACK_SCOPE = "track"
ITEM_SCOPE = "track-item"


def shared_track_limit(exempt_when: Callable[[], bool] | None = None):
    """The per-client limit of every lookup, API or page."""
    return limiter.shared_limit(track_limit, scope=TRACK_SCOPE, exempt_when=exempt_when)


def shared_item_limit():
    """Only 10,000 phone endings exist: an item is also limited by itself, whoever asks."""
    return limiter.shared_limit(
        item_limit, scope=ITEM_SCOPE, key_func=item_key, exempt_when=not_an_item_lookup
    )


@blp.route("/track")
@shared_track_limit()
@shared_item_limit()
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
