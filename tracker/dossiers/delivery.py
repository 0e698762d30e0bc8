"""Proof of delivery: who received a delivered result, and why a delivery failed.

Two coded lists, each code with its words in both languages (like the statuses' labels in
`lifecycle`): the staff see the receiver's relation and name, the citizen's lookup only the
relation ("delivered to an authorised person"), never a name, and a failure's coded reason,
never its note. `check_proof` is the one rule, for every path that records an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tracker.errors import Phrase, ValidationFailed


@dataclass(frozen=True)
class Label:
    code: str
    label_vi: str
    label_en: str

    def in_language(self, locale: str) -> str:
        return self.label_en if locale == "en" else self.label_vi

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "label_vi": self.label_vi, "label_en": self.label_en}


def _table(*labels: Label) -> dict[str, Label]:
    return {label.code: label for label in labels}


def words(table: dict[str, Label], locale: str) -> dict[str, str]:
    """A coded list's words in `locale`, by code (a page's choices, a timeline's labels)."""
    return {code: label.in_language(locale) for code, label in table.items()}


# Who took the result from the postman, for the staff.
RECEIVER_RELATIONS = _table(
    Label("applicant", "Người nộp hồ sơ", "The applicant"),
    Label("authorised", "Người được ủy quyền", "An authorised person"),
    Label("family", "Người thân trong gia đình", "A family member"),
    Label("organisation", "Nhân viên cơ quan, tổ chức", "Organisation staff"),
)
# The same, as the citizen's lookup says it.
DELIVERED_TO = _table(
    Label("applicant", "Đã trả cho người nộp hồ sơ", "Delivered to the applicant"),
    Label("authorised", "Đã trả cho người được ủy quyền", "Delivered to an authorised person"),
    Label("family", "Đã trả cho người thân trong gia đình", "Delivered to a family member"),
    Label(
        "organisation",
        "Đã trả cho nhân viên cơ quan, tổ chức",
        "Delivered to a member of the organisation's staff",
    ),
)
FAILURE_REASONS = _table(
    Label("absent", "Không có người nhận tại địa chỉ", "Nobody at the address"),
    Label("wrong_address", "Sai hoặc thiếu địa chỉ", "Wrong or incomplete address"),
    Label("refused", "Người nhận từ chối nhận", "Refused by the receiver"),
    Label("other", "Lý do khác", "Another reason"),
)
# The reason whose words are in the note.
OTHER_REASON = "other"
RECEIVER_NAME_LENGTH = 200


def check_proof(
    to_status: str,
    receiver: Mapping[str, str | None] | None,
    failure_reason: str | None,
    note: str | None,
    *,
    name_required: bool = True,
) -> None:
    """Refuse an event whose proof of delivery is missing, unknown or out of place.

    A delivered result names who received it (relation, and name unless `name_required` is
    false: the post's delivery scan seldom carries one); a failed delivery has a coded reason,
    and a note when the reason is `other`. Neither belongs on another event.
    """
    errors: dict[str, list[str]] = {}
    if to_status == "delivered":
        errors.update(_receiver_errors(receiver or {}, name_required))
    elif receiver:
        errors["receiver"] = ["only a delivered result has a receiver"]
    if to_status == "delivery_failed":
        if not failure_reason:
            errors["failure_reason"] = ["required when a delivery failed"]
        elif failure_reason not in FAILURE_REASONS:
            errors["failure_reason"] = [_one_of(FAILURE_REASONS)]
        elif failure_reason == OTHER_REASON and not note:
            errors["note"] = ["required when the reason is other: say why"]
    elif failure_reason:
        errors["failure_reason"] = ["only a failed delivery has a reason"]
    if errors:
        raise ValidationFailed(
            "; ".join(f"{name}: {messages[0]}" for name, messages in errors.items()),
            fields=errors,
        )


def _receiver_errors(receiver: Mapping[str, str | None], name_required: bool) -> dict:
    errors = {}
    name = (receiver.get("name") or "").strip()
    if name_required and not name:
        errors["receiver.name"] = ["required when the result is delivered"]
    elif len(name) > RECEIVER_NAME_LENGTH:
        errors["receiver.name"] = [Phrase("at most %(max)s characters", max=RECEIVER_NAME_LENGTH)]
    relation = receiver.get("relation")
    if not relation:
        errors["receiver.relation"] = ["required when the result is delivered"]
    elif relation not in RECEIVER_RELATIONS:
        errors["receiver.relation"] = [_one_of(RECEIVER_RELATIONS)]
    return errors


def _one_of(table: dict[str, Label]) -> str:
    return Phrase("must be one of %(codes)s", codes=", ".join(table))
