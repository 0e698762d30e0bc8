"""Pickup references: `TG-XXXX-XXXX`, read over the phone and typed back by staff.

8 random symbols of Crockford's base32 (40 bits), drawn as the receipts' lookup secrets are, and
typed as forgivingly (case, dashes, O/0, I/L/1). Random, not a sequence: a reference says nothing
of how many calls there were and cannot be counted through. It is no key to anything public:
only staff read pickups (signed in, in their scope).
"""

from __future__ import annotations

from tracker.dossiers.codes import new_lookup_secrets, normalise_secret

PREFIX = "TG"  # thu gom: collection
SYMBOLS = 8
LENGTH = len(PREFIX) + SYMBOLS + 2


def new_reference() -> str:
    symbols = new_lookup_secrets(1)[0].replace("-", "")[:SYMBOLS]
    return f"{PREFIX}-{symbols[:4]}-{symbols[4:]}"


def normalise_reference(text: str) -> str | None:
    """The reference `text` stands for, in its stored form; None when it cannot be one."""
    if len(text) > 4 * LENGTH:
        return None
    plain = normalise_secret(text)
    if len(plain) != len(PREFIX) + SYMBOLS or not plain.startswith(PREFIX):
        return None
    symbols = plain[len(PREFIX) :]
    return f"{PREFIX}-{symbols[:4]}-{symbols[4:]}"
