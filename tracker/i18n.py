"""Languages of the pages: Vietnamese by default, English on request.

Messages are written in English in the code and templates (`_("...")`); each domain that has
pages keeps its Vietnamese catalogue beside its code, in `tracker/<domain>/translations/vi/
LC_MESSAGES/*.po` (shared words in `tracker/translations/`). The catalogues are read from
the .po files when the app starts: there is no compiled .mo to build or to keep in step.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, has_request_context, request
from flask_babel import Domain, get_locale

from tracker.extensions import babel

PACKAGE_DIR = Path(__file__).resolve().parent
LANGUAGE_COOKIE = "lang"


def catalogue_files(locale: str) -> list[Path]:
    """Every .po file of `locale`: the shared one first, then the domains' in name order."""
    shared = PACKAGE_DIR / "translations" / locale / "LC_MESSAGES" / "messages.po"
    domains = sorted(PACKAGE_DIR.glob(f"*/translations/{locale}/LC_MESSAGES/*.po"))
    return [path for path in [shared, *domains] if path.exists()]


@cache
def translations_for(locale: str) -> Translations | NullTranslations:
    """The merged catalogue of `locale` (English, the language of the code, has none)."""
    files = catalogue_files(locale)
    if not files:
        return NullTranslations()
    merged = Translations()
    for path in files:
        with path.open("rb") as po:
            catalog = read_po(po, locale=locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        merged.merge(Translations(compiled))
    return merged


class PoDomain(Domain):
    """Flask-Babel's domain, fed from the .po catalogues (`translations_for`)."""

    def get_translations(self):
        return translations_for(str(get_locale() or "vi"))


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (`_(text)` at render time)."""
    return message


def reader_text(message: str, **values: object) -> str:
    """`message` (an English msgid) in the reader's language, its `values` put back: the
    request's language, else the default one (a task or a command: Vietnamese). For text that
    leaves the pages (the API's JSON, the exports), which `_()` in a template does not reach."""
    request_language = has_request_context() and str(get_locale())
    language = request_language or current_app.config["LANGUAGES"][0]
    translated = translations_for(language).ugettext(message)
    return translated % values if values else translated


def select_locale() -> str:
    """The language chosen with the switch (a cookie), else Vietnamese."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    languages = current_app.config["LANGUAGES"]
    return chosen if chosen in languages else languages[0]


def init_babel(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    # Flask-Babel keeps its domain on the extension object: the same catalogues for every app.
    babel.domain_instance = PoDomain()
