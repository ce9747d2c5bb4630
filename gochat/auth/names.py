"""Usernames and passwords as the API accepts them: marshmallow fields plus the name's canonical form."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

from ..events.fields import Text

USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN, PASSWORD_MAX = 8, 128
# Namespace of the per-name claim streams (accounts.py): uuid5(this, normalized name).
USERNAME_NAMESPACE = uuid.UUID("5b0f3c1e-8d9a-4c61-9a57-3f3c0e9b2a11")
# Controls, format characters (bidi marks, zero-width joiners), separators, private use,
# surrogates, unassigned: invisible or look-alike in a name.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def normalize_username(username: str) -> str:
    """NFKC + casefold (Unicode's NFKC_Casefold): `Alice`, `ALICE` and the fullwidth `alice` are one name."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def username_stream(username_norm: str) -> uuid.UUID:
    return uuid.uuid5(USERNAME_NAMESPACE, username_norm)


class Username(Text):
    """3-32 characters after trimming; no whitespace, controls or invisible formatting."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(min_len=USERNAME_MIN, max_len=USERNAME_MAX, no_bidi=True, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> str:
        text = super()._deserialize(value, attr, data, **kw)
        if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in text):
            raise ValidationError("Must not contain spaces, control or invisible characters.")
        if _looks_like_an_id(text):
            raise ValidationError("Must not look like a user id.")
        return text


def _looks_like_an_id(text: str) -> bool:
    """A name any tool could read as a user id (32 hex digits, with or without dashes or braces):
    whoever types it, meaning someone, must never reach someone else."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class Password(fields.String):
    """8-128 characters, kept exactly as typed (no trimming)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kw)
        if len(text) < PASSWORD_MIN:
            raise ValidationError(f"Shorter than {PASSWORD_MIN} characters.")
        if len(text) > PASSWORD_MAX:
            raise ValidationError(f"Longer than {PASSWORD_MAX} characters.")
        return text
