"""UPU S10 postal item identifiers: check digit, format, normalisation."""

from __future__ import annotations

import pytest

from tests.conftest import dossier_payload
from tracker.dossiers import s10

FORMAT_ERROR = "must be 2 letters, 8 digits, a check digit and 2 letters (e.g. EE123456785VN)"
CHECK_ERROR = "check digit does not match (not a valid S10 item number)"


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        # The S10 standard's own examples.
        # EE 12345678: 1*8 + 2*6 + 3*4 + 4*2 + 5*3 + 6*5 + 7*9 + 8*7 = 204; 204 mod 11 = 6;
        # 11 - 6 = 5.
        ("12345678", 5),
        # RA 47312482: 4*8 + 7*6 + 3*4 + 1*2 + 2*3 + 4*5 + 8*9 + 2*7 = 200; 200 mod 11 = 2;
        # 11 - 2 = 9.
        ("47312482", 9),
        # 12345671: 8 + 12 + 12 + 8 + 15 + 30 + 63 + 1*7 = 155; 155 mod 11 = 1; 11 - 1 = 10 -> 0.
        ("12345671", 0),
        # 12345674: 8 + 12 + 12 + 8 + 15 + 30 + 63 + 4*7 = 176 = 16 * 11; mod 11 = 0;
        # 11 - 0 = 11 -> 5.
        ("12345674", 5),
        # 00000000: sum 0, mod 11 = 0, 11 -> 5.
        ("00000000", 5),
        # 40000000: 4*8 = 32; 32 mod 11 = 10; 11 - 10 = 1 (the smallest plain digit).
        ("40000000", 1),
        # 23456780: 16 + 18 + 16 + 10 + 18 + 35 + 72 + 0 = 185; 185 mod 11 = 9; 11 - 9 = 2.
        ("23456780", 2),
    ],
)
def test_check_digit(serial, expected):
    assert s10.check_digit(serial) == expected


def test_check_digit_needs_exactly_eight_digits():
    with pytest.raises(ValueError):
        s10.check_digit("1234567")
    with pytest.raises(ValueError):
        s10.check_digit("123456789")


@pytest.mark.parametrize(
    "item",
    [
        "EE123456785US",  # S10 standard example
        "RA473124829GB",  # S10 standard example
        "EE123456785VN",
        "RR123456710VN",  # check digit 0 (11 - 1 = 10 -> 0)
        "CP123456745VN",  # check digit 5 (11 - 0 = 11 -> 5)
        "LZ000000005VN",  # check digit 5 (sum 0)
        "EA400000001VN",
    ],
)
def test_valid_identifiers(item):
    assert s10.validate(item) is None


@pytest.mark.parametrize(
    "item",
    [
        "EE123456784US",  # 5 expected
        "RA473124828GB",  # 9 expected
        "RR123456711VN",  # 0 expected: 10 must not be kept as "1" or "10"
        "CP123456741VN",  # 5 expected: 11 must not be kept as "1"
        "EE123456700VN",  # serial changed, check digit kept: 12345670 -> 148 mod 11 = 5 -> 6
    ],
)
def test_wrong_check_digit(item):
    assert s10.validate(item) == CHECK_ERROR


@pytest.mark.parametrize(
    "item",
    [
        "",
        "EE12345678VN",  # one digit short
        "EE1234567855VN",  # one digit too many
        "E123456785VN",  # one letter short
        "EEE123456785VN",
        "EE123456785V",
        "EE123456785VNX",
        "1E123456785VN",
        "EE12345678SVN",
        "ee123456785vn",  # validate expects a normalised value
        "EE 123456785VN",
        "EE123456785VN\n",
        "EE-12345678-5VN",
        "ÉE123456785VN",
        # Non-ASCII digits are digits to Python's \d and int(), but not to S10.
        "EE" + "".join(chr(0x0660 + int(d)) for d in "123456785") + "VN",  # Arabic-Indic
        "EE" + "".join(chr(0xFF10 + int(d)) for d in "123456785") + "VN",  # full-width
    ],
)
def test_bad_format(item):
    assert s10.validate(item) == FORMAT_ERROR


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ee123456785vn", "EE123456785VN"),
        ("  EE 1234 5678 5 VN ", "EE123456785VN"),
        ("Ra473124829gB", "RA473124829GB"),
        ("EE\t123456785\nUS", "EE123456785US"),
        ("EE123456785VN", "EE123456785VN"),
    ],
)
def test_normalise(typed, stored):
    assert s10.normalise(typed) == stored
    assert s10.validate(s10.normalise(typed)) is None


def test_normalise_does_not_hide_other_punctuation():
    assert s10.normalise("ee-123456785-vn") == "EE-123456785-VN"
    assert s10.validate(s10.normalise("ee-123456785-vn")) == FORMAT_ERROR


def test_api_normalises_and_checks_item_numbers(client, clerk, catalogue):
    ok = client.post(
        "/api/v1/dossiers",
        headers=clerk.headers,
        json=dossier_payload(postal_item_number=" rr 123456710 vn "),
    )
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["postal_item_number"] == "RR123456710VN"

    bad = client.post(
        "/api/v1/dossiers",
        headers=clerk.headers,
        json=dossier_payload(postal_item_number="RR123456711VN"),
    )
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"] == {"postal_item_number": [CHECK_ERROR]}
