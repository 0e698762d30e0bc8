"""The states of a pickup request and what may follow each: the only place that says so.

A call is `requested`; the office assigns it to a postman (`assigned`; unassigned, back to
`requested`; re-assigned, still `assigned`), who visits at the slot and records the visit:

- collected: `collected`, a dossier is made through the counter's intake. A visit to a
  `requested` request (nobody assigned yet) takes it first: `requested` -> `assigned` (to the
  postman who went) -> `collected` or `failed`, both steps audited;
- not collected, with a new day and slot: back to `requested` (unassigned: the new day may be
  another postman's, or another office's); from `requested` the state stays and only the
  schedule moves;
- not collected, no new slot: `failed`, closed.

A request still open (`requested`, `assigned`) may be `cancelled`. Routing it to another office
(a new address or day) drops its postman (`assigned` -> `requested`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time


@dataclass(frozen=True)
class State:
    code: str
    label_vi: str
    label_en: str


STATES: dict[str, State] = {
    s.code: s
    for s in (
        State("requested", "Đã ghi nhận yêu cầu", "Requested"),
        State("assigned", "Đã giao bưu tá", "Assigned to a postman"),
        State("collected", "Đã thu gom hồ sơ", "Dossier collected"),
        State("failed", "Không thu gom được", "Not collected"),
        State("cancelled", "Đã hủy", "Cancelled"),
    )
}

TRANSITIONS: dict[str, frozenset[str]] = {
    # A visit to an unassigned request takes it first (`assigned`), then says what happened.
    "requested": frozenset({"assigned", "cancelled"}),
    # Unassigned or re-routed (back to the office's list), visited, or cancelled.
    "assigned": frozenset({"requested", "collected", "failed", "cancelled"}),
    "collected": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
INITIAL_STATE = "requested"
# While open, a request may be rescheduled, re-routed or corrected.
OPEN_STATES = frozenset({"requested", "assigned"})


@dataclass(frozen=True)
class Slot:
    code: str
    start: time
    end: time  # a slot is past once its end has passed (Vietnam time)
    label_vi: str
    label_en: str


SLOTS: dict[str, Slot] = {
    s.code: s
    for s in (
        Slot("morning", time(8), time(12), "buổi sáng (8h-12h)", "morning (8:00-12:00)"),
        Slot(
            "afternoon", time(13, 30), time(17), "buổi chiều (13h30-17h)", "afternoon (13:30-17:00)"
        ),
    )
}

# What a postman can collect: a dossier to be handed in (send-only) and possibly its result
# returned home (two-way). A result-only return has nothing to collect.
SERVICE_FORMS = ("two_way", "send_only")


@dataclass(frozen=True)
class Reason:
    code: str
    label_vi: str
    label_en: str


# Why a postman came back without the dossier; `other` needs a note (the note is the reason).
VISIT_OUTCOMES = ("collected", "not_collected")
REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason("absent", "Không gặp người yêu cầu", "Nobody at home"),
        Reason("documents_incomplete", "Hồ sơ chưa đủ giấy tờ", "Documents incomplete"),
        Reason("cancelled_by_citizen", "Công dân không gửi nữa", "Cancelled by the citizen"),
        Reason("other", "Lý do khác", "Other"),
    )
}
OTHER_REASON = "other"
# The channel a dossier collected at the door comes through (catalogue data, by its code).
CHANNEL = "hotline_1022"


def allowed_next(state: str) -> list[str]:
    """The states that may follow `state`, in lifecycle order."""
    return [code for code in STATES if code in TRANSITIONS[state]]


def is_allowed(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS[from_state]


def state_label(code: str) -> dict[str, str]:
    state = STATES[code]
    return {"code": code, "label_vi": state.label_vi, "label_en": state.label_en}


def slot_label(code: str) -> dict[str, str]:
    slot = SLOTS[code]
    return {"code": code, "label_vi": slot.label_vi, "label_en": slot.label_en}


def reason_label(code: str | None) -> dict[str, str] | None:
    if code is None:
        return None
    reason = REASONS[code]
    return {"code": code, "label_vi": reason.label_vi, "label_en": reason.label_en}
