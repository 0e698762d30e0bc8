"""REST endpoints: feeds. A batch is answered 202 as soon as it is stored; a worker applies it.

The order of checks on a batch: token and scope (401/403), body size (413), signature and
timestamp (401), JSON (400), envelope (422), each event on its own (refused by index in the 202
answer), then its message id: seen before, the first answer again (200), or 409 for another body.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import current_app, request

from tracker.accounts.auth import actor, roles_required, scopes_required
from tracker.api import Blueprint
from tracker.errors import ValidationFailed
from tracker.feeds import operations, queries
from tracker.feeds.models import FeedBatch
from tracker.feeds.schemas import (
    AgencyBatchIn,
    BatchAcceptedOut,
    BatchEventsArgs,
    BatchOut,
    FeedEventPageOut,
    ItemError,
    PostalBatchIn,
    UnmatchedArgs,
    check_events,
)
from tracker.schemas import read_batch

blp = Blueprint("feeds", __name__, url_prefix="/api/v1", description="feeds")
BATCH_ID = {"in": "path", "name": "batch_id", "example": 1}

# Unmatched postal events carry no personal data, and clerks are the ones who can attach the
# item number a dossier lacks: they see them all. Agency officers have no postal events.
UNMATCHED_READERS = ("clerk", "manager", "admin")
BATCH_READERS = ("clerk", "agency", "manager", "admin", "integration")


def _batch_doc(schema) -> dict:
    """OpenAPI only: the body is read raw (the signature covers its bytes), then checked."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
            "description": "Signed as Standard Webhooks (standardwebhooks.com) with the feed's "
            "secret `whsec_...`: headers `webhook-id` (unique per batch, the same on a retry), "
            "`webhook-timestamp` (seconds since 1970 UTC, within WEBHOOK_TOLERANCE_SECONDS, 5 "
            "minutes by default, of the server's clock) and `webhook-signature` (`v1,<base64 "
            "HMAC-SHA256 of id.timestamp.raw body>`); a bad or missing one is a 401 naming it. "
            "A `webhook-id` already received is not stored again: the same body is answered "
            "200 with the first answer (`duplicate`: true), another body 409. Malformed events "
            "are refused one by one (202 lists them); a batch without any valid event is a 422.",
        }
    }


_RETRY = "this webhook-id was received before: the first answer again, nothing stored"


@blp.route("/feeds/postal", methods=["POST"])
@scopes_required("feed:postal")
@blp.doc(**_batch_doc(PostalBatchIn))
@blp.response(202, BatchAcceptedOut())
@blp.alt_response(200, schema=BatchAcceptedOut(), description=_RETRY)
@blp.errors(401, 403, 409, 422)
def post_postal():
    """A batch of postal tracking events: event_id, item_number (S10), code, occurred_at,
    office_code, note."""
    return _receive("postal", "FEED_POSTAL_SECRET")


@blp.route("/feeds/agency", methods=["POST"])
@scopes_required("feed:agency")
@blp.doc(**_batch_doc(AgencyBatchIn))
@blp.response(202, BatchAcceptedOut())
@blp.alt_response(200, schema=BatchAcceptedOut(), description=_RETRY)
@blp.errors(401, 403, 409, 422)
def post_agency():
    """A batch of agency decisions: event_id, dossier_code (or agency_reference, with
    agency_code unless the account is tied to its agency), status, appointment_date,
    occurred_at, note."""
    return _receive("agency", "FEED_AGENCY_SECRET")


def _receive(source: str, secret_key: str) -> tuple[dict, int]:
    config = current_app.config
    # Feeds may send more than the API's global body limit.
    request.max_content_length = config["FEED_MAX_BYTES"]
    body = request.get_data(cache=False)
    message_id = operations.check_message(
        body, request.headers, config[secret_key], config["WEBHOOK_TOLERANCE_SECONDS"]
    )
    events = read_batch(body, "events", config["FEED_MAX_EVENTS"])
    valid, errors = check_events(source, enumerate(events))
    if not valid:
        raise ValidationFailed(
            "no event of the batch is valid: nothing was stored",
            fields={f"events.{e.index}.{e.field}": [e.message] for e in errors},
            extra={"errors": [asdict(e) for e in errors]},
        )
    refused = len({error.index for error in errors})
    try:
        batch = operations.receive_batch(
            source,
            valid,
            refused=refused,
            submitted_by=actor(),
            message_id=message_id,
            body=body,
        )
    except operations.AlreadyReceived as retry:
        # The same body, so the same item errors: the first answer, word for word.
        return _answer(retry.batch, errors, duplicate=True), 200
    return _answer(batch, errors), 202


def _answer(batch: FeedBatch, errors: list[ItemError], duplicate: bool = False) -> dict:
    return {
        "batch_id": batch.id,
        "source": batch.source,
        "accepted": batch.event_count,
        "refused": batch.refused_count,
        "errors": errors,
        "duplicate": duplicate,
        "status_url": f"{blp.url_prefix}/feeds/batches/{batch.id}",
    }


@blp.route("/feeds/batches/<int:batch_id>", methods=["GET"], parameters=[BATCH_ID])
@roles_required(*BATCH_READERS)
@blp.response(200, BatchOut())
@blp.errors(401, 403, 404)
def get_batch(batch_id: int):
    """A batch's events counted by state (managers, admins, or the integration that sent it)."""
    return queries.describe_batch(queries.get_batch(batch_id, actor()))


@blp.route("/feeds/batches/<int:batch_id>/events", methods=["GET"], parameters=[BATCH_ID])
@roles_required(*BATCH_READERS)
@blp.arguments(BatchEventsArgs(), location="query")
@blp.response(200, FeedEventPageOut())
@blp.errors(401, 403, 404)
def list_batch_events(args, batch_id: int):
    """A batch's events with their outcome (filter by state), newest first."""
    batch = queries.get_batch(batch_id, actor())
    items, next_cursor = queries.list_batch_events(batch.id, args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/feeds/unmatched", methods=["GET"])
@roles_required(*UNMATCHED_READERS)
@blp.arguments(UnmatchedArgs(), location="query")
@blp.response(200, FeedEventPageOut())
@blp.errors(401, 403)
def list_unmatched(args):
    """Postal events waiting for a dossier with their item number, newest first."""
    items, next_cursor = queries.list_unmatched(args)
    return {"items": items, "next_cursor": next_cursor}
