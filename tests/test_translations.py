"""Every message of the pages has its Vietnamese translation, and the catalogues are sound."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tracker.i18n import catalogue_files, translations_for

PACKAGE = Path(__file__).resolve().parent.parent / "tracker"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.do"}}
# Phrase(...) (tracker.errors) is a rule's message whose values are put back on a page.
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "N_": None,
    "Phrase": None,
}


def extracted_messages() -> dict[str, list[str]]:
    """msgid -> where it is used, for every message the code and templates mark."""
    found: dict[str, list[str]] = defaultdict(list)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found[msgid].append(f"{filename}:{lineno}")
    return found


def test_every_page_message_has_a_vietnamese_translation():
    vietnamese = translations_for("vi")
    messages = extracted_messages()
    assert len(messages) > 20  # the extraction itself works
    missing = {
        msgid: places[0]
        for msgid, places in messages.items()
        if vietnamese.ugettext(msgid) == msgid and msgid.strip(" ·-%s()") != ""
    }
    assert not missing, f"messages without a Vietnamese translation: {missing}"


def test_catalogues_parse_and_agree_with_each_other():
    seen: dict[str, tuple[str, Path]] = {}
    conflicts = []
    for path in catalogue_files("vi"):
        with path.open("rb") as po:
            catalog = read_po(po, locale="vi")
        for message in catalog:
            if not message.id:
                continue
            assert message.string, f"{path}: {message.id!r} has an empty translation"
            previous = seen.get(message.id)
            if previous and previous[0] != message.string:
                conflicts.append((message.id, previous[1].name, path))
            seen[message.id] = (message.string, path)
    assert not conflicts, f"one message translated two ways: {conflicts}"


def test_english_is_the_code_language():
    assert translations_for("en").ugettext("Sign in") == "Sign in"
    assert translations_for("vi").ugettext("Sign in") == "Đăng nhập"
