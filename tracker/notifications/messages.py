"""What a citizen is told, in Vietnamese: one SMS, and one e-mail when an address was given.

SMS length. Vietnamese with its diacritics is outside the GSM 03.38 alphabet, so an accented SMS
travels as UCS-2: 70 characters in a single segment, 67 per segment once concatenated. Every
text here fits two segments (134 characters) with a standard dossier code (25 characters); the
free text (a courier's or an agency's note) is shortened to what is left, never the code. With
NOTIFICATION_SMS_UNACCENTED the same text goes without diacritics: GSM-7, one segment of 160
characters (half the price of two UCS-2 segments; most Vietnamese brandname SMS are sent that
way). E-mails always keep their diacritics.

No message carries the applicant's name or address: an SMS is read on a shared phone, and a
message that names the person is what a phishing copy would imitate. A pickup request's SMS says
its reference and slot only (at most 127 characters). Only two messages carry a lookup secret:
the SMS of a dossier a postman collected at the door (`pickup_collected_sms`), which stands in
for the printed receipt the citizen did not get there, and the SMS of a one-way dossier an
agency's collection order made (`order_sms`), which nobody printed a receipt for; each is stored
with a placeholder and the secret apart, cleared once sent (`Notification.lookup_secret`). They
are longer than the others (the code, the secret and the link: three UCS-2 segments, two
unaccented).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from tracker.calendar import VN_TZ
from tracker.dossiers.delivery import FAILURE_REASONS, OTHER_REASON
from tracker.dossiers.lifecycle import STATUSES
from tracker.dossiers.models import Dossier, StatusEvent
from tracker.pickups.lifecycle import SLOTS
from tracker.pickups.models import Pickup

# The changes a citizen cares about; every other status is kept quiet.
NOTIFY_STATUSES = frozenset(
    {
        "received",
        "registered",
        "supplement_required",
        "result_ready",
        "out_for_delivery",
        "delivered",
        "delivery_failed",
    }
)

UCS2_SINGLE, UCS2_PART = 70, 67
GSM_SINGLE, GSM_PART = 160, 153
# Budgets: two UCS-2 segments accented, one GSM-7 segment unaccented.
SMS_BUDGET = {True: GSM_SINGLE, False: 2 * UCS2_PART}
# A note shorter than this after shortening says nothing useful: it is left out.
MIN_NOTE = 8

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the GSM extension table: an escape plus the character, two septets each.
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
# Punctuation that word processors put in notes, and its plain equivalent.
_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)

# What the citizen should do, per status (SMS; the e-mail says more, `_email_action`).
_SMS_ACTION = {
    "received": "Giữ biên nhận để tra cứu.",
    # A return registration: like a receipt, the code to follow the result by.
    "registered": "Giữ biên nhận để tra cứu.",
    "supplement_required": "Vui lòng mang giấy tờ bổ sung đến nơi đã nộp hồ sơ.",
    "result_ready": "Bưu điện sẽ chuyển phát kết quả đến địa chỉ Ông/Bà đã đăng ký.",
    "out_for_delivery": (
        "Bưu tá sẽ đến giao kết quả, vui lòng giữ liên lạc và mang theo giấy tờ tùy thân."
    ),
    "delivery_failed": "Vui lòng liên hệ bưu cục để hẹn phát lại.",
    "delivered": "Nếu Ông/Bà chưa nhận được, vui lòng báo ngay cho bưu điện.",
}
# A send-only dossier's result is fetched at the agency, not delivered.
_SMS_COLLECT = "Vui lòng mang biên nhận đến cơ quan giải quyết để nhận kết quả."
# Statuses whose event note (the agency's request, the courier's reason) the citizen is shown.
_NOTE_LABEL = {"supplement_required": "Nội dung cần bổ sung", "delivery_failed": "Lý do"}


# A pickup request's slot, confirmed when it is made and when it moves (its `kind`).
_PICKUP_SMS = {
    "requested": "Bưu điện đã nhận yêu cầu thu gom hồ sơ",
    "rescheduled": "Bưu điện đã đổi lịch thu gom hồ sơ",
}
_PICKUP_ACTION = "Cần đổi lịch, gọi 1022."
# Where a body stands for the dossier's lookup secret (filled in when handed to the gateway).
SECRET_PLACEHOLDER = "{lookup_secret}"


@dataclass(frozen=True)
class Message:
    channel: str
    recipient: str
    subject: str | None
    body: str


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets (GSM-7) or 16-bit code units (UCS-2)
    segments: int


def compose(
    dossier: Dossier, event: StatusEvent, *, unaccented_sms: bool, base_url: str
) -> list[Message]:
    """The SMS (and e-mail) announcing `event`; callers check NOTIFY_STATUSES first."""
    messages = [
        Message("sms", dossier.applicant_phone, None, sms_text(dossier, event, unaccented_sms))
    ]
    if dossier.applicant_email:
        subject = f"Hồ sơ {dossier.code}: {STATUSES[event.to_status].label_vi}"
        messages.append(
            Message("email", dossier.applicant_email, subject, email_text(dossier, event, base_url))
        )
    return messages


def sms_text(dossier: Dossier, event: StatusEvent, unaccented: bool) -> str:
    """`Hồ sơ <code>: <status>[ (<note>)].[ Hẹn trả kết quả ngày <date>.] <what to do>`"""
    status = event.to_status
    head = f"Hồ sơ {dossier.code}: {STATUSES[status].label_vi}"
    tail = "."
    if status in ("received", "registered") and dossier.appointment_date:
        tail = f". Hẹn trả kết quả ngày {_day(dossier.appointment_date)}."
    action = _SMS_ACTION[status]
    if status == "result_ready" and dossier.service_form == "send_only":
        action = _SMS_COLLECT
    tail = f"{tail} {action}"
    label, note = told(event)
    if note and label not in _NOTE_LABEL.values():
        note = f"{label}: {note}"
    if unaccented:
        head, tail, note = to_gsm(head), to_gsm(tail), to_gsm(note)
    if note:
        room = SMS_BUDGET[unaccented] - len(head) - len(tail) - len(" ()")
        note = shorten(note, room, unaccented)
    return f"{head} ({note}){tail}" if note else head + tail


def pickup_sms(pickup: Pickup, kind: str, *, unaccented: bool) -> Message:
    """`<what happened> <reference>: bưu tá đến <slot> ngày <day>. Cần đổi lịch, gọi 1022.`"""
    slot = SLOTS[pickup.slot].label_vi
    text = (
        f"{_PICKUP_SMS[kind]} {pickup.reference}: bưu tá đến {slot} ngày {_day(pickup.day)}. "
        + _PICKUP_ACTION
    )
    return Message("sms", pickup.phone, None, to_gsm(text) if unaccented else text)


def pickup_collected_sms(
    pickup: Pickup, dossier: Dossier, *, unaccented: bool, base_url: str
) -> Message:
    """`Bưu điện đã nhận hồ sơ <code> tại nhà (<reference>). Mã tra cứu: <secret>. Tra cứu:
    <link>`, the secret as SECRET_PLACEHOLDER; the link opens the lookup filled in (as the
    receipt's QR code)."""
    link = f"{base_url.rstrip('/')}/track?code={dossier.code}&secret={SECRET_PLACEHOLDER}"
    text = (
        f"Bưu điện đã nhận hồ sơ {dossier.code} tại nhà ({pickup.reference}). "
        f"Mã tra cứu: {SECRET_PLACEHOLDER}. Tra cứu: {link}"
    )
    return Message("sms", pickup.phone, None, to_gsm(text) if unaccented else text)


def order_sms(dossier: Dossier, *, unaccented: bool, base_url: str) -> Message:
    """`Hồ sơ <code>: Đã có kết quả. Bưu điện sẽ nhận và chuyển phát đến Ông/Bà. Mã tra cứu:
    <secret>. Tra cứu: <link>`: a one-way dossier an agency's collection order made, whose
    citizen has no receipt; the secret as SECRET_PLACEHOLDER, the link as the receipt's QR."""
    link = f"{base_url.rstrip('/')}/track?code={dossier.code}&secret={SECRET_PLACEHOLDER}"
    text = (
        f"Hồ sơ {dossier.code}: Đã có kết quả. Bưu điện sẽ nhận và chuyển phát đến Ông/Bà. "
        f"Mã tra cứu: {SECRET_PLACEHOLDER}. Tra cứu: {link}"
    )
    return Message("sms", dossier.applicant_phone, None, to_gsm(text) if unaccented else text)


def email_text(dossier: Dossier, event: StatusEvent, base_url: str) -> str:
    status = event.to_status
    moment = _moment(event.occurred_at)
    lines = [
        "Kính gửi Ông/Bà,",
        "",
        f"Hồ sơ {dossier.code} ({dossier.procedure.name}): {STATUSES[status].label_vi}, "
        f"lúc {moment}.",
    ]
    label, note = told(event)
    if note:
        lines.append(f"{label}: {note}.")
    if dossier.appointment_date and status in ("received", "registered", "supplement_required"):
        lines.append(f"Ngày hẹn trả kết quả: {_day(dossier.appointment_date)}.")
    lines += ["", *_email_action(dossier, status), ""]
    lines.append(
        f"Tra cứu tình trạng hồ sơ tại {base_url} bằng mã hồ sơ và mã tra cứu in trên biên nhận. "
        "Bưu điện không bao giờ hỏi mã tra cứu qua điện thoại hay thư điện tử."
    )
    lines += ["", "Thư này được gửi tự động, vui lòng không trả lời.", "Bưu điện Việt Nam"]
    return "\n".join(lines)


def told(event: StatusEvent) -> tuple[str, str]:
    """What the citizen is told of why: (label, text), text "" when nothing.

    A failed delivery says its coded reason in words (`delivery.FAILURE_REASONS`); its note only
    when the reason is `other`, where the note is the reason (a note beside a coded reason may
    name the receiver or the neighbours: the citizen's lookup never shows it either). An event
    without a coded reason (recorded before there was one) says its note, as it always did.
    """
    status = event.to_status
    if status not in _NOTE_LABEL:
        return "", ""
    note = clean_note(event.note)
    reason = FAILURE_REASONS.get(event.failure_reason or "")
    if status != "delivery_failed" or reason is None:
        return _NOTE_LABEL[status], note
    if reason.code == OTHER_REASON and note:
        return reason.label_vi, note
    return _NOTE_LABEL[status], reason.label_vi


def _email_action(dossier: Dossier, status: str) -> list[str]:
    if status == "received":
        return ["Vui lòng giữ biên nhận. Bưu điện sẽ báo tin khi hồ sơ có kết quả."]
    if status == "registered":
        return [
            f"Khi {dossier.agency.name} có kết quả, bưu điện sẽ nhận kết quả và chuyển phát "
            "đến địa chỉ Ông/Bà đã đăng ký. Vui lòng giữ biên nhận."
        ]
    if status == "supplement_required":
        return [
            f"Vui lòng mang giấy tờ bổ sung đến {dossier.office.name}, nơi đã tiếp nhận hồ sơ.",
            "Thời gian chờ bổ sung không tính vào thời hạn giải quyết.",
        ]
    if status == "result_ready" and dossier.service_form == "send_only":
        return [
            f"Vui lòng mang biên nhận và giấy tờ tùy thân đến {dossier.agency.name} "
            "để nhận kết quả."
        ]
    if status == "result_ready":
        return [
            "Bưu điện sẽ chuyển phát kết quả đến địa chỉ Ông/Bà đã đăng ký và nhắn tin "
            "khi bưu tá đi phát."
        ]
    if status == "out_for_delivery":
        return [
            "Bưu tá sẽ đến giao kết quả. Vui lòng giữ điện thoại liên lạc và chuẩn bị giấy tờ "
            "tùy thân để ký nhận."
        ]
    if status == "delivery_failed":
        return [
            "Bưu điện sẽ liên hệ để phát lại. Ông/Bà cũng có thể liên hệ bưu cục để hẹn thời "
            "gian phát hoặc đến nhận tại bưu cục."
        ]
    return [
        "Nếu Ông/Bà chưa nhận được kết quả, vui lòng báo ngay cho bưu điện.",
        "Cảm ơn Ông/Bà đã sử dụng dịch vụ bưu chính công ích.",
    ]


def clean_note(note: str | None) -> str:
    """A note on one line, composed (NFC: a decomposed "ễ" would count three characters),
    without control characters nor those beyond 16 bits (emoji: two UCS-2 units each)."""
    if not note:
        return ""
    text = "".join(
        c
        for c in unicodedata.normalize("NFC", note)
        if ord(c) < 0x10000 and (c.isprintable() or c.isspace())
    )
    return " ".join(text.split()).rstrip(".")


def shorten(text: str, room: int, unaccented: bool) -> str:
    """`text` within `room` characters, cut at a word with an ellipsis; "" when too little room."""
    if len(text) <= room:
        return text
    ellipsis = "..." if unaccented else "…"
    if room < MIN_NOTE:
        return ""
    cut = text[: room - len(ellipsis)]
    if " " in cut[MIN_NOTE:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + ellipsis


def strip_accents(text: str) -> str:
    """Vietnamese without diacritics, case kept: "Đã có kết quả" -> "Da co ket qua"."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )


def to_gsm(text: str) -> str:
    """The text in the GSM-7 basic alphabet: accents dropped, other characters turned to "?"."""
    return _NOT_GSM.sub("?", text.translate(_TO_PLAIN))


def _plain_table() -> dict[int, str | None]:
    # Built once: a translate() per message instead of a normalisation (feeds call this often).
    table: dict[int, str | None] = dict(_PLAIN)
    for block in (range(0xC0, 0x250), range(0x1E00, 0x1F00)):  # Latin-1 .. Vietnamese letters
        for code in block:
            plain = strip_accents(chr(code))
            if plain != chr(code) and plain.isascii():
                table[code] = plain
    table.update(dict.fromkeys(range(0x300, 0x370)))  # stray combining marks: dropped
    return table


_TO_PLAIN = _plain_table()
_NOT_GSM = re.compile(f"[^{re.escape(''.join(sorted(GSM_BASIC)))}]")


def sms_size(text: str) -> SmsSize:
    """Encoding, length and number of segments an SMS gateway will bill for `text`."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        units = len(text) + sum(c in GSM_EXTENDED for c in text)
        single, part, encoding = GSM_SINGLE, GSM_PART, "gsm7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "ucs2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsSize(encoding, units, segments)


def _day(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _moment(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%H:%M ngày %d/%m/%Y")
