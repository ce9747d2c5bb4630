"""marshmallow fields that load to JSON-native values (strings stay strings), for event schemas."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

MAX_ID = 2**63 - 1  # bigint: log positions, message ids; the largest a client may send

# Bidirectional overrides and isolates: refused in names, where they make spoofing easy.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


class UUIDStr(fields.String):
    """A UUID, loaded as its canonical lowercase string."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> str:
        text = super()._deserialize(value, attr, data, **kw)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ValidationError("Not a valid UUID.") from None


def clean_text(value: str, *, min_len: int = 0, max_len: int, no_bidi: bool = False) -> str:
    """NFC, trimmed, length measured after trimming; refuses NUL and (optionally) bidi controls."""
    text = unicodedata.normalize("NFC", value).strip()
    if "\x00" in text:
        raise ValidationError("Must not contain NUL characters.")
    if no_bidi and any(ch in BIDI_CONTROLS for ch in text):
        raise ValidationError("Must not contain bidirectional control characters.")
    if len(text) < min_len:
        raise ValidationError("Must not be empty." if min_len == 1 else f"Shorter than {min_len}.")
    if len(text) > max_len:
        raise ValidationError(f"Longer than {max_len} characters.")
    return text


_SHORTCODE = re.compile(r"^:[a-z0-9_+-]{1,30}:$")


def clean_emoji(text: str) -> str:
    """One emoji or short :shortcode:, at most 32 characters, no whitespace."""
    if not text or len(text) > 32 or any(ch.isspace() for ch in text):
        raise ValidationError("Not a valid emoji.")
    if text.isascii() and not _SHORTCODE.match(text):
        raise ValidationError("Not a valid emoji.")
    return text


class Text(fields.String):
    """Trimmed text (see `clean_text`)."""

    def __init__(self, *, min_len: int = 0, max_len: int, no_bidi: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.min_len, self.max_len, self.no_bidi = min_len, max_len, no_bidi

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> str:
        text = super()._deserialize(value, attr, data, **kw)
        return clean_text(text, min_len=self.min_len, max_len=self.max_len, no_bidi=self.no_bidi)


class Emoji(fields.String):
    """One emoji or short :shortcode: (see `clean_emoji`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kw: Any) -> str:
        return clean_emoji(super()._deserialize(value, attr, data, **kw))
