"""UPU S10 postal item identifiers: 2 letters, 8 digits, a check digit, a country code."""

from __future__ import annotations

import re

# [0-9], not \d (which takes any Unicode digit, e.g. full-width ones), and fullmatch, not $ (which
# lets a trailing newline through).
_S10 = re.compile(r"[A-Z]{2}([0-9]{8})([0-9])[A-Z]{2}")
_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def check_digit(serial: str) -> int:
    remainder = sum(int(d) * w for d, w in zip(serial, _WEIGHTS, strict=True)) % 11
    digit = 11 - remainder
    return {10: 0, 11: 5}.get(digit, digit)


def normalise(value: str) -> str:
    """What a scanner or a clerk typed, as stored: upper case, no spaces."""
    return "".join(value.split()).upper()


def validate(value: str) -> str | None:
    """None when `value` (already normalised) is a valid S10 identifier, else the reason."""
    match = _S10.fullmatch(value)
    if not match:
        return "must be 2 letters, 8 digits, a check digit and 2 letters (e.g. EE123456785VN)"
    serial, digit = match.groups()
    if check_digit(serial) != int(digit):
        return "check digit does not match (not a valid S10 item number)"
    return None
