"""Status out over the API: subscriptions and deliveries (admins), and the pull feed of an
agency's changes (integration tokens with the scope `read:agency`). Handlers authorise, parse,
call one operation or query, dump; the request's unit of work commits."""

from __future__ import annotations

from flask.views import MethodView

from tracker.accounts.auth import actor, roles_required, scopes_required
from tracker.api import Blueprint
from tracker.errors import Forbidden
from tracker.status_out import operations, queries
from tracker.status_out.schemas import (
    DELIVERY_PARAMETER,
    ID_PARAMETER,
    ChangesArgs,
    ChangesOut,
    DeliveryArgs,
    DeliveryOut,
    DeliveryPageOut,
    ReplayedOut,
    ReplayIn,
    SubscriptionArgs,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatchIn,
    SubscriptionSecretOut,
)

blp = Blueprint(
    "status_out",
    __name__,
    url_prefix="/api/v1",
    description="Status out: agencies' webhook subscriptions, their deliveries (admins), and "
    "the pull feed of an agency's status changes (scope read:agency)",
)

ADMINS = ("admin",)


@blp.route("/subscriptions")
class Subscriptions(MethodView):
    @roles_required(*ADMINS)
    @blp.arguments(SubscriptionArgs(), location="query")
    @blp.response(200, SubscriptionOut(many=True))
    @blp.errors(401, 403)
    def get(self, args):
        """Every subscription (or one agency's), without secrets."""
        return queries.list_subscriptions(args.get("agency"))

    @roles_required(*ADMINS)
    @blp.arguments(SubscriptionIn())
    @blp.response(201, SubscriptionSecretOut())
    @blp.errors(401, 403)
    def post(self, data):
        """Subscribe a receiver to an agency's status changes. The answer carries the signing
        secret (`whsec_...`) this once."""
        subscription, secret = operations.create_subscription(data, actor())
        subscription.shown_secret = secret  # answered this once, never read back
        return subscription


@blp.route("/subscriptions/<int:subscription_id>", parameters=[ID_PARAMETER])
class SubscriptionItem(MethodView):
    @roles_required(*ADMINS)
    @blp.response(200, SubscriptionOut())
    @blp.errors(401, 403, 404)
    def get(self, subscription_id):
        """One subscription, without its secret."""
        return queries.get_subscription(subscription_id)

    @roles_required(*ADMINS)
    @blp.arguments(SubscriptionPatchIn())
    @blp.response(200, SubscriptionOut())
    @blp.errors(401, 403, 404)
    def patch(self, changes, subscription_id):
        """Change the URL or the statuses; switch it off (its pending deliveries are cancelled)
        or on again."""
        subscription = queries.get_subscription(subscription_id)
        return operations.update_subscription(subscription, changes, actor())

    @roles_required(*ADMINS)
    @blp.response(204)
    @blp.errors(401, 403, 404)
    def delete(self, subscription_id):
        """Remove the subscription and its deliveries."""
        operations.delete_subscription(queries.get_subscription(subscription_id), actor())


@blp.route("/subscriptions/<int:subscription_id>/secret", parameters=[ID_PARAMETER])
class SubscriptionSecret(MethodView):
    @roles_required(*ADMINS)
    @blp.response(200, SubscriptionSecretOut())
    @blp.errors(401, 403, 404)
    def post(self, subscription_id):
        """A new signing secret, shown this once; the old one stops signing at once."""
        subscription = queries.get_subscription(subscription_id)
        subscription.shown_secret = operations.rotate_secret(subscription, actor())
        return subscription


@blp.route("/deliveries")
class Deliveries(MethodView):
    @roles_required(*ADMINS)
    @blp.arguments(DeliveryArgs(), location="query")
    @blp.response(200, DeliveryPageOut())
    @blp.errors(401, 403)
    def get(self, args):
        """Deliveries newest first: state, attempts, last error and HTTP status, latency."""
        items, next_cursor = queries.list_deliveries(args)
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/deliveries/<int:delivery_id>", parameters=[DELIVERY_PARAMETER])
class DeliveryItem(MethodView):
    @roles_required(*ADMINS)
    @blp.response(200, DeliveryOut())
    @blp.errors(401, 403, 404)
    def get(self, delivery_id):
        """One delivery."""
        return queries.get_delivery(delivery_id)


@blp.route("/deliveries/<int:delivery_id>/replay", parameters=[DELIVERY_PARAMETER])
class DeliveryReplay(MethodView):
    @roles_required(*ADMINS)
    @blp.response(200, DeliveryOut())
    @blp.errors(401, 403, 404, 409)
    def post(self, delivery_id):
        """Send it again: same `webhook-id` and payload, retries start over (409 while pending
        or when its subscription is off)."""
        return operations.replay_one(queries.get_delivery(delivery_id), actor())


@blp.route("/deliveries/replay")
class DeliveriesReplay(MethodView):
    @roles_required(*ADMINS)
    @blp.arguments(ReplayIn())
    @blp.response(200, ReplayedOut())
    @blp.errors(401, 403)
    def post(self, data):
        """Send again every delivery written in [since, until) (of one subscription, or all)
        that is not pending, its subscription on; the same `webhook-id`s."""
        queued = operations.replay_range(
            data.get("subscription_id"), data["since"], data["until"], actor()
        )
        return {"queued": queued}


@blp.route("/changes")
class Changes(MethodView):
    @scopes_required("read:agency")
    @blp.arguments(ChangesArgs(), location="query")
    @blp.response(200, ChangesOut())
    @blp.errors(401, 403)
    def get(self, args):
        """The token's agency's status changes, oldest first, keyset paged: each item is the
        webhook payload. Keep `next_cursor` and call again for what follows."""
        agency_id = actor().agency_id
        if agency_id is None:  # issue_token refuses it; an account re-placed later, then
            raise Forbidden("this account is not tied to an agency")
        return queries.changes(agency_id, args.get("cursor"), args["limit"])
