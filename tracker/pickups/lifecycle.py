"""The states of a pickup request and what may follow each: the only place that says so.

A call is `requested`; the office assigns it to a postman (`assigned`), who collects the dossier
at the door (`collected`, a dossier is made) or does not (`failed`, closed; with a new slot the
request goes back to `requested`). A request still open may be `cancelled`.
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
    "requested": frozenset({"assigned", "cancelled"}),
    # Unassigned (back to the office's list), or the postman's visit, or a cancellation.
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
