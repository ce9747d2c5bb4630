"""The URLs of a message worth previewing, and the form they are cached under.

Pure functions of the text. `http://` and `https://` links only, as people write them in prose: a
link ends at whitespace or at `<>"` and loses the punctuation that usually closes a sentence or a
parenthesis around it. A link written between angle brackets (`<https://example.com>`) is shown
without a preview, as in Discord and Slack: the sender's per-link opt-out. An edit keeps the
previews of the links its text still has (`kept`) and loses the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from yarl import URL

MAX_URL = 2048
_LINK = re.compile(r"(<)?(https?://[^\s<>\"]+)(>)?", re.IGNORECASE)
_TRAILING = ".,:;!?'\"*_~"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _trim(link: str) -> str:
    while link:
        last = link[-1]
        if last in _TRAILING:
            link = link[:-1]
        elif last in _PAIRS and link.count(last) > link.count(_PAIRS[last]):
            link = link[:-1]  # "(see https://x.org/a)" -> https://x.org/a; wiki links keep theirs
        else:
            break
    return link


def normalize(link: str) -> str | None:
    """The cache key of a link: scheme and host lowercased (the host in IDNA), default port and
    fragment dropped, an empty path as `/`. None for what is no fetchable http(s) URL."""
    if len(link) > MAX_URL:
        return None
    try:
        url = URL(link)
        host = url.host
        if url.scheme not in ("http", "https") or not host or url.user is not None or url.password is not None:
            return None
        host = host.rstrip(".").encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
        path = url.raw_path or "/"
        port = url.explicit_port
        if port is not None and port == (443 if url.scheme == "https" else 80):
            port = None
        built = URL.build(scheme=url.scheme, host=host.rstrip("."), port=port, path=path,
                          query_string=url.raw_query_string, encoded=True)  # fmt: skip
    except (ValueError, UnicodeError):
        return None
    text = str(built)
    return text if len(text) <= MAX_URL else None


def preview_links(text: str, limit: int) -> list[str]:
    """Up to `limit` distinct links of `text` to preview, in order, normalized."""
    found: list[str] = []
    if "://" not in text:  # most messages: no regular expression at all
        return found
    for match in _LINK.finditer(text):
        if match.group(1) and match.group(3):
            continue  # <https://...>: written not to be previewed
        link = _trim(match.group(2))
        norm = normalize(link)
        if norm is not None and norm not in found:
            found.append(norm)
            if len(found) >= limit:
                break
    return found


def offered(data: Mapping[str, Any]) -> str:
    """The text of a post's or an edit's data whose links may be previewed: none when the server
    cannot read it (end-to-end encrypted) or the sender said `previews: false`."""
    if data.get("encrypted") or data.get("no_previews"):
        return ""
    return str(data.get("content") or "")


def linked(text: str) -> list[str]:
    """Every link of `text` a preview may show, however many: an edit keeps the previews of these
    (the history projection, services/messages.py) and drops the others."""
    return preview_links(text, len(text))


def kept(previews: Sequence[Mapping[str, Any]] | None, text: str) -> list[dict[str, Any]]:
    """The previews of `previews` whose link `text` still has, in their order."""
    links = set(linked(text))
    return [dict(p) for p in previews or () if p.get("url") in links]
