"""A page's preview from its HTML: OpenGraph tags first (`og:title`, `og:description`,
`og:site_name`, `og:image`), then Twitter's, then `<title>` and `<meta name="description">`.

The standard library's `html.parser` (a forgiving tokenizer, no network, no entity expansion
beyond HTML's own): only `<meta>`, `<title>` and `<link>` start tags are looked at, and parsing
stops at `<body>`, where metadata no longer lives. The bytes were cut to a bound before they got
here (fetch.py); a page cut inside its head gives what was read by then.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
TEXT_MAX = 500
SITE_MAX = 200


@dataclass(frozen=True, slots=True)
class PageMeta:
    title: str | None
    description: str | None
    site_name: str | None
    image: str | None  # absolute URL

    @property
    def empty(self) -> bool:
        return not (self.title or self.description or self.image)


class _Stop(Exception):
    pass


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            raise _Stop
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            key = (a.get("property") or a.get("name") or "").strip().lower()
            if key and "content" in a and key not in self.meta:
                self.meta[key] = a["content"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            raise _Stop

    def handle_data(self, data: str) -> None:
        if self._in_title and sum(map(len, self.title)) < 4 * TEXT_MAX:
            self.title.append(data)


def _clean(value: str | None, limit: int) -> str | None:
    """One line of printable text, at most `limit` characters (cut at a word where it can be)."""
    if not value:
        return None
    text = unicodedata.normalize("NFC", value)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    if len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
    return text or None


def decode(body: bytes, content_type: str) -> str:
    """The page's text: the charset of the Content-Type header, else of a `<meta>` in the first
    kilobytes, else UTF-8; undecodable bytes are replaced, never an error."""
    charset = None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    if charset is None and (found := _CHARSET.search(body[:4096])):
        charset = found.group(1).decode("ascii")
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def parse(html: str, base_url: str) -> PageMeta:
    parser = _MetaParser()
    try:
        parser.feed(html)
        parser.close()
    except _Stop:
        pass
    except Exception:  # noqa: S110 - markup html.parser gives up on: what was read so far stands
        pass
    m = parser.meta

    def first(*keys: str) -> str | None:
        return next((m[k] for k in keys if m.get(k, "").strip()), None)

    image = first("og:image:secure_url", "og:image", "og:image:url", "twitter:image", "twitter:image:src")
    image_url = None
    if image:
        joined = urljoin(base_url, image.strip())
        if joined.startswith(("http://", "https://")) and len(joined) <= 2048:
            image_url = joined
    return PageMeta(
        title=_clean(first("og:title", "twitter:title") or "".join(parser.title), TEXT_MAX),
        description=_clean(first("og:description", "twitter:description", "description"), TEXT_MAX),
        site_name=_clean(first("og:site_name", "application-name"), SITE_MAX),
        image=image_url,
    )
