"""A procedure's checklist: the documents a citizen hands in, written as plain text.

The same text is typed in the `documents` column of a procedures CSV and in the admin's
"Required documents" box. Documents are separated by new lines or ";" (in Excel: Alt+Enter in
the cell, or ";"). Each document is

    name [(kind)] [xN]

- kind, in brackets at the end: bản chính, bản sao có chứng thực or bản sao (accents and case
  do not matter; "sao y bản chính", "bản gốc", "bản photo" and the English codes original,
  certified_copy, copy are understood too). Left out: bản chính. Brackets holding anything else
  stay part of the name ("Giấy xác nhận (nếu có)").
- xN, at the very end: how many, 1 to 99 ("x2", "x 2", "X2", "*2" or "2 bản"; the
  multiplication sign too). Left out: 1.

Example: ``Tờ khai (bản chính); Căn cước công dân (bản sao) x2``. A bad document is reported
with its position in the list (1 is the first) and a reason that is a message id (translated
by the pages); the caller decides where to show it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tracker.dossiers.models import DossierDocument
from tracker.i18n import N_
from tracker.text import fold

MAX_DOCUMENTS = 50
MAX_COUNT = 99
# The name a dossier's document row can hold (the checklist pre-fills those rows).
MAX_NAME = DossierDocument.__table__.c.name.type.length
KIND_WORDS = {"original": "bản chính", "certified_copy": "bản sao có chứng thực", "copy": "bản sao"}
# Folded (lower case, no accents) words for each kind.
_KIND_ALIASES = {
    "original": ("ban chinh", "chinh", "ban goc", "goc", "original"),
    "certified_copy": (
        "ban sao co chung thuc",
        "ban sao chung thuc",
        "sao co chung thuc",
        "sao chung thuc",
        "chung thuc",
        "ban sao y ban chinh",
        "sao y ban chinh",
        "ban sao y",
        "sao y",
        "certified copy",
    ),
    "copy": ("ban sao", "sao", "ban photo", "photo", "copy"),
}
_KINDS = {alias: kind for kind, aliases in _KIND_ALIASES.items() for alias in aliases}
_SEPARATORS = re.compile(r"[;\r\n]+")
_KIND_AT_END = re.compile(r"\(([^()]*)\)\s*\Z")
# "x2", "x 2", "* 2", "2 bản" (or the multiplication sign) at the end, after a space: "Ảnh 4x6"
# is a name.
_COUNT_AT_END = re.compile(r"(?:\A|\s)(?:[x\u00d7*]\s*([0-9]+)|([0-9]+)\s*bản)\s*\Z", re.IGNORECASE)
_NAME_ENDS_LIKE_A_MARK = re.compile(
    r"(?:\A|\s)(?:[x\u00d7*]\s*[0-9]+|[0-9]+\s*bản)\Z", re.IGNORECASE
)


@dataclass(frozen=True)
class Problem:
    """What is wrong with the `number`-th document (None: with the list as a whole)."""

    number: int | None
    reason: str

    @property
    def field(self) -> str:
        """The CSV report's column: "documents[2]" for the second document of the cell."""
        return "documents" if self.number is None else f"documents[{self.number}]"


class ChecklistInvalid(Exception):
    """Some documents of a checklist are not valid; nothing of it is taken."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.problems = problems


def parse_documents(text: str) -> list[dict]:
    """The checklist written in `text`, in order: [{"name", "kind", "count"}]. Empty entries
    are skipped; raises `ChecklistInvalid` listing every bad document."""
    entries = [entry for entry in _SEPARATORS.split(text or "") if entry.strip()]
    documents, problems, seen = [], [], set()
    for number, entry in enumerate(entries, start=1):
        try:
            document = _document(entry)
        except ValueError as exc:
            problems.append(Problem(number, str(exc)))
            continue
        key = (fold(document["name"]), document["kind"])
        if key in seen:
            problems.append(Problem(number, N_("this document is already in the list")))
        seen.add(key)
        documents.append(document)
    if len(entries) > MAX_DOCUMENTS:
        problems.append(Problem(None, N_("at most 50 documents")))
    if problems:
        raise ChecklistInvalid(problems)
    return documents


def format_documents(documents: list[dict]) -> str:
    """The checklist as the admin types it, one document per line; `parse_documents` reads it
    back unchanged."""
    lines = []
    for document in documents or []:
        line = f"{document['name']} ({KIND_WORDS[document['kind']]})"
        count = document["count"]
        # A name that itself ends like a count ("Bản vẽ x2") keeps its own by stating the count.
        if count != 1 or _NAME_ENDS_LIKE_A_MARK.search(document["name"]):
            line += f" x{count}"
        lines.append(line)
    return "\n".join(lines)


def _document(entry: str) -> dict:
    """One entry: the kind and the count are taken off its end (each once, in either order)."""
    if "\x00" in entry:
        # The intake form copies the checklist into the dossier, and PostgreSQL text holds no NUL.
        raise ValueError(N_("must not contain NUL characters"))
    text = " ".join(unicodedata.normalize("NFC", entry).split())
    kind, count = None, None
    for _turn in range(2):
        if count is None and (match := _COUNT_AT_END.search(text)):
            count = _count(match.group(1) or match.group(2))
            text = text[: match.start()].rstrip()
        if kind is None and (match := _KIND_AT_END.search(text)):
            kind = _KINDS.get(fold(match.group(1).replace("_", " ").replace("-", " ")))
            if kind is not None:
                text = text[: match.start()].rstrip()
    if not text:
        raise ValueError(N_("a document needs a name"))
    if len(text) > MAX_NAME:
        raise ValueError(N_("too long"))
    return {"name": text, "kind": kind or "original", "count": count or 1}


def _count(digits: str) -> int:
    # "02" is fine; a long run of digits is refused before int() has to read it.
    if len(digits) > 3 or not 1 <= int(digits) <= MAX_COUNT:
        raise ValueError(N_("the count must be between 1 and 99"))
    return int(digits)
