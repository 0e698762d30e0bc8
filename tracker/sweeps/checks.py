"""The contradictions reconciliation looks for, one check per anomaly kind.

Each check builds one SELECT over the whole table (no Python loop over dossiers): its first column
is `dossier_id`, the others are the facts the detail text quotes. `restrict(column)` narrows it
to some dossiers (a keyset page, or the dossiers whose anomaly is still open). The postal side of
a dossier is every event that says the post has the result; the agency side is its result or
refusal, whoever recorded it (counter, agency officer, agency feed, import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, or_, select, union
from sqlalchemy.orm import aliased

from tracker.calendar import VN_TZ
from tracker.dossiers.lifecycle import STATUSES, TERMINAL, status_label
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.feeds.models import FeedEvent
from tracker.handovers.models import HandoverLine, HandoverRecord
from tracker.sweeps.models import Anomaly

Restrict = Callable[[ColumnElement[int]], ColumnElement[bool]]

# Statuses that say the post holds (or held) the result.
CARRYING = (
    "result_collected",
    "out_for_delivery",
    "delivery_failed",
    "delivered",
    "returned_to_agency",
)
# The agency's answer: a result, or a refusal notice (also returned by post for two-way).
AGENCY_RESULT = ("result_ready", "rejected")
OPEN_STATUSES = tuple(sorted(set(STATUSES) - TERMINAL))


@dataclass(frozen=True)
class Context:
    now: datetime
    # Results finished before this moment should have been collected by now.
    uncollected_before: datetime
    uncollected_days: int
    # None: every dossier; else the two-way checks look only at dossiers with an event whose
    # id is above this one (recorded since the look-back) or with an open anomaly.
    events_after: int | None
    # Forward hand-over records made before this moment should have been confirmed by now.
    unconfirmed_before: datetime | None = None


@dataclass(frozen=True)
class Check:
    kind: str
    label_vi: str
    label_en: str
    build: Callable[[Context, Restrict], Select]
    describe: Callable[[Row, Context], tuple[str, dict[str, Any]]]


def _first_event(statuses: tuple[str, ...]) -> ColumnElement[datetime]:
    """The moment of the dossier's earliest event to one of `statuses` (applied or late)."""
    return (
        select(func.min(StatusEvent.occurred_at))
        .where(StatusEvent.dossier_id == Dossier.id, StatusEvent.to_status.in_(statuses))
        .scalar_subquery()
    )


def _two_way(ctx: Context, restrict: Restrict) -> list[ColumnElement[bool]]:
    conditions = [Dossier.service_form == "two_way", restrict(Dossier.id)]
    if ctx.events_after is not None:
        # Both sides are events: a contradiction appears only with a new event, so only the
        # dossiers with a recent one are looked at (plus those with an open anomaly). One IN
        # over a UNION: the planner drives the query from these few ids.
        recent = select(StatusEvent.dossier_id).where(StatusEvent.id > ctx.events_after)
        open_anomaly = select(Anomaly.dossier_id).where(Anomaly.resolved_at.is_(None))
        conditions.append(Dossier.id.in_(union(recent, open_anomaly)))
    return conditions


def _local(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# delivery_without_result -----------------------------------------------------------------------


def _build_delivery_without_result(ctx: Context, restrict: Restrict) -> Select:
    carried_at = _first_event(CARRYING)
    return select(
        Dossier.id.label("dossier_id"), Dossier.status, carried_at.label("carried_at")
    ).where(
        *_two_way(ctx, restrict),
        carried_at.is_not(None),
        _first_event(AGENCY_RESULT).is_(None),
    )


def _describe_delivery_without_result(row: Row, ctx: Context) -> tuple[str, dict[str, Any]]:
    detail = (
        f"Bưu điện báo đã nhận hoặc phát kết quả lúc {_local(row.carried_at)} nhưng cơ quan giải "
        f"quyết chưa báo có kết quả hay từ chối hồ sơ (trạng thái hiện tại: "
        f"{status_label(row.status)['label_vi']})."
    )
    return detail, {"carried_at": _iso(row.carried_at), "status": row.status}


# collected_before_result -----------------------------------------------------------------------


def _build_collected_before_result(ctx: Context, restrict: Restrict) -> Select:
    carried_at = _first_event(CARRYING)
    result_at = _first_event(AGENCY_RESULT)
    return select(
        Dossier.id.label("dossier_id"),
        carried_at.label("carried_at"),
        result_at.label("result_at"),
    ).where(*_two_way(ctx, restrict), carried_at < result_at)


def _describe_collected_before_result(row: Row, ctx: Context) -> tuple[str, dict[str, Any]]:
    detail = (
        f"Bưu điện nhận kết quả lúc {_local(row.carried_at)}, trước khi cơ quan giải quyết báo "
        f"có kết quả ({_local(row.result_at)})."
    )
    return detail, {"carried_at": _iso(row.carried_at), "result_at": _iso(row.result_at)}


# postal_event_rejected / agency_event_rejected --------------------------------------------------


def _rejected_feed_events(source: str) -> Callable[[Context, Restrict], Select]:
    def build(ctx: Context, restrict: Restrict) -> Select:
        # A rejected event whose status the dossier has reached since (through another source)
        # contradicts nothing any more.
        reached = (
            select(StatusEvent.id)
            .where(
                StatusEvent.dossier_id == FeedEvent.dossier_id,
                StatusEvent.to_status == FeedEvent.status,
            )
            .exists()
        )
        grouped = (
            select(
                FeedEvent.dossier_id.label("dossier_id"),
                func.count().label("count"),
                func.max(FeedEvent.id).label("last_id"),
            )
            .where(
                FeedEvent.state == "rejected",
                FeedEvent.source == source,
                FeedEvent.dossier_id.is_not(None),
                or_(FeedEvent.status.is_(None), ~reached),
                restrict(FeedEvent.dossier_id),
            )
            .group_by(FeedEvent.dossier_id)
            .subquery()
        )
        last = aliased(FeedEvent)
        return select(
            grouped.c.dossier_id,
            grouped.c.count,
            last.event_id,
            last.raw_code,
            last.status,
            last.occurred_at,
            last.error,
        ).join(last, last.id == grouped.c.last_id)

    return build


def _describe_rejected(side_vi: str) -> Callable[[Row, Context], tuple[str, dict[str, Any]]]:
    def describe(row: Row, ctx: Context) -> tuple[str, dict[str, Any]]:
        what = row.raw_code or row.status or "?"
        detail = (
            f"{row.count} sự kiện từ {side_vi} không áp dụng được cho hồ sơ; gần nhất: "
            f"{what} (mã sự kiện {row.event_id}) lúc {_local(row.occurred_at)}"
            + (f": {row.error}" if row.error else ".")
        )
        data = {
            "count": row.count,
            "last_event_id": row.event_id,
            "raw_code": row.raw_code,
            "status": row.status,
            "occurred_at": _iso(row.occurred_at),
            "error": row.error,
        }
        return detail, data

    return describe


# result_not_collected --------------------------------------------------------------------------


def _build_result_not_collected(ctx: Context, restrict: Restrict) -> Select:
    # Two-way results, and return registrations' (a return_only dossier is in result_ready
    # only when it was registered before its result).
    return select(Dossier.id.label("dossier_id"), Dossier.result_at).where(
        Dossier.service_form.in_(("two_way", "return_only")),
        Dossier.status.in_(AGENCY_RESULT),
        Dossier.result_at < ctx.uncollected_before,
        _first_event(CARRYING).is_(None),
        restrict(Dossier.id),
    )


def _describe_result_not_collected(row: Row, ctx: Context) -> tuple[str, dict[str, Any]]:
    detail = (
        f"Cơ quan giải quyết đã có kết quả từ {_local(row.result_at)}, quá "
        f"{ctx.uncollected_days} ngày làm việc, nhưng bưu điện chưa nhận kết quả."
    )
    return detail, {"result_at": _iso(row.result_at), "working_days": ctx.uncollected_days}


# handover_unconfirmed --------------------------------------------------------------------------


def _build_handover_unconfirmed(ctx: Context, restrict: Restrict) -> Select:
    # A dossier of a forward record the agency has not confirmed, nor accepted through its
    # own `processing` event, one whole working day after the hand-over.
    before = ctx.unconfirmed_before or ctx.now
    return (
        select(
            HandoverLine.dossier_id.label("dossier_id"),
            HandoverRecord.number,
            HandoverRecord.created_at,
        )
        .join(HandoverRecord, HandoverRecord.id == HandoverLine.record_id)
        .where(
            HandoverRecord.kind == "forward",
            HandoverRecord.confirmed_at.is_(None),
            HandoverRecord.created_at < before,
            HandoverLine.accepted_at.is_(None),
            restrict(HandoverLine.dossier_id),
        )
    )


def _describe_handover_unconfirmed(row: Row, ctx: Context) -> tuple[str, dict[str, Any]]:
    detail = (
        f"Biên bản giao nhận {row.number} lập lúc {_local(row.created_at)} chưa được cơ quan "
        f"giải quyết xác nhận sau một ngày làm việc."
    )
    return detail, {"number": row.number, "created_at": _iso(row.created_at)}


CHECKS: tuple[Check, ...] = (
    Check(
        "delivery_without_result",
        "Bưu điện đã nhận/phát kết quả nhưng cơ quan chưa báo có kết quả",
        "Result carried by the post, never reported by the agency",
        _build_delivery_without_result,
        _describe_delivery_without_result,
    ),
    Check(
        "collected_before_result",
        "Bưu điện nhận kết quả trước khi cơ quan có kết quả",
        "Result taken by the post before the agency's result date",
        _build_collected_before_result,
        _describe_collected_before_result,
    ),
    Check(
        "postal_event_rejected",
        "Sự kiện của bưu điện không khớp với hồ sơ",
        "Postal feed events rejected for this dossier",
        _rejected_feed_events("postal"),
        _describe_rejected("luồng dữ liệu bưu chính"),
    ),
    Check(
        "agency_event_rejected",
        "Sự kiện của cơ quan giải quyết không khớp với hồ sơ",
        "Agency feed events rejected for this dossier",
        _rejected_feed_events("agency"),
        _describe_rejected("luồng dữ liệu của cơ quan giải quyết"),
    ),
    Check(
        "result_not_collected",
        "Có kết quả đã lâu nhưng bưu điện chưa nhận",
        "Result ready long ago, not collected by the post",
        _build_result_not_collected,
        _describe_result_not_collected,
    ),
    Check(
        "handover_unconfirmed",
        "Biên bản giao nhận chưa được cơ quan xác nhận sau một ngày làm việc",
        "Hand-over record not confirmed by the agency after one working day",
        _build_handover_unconfirmed,
        _describe_handover_unconfirmed,
    ),
)
KINDS: dict[str, Check] = {check.kind: check for check in CHECKS}


def kind_label(kind: str) -> dict[str, str]:
    check = KINDS.get(kind)
    if check is None:  # a kind this version no longer checks: still listed
        return {"code": kind, "label_vi": kind, "label_en": kind}
    return {"code": kind, "label_vi": check.label_vi, "label_en": check.label_en}
