"""The citizen's lookup page: the same answers, errors and limits as GET /api/v1/track."""

from __future__ import annotations

import re
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest

from tests.pages import text_of

UNKNOWN_CODE = "000.00.01.H19-990101-0001"


def lookup(client, path="/track", **params):
    return client.get(path + ("?" + urlencode(params) if params else ""))


def field_error(response, name: str) -> str:
    """The text of the error list beside field `name`, '' when it has none."""
    match = re.search(
        rf'<ul class="field-errors" id="{name}-error">(.*?)</ul>',
        response.get_data(as_text=True),
        re.S,
    )
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else ""


def value_of(response, name: str) -> str:
    match = re.search(
        rf'<input id="{name}" name="{name}"[^>]* value="([^"]*)"', response.get_data(as_text=True)
    )
    assert match, f"no input {name}"
    return match.group(1)


@contextmanager
def limits(app, **config):
    saved = {key: app.config[key] for key in config}
    app.config.update(config)
    try:
        yield
    finally:
        app.config.update(saved)


@pytest.mark.parametrize("path", ["/", "/track"])
def test_form_offers_both_ways_to_ask(client, catalogue, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert html.count('method="get"') == 2 and "csrf_token" not in html
    for name in ("code", "secret", "item", "phone_last4"):
        assert f'<label for="{name}">' in html
    assert re.search(r'<input id="secret"[^>]*autocomplete="off"', html)
    assert re.search(r'<input id="phone_last4"[^>]*inputmode="numeric"', html)
    text = text_of(response)
    assert "Mã tra cứu" in text and "In trên giấy tiếp nhận, cạnh mã QR" in text
    assert "Số hiệu bưu gửi" in text and "4 số cuối điện thoại của bạn" in text


def test_receipt_qr_url_shows_the_api_answer(client, clerk, create_dossier):
    created = create_dossier()
    client.post(
        f"/api/v1/dossiers/{created['code']}/events",
        json={"status": "forwarded"},
        headers=clerk.headers,
    )
    params = {"code": created["code"], "secret": created["lookup_secret"]}
    api = lookup(client, "/api/v1/track", **params).get_json()

    response = lookup(client, **params)

    assert response.status_code == 200
    text = text_of(response)
    assert f"Hồ sơ {api['code']}" in text
    assert "Tình trạng: Đã chuyển cơ quan giải quyết" in text
    assert "Đang trong hạn" in text  # on_track
    assert api["applicant_name"] in text and "Nguyễn" not in text
    assert api["procedure"]["name"] in text
    assert "Bưu cục Biên Hòa" in text
    history = text.split("Quá trình xử lý", 1)[1]
    labels = [entry["status"]["label_vi"] for entry in api["timeline"]]
    assert labels == ["Bưu điện đã tiếp nhận", "Đã chuyển cơ quan giải quyết"]
    assert history.index(labels[0]) < history.index(labels[1]) < history.index("Tra cứu hồ sơ khác")
    assert "Ngày hẹn trả kết quả" in text
    # The answer alone (whoever scanned the QR code came for it), and a way to ask again.
    assert "<form" not in response.get_data(as_text=True)
    assert '<a class="button" href="/track">Tra cứu hồ sơ khác</a>' in response.get_data(True)
    for private in ("0912345678", "Đường 30/4", clerk.user.username):
        assert private not in response.get_data(as_text=True)


def test_wrong_secret_and_unknown_code_give_the_same_page(client, create_dossier):
    created = create_dossier()

    wrong = lookup(client, code=created["code"], secret="AAAAA-AAAAA")
    unknown = lookup(client, code=UNKNOWN_CODE, secret="AAAAA-AAAAA")

    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_data() == unknown.get_data()
    assert dict(wrong.headers) == dict(unknown.headers)
    assert "Không có hồ sơ nào khớp với thông tin đã nhập" in text_of(wrong)


def test_lookup_by_item_and_phone_digits(client, create_dossier):
    created = create_dossier(postal_item_number="RA473124829VN")

    found = lookup(client, item="ra 473124829 vn", phone_last4="5678")
    wrong_phone = lookup(client, item="RA473124829VN", phone_last4="0000")
    unknown_item = lookup(client, item="EE123456785VN", phone_last4="5678")

    assert found.status_code == 200 and created["code"] in text_of(found)
    assert wrong_phone.status_code == unknown_item.status_code == 404
    assert wrong_phone.get_data() == unknown_item.get_data()


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"code": "ABC", "secret": " "}, {"secret": "Chưa nhập thông tin bắt buộc."}),
        ({"item": "", "phone_last4": ""}, {"item": "Chưa nhập", "phone_last4": "Chưa nhập"}),
        ({"code": "ABC"}, {"secret": "Chưa nhập thông tin bắt buộc."}),
        ({"code": "X" * 41, "secret": "S"}, {"code": "Độ dài phải từ 1 đến 40 ký tự."}),
        (
            {"item": "RA473124820VN", "phone_last4": "12a"},
            {"item": "số kiểm tra không khớp", "phone_last4": "phải gồm 4 chữ số"},
        ),
        ({"item": "RA47", "phone_last4": "1234"}, {"item": "phải gồm 2 chữ cái, 8 chữ số"}),
    ],
)
def test_bad_input_is_named_beside_the_field_and_kept(client, catalogue, params, errors):
    response = lookup(client, **params)

    assert response.status_code == 422
    assert "Một số thông tin không hợp lệ. Hãy sửa các ô được đánh dấu" in text_of(response)
    for name, message in errors.items():
        assert message in field_error(response, name)
        assert re.search(rf'<input id="{name}"[^>]*aria-invalid="true"', response.get_data(True))
    for name, typed in params.items():
        assert value_of(response, name) == typed
    untouched = {"code", "secret", "item", "phone_last4"} - set(errors)
    assert all(field_error(response, name) == "" for name in untouched)


def test_what_was_typed_comes_back_escaped(client, catalogue):
    response = lookup(client, code='"><script>alert(1)</script>', secret="")

    assert response.status_code == 422
    assert "<script>alert(1)" not in response.get_data(as_text=True)
    assert value_of(response, "code") == "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"


def test_both_ways_at_once_is_a_form_error(client, catalogue):
    response = lookup(client, code="X", secret="Y", item="RA473124829VN", phone_last4="1234")

    assert response.status_code == 422
    assert "không dùng cả hai" in text_of(response)


def test_page_and_api_count_in_the_same_buckets(app, client, catalogue):
    with limits(app, TRACK_RATE_LIMIT="3 per minute"):
        page = [lookup(client, code="X", secret="Y").status_code for _ in range(3)]
        api_after_page = lookup(client, "/api/v1/track", code="X", secret="Y")
        blank_form = client.get("/track")
        refused = lookup(client, code="X", secret="Y")

    assert page == [404, 404, 404]
    assert api_after_page.status_code == 429
    assert api_after_page.get_json()["error"]["code"] == "rate_limited"
    # The bare form tells nothing and costs no try.
    assert blank_form.status_code == 200
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Quá nhiều lần thử" in text_of(refused)


def test_api_tries_count_against_the_page(app, client, catalogue):
    with limits(app, TRACK_RATE_LIMIT="2 per minute"):
        api = [lookup(client, "/api/v1/track", code="X", secret="Y").status_code for _ in "ab"]
        page = lookup(client, code="X", secret="Y")

    assert api == [404, 404]
    assert page.status_code == 429


def test_one_item_is_limited_across_page_and_api(app, create_dossier):
    created = create_dossier(postal_item_number="RA473124829VN")
    statuses = []
    with limits(app, TRACK_ITEM_MISSES_PER_DAY=2):
        for number, path in enumerate(("/track", "/api/v1/track", "/track")):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"10.0.0.{number + 1}"
            statuses.append(
                lookup(client, path, item="RA473124829VN", phone_last4="0000").status_code
            )
        right = lookup(app.test_client(), item="RA473124829VN", phone_last4="5678")
        by_code = lookup(app.test_client(), code=created["code"], secret=created["lookup_secret"])

    assert statuses == [404, 404, 429]
    # The page says why, and that the receipt's code and secret still work (the form is there).
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    text = text_of(right)
    assert "Tạm ngừng tra cứu theo số hiệu bưu gửi này trong hôm nay" in text
    assert "mã hồ sơ và mã tra cứu in trên giấy tiếp nhận" in text
    assert 'id="code"' in right.get_data(as_text=True)
    # Nothing typed comes back: not the item, not the digits.
    assert "RA473124829VN" not in right.get_data(as_text=True)
    assert 'value="5678"' not in right.get_data(as_text=True)
    assert "phone_last4=" not in right.get_data(as_text=True)
    assert by_code.status_code == 200


def test_english_switch(client, create_dossier):
    created = create_dossier()
    client.set_cookie("lang", "en")

    form = client.get("/track")
    answer = lookup(client, code=created["code"], secret=created["lookup_secret"])
    miss = lookup(client, code=UNKNOWN_CODE, secret="AAAAA-AAAAA")

    assert '<html lang="en">' in form.get_data(as_text=True)
    assert "Lookup secret" in text_of(form) and "Mã tra cứu" not in text_of(form)
    assert "Status: Received by the post" in text_of(answer)
    assert "No appointment date yet" in text_of(answer)
    assert "No dossier matches what was entered" in text_of(miss)
