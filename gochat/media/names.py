"""File names: kept as metadata only (storage keys are digests), cleaned on the way in, and
written back in RFC 6266 / RFC 5987 form (`filename*=UTF-8''...`) on the way out."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_NAME = 255
_FALLBACK = "file"
# Path separators and what shells, Windows or headers make special.
_BAD = set('/\\:*?"<>|') | {"\x7f"}


def clean_name(raw: str | None) -> str:
    """The last path component, NFC, without control characters (CR/LF: no header injection),
    bidi overrides or reserved characters, no leading dots, at most 255 characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join("_" if ch in _BAD else ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and len(ext) <= 16 else ""
        name = (stem if dot else name)[: MAX_NAME - len(ext) - 1] + ("." + ext if ext else "")
    return name or _FALLBACK


def content_disposition(name: str, *, inline: bool) -> str:
    """`attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266)."""
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%' else "_" for ch in name) or _FALLBACK
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
