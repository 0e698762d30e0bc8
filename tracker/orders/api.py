"""REST endpoint: collection orders from an agency's system (scope `orders:agency`, an
integration account tied to that agency). Each order is checked and placed on its own: the
answer lists the accepted ones with our dossier code and the refused ones by index and field;
the request's unit of work commits what was accepted.

The order of checks: token and scope (401/403), body size (413), JSON (400), envelope (422:
not an object, `orders` not a list, empty or over 1,000), then each order.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import request

from tracker.accounts.auth import actor, scopes_required
from tracker.api import Blueprint
from tracker.errors import Forbidden
from tracker.orders import operations
from tracker.orders.schemas import MAX_ORDERS, OrderBatchIn, OrderBatchOut
from tracker.schemas import read_batch

blp = Blueprint(
    "orders",
    __name__,
    url_prefix="/api/v1/orders",
    description="Collection orders: results ready at an agency's desk for the post to return "
    "(agencies' systems, scope orders:agency)",
)

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": OrderBatchIn}},
        "description": f'`{{"orders": [...]}}`, 1 to {MAX_ORDERS} orders. Each is checked on '
        "its own: a refused order is listed by index and field, the others are kept. Keyed by "
        "the agency's own dossier code (`agency_reference`): an order sent again answers the "
        "same dossier (`existing`, with `changed` naming what differs; nothing is modified).",
    }
}
_SOME_REFUSED = "some orders were refused (listed in `refused`); the others were accepted"


@blp.route("", methods=["POST"])
@scopes_required("orders:agency")
@blp.doc(**_BODY)
@blp.response(200, OrderBatchOut())
@blp.alt_response(207, schema=OrderBatchOut(), description=_SOME_REFUSED)
@blp.errors(401, 403, 422)
def post_orders():
    """A batch of collection orders: each creates a one-way dossier in `result_ready`
    awaiting collection (the citizen gets its code and lookup link by SMS), or moves the
    agency's return registration with that reference to `result_ready`. 200 when every order
    was accepted, 207 when some were refused."""
    user = actor()
    if user.agency is None:  # issue_token refuses the scope to such an account: belt and braces
        raise Forbidden("this account is not tied to an agency")
    orders = read_batch(request.get_data(cache=False), "orders", MAX_ORDERS)
    received = operations.receive_orders(orders, user.agency, user)
    answer = {
        "counts": received.counts,
        "accepted": [_accepted(order) for order in received.placed],
        "refused": [asdict(error) for error in received.errors],
    }
    return answer, 207 if received.errors else 200


def _accepted(order: operations.Placed) -> dict:
    return {
        "index": order.index,
        "agency_reference": order.dossier.agency_reference,
        "code": order.dossier.code,
        "outcome": order.outcome,
        "status": order.dossier.status,
        "changed": order.changed,
    }
