"""The pickup pages through the Flask test client: the hotline's call form, the office's list
and its assignments, the route sheet, the postman's list and visit forms (collected, not
collected), a request's change and cancellation when the citizen calls back; each page's roles
(403), scope (404), errors beside their fields, nothing written by a refused form, and a double
tap or a reload that makes one dossier."""

from __future__ import annotations

import re
from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select

from tests.pages import csrf_of, post_form, sign_in, text_of
from tracker.calendar import VN_TZ, add_working_days
from tracker.catalogue.models import Commune, ServiceArea
from tracker.dossiers.models import Dossier
from tracker.extensions import db
from tracker.notifications.models import Notification
from tracker.pickups import operations
from tracker.pickups.models import Pickup, PickupVisit
from tracker.unit_of_work import unit_of_work

REFERENCE = re.compile(r"TG-[0-9A-Z]{4}-[0-9A-Z]{4}")
CHECKLIST = [
    {"name": "Tờ khai", "kind": "original", "count": 1},
    {"name": "Căn cước công dân", "kind": "copy", "count": 2},
]


@pytest.fixture
def communes(app, catalogue) -> dict[str, Commune]:
    """Two communes served by the catalogue's office (810000), one by the other (811000)."""
    rows = {
        "tran_bien": Commune(code="26041", name="Phường Trấn Biên", province="Đồng Nai"),
        "ho_nai": Commune(code="26045", name="Phường Hố Nai", province="Đồng Nai"),
        "long_khanh": Commune(code="26046", name="Phường Long Khánh", province="Đồng Nai"),
    }
    db.session.add_all(
        [
            ServiceArea(commune=rows["tran_bien"], office=catalogue.office),
            ServiceArea(commune=rows["ho_nai"], office=catalogue.office),
            ServiceArea(commune=rows["long_khanh"], office=catalogue.other_office),
        ]
    )
    catalogue.procedure.documents = CHECKLIST
    catalogue.procedure.fee_vnd = 200_000
    db.session.commit()
    return rows


@pytest.fixture
def day(today) -> date:
    """A working day after today: both of its slots are ahead whatever the time now."""
    return add_working_days(today, 1)


@pytest.fixture
def make_pickup(make_staff, communes, day):
    """A call recorded through the operation (as the hotline), committed."""
    operator = make_staff("hotline")

    def make(**overrides) -> Pickup:
        data = {
            "caller_name": "Nguyễn Văn An",
            "phone": "0912345678",
            "address": {"street": "12 Đường 30/4", "commune_code": "26041"},
            "service_form": "two_way",
            "procedure_code": "1.001234",
            "day": day,
            "slot": "morning",
            "note": "Gọi trước 15 phút",
        }
        data.update(overrides)
        with unit_of_work():
            pickup = operations.request_pickup(data, operator.user)
        return pickup

    return make


def call_form(day: date, **overrides) -> dict[str, str]:
    """What a hotline operator fills in, as the browser posts it."""
    form = {
        "form_id": "call-1",
        "caller_name": "Trần Thị Bình",
        "phone": "0987 654 321",
        "address.street": "45 Phạm Văn Thuận",
        "address.commune_code": "26041",
        "service_form": "two_way",
        "procedure_code": "",
        "day": day.isoformat(),
        "slot": "afternoon",
        "note": "",
    }
    form.update(overrides)
    return form


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(pickup: Pickup) -> Pickup:
    db.session.expire_all()
    return db.session.get(Pickup, pickup.id)


def signed_in(client, staff):
    sign_in(client, staff.user.username)
    return staff


# Roles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("hotline", {"/pickups", "/pickups/new", "/pickups/{ref}"}),
        ("admin", {"/pickups", "/pickups/new", "/pickups/{ref}", "/pickups/route", "visits"}),
        ("clerk", {"/pickups", "/pickups/{ref}", "/pickups/route", "visits"}),
        ("postman", {"/pickups", "/pickups/{ref}", "/pickups/route", "visits"}),
        ("manager", {"/pickups", "/pickups/{ref}"}),
        ("agency", set()),
    ],
)
def test_each_page_opens_for_its_roles_only(client, make_staff, make_pickup, role, allowed):
    ref = make_pickup().reference
    staff = signed_in(client, make_staff(role))
    pages = {
        "/pickups": "/pickups",
        "/pickups/new": "/pickups/new",
        "/pickups/{ref}": f"/pickups/{ref}",
        "/pickups/route": "/pickups/route?office=810000",
        "visits": f"/pickups/{ref}/collect",
    }
    for name, url in pages.items():
        expected = 200 if name in allowed else 403
        assert client.get(url).status_code == expected, (staff.user.role, url)
    not_collected = client.get(f"/pickups/{ref}/not-collected").status_code
    assert not_collected == (200 if "visits" in allowed else 403)


def test_signed_out_is_sent_to_sign_in(client, make_pickup):
    response = client.get("/pickups/new")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/pickups/new")


# The call form ----------------------------------------------------------------------------------


def test_the_hotline_records_a_call_and_sees_its_reference_and_office(
    client, make_staff, communes, day
):
    signed_in(client, make_staff("hotline"))
    form = client.get("/pickups/new")
    page = text_of(form)
    assert form.status_code == 200
    # The commune select lists the catalogue's communes; the day is the next working day.
    assert "Phường Trấn Biên (26041)" in page and "Phường Long Khánh (26046)" in page
    assert f'value="{day.isoformat()}"' in form.get_data(as_text=True)

    response = post_form(client, "/pickups/new", call_form(day))
    assert response.status_code == 303
    pickup = db.session.scalar(select(Pickup))
    assert response.headers["Location"] == f"/pickups/{pickup.reference}"
    assert (pickup.office.code, pickup.phone, pickup.slot) == ("810000", "0987654321", "afternoon")
    assert pickup.procedure is None and pickup.state == "requested"
    shown = text_of(client.get(response.headers["Location"]))
    assert pickup.reference in shown and "Bưu cục Biên Hòa" in shown
    assert "Đã ghi nhận cuộc gọi" in shown  # the flash message
    [sms] = db.session.scalars(select(Notification)).all()
    assert sms.pickup_id == pickup.id

    # The same form again (a reload, a double click): one request, its page again.
    again = post_form(client, "/pickups/new", call_form(day), page="/pickups/new")
    assert again.status_code == 303
    assert again.headers["Location"] == f"/pickups/{pickup.reference}"
    assert count(Pickup) == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"address.commune_code": "99999"}, "address-commune_code", "không có xã, phường mã 99999"),
        ({"phone": "0251 382 2222"}, "phone", "phải là số điện thoại di động"),
        ({"caller_name": ""}, "caller_name", ""),
        ({"slot": ""}, "slot", ""),
        ({"procedure_code": "9.999999"}, "procedure_code", ""),
    ],
)
def test_a_refused_call_says_why_beside_the_field_keeps_what_was_typed_and_writes_nothing(
    client, make_staff, communes, day, change, field, message
):
    signed_in(client, make_staff("hotline"))
    response = post_form(client, "/pickups/new", call_form(day, **change))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert message in text_of(response)
    assert 'value="45 Phạm Văn Thuận"' in html  # what was typed stays
    assert count(Pickup) == 0 and count(Notification) == 0


def test_a_past_day_is_refused_on_the_page(client, make_staff, communes, today):
    signed_in(client, make_staff("hotline"))
    yesterday = date.fromordinal(today.toordinal() - 1)
    response = post_form(client, "/pickups/new", call_form(yesterday))
    assert response.status_code == 422
    assert 'id="day-error"' in response.get_data(as_text=True)
    assert "phải là hôm nay hoặc một ngày sau" in text_of(response)
    assert count(Pickup) == 0


# The office's list and its assignments ---------------------------------------------------------


def test_the_clerk_assigns_to_an_active_postman_of_the_office(
    client, make_staff, catalogue, make_pickup, day
):
    pickup = make_pickup()
    elsewhere = make_pickup(address={"street": "1 Hùng Vương", "commune_code": "26046"})
    postman = make_staff("postman")
    postman.user.full_name = "Lê Văn Bưu"
    retired = make_staff("postman")
    retired.user.active = False
    stranger = make_staff("postman", office=catalogue.other_office)
    db.session.commit()
    signed_in(client, make_staff("clerk"))

    listed = client.get("/pickups", query_string={"day": day.isoformat()})
    html = listed.get_data(as_text=True)
    assert listed.status_code == 200
    assert pickup.reference in html and elsewhere.reference not in html
    options = re.findall(r'<option value="([^"]*)"', html)
    assert postman.user.username in options
    assert retired.user.username not in options and stranger.user.username not in options

    form = {"postman": postman.user.username, "version": str(pickup.version), "next": "/pickups"}
    response = post_form(client, f"/pickups/{pickup.reference}/postman", form, page="/pickups")
    assert response.status_code == 303 and response.headers["Location"] == "/pickups"
    assigned = fresh(pickup)
    assert (assigned.state, assigned.postman_id) == ("assigned", postman.user.id)
    shown = text_of(client.get(f"/pickups/{pickup.reference}"))
    assert "Lê Văn Bưu" in shown and "Đã giao yêu cầu thu gom" in shown

    # Another office's postman is refused beside nothing: said on the list, nothing changed.
    form = {"postman": stranger.user.username, "version": str(assigned.version)}
    refused = post_form(client, f"/pickups/{pickup.reference}/postman", form, page="/pickups")
    assert refused.status_code == 303
    assert "Chưa giao được" in text_of(client.get(refused.headers["Location"]))
    assert fresh(pickup).postman_id == postman.user.id

    # Unassigned: back on the office's list.
    form = {"postman": "", "version": str(fresh(pickup).version)}
    post_form(client, f"/pickups/{pickup.reference}/postman", form, page="/pickups")
    assert (fresh(pickup).state, fresh(pickup).postman_id) == ("requested", None)


def test_a_stale_assignment_is_told_on_the_page_never_a_500(client, make_staff, make_pickup, day):
    pickup = make_pickup()
    first, second = make_staff("postman"), make_staff("postman")
    signed_in(client, make_staff("clerk"))
    read_version = str(pickup.version)
    url = f"/pickups/{pickup.reference}/postman"
    post_form(
        client, url, {"postman": first.user.username, "version": read_version}, page="/pickups"
    )
    # A second clerk's form, opened before the first assignment.
    response = post_form(
        client, url, {"postman": second.user.username, "version": read_version}, page="/pickups"
    )
    assert response.status_code == 303
    page = text_of(client.get(response.headers["Location"]))
    assert "đã được người khác thay đổi" in page
    assert fresh(pickup).postman_id == first.user.id
    # A version that is no number at all is told too.
    garbled = post_form(client, url, {"postman": "", "version": "x"}, page="/pickups")
    assert garbled.status_code == 303
    assert fresh(pickup).postman_id == first.user.id


def test_another_offices_pickup_answers_404_as_a_missing_one(
    app, make_staff, catalogue, make_pickup
):
    pickup = make_pickup()
    for role in ("postman", "clerk"):
        client = app.test_client()
        signed_in(client, make_staff(role, office=catalogue.other_office))
        for url in ("", "/collect", "/not-collected"):
            response = client.get(f"/pickups/{pickup.reference}{url}")
            assert response.status_code == 404, (role, url)
        assert client.get("/pickups/TG-0000-0000").status_code == 404
    form = {"postman": "", "version": "1"}
    response = post_form(client, f"/pickups/{pickup.reference}/postman", form, page="/pickups")
    assert response.status_code in (403, 404)
    assert fresh(pickup).version == pickup.version


@pytest.mark.parametrize("role", ["admin", "hotline", "manager"])
def test_province_wide_users_see_every_office_and_may_choose_one(
    client, make_staff, make_pickup, day, role
):
    ours = make_pickup().reference
    theirs = make_pickup(address={"street": "1 Hùng Vương", "commune_code": "26046"}).reference
    signed_in(client, make_staff(role))
    page = client.get("/pickups", query_string={"day": day.isoformat()})
    every = text_of(page)
    assert ours in every and theirs in every
    assert 'name="office"' in page.get_data(as_text=True)
    # Only the office's clerk (or an admin) gives a request to a postman.
    assert ('name="postman"' in page.get_data(as_text=True)) is (role == "admin")
    chosen = client.get("/pickups", query_string={"day": day.isoformat(), "office": "811000"})
    assert theirs in text_of(chosen) and ours not in text_of(chosen)
    assert client.get("/pickups", query_string={"office": "nope"}).status_code == 404
    wrong_day = client.get("/pickups", query_string={"day": "31/02/2026"})
    assert wrong_day.status_code == 422
    assert 'id="day-error"' in wrong_day.get_data(as_text=True)


# The route sheet ----------------------------------------------------------------------------------


def test_the_route_sheet_is_ordered_by_slot_then_commune(client, make_staff, make_pickup, day):
    postman = make_staff("postman")
    plan = [
        ("afternoon", "26041", "Chiều Trấn Biên"),
        ("morning", "26045", "Sáng Hố Nai"),
        ("afternoon", "26045", "Chiều Hố Nai"),
        ("morning", "26041", "Sáng Trấn Biên"),
    ]
    for slot, commune, caller in plan:
        pickup = make_pickup(
            slot=slot, caller_name=caller, address={"street": "1 Lê Lợi", "commune_code": commune}
        )
        with unit_of_work():
            operations.assign_pickup(fresh(pickup), postman.user, pickup.version, postman.user)
    unassigned = make_pickup(caller_name="Chưa giao ai")
    signed_in(client, make_staff("clerk"))

    response = client.get(
        "/pickups/route", query_string={"day": day.isoformat(), "postman": postman.user.username}
    )
    assert response.status_code == 200
    page = text_of(response)
    order = [caller for caller in re.findall(r"(Sáng|Chiều) (Hố Nai|Trấn Biên)", page)]
    assert [" ".join(pair) for pair in order] == [
        "Sáng Hố Nai",
        "Sáng Trấn Biên",
        "Chiều Hố Nai",
        "Chiều Trấn Biên",
    ]
    assert "Chưa giao ai" not in page and "Ký nhận" in page and "0912345678" in page
    assert 'class="sign"' in response.get_data(as_text=True)
    whole = text_of(client.get("/pickups/route", query_string={"day": day.isoformat()}))
    assert "Chưa giao ai" in whole and unassigned.reference in whole
    # Another office's postman, or nobody of that name: 404.
    assert client.get("/pickups/route", query_string={"postman": "nobody"}).status_code == 404


# The postman's list and visits -----------------------------------------------------------------


def test_the_postman_sees_theirs_and_the_offices_unassigned_ones(
    client, make_staff, catalogue, communes, today
):
    postman, colleague = make_staff("postman"), make_staff("postman")
    rows = [
        ("TG-AAAA-0001", postman.user, catalogue.office, "assigned"),
        ("TG-AAAA-0002", None, catalogue.office, "requested"),
        ("TG-AAAA-0003", colleague.user, catalogue.office, "assigned"),
        ("TG-AAAA-0004", None, catalogue.other_office, "requested"),
    ]
    for reference, owner, office, state in rows:
        db.session.add(
            Pickup(
                reference=reference,
                state=state,
                caller_name="Nguyễn Văn An",
                phone="0912345678",
                street="12 Đường 30/4",
                commune=communes["tran_bien"],
                office=office,
                service_form="two_way",
                day=today,
                slot="morning",
                postman=owner,
            )
        )
    db.session.commit()
    signed_in(client, postman)
    html = client.get("/pickups").get_data(as_text=True)
    mine, _, rest = html.partition('id="open-title"')
    assert re.findall(r"TG-AAAA-\d{4}", mine).count("TG-AAAA-0001") >= 1
    assert "TG-AAAA-0002" not in mine and "TG-AAAA-0002" in rest
    assert "TG-AAAA-0003" not in html and "TG-AAAA-0004" not in html
    assert "/pickups/TG-AAAA-0001/collect" in html and "/pickups/TG-AAAA-0002/not-collected" in html


def collect_form(page_html: str, **overrides) -> dict[str, str]:
    """Every field of the collect form as the page filled it, with `overrides`."""
    fields = dict(re.findall(r'<input[^>]* name="([^"]+)"[^>]* value="([^"]*)"', page_html))
    fields["service_form"] = "two_way"
    for name in re.findall(r'<select[^>]* name="([^"]+)"', page_html):
        fields.setdefault(name, "original")
    for match in re.finditer(r'<select[^>]* name="([^"]+)"[^>]*>(.*?)</select>', page_html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', match.group(2))
        if chosen:
            fields[match.group(1)] = chosen.group(1)
    for name, text in re.findall(
        r'<textarea[^>]* name="([^"]+)"[^>]*>([^<]*)</textarea>', page_html
    ):
        fields[name] = text
    fields.pop("csrf_token", None)
    fields.pop("procedure", None)
    fields.update(overrides)
    return fields


def test_the_postman_collects_with_the_form_filled_from_the_call_once_whatever_the_taps(
    client, make_staff, make_pickup
):
    pickup = make_pickup()
    postman = signed_in(client, make_staff("postman"))
    url = f"/pickups/{pickup.reference}/collect"
    form = client.get(url)
    html = form.get_data(as_text=True)
    assert form.status_code == 200
    # The call and the procedure's checklist fill the form; the fee is the procedure's.
    for value in ("Nguyễn Văn An", "0912345678", "Tờ khai", "Căn cước công dân", "200000"):
        assert f'value="{value}"' in html, value
    assert "12 Đường 30/4, Phường Trấn Biên" in html
    assert 'data-scanner="next"' in html and 'name="visit_key"' in html

    fields = collect_form(html, postal_item_number="ee123456785vn")
    response = client.post(url, data={**fields, "csrf_token": csrf_of(form)})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/pickups/{pickup.reference}"
    dossier = db.session.scalar(select(Dossier))
    assert (dossier.channel.code, dossier.office.code) == ("hotline_1022", "810000")
    assert dossier.postal_item_number == "EE123456785VN"
    assert [d.name for d in dossier.documents] == ["Tờ khai", "Căn cước công dân"]
    collected = fresh(pickup)
    assert (collected.state, collected.dossier_id, collected.postman_id) == (
        "collected",
        dossier.id,
        postman.user.id,
    )
    page = text_of(client.get(response.headers["Location"]))
    assert dossier.code in page and "đã được gửi bằng SMS" in page
    assert "Mở hồ sơ" not in page  # a postman has no dossier pages

    # A double tap or a reload posts the same form again: one dossier, the first outcome.
    again = client.post(url, data={**fields, "csrf_token": csrf_of(form)})
    assert again.status_code == 303
    assert "đã được thu gom" in text_of(client.get(again.headers["Location"]))
    assert count(Dossier) == 1 and count(PickupVisit) == 1


def test_a_refused_collection_says_why_beside_the_field_and_writes_nothing(
    client, make_staff, make_pickup
):
    pickup = make_pickup()
    signed_in(client, make_staff("postman"))
    url = f"/pickups/{pickup.reference}/collect"
    form = client.get(url)
    fields = collect_form(
        form.get_data(as_text=True), postal_item_number="EE123456784VN", **{"applicant.name": ""}
    )
    response = client.post(url, data={**fields, "csrf_token": csrf_of(form)})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="postal_item_number-error"' in html
    assert 'value="EE123456784VN"' in html  # kept as typed
    assert count(Dossier) == 0 and count(PickupVisit) == 0
    assert fresh(pickup).state == "requested"


def test_a_call_without_a_procedure_asks_for_one_before_the_form(client, make_staff, make_pickup):
    pickup = make_pickup(procedure_code=None)
    signed_in(client, make_staff("clerk"))
    url = f"/pickups/{pickup.reference}/collect"
    bare = client.get(url).get_data(as_text=True)
    assert 'name="procedure"' in bare and 'name="visit_key"' not in bare
    chosen = client.get(url, query_string={"procedure": "1.001234"}).get_data(as_text=True)
    assert 'value="Tờ khai"' in chosen and 'name="visit_key"' in chosen
    unknown = client.get(url, query_string={"procedure": "9.999999"})
    assert unknown.status_code == 404
    assert 'id="procedure_code-error"' in unknown.get_data(as_text=True)


def not_collected(client, pickup: Pickup, *, times: int = 1, **fields):
    """Fill the not-collected form and send it (`times` times: a double tap, a reload)."""
    url = f"/pickups/{pickup.reference}/not-collected"
    form = client.get(url)
    key = re.search(r'name="visit_key" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    data = {"visit_key": key, "visited_at": "", "note": "", **fields}
    for _ in range(times):
        response = client.post(url, data={**data, "csrf_token": csrf_of(form)})
    return response


def test_not_collected_with_a_new_slot_goes_back_to_the_list_and_sms_again(
    client, make_staff, make_pickup, day
):
    pickup = make_pickup()
    signed_in(client, make_staff("postman"))
    later = add_working_days(day, 2)
    sent_before = count(Notification)
    response = not_collected(
        client,
        pickup,
        times=2,
        reason="absent",
        then="reschedule",
        day=later.isoformat(),
        slot="afternoon",
    )
    assert response.status_code == 303
    assert "đã được ghi nhận" in text_of(client.get(response.headers["Location"]))
    moved = fresh(pickup)
    assert (moved.state, moved.day, moved.slot, moved.postman_id) == (
        "requested",
        later,
        "afternoon",
        None,
    )
    assert count(Notification) == sent_before + 1 and count(PickupVisit) == 1
    visit = db.session.scalar(select(PickupVisit))
    assert (visit.outcome, visit.reason) == ("not_collected", "absent")
    shown = text_of(client.get(f"/pickups/{pickup.reference}"))
    assert "Không gặp người yêu cầu" in shown


def test_not_collected_and_closed(client, make_staff, make_pickup):
    pickup = make_pickup()
    signed_in(client, make_staff("postman"))
    response = not_collected(client, pickup, reason="cancelled_by_citizen", then="close")
    assert response.status_code == 303
    assert fresh(pickup).state == "failed"
    # The closed request takes no other visit: its page says so.
    again = client.get(f"/pickups/{pickup.reference}/collect")
    assert again.status_code == 303
    assert "đã đóng" in text_of(client.get(again.headers["Location"]))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"then": "close"}, "reason"),
        ({"reason": "other", "then": "close"}, "note"),
        ({"reason": "absent"}, "then"),
        ({"reason": "absent", "then": "reschedule", "day": "", "slot": "morning"}, "day"),
    ],
)
def test_a_refused_not_collected_form_says_why_and_writes_nothing(
    client, make_staff, make_pickup, fields, error
):
    pickup = make_pickup()
    signed_in(client, make_staff("postman"))
    response = not_collected(client, pickup, **fields)
    assert response.status_code == 422
    assert f'id="{error}-error"' in response.get_data(as_text=True)
    assert count(PickupVisit) == 0 and fresh(pickup).state == "requested"


def test_a_rescheduled_day_off_is_refused_beside_the_day(client, make_staff, make_pickup, day):
    pickup = make_pickup()
    signed_in(client, make_staff("postman"))
    sunday = date.fromordinal(day.toordinal() + (6 - day.weekday()))
    response = not_collected(
        client, pickup, reason="absent", then="reschedule", day=sunday.isoformat(), slot="morning"
    )
    assert response.status_code == 422
    assert 'id="day-error"' in response.get_data(as_text=True)
    assert fresh(pickup).day == day and count(PickupVisit) == 0


def test_visited_at_in_the_future_is_refused(client, make_staff, make_pickup):
    pickup = make_pickup()
    signed_in(client, make_staff("postman"))
    future = datetime(2099, 1, 1, 9, 0)
    response = not_collected(
        client, pickup, reason="absent", then="close", visited_at=f"{future:%Y-%m-%dT%H:%M}"
    )
    assert response.status_code == 422
    assert 'id="visited_at-error"' in response.get_data(as_text=True)


# A citizen calls back: change the slot, or cancel -----------------------------------------------


def change_form(client, pickup: Pickup, **fields) -> dict[str, str]:
    """The change form of the request's page as it is filled (the version read, the request's
    values), with `fields` typed over them."""
    page = client.get(f"/pickups/{pickup.reference}").get_data(as_text=True)
    start = page.index('action="/pickups/' + pickup.reference + '/change"')
    form = page[start : page.index("</form>", start)]
    values = dict(
        re.findall(
            r'<input id="([^"]+)" name="[^"]+" type="(?:text|tel|date)" value="([^"]*)"', form
        )
    )
    data = {
        "version": re.search(r'name="version" value="(\d+)"', form).group(1),
        "day": values["day"],
        "slot": re.search(r'name="slot" value="(\w+)" checked', form).group(1),
        "phone": values["phone"],
        "address.street": values["address-street"],
        "address.commune_code": re.search(r'<option value="(\d+)" selected', form).group(1),
        "note": re.search(r'<textarea id="note" name="note"[^>]*>([^<]*)</textarea>', form).group(
            1
        ),
    }
    data.update(fields)
    return data


def send_change(client, pickup: Pickup, **fields):
    data = change_form(client, pickup, **fields)
    url = f"/pickups/{pickup.reference}/change"
    return post_form(client, url, data, page=f"/pickups/{pickup.reference}")


def send_cancel(client, pickup: Pickup, **fields):
    data = {"version": str(fresh(pickup).version), "note": "", "confirm": "yes", **fields}
    url = f"/pickups/{pickup.reference}/cancel"
    return post_form(client, url, data, page=f"/pickups/{pickup.reference}")


@pytest.mark.parametrize("role", ["hotline", "clerk", "admin"])
def test_a_call_back_moves_the_slot_and_the_citizen_gets_an_sms(
    client, make_staff, make_pickup, day, role
):
    pickup = make_pickup()
    read = pickup.version
    signed_in(client, make_staff(role))
    page = text_of(client.get(f"/pickups/{pickup.reference}"))
    assert "Đổi lịch hẹn" in page and "Hủy yêu cầu" in page
    later = add_working_days(day, 1)
    sent_before = count(Notification)
    response = send_change(client, pickup, day=later.isoformat(), slot="afternoon")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/pickups/{pickup.reference}"
    shown = text_of(client.get(response.headers["Location"]))
    assert f"Đã dời yêu cầu thu gom {pickup.reference}" in shown and "nhận SMS" in shown
    moved = fresh(pickup)
    assert (moved.day, moved.slot, moved.version) == (later, "afternoon", read + 1)
    assert (moved.phone, moved.street, moved.note) == (
        "0912345678",
        "12 Đường 30/4",
        "Gọi trước 15 phút",
    )
    assert count(Notification) == sent_before + 1
    sms = db.session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert (sms.kind, sms.pickup_id, sms.recipient) == (
        "pickup_rescheduled",
        pickup.id,
        "0912345678",
    )


def test_a_corrected_address_and_phone_are_stored_and_routed_again(
    client, make_staff, make_pickup, catalogue
):
    pickup = make_pickup()
    signed_in(client, make_staff("hotline"))
    sent_before = count(Notification)
    response = send_change(
        client,
        pickup,
        phone="0987 111 222",
        **{"address.street": "7 Đường Hố Nai", "address.commune_code": "26046"},
    )
    assert response.status_code == 303
    assert "số điện thoại mới sẽ nhận SMS" in text_of(client.get(response.headers["Location"]))
    changed = fresh(pickup)
    assert (changed.phone, changed.street, changed.commune.code) == (
        "0987111222",
        "7 Đường Hố Nai",
        "26046",
    )
    assert changed.office_id == catalogue.other_office.id
    assert count(Notification) == sent_before + 1
    version = changed.version
    # The form sent again as it is changes nothing, and says so.
    same = send_change(client, changed)
    assert same.status_code == 303
    assert "Không có gì thay đổi" in text_of(client.get(same.headers["Location"]))
    assert fresh(pickup).version == version


def test_a_call_back_cancels_the_request(client, make_staff, make_pickup):
    pickup = make_pickup()
    signed_in(client, make_staff("clerk"))
    sent_before = count(Notification)
    response = send_cancel(client, pickup, note="Công dân tự nộp tại bưu cục")
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    shown = text_of(page)
    assert f"Đã hủy yêu cầu thu gom {pickup.reference}" in shown
    cancelled = fresh(pickup)
    assert (cancelled.state, cancelled.note) == ("cancelled", "Công dân tự nộp tại bưu cục")
    assert count(Notification) == sent_before
    # A closed request offers neither form any more.
    assert "/change" not in page.get_data(as_text=True)


def test_a_cancellation_must_be_confirmed(client, make_staff, make_pickup):
    pickup = make_pickup()
    signed_in(client, make_staff("hotline"))
    response = send_cancel(client, pickup, confirm="", note="Không cần nữa")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="confirm-error"' in html and "Không cần nữa" in html
    assert fresh(pickup).state == "requested"


@pytest.mark.parametrize("which", ["day_off", "past_day", "past_slot"])
def test_a_day_off_or_a_past_slot_is_refused_beside_the_field_and_nothing_changes(
    client, make_staff, make_pickup, day, today, monkeypatch, which
):
    pickup = make_pickup(slot="morning")
    read = pickup.version
    signed_in(client, make_staff("hotline"))
    sent_before = count(Notification)
    if which == "day_off":
        sunday = date.fromordinal(day.toordinal() + (6 - day.weekday()))
        fields, field = {"day": sunday.isoformat(), "phone": "0987111222"}, "day"
    elif which == "past_day":
        fields, field = {"day": date.fromordinal(today.toordinal() - 1).isoformat()}, "day"
    else:  # the pickup's day has come and its afternoon has ended
        now = datetime.combine(day, time(17, 30), tzinfo=VN_TZ)
        monkeypatch.setattr("tracker.pickups.operations.utcnow", lambda: now)
        fields, field = {"slot": "afternoon"}, "slot"
    response = send_change(client, pickup, **fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert f'value="{fields.get("day", day.isoformat())}"' in html  # what was typed is kept
    kept = fresh(pickup)
    assert (kept.day, kept.slot, kept.phone, kept.version) == (
        day,
        "morning",
        "0912345678",
        read,
    )
    assert count(Notification) == sent_before


def test_a_stale_version_is_told_and_nothing_changes(client, make_staff, make_pickup, day):
    pickup = make_pickup()
    read = pickup.version
    signed_in(client, make_staff("hotline"))
    later = add_working_days(day, 1)
    opened = change_form(client, pickup, day=later.isoformat())
    # Someone else moves it meanwhile.
    assert send_change(client, pickup, slot="afternoon").status_code == 303
    url = f"/pickups/{pickup.reference}/change"
    response = post_form(client, url, opened, page=f"/pickups/{pickup.reference}")
    assert response.status_code == 303
    assert "đã được người khác thay đổi" in text_of(client.get(response.headers["Location"]))
    assert (fresh(pickup).day, fresh(pickup).slot) == (day, "afternoon")
    stale_cancel = send_cancel(client, pickup, version=str(read))
    assert stale_cancel.status_code == 303
    assert fresh(pickup).state == "requested"


def change_and_cancel(client, pickup: Pickup, *, page: str) -> list[int]:
    """The statuses of a change and of a cancellation sent with the CSRF token of `page`."""
    token = csrf_of(client.get(page))
    data = {"version": str(pickup.version), "confirm": "yes", "slot": "afternoon"}
    return [
        client.post(
            f"/pickups/{pickup.reference}/{action}", data={**data, "csrf_token": token}
        ).status_code
        for action in ("change", "cancel")
    ]


@pytest.mark.parametrize("role", ["postman", "manager"])
def test_a_postman_or_a_manager_may_not_change_or_cancel(
    app, client, make_staff, make_pickup, role
):
    pickup = make_pickup()
    read = pickup.version
    signed_in(client, make_staff(role))
    assert change_and_cancel(client, pickup, page="/") == [403, 403]
    if role == "postman":
        page = client.get(f"/pickups/{pickup.reference}").get_data(as_text=True)
        assert "/change" not in page and "/cancel" not in page
    assert (fresh(pickup).state, fresh(pickup).version) == ("requested", read)


def test_another_offices_clerk_gets_404(client, make_staff, make_pickup, catalogue):
    pickup = make_pickup()
    signed_in(client, make_staff("clerk", office=catalogue.other_office))
    assert change_and_cancel(client, pickup, page="/pickups") == [404, 404]
    assert (fresh(pickup).state, fresh(pickup).slot) == ("requested", "morning")


def test_a_closed_request_cannot_be_changed_or_cancelled(client, make_staff, make_pickup, day):
    pickup = make_pickup()
    signed_in(client, make_staff("hotline"))
    form = change_form(client, pickup, slot="afternoon")
    assert send_cancel(client, pickup).status_code == 303
    url = f"/pickups/{pickup.reference}/change"
    response = post_form(client, url, form, page=f"/pickups/{pickup.reference}")
    assert response.status_code == 303
    assert "không thể sửa hay hủy nữa" in text_of(client.get(response.headers["Location"]))
    again = send_cancel(client, pickup)
    assert again.status_code == 303
    closed = fresh(pickup)
    assert (closed.state, closed.slot) == ("cancelled", "morning")
