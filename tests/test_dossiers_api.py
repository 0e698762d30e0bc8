"""Dossier REST API: intake, reads, corrections, scope."""

from __future__ import annotations

import base64
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from tests.conftest import dossier_payload
from tracker.audit.models import AuditEntry
from tracker.catalogue.models import Office
from tracker.dossiers.models import Dossier
from tracker.extensions import db


def test_create_returns_code_secret_and_initial_status(client, clerk, catalogue, today):
    response = client.post("/api/v1/dossiers", json=dossier_payload(), headers=clerk.headers)

    assert response.status_code == 201
    body = response.get_json()
    assert body["code"] == f"000.00.01.H19-{today:%y%m%d}-0001"
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", body["lookup_secret"])
    assert body["status"]["code"] == "received"
    assert body["office"]["code"] == "810000"
    assert body["channel"]["code"] == "post_l1"
    assert body["postal_item_number"] == "EE123456785VN"
    assert [d["kind"] for d in body["documents"]] == ["original", "certified_copy"]
    assert body["allowed_next"] == ["forwarded", "withdrawn"]
    assert body["version"] == 1


def test_get_and_events(client, clerk, create_dossier):
    created = create_dossier()
    response = client.get(f"/api/v1/dossiers/{created['code']}", headers=clerk.headers)
    assert response.status_code == 200
    assert "lookup_secret" not in response.get_json()
    events = client.get(f"/api/v1/dossiers/{created['code']}/events", headers=clerk.headers)
    assert [e["to_status"]["code"] for e in events.get_json()] == ["received"]


def test_missing_and_wrong_fields_are_named(client, clerk, catalogue):
    payload = dossier_payload(fee_vnd="lots", documents=[{"name": "Tờ khai", "kind": "scan"}])
    del payload["applicant"]["phone"]
    payload["colour"] = "blue"

    response = client.post("/api/v1/dossiers", json=payload, headers=clerk.headers)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {"fee_vnd", "documents.0.kind", "applicant.phone", "colour"}


def test_bad_s10_check_digit_is_422_on_the_field(client, clerk, catalogue):
    response = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number="EE123456784VN"),
        headers=clerk.headers,
    )

    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["postal_item_number"]


def test_body_that_is_not_json_is_400(client, clerk, catalogue):
    response = client.post(
        "/api/v1/dossiers",
        data="{not json",
        headers={**clerk.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_unknown_procedure_and_disallowed_form(client, clerk, catalogue):
    unknown = client.post(
        "/api/v1/dossiers", json=dossier_payload(procedure_code="9.999999"), headers=clerk.headers
    )
    assert unknown.status_code == 422
    assert list(unknown.get_json()["error"]["fields"]) == ["procedure_code"]

    disallowed = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(procedure_code="1.004567", service_form="two_way"),
        headers=clerk.headers,
    )
    assert disallowed.status_code == 422
    assert list(disallowed.get_json()["error"]["fields"]) == ["service_form"]


def test_delivery_address_required_when_post_returns(client, clerk, catalogue):
    response = client.post(
        "/api/v1/dossiers", json=dossier_payload(delivery_address=None), headers=clerk.headers
    )
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["delivery_address"]

    send_only = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(service_form="send_only", delivery_address=None),
        headers=clerk.headers,
    )
    assert send_only.status_code == 201


def test_item_number_not_reused_within_a_year(client, clerk, create_dossier):
    create_dossier(postal_item_number="EE123456785VN")
    response = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number="EE123456785VN"),
        headers=clerk.headers,
    )

    assert response.status_code == 409
    assert list(response.get_json()["error"]["fields"]) == ["postal_item_number"]


def test_phone_numbers_are_normalised(client, clerk, catalogue):
    response = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(applicant={"name": "Trần Thị Bình", "phone": "+84 912.345.678"}),
        headers=clerk.headers,
    )

    assert response.status_code == 201
    assert response.get_json()["applicant"]["phone"] == "0912345678"


def test_requests_without_token_are_401(client, catalogue):
    assert client.get("/api/v1/dossiers").status_code == 401
    bad = client.get("/api/v1/dossiers", headers={"Authorization": "Bearer trk_nope"})
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "unauthorized"


def test_other_office_dossier_answers_like_a_missing_one(
    client, make_staff, catalogue, create_dossier
):
    created = create_dossier()
    stranger = make_staff("clerk", office=catalogue.other_office)

    other = client.get(f"/api/v1/dossiers/{created['code']}", headers=stranger.headers)
    missing = client.get("/api/v1/dossiers/000.00.01.H19-991231-0001", headers=stranger.headers)

    assert other.status_code == missing.status_code == 404
    assert other.get_json()["error"]["code"] == missing.get_json()["error"]["code"]
    assert (
        client.post(
            f"/api/v1/dossiers/{created['code']}/events",
            json={"status": "forwarded"},
            headers=stranger.headers,
        ).status_code
        == 404
    )
    listed = client.get("/api/v1/dossiers", headers=stranger.headers).get_json()
    assert listed["items"] == []


def test_agency_officer_sees_own_agency_only(client, make_staff, catalogue, create_dossier):
    own = create_dossier()
    other = create_dossier(procedure_code="1.009876")
    officer = make_staff("agency", agency=catalogue.agency)

    codes = [
        d["code"]
        for d in client.get("/api/v1/dossiers", headers=officer.headers).get_json()["items"]
    ]

    assert codes == [own["code"]]
    assert (
        client.get(f"/api/v1/dossiers/{other['code']}", headers=officer.headers).status_code == 404
    )


def test_manager_reads_all_but_cannot_write(client, make_staff, create_dossier):
    created = create_dossier()
    manager = make_staff("manager")

    assert (
        client.get(f"/api/v1/dossiers/{created['code']}", headers=manager.headers).status_code
        == 200
    )
    refused = client.post("/api/v1/dossiers", json=dossier_payload(), headers=manager.headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"


def test_admin_must_name_the_office(client, make_staff, catalogue):
    admin = make_staff("admin")
    missing = client.post("/api/v1/dossiers", json=dossier_payload(), headers=admin.headers)
    assert missing.status_code == 422
    assert list(missing.get_json()["error"]["fields"]) == ["office_code"]

    ok = client.post(
        "/api/v1/dossiers", json=dossier_payload(office_code="HL1022"), headers=admin.headers
    )
    assert ok.status_code == 201
    assert ok.get_json()["channel"]["code"] == "hotline_1022"


def test_forbidden_transition_lists_what_may_follow(client, clerk, create_dossier):
    created = create_dossier()
    response = client.post(
        f"/api/v1/dossiers/{created['code']}/events",
        json={"status": "delivered"},
        headers=clerk.headers,
    )

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "transition_not_allowed"
    assert error["allowed"] == ["forwarded", "withdrawn"]
    assert error["current_status"] == "received"


def test_event_moves_status_and_bumps_version(client, clerk, create_dossier):
    created = create_dossier()
    response = client.post(
        f"/api/v1/dossiers/{created['code']}/events",
        json={"status": "forwarded", "note": "Biên bản bàn giao số 12"},
        headers=clerk.headers,
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["applied"] is True and body["duplicate"] is False
    assert body["dossier"]["status"]["code"] == "forwarded"
    assert body["dossier"]["version"] == 2
    assert body["dossier"]["appointment_date"] is not None


def test_patch_corrects_with_version_and_refuses_stale(client, clerk, create_dossier):
    created = create_dossier()
    url = f"/api/v1/dossiers/{created['code']}"

    ok = client.patch(
        url,
        json={
            "version": 1,
            "applicant": {"phone": "0987654321"},
            "delivery_address": "45 Phan Chu Trinh, Biên Hòa",
        },
        headers=clerk.headers,
    )
    assert ok.status_code == 200
    assert ok.get_json()["applicant"]["phone"] == "0987654321"
    assert ok.get_json()["applicant"]["name"] == "Nguyễn Văn An"
    assert ok.get_json()["version"] == 2

    stale = client.patch(url, json={"version": 1, "fee_vnd": 0}, headers=clerk.headers)
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"
    assert client.get(url, headers=clerk.headers).get_json()["fee_vnd"] == 200000


def test_patch_requires_version(client, clerk, create_dossier):
    created = create_dossier()
    response = client.patch(
        f"/api/v1/dossiers/{created['code']}", json={"fee_vnd": 0}, headers=clerk.headers
    )
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["version"]


def test_list_filters_and_keyset_pagination(client, clerk, create_dossier):
    first = create_dossier(applicant={"name": "Lê Văn Cường", "phone": "0901111111"})
    second = create_dossier(service_form="send_only")
    third = create_dossier(applicant={"name": "Phạm Thị Dung", "phone": "0902222222"})

    page = client.get("/api/v1/dossiers?limit=2", headers=clerk.headers).get_json()
    assert [d["code"] for d in page["items"]] == [third["code"], second["code"]]
    rest = client.get(
        f"/api/v1/dossiers?limit=2&cursor={page['next_cursor']}", headers=clerk.headers
    ).get_json()
    assert [d["code"] for d in rest["items"]] == [first["code"]]
    assert rest["next_cursor"] is None

    def codes(query):
        response = client.get(f"/api/v1/dossiers?{query}", headers=clerk.headers)
        assert response.status_code == 200, response.get_json()
        return [d["code"] for d in response.get_json()["items"]]

    assert codes("q=cuong") == [first["code"]]
    assert codes("q=0902222222") == [third["code"]]
    assert codes("service_form=send_only") == [second["code"]]
    assert codes("office=810000&channel=post_l1&sector=TP&procedure=1.001234") == [
        third["code"],
        second["code"],
        first["code"],
    ]
    assert codes("overdue=true") == []
    assert codes("status=forwarded") == []


def test_list_rejects_bad_filters(client, clerk, catalogue):
    unknown = client.get("/api/v1/dossiers?office=NOPE", headers=clerk.headers)
    assert unknown.status_code == 422
    assert list(unknown.get_json()["error"]["fields"]) == ["office"]
    wrong = client.get(
        "/api/v1/dossiers?received_from=2026-02-30&limit=0&cursor=@@", headers=clerk.headers
    )
    assert wrong.status_code == 422
    assert set(wrong.get_json()["error"]["fields"]) == {"received_from", "limit"}
    cursor = client.get("/api/v1/dossiers?cursor=@@", headers=clerk.headers)
    assert cursor.status_code == 422
    assert list(cursor.get_json()["error"]["fields"]) == ["cursor"]


def test_reissued_receipt_rotates_the_secret(client, clerk, create_dossier):
    created = create_dossier()
    response = client.post(f"/api/v1/dossiers/{created['code']}/receipt", headers=clerk.headers)
    new_secret = response.get_json()["lookup_secret"]

    assert response.status_code == 200 and new_secret != created["lookup_secret"]
    old = client.get(f"/api/v1/track?code={created['code']}&secret={created['lookup_secret']}")
    new = client.get(f"/api/v1/track?code={created['code']}&secret={new_secret}")
    assert old.status_code == 404
    assert new.status_code == 200


def test_nul_characters_and_absurd_dates_are_refused_by_field(client, clerk, create_dossier):
    nul = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(applicant={"name": "An\x00", "phone": "0912345678"}),
        headers=clerk.headers,
    )
    assert nul.status_code == 422
    assert list(nul.get_json()["error"]["fields"]) == ["applicant.name"]

    dates = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(appointment_date="9999-12-31", received_at="0001-01-01T00:00:00"),
        headers=clerk.headers,
    )
    assert dates.status_code == 422
    assert set(dates.get_json()["error"]["fields"]) == {"appointment_date", "received_at"}

    created = create_dossier()
    event = client.post(
        f"/api/v1/dossiers/{created['code']}/events",
        json={"status": "forwarded", "occurred_at": "1900-01-01T00:00:00Z"},
        headers=clerk.headers,
    )
    assert event.status_code == 422
    assert list(event.get_json()["error"]["fields"]) == ["occurred_at"]
    search = client.get("/api/v1/dossiers?q=a%00b", headers=clerk.headers)
    assert search.status_code == 422
    assert list(search.get_json()["error"]["fields"]) == ["q"]


def test_offices_are_checked_on_the_day_of_receipt(client, make_staff, catalogue):
    catalogue.hotline_office.active_to = date(2025, 6, 30)
    db.session.commit()
    admin = make_staff("admin")

    before = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(office_code="HL1022", received_at="2025-06-30T16:00:00+07:00"),
        headers=admin.headers,
    )
    after = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(
            office_code="HL1022", received_at="2025-07-01T08:00:00+07:00", postal_item_number=None
        ),
        headers=admin.headers,
    )

    assert before.status_code == 201
    assert before.get_json()["code"].endswith("-250630-0001")
    assert after.status_code == 422
    assert list(after.get_json()["error"]["fields"]) == ["office_code"]


def test_long_non_latin_names_fit_on_every_backend(client, clerk, catalogue):
    # Folding for search decomposes Hangul syllables into three characters each.
    response = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(applicant={"name": "한" * 200, "phone": "0912345678"}),
        headers=clerk.headers,
    )
    assert response.status_code == 201
    assert response.get_json()["applicant"]["name"] == "한" * 200


def test_odd_codes_cursors_and_offsets_are_client_errors(client, clerk, catalogue):
    assert client.get("/api/v1/dossiers/a%00b", headers=clerk.headers).status_code == 404
    assert client.get("/api/v1/dossiers/" + "9" * 500, headers=clerk.headers).status_code == 404
    huge = base64.urlsafe_b64encode(str(2**63).encode()).decode()
    cursor = client.get(f"/api/v1/dossiers?cursor={huge}", headers=clerk.headers)
    assert cursor.status_code == 422
    assert list(cursor.get_json()["error"]["fields"]) == ["cursor"]
    offset = client.get("/api/v1/procedures?offset=99999999999999999999")
    assert offset.status_code == 422
    assert list(offset.get_json()["error"]["fields"]) == ["offset"]


def test_misspelt_query_parameters_are_named(client, clerk, catalogue):
    response = client.get("/api/v1/dossiers?stauts=withdrawn", headers=clerk.headers)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["stauts"]


def test_hostile_bodies_are_refused_before_and_after_sign_in(client, clerk, catalogue):
    deep = "[" * 100_000 + "]" * 100_000
    nested = client.post(
        "/api/v1/dossiers",
        data=deep,
        headers={**clerk.headers, "Content-Type": "application/json"},
    )
    assert nested.status_code == 400
    anonymous = client.post("/api/v1/dossiers", json=dossier_payload(fee_vnd=-1))
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["fields"] == {}
    too_big = client.post(
        "/api/v1/dossiers",
        data="x" * (3 * 1024 * 1024),
        headers={**clerk.headers, "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]["code"] == "payload_too_large"


# Digits of other scripts match Python's \d but belong in no Vietnamese phone or ID number.
ARABIC_INDIC = "0" + "".join(chr(0x0661 + i) for i in range(9))
FULL_WIDTH = "".join(chr(0xFF11 + i) for i in range(9))


def test_numbers_and_digits_are_taken_strictly(client, clerk, catalogue):
    response = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(
            fee_vnd=1.9,
            applicant={"name": "An", "phone": ARABIC_INDIC, "id_number": FULL_WIDTH},
        ),
        headers=clerk.headers,
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {
        "fee_vnd",
        "applicant.phone",
        "applicant.id_number",
    }


def test_same_item_scanned_at_two_counters_at_once_is_taken_once(app, clerk, make_staff):
    other = make_staff("clerk", office=Office.query.filter_by(code="811000").one())
    start = threading.Barrier(6)

    def post(staff):
        with app.app_context():
            start.wait()
            return app.test_client().post(
                "/api/v1/dossiers",
                json=dossier_payload(postal_item_number="RA473124829VN"),
                headers=staff.headers,
            )

    db.session.commit()
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, [clerk, other] * 3))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409, 409]
    conflict = next(r for r in responses if r.status_code == 409).get_json()["error"]
    # The other dossier may be outside the caller's scope: it is not named.
    assert conflict["fields"] == {
        "postal_item_number": ["already used by another dossier within 12 months"]
    }
    assert "H19" not in conflict["message"]
    assert Dossier.query.filter_by(postal_item_number="RA473124829VN").count() == 1


def test_corrections_are_split_between_post_and_agency(client, clerk, make_staff, create_dossier):
    code = create_dossier()["code"]
    url = f"/api/v1/dossiers/{code}"
    officer = make_staff("agency")

    clerk_date = client.patch(
        url, json={"version": 1, "appointment_date": "2030-01-01"}, headers=clerk.headers
    )
    assert clerk_date.status_code == 403
    assert list(clerk_date.get_json()["error"]["fields"]) == ["appointment_date"]
    officer_phone = client.patch(
        url, json={"version": 1, "applicant": {"phone": "0987654321"}}, headers=officer.headers
    )
    assert officer_phone.status_code == 403
    assert list(officer_phone.get_json()["error"]["fields"]) == ["applicant.phone"]
    too_early = client.patch(
        url, json={"version": 1, "appointment_date": "2001-01-01"}, headers=officer.headers
    )
    assert too_early.status_code == 422
    ok = client.patch(
        url, json={"version": 1, "appointment_date": "2030-01-02"}, headers=officer.headers
    )
    assert ok.status_code == 200
    assert ok.get_json()["due_date"] == "2030-01-02"


def test_appointment_is_frozen_once_the_agency_is_done(client, clerk, make_staff, create_dossier):
    code = create_dossier(service_form="send_only", delivery_address=None)["code"]
    officer = make_staff("agency")
    for status in ("forwarded", "processing", "result_ready"):
        staff = clerk if status == "forwarded" else officer
        response = client.post(
            f"/api/v1/dossiers/{code}/events", json={"status": status}, headers=staff.headers
        )
        assert response.status_code == 201, response.get_json()
    late_date = client.patch(
        f"/api/v1/dossiers/{code}",
        json={"version": 4, "appointment_date": "2031-01-01"},
        headers=officer.headers,
    )
    assert late_date.status_code == 422
    # The citizen fetched the result at the agency's desk: the officer records it.
    fetched = client.post(
        f"/api/v1/dossiers/{code}/events",
        json={"status": "collected_in_person"},
        headers=officer.headers,
    )
    assert fetched.status_code == 201
    assert fetched.get_json()["dossier"]["status"]["code"] == "collected_in_person"


def test_failed_delivery_needs_its_reason(client, clerk, catalogue, create_dossier):
    code = create_dossier(procedure_code="1.004567", service_form="return_only")["code"]
    url = f"/api/v1/dossiers/{code}/events"
    assert (
        client.post(url, json={"status": "out_for_delivery"}, headers=clerk.headers).status_code
        == 201
    )
    missing = client.post(url, json={"status": "delivery_failed"}, headers=clerk.headers)
    assert missing.status_code == 422
    assert list(missing.get_json()["error"]["fields"]) == ["failure_reason"]
    given = client.post(
        url,
        json={
            "status": "delivery_failed",
            "failure_reason": "wrong_address",
            "note": "Sai địa chỉ",
        },
        headers=clerk.headers,
    )
    assert given.status_code == 201


def test_late_events_are_bounded_audited_and_hidden_from_the_public(client, clerk, create_dossier):
    created = create_dossier(received_at="2025-06-02T08:00:00+07:00")
    code = created["code"]
    url = f"/api/v1/dossiers/{code}/events"
    assert (
        client.post(
            url,
            json={"status": "forwarded", "occurred_at": "2025-06-03T08:00:00+07:00"},
            headers=clerk.headers,
        ).status_code
        == 201
    )

    before_receipt = client.post(
        url,
        json={"status": "withdrawn", "occurred_at": "2001-01-01T00:00:00Z"},
        headers=clerk.headers,
    )
    assert before_receipt.status_code == 422
    never = client.post(
        url,
        json={"status": "collected_in_person", "occurred_at": "2025-06-02T09:00:00+07:00"},
        headers=clerk.headers,
    )
    assert never.status_code == 409
    late = client.post(
        url,
        json={"status": "withdrawn", "occurred_at": "2025-06-02T09:00:00+07:00"},
        headers=clerk.headers,
    )
    assert late.status_code == 201 and late.get_json()["applied"] is False

    actions = [e.action for e in AuditEntry.query.filter_by(entity_key=code)]
    assert actions.count("dossier.late_event") == 1
    public = client.get(
        "/api/v1/track", query_string={"code": code, "secret": created["lookup_secret"]}
    ).get_json()
    assert [e["status"]["code"] for e in public["timeline"]] == ["received", "forwarded"]
    staff = client.get(url, headers=clerk.headers).get_json()
    assert [e["to_status"]["code"] for e in staff] == ["received", "withdrawn", "forwarded"]


def test_bodies_nested_past_any_real_request_are_refused_by_field(client, clerk, catalogue):
    for depth in (20, 600, 900):
        body = dossier_payload(note=None)
        body["documents"] = json.loads("[" * depth + "]" * depth)
        response = client.post("/api/v1/dossiers", json=body, headers=clerk.headers)
        assert response.status_code == 422, depth
        [(field, messages)] = response.get_json()["error"]["fields"].items()
        assert field.startswith("documents.0.") and messages == ["nested too deeply"]


def test_a_repeated_item_is_refused_before_a_repeated_reference_and_gives_its_number_back(
    client, clerk
):
    """The intake's last checks come in a fixed order: the postal item, then the agency's
    reference. A refused intake leaves no hole in the day's codes."""
    first = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number="RA473124829VN", agency_reference="HS-1"),
        headers=clerk.headers,
    )
    assert first.status_code == 201
    both = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number="RA473124829VN", agency_reference="HS-1"),
        headers=clerk.headers,
    )
    assert both.status_code == 409
    assert list(both.get_json()["error"]["fields"]) == ["postal_item_number"]
    reference = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number="RA000000005VN", agency_reference="HS-1"),
        headers=clerk.headers,
    )
    assert reference.status_code == 409
    assert list(reference.get_json()["error"]["fields"]) == ["agency_reference"]
    second = client.post(
        "/api/v1/dossiers",
        json=dossier_payload(postal_item_number="RA000000005VN"),
        headers=clerk.headers,
    )
    assert second.status_code == 201
    first_code, second_code = first.get_json()["code"], second.get_json()["code"]
    assert int(second_code.rsplit("-", 1)[1]) == int(first_code.rsplit("-", 1)[1]) + 1
    assert Dossier.query.count() == 2
