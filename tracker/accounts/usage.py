"""Where API tokens are used from.

A token remembers when it was last used and the addresses it was used from. Its first use
from an address it has not been used from before is audited (`token.new_address`): a token
copied out of an agency's server and used elsewhere shows on the owner's admin page.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from tracker.accounts.models import ApiToken
from tracker.accounts.sessions import TOUCH_EVERY
from tracker.audit.operations import AUDIT_INSERT, audit_row
from tracker.calendar import utcnow
from tracker.database import bookkeeping_write

# Addresses remembered per token (the most recent ones).
KEEP_ADDRESSES = 20


def note_token_use(token: ApiToken) -> None:
    """Record this request's use of `token`: its time (at most once a minute) and, when it is
    new for this token, its address (audited after the first)."""
    now = utcnow()
    address = request.remote_addr or "-"
    known = list(token.addresses or [])
    is_new = address not in known
    recent = token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY
    if recent and not is_new:
        return
    values: dict = {"last_used_at": now}
    statements: list = []
    if is_new:
        values["addresses"] = [*known, address][-KEEP_ADDRESSES:]
        if known:
            entry = audit_row(
                token.user_id,
                "token.new_address",
                "user",
                token.user.username,
                before={"addresses": known},
                after={"token_id": token.id, "name": token.name, "address": address},
            )
            statements.append((AUDIT_INSERT, entry))
    statements.insert(0, update(ApiToken).where(ApiToken.id == token.id).values(**values))
    bookkeeping_write(*statements)
    for name, value in values.items():
        set_committed_value(token, name, value)
