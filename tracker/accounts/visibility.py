"""Which rows a staff user may see: the one visibility rule of the read side, for every table
whose rows belong to an office or an agency (dossiers, import jobs, pickups)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false

from tracker.accounts.models import OFFICE_ROLES, User


def visible_to(user: User, query: Select, *, office: Any, agency: Any = None) -> Select:
    """Restrict `query` to the rows `user` may see: a clerk or a postman those whose `office`
    column is their office, an agency officer those whose `agency` column is their agency (none
    of a table without one); every other role (hotline operators and managers: the whole
    province) sees every row (the endpoint's role check decides whether it may read at all)."""
    if user.role in OFFICE_ROLES:
        return query.where(office == user.office_id)
    if user.role == "agency":
        return query.where(false() if agency is None else agency == user.agency_id)
    return query
