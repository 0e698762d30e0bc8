"""Statuses and the transition table: the only place that says what may follow what."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    code: str
    label_vi: str
    label_en: str
    national_code: int | None


STATUSES: dict[str, Status] = {
    s.code: s
    for s in (
        Status("received", "Bưu điện đã tiếp nhận", "Received by the post", 1),
        Status("forwarded", "Đã chuyển cơ quan giải quyết", "Handed to the agency", 2),
        Status("processing", "Đang giải quyết", "Being processed", 4),
        Status("supplement_required", "Yêu cầu bổ sung", "Supplement required", 5),
        Status("rejected", "Không đủ điều kiện giải quyết", "Not eligible (refused)", 3),
        Status("result_ready", "Đã có kết quả", "Result ready", 9),
        # No national code: the one-stop system knows its own dossier's status; that the post
        # will return the result is the submission channel's business (KenhThucHien), not a status.
        Status(
            "registered",
            "Đã đăng ký trả kết quả qua bưu điện",
            "Registered for return by post",
            None,
        ),
        Status("result_collected", "Bưu điện đã nhận kết quả", "Result taken by the post", None),
        Status("out_for_delivery", "Đang phát", "Out for delivery", None),
        Status("delivery_failed", "Phát không thành công", "Delivery failed", None),
        Status("delivered", "Đã trả kết quả", "Result delivered", 10),
        Status("returned_to_agency", "Chuyển hoàn", "Returned to the agency", None),
        Status("collected_in_person", "Công dân nhận trực tiếp", "Collected in person", 10),
        Status("withdrawn", "Công dân rút hồ sơ", "Withdrawn by the citizen", 7),
    )
}

SERVICE_FORM_LABELS = {
    "two_way": ("Tiếp nhận và trả kết quả qua bưu điện (2 chiều)", "Sent and returned by post"),
    "return_only": ("Trả kết quả qua bưu điện (1 chiều)", "Result returned by post"),
    "send_only": ("Gửi hồ sơ qua bưu điện", "Dossier sent by post"),
}

TERMINAL = frozenset({"delivered", "returned_to_agency", "collected_in_person", "withdrawn"})

# While a dossier is in one of these, the agency's clock runs (or is paused for a supplement). A
# return registration waits for the agency's result: its appointment date is the agency's.
AGENCY_CLOCK = frozenset(
    {"received", "forwarded", "processing", "supplement_required", "registered"}
)
# Past its due date in one of these, a dossier is overdue (the clock is paused in the others).
OVERDUE_STATUSES = AGENCY_CLOCK - {"supplement_required"}

_WITHDRAWABLE = {"withdrawn"}

# Agency side shared by the forms in which the post carries the dossier in.
_INBOUND: dict[str, set[str]] = {
    "received": {"forwarded"} | _WITHDRAWABLE,
    "forwarded": {"processing", "supplement_required", "rejected"} | _WITHDRAWABLE,
    "processing": {"supplement_required", "rejected", "result_ready"} | _WITHDRAWABLE,
    "supplement_required": {"processing", "rejected"} | _WITHDRAWABLE,
}

# Delivery side shared by the forms in which the post carries the result out.
_OUTBOUND: dict[str, set[str]] = {
    "result_collected": {"out_for_delivery", "delivered"},
    "out_for_delivery": {"delivered", "delivery_failed"},
    # After a failed attempt: another attempt, the citizen fetches it at the post office, or it
    # goes back to the agency.
    "delivery_failed": {"out_for_delivery", "delivered", "returned_to_agency"},
}

TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "two_way": {
        **_INBOUND,
        # A refusal notice is also returned by post.
        "rejected": {"result_collected"},
        "result_ready": {"result_collected"},
        **_OUTBOUND,
    },
    "return_only": {
        # A return registration (one-stop desk, PAC): the agency's result, then the post fetches
        # it; the citizen may withdraw before the result.
        "registered": {"result_ready"} | _WITHDRAWABLE,
        "result_ready": {"result_collected"},
        **_OUTBOUND,
    },
    "send_only": {
        **_INBOUND,
        "rejected": {"collected_in_person"},
        "result_ready": {"collected_in_person"},
    },
}
TRANSITIONS = {
    form: {status: frozenset(after) for status, after in table.items()}
    for form, table in TRANSITIONS.items()
}

INITIAL_STATUS = {"two_way": "received", "send_only": "received", "return_only": "result_collected"}
# A return registration starts before the result exists (`operations.create_dossier`).
REGISTERED = "registered"
# The first statuses a dossier may have, by service form.
INITIAL_STATUSES = {
    form: frozenset({status, REGISTERED} if form == "return_only" else {status})
    for form, status in INITIAL_STATUS.items()
}


def reachable(service_form: str) -> frozenset[str]:
    """Every status a dossier of this service form can ever be in."""
    table = TRANSITIONS[service_form]
    return frozenset(
        {*INITIAL_STATUSES[service_form], *table, *(s for t in table.values() for s in t)}
    )


def allowed_next(service_form: str, status: str) -> list[str]:
    """The statuses that may follow `status`, in lifecycle order."""
    following = TRANSITIONS[service_form].get(status, frozenset())
    return [code for code in STATUSES if code in following]


def is_allowed(service_form: str, from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS[service_form].get(from_status, frozenset())


def status_label(code: str) -> dict:
    status = STATUSES[code]
    return {
        "code": code,
        "label_vi": status.label_vi,
        "label_en": status.label_en,
        "national_code": status.national_code,
    }
