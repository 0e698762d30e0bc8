"""The pickup pages: for now the day's pickup requests of a postman or a hotline operator.

Until the postman's phone page and the hotline's call form exist, this list is the first page
of both roles after signing in: a postman sees the office's pickups of today, the hotline every
pickup of today (the visibility rule scopes it). Like the API's list, the view is audited: it
shows callers' names, phones and addresses.
"""

from __future__ import annotations

from flask import render_template
from flask_babel import get_locale

from tracker.accounts.auth import actor
from tracker.audit.operations import record_audit
from tracker.calendar import today_vn
from tracker.database import writes
from tracker.pages import page_roles
from tracker.pickups.lifecycle import SLOTS, STATES
from tracker.pickups.queries import pickups_of_day

# The roles whose home this page is (README, roles table).
PICKUP_LIST_ROLES = ("postman", "hotline")


@writes
@page_roles(*PICKUP_LIST_ROLES)
def today():
    """Today's pickup requests in the user's scope, by slot."""
    user = actor()
    day = today_vn()
    pickups = pickups_of_day(user, day)
    references = [pickup.reference for pickup in pickups]
    record_audit(user.id, "pickup.list", "pickup", "*", after={"references": references})
    english = str(get_locale()) == "en"
    return render_template(
        "pickups/today.html",
        day=day,
        office=user.office,
        pickups=pickups,
        slots={code: s.label_en if english else s.label_vi for code, s in SLOTS.items()},
        states={code: s.label_en if english else s.label_vi for code, s in STATES.items()},
    )
