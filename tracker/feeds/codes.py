"""Default meaning of postal tracking codes. The codes follow the UPU EMSEVT event codes the
post's tracking system emits; RTS is the post's own code for a return to sender. The table
`postal_event_codes` holds the live mapping (migration 0002 seeds it with these rows)."""

from __future__ import annotations

# code, status it moves the dossier to (None: informational only), Vietnamese, English,
# whether the event must carry a reason.
DEFAULT_POSTAL_CODES: tuple[tuple[str, str | None, str, str, bool], ...] = (
    ("EMA", "result_collected", "Bưu điện đã nhận bưu gửi", "Item accepted by the post", False),
    ("EMB", None, "Đến bưu cục khai thác đi", "Arrived at the outward sorting office", False),
    ("EMC", None, "Đang vận chuyển", "In transit", False),
    ("EMD", None, "Đến bưu cục khai thác đến", "Arrived at the inward sorting office", False),
    ("EMG", None, "Đến bưu cục phát", "Arrived at the delivery office", False),
    ("EDG", "out_for_delivery", "Đang phát", "Out for delivery", False),
    ("EMH", "delivery_failed", "Phát không thành công", "Delivery attempt failed", True),
    ("EMI", "delivered", "Phát thành công", "Delivered", False),
    ("RTS", "returned_to_agency", "Chuyển hoàn", "Returned to sender", True),
)

# A postal event's proof of delivery when the post's event carries none (its delivery scan
# seldom names who signed; its failure scan gives the reason in words, as the note): a delivery
# to the applicant, without a name; a failure for another reason, whose words are the note.
DEFAULT_RECEIVER_RELATION = "applicant"
DEFAULT_FAILURE_REASON = "other"
