"""GET /api/v1/track: the citizen's lookup. No login, rate limited per client; lookups by item
number are also limited by the item's misses of the day (tracking/budget.py)."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, jsonify

from tracker import ratelimit
from tracker.api import Blueprint, ErrorOut
from tracker.errors import NotFound
from tracker.tracking import budget, queries
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


# The lookup page (tracking/views.py) counts in the same bucket, and spends the same item
# budgets: alternating the page and the API gives a guesser no extra tries.
TRACK_SCOPE = "track"


def shared_track_limit(exempt_when: Callable[[], bool] | None = None) -> Callable:
    """The per-client limit of every lookup, API or page (tracker/ratelimit.py: one Redis round
    trip)."""
    return ratelimit.limited(TRACK_SCOPE, track_limit, exempt_when=exempt_when)


def find_dossier(args: dict) -> dict | None:
    """The dossier `TrackArgs` ask for, or None; by item number within the item's budget of
    misses (ItemLookupsPaused once it is spent)."""
    if "code" in args:
        return queries.find_by_code_and_secret(args["code"], args["secret"])
    return budget.find_by_item_and_phone(args["item"], args["phone_last4"])


@blp.route("/track")
@blp.doc(security=[])  # no token: the code and secret (or item and phone digits) are the key
@shared_track_limit()
@blp.arguments(TrackArgs(), location="query")
@blp.response(200, TrackOut())
@blp.alt_response(
    429,
    schema=ErrorOut,
    description="too many lookups from this client, or (`reason`: item_misses_per_day) too many "
    "misses of this item number today; `Retry-After` in seconds",
)
@blp.errors(404)
def track(args):
    """Status, timeline and appointment date of one dossier, with personal data masked.

    A wrong secret answers exactly as an unknown code does. An item number looked up with wrong
    phone digits TRACK_ITEM_MISSES_PER_DAY times today answers 429 until the day ends (in
    Vietnam), for everyone; lookups by code and secret keep answering."""
    dossier = find_dossier(args)
    if dossier is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    # A Response passes through @blp.response untouched: the view is JSON-shaped already.
    return jsonify(dossier)
