"""Text helpers for Vietnamese names: search folding and masking."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case without diacritics, so "Nguyễn Văn Đức" matches "nguyen van duc"."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(stripped.lower().split())


def mask_name(name: str) -> str:
    """Keep the first letter of each word: "Nguyễn Văn An" -> "N***** V** A*"."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())
