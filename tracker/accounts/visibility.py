"""Which rows a staff user may see: the one visibility rule of the read side, for every table
whose rows belong to an office or an agency (dossiers, import jobs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from tracker.accounts.models import User


def visible_to(user: User, query: Select, *, office: Any, agency: Any) -> Select:
    """Restrict `query` to the rows `user` may see: a clerk those whose `office` column is their
    office, an agency officer those whose `agency` column is their agency; every other role
    sees every row (the endpoint's role check decides whether it may read at all)."""
    if user.role == "clerk":
        return query.where(office == user.office_id)
    if user.role == "agency":
        return query.where(agency == user.agency_id)
    return query
