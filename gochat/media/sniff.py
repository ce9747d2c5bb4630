"""What a file is, decided by its bytes (magic numbers, via `filetype`), never by its name or the
client's Content-Type, against an allowlist. Anything not on it is an opaque download
(application/octet-stream): never served as something a browser would render or run."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import filetype

OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"
HEAD = 8192  # filetype reads at most this much

# Decoded and re-encoded by media/images.py (so inline display is safe).
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Probed by media/audio.py (ffprobe); containers that may hold audio only are refined there.
AUDIO_TYPES = frozenset({"audio/mpeg", "audio/mp4", "audio/ogg", "audio/x-flac", "audio/x-wav", "audio/aac"})
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime", "video/x-matroska"})
OTHER_TYPES = {"application/pdf": "pdf"}


@dataclass(frozen=True, slots=True)
class Sniffed:
    content_type: str
    kind: str  # image | audio | video | pdf | text | file


def sniff(path: Path) -> Sniffed:
    """Blocking (reads the file): call off the event loop."""
    with path.open("rb") as fh:
        head = fh.read(HEAD)
    mime = filetype.guess_mime(head) if head else None
    if mime in IMAGE_TYPES:
        return Sniffed(mime, "image")
    if mime in AUDIO_TYPES:
        return Sniffed(mime, "audio")
    if mime in VIDEO_TYPES:
        return Sniffed(mime, "video")
    if mime in OTHER_TYPES:
        return Sniffed(mime, OTHER_TYPES[mime])
    if mime is None and _is_text(path):
        # HTML, SVG and scripts land here too: served as plain text, as a download.
        return Sniffed(TEXT, "text")
    return Sniffed(OCTET_STREAM, "file")


def _is_text(path: Path) -> bool:
    """UTF-8 throughout, with no NUL and no other C0 control but tab, newlines and form feed."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    allowed = {9, 10, 12, 13}
    with path.open("rb") as fh:
        while chunk := fh.read(256 * 1024):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
            if any(ord(ch) < 32 and ord(ch) not in allowed for ch in text):
                return False
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True
