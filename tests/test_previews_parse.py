"""Link previews' pure parts: which links of a message are previewed (and under which cache key),
what a page's HTML says about it, and which posts the follower queues."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

from gochat.events import EventType, RecordedEvent
from gochat.previews.links import kept, linked, normalize, offered, preview_links
from gochat.previews.meta import decode, parse
from gochat.previews.outbox import LinkPreviewOutbox


def test_links_are_found_in_prose_trimmed_and_normalized() -> None:
    text = (
        "See https://Example.COM:443/a/b?x=1#top, then (http://wiki.org/Foo_(bar)) and"
        " https://example.com/a/b?x=1 again; not ftp://x.org nor <https://quiet.example/>."
    )
    assert preview_links(text, 10) == ["https://example.com/a/b?x=1", "http://wiki.org/Foo_(bar)"]
    assert preview_links("no links here", 3) == []
    assert preview_links("a https://a.io b https://b.io c https://c.io d https://d.io", 3) == [
        "https://a.io/", "https://b.io/", "https://c.io/",
    ]  # fmt: skip


def test_normalize_refuses_what_is_no_fetchable_url() -> None:
    assert normalize("https://user:pw@example.com/") is None  # credentials in a link: no
    assert normalize("https://" + "a" * 3000 + ".com") is None
    assert normalize("http://EXAMPLE.com:8080") == "http://example.com:8080/"
    assert normalize("https://bücher.example/x") == "https://xn--bcher-kva.example/x"


def test_opengraph_first_then_twitter_then_the_title_and_description() -> None:
    html = """<html><head><title>Plain  title</title>
        <meta name="description" content="plain description">
        <meta property="og:image" content="/pics/cover.jpg">
        <meta name="twitter:title" content="Twitter title">
        </head><body><meta property="og:title" content="in the body: ignored"></body></html>"""
    found = parse(html, "https://example.com/articles/1")
    assert found.title == "Twitter title"
    assert found.description == "plain description"
    assert found.image == "https://example.com/pics/cover.jpg"
    assert found.site_name is None
    bare = parse("<title>\n  Only\ta   title </title>", "https://example.com/")
    assert (bare.title, bare.description, bare.image) == ("Only a title", None, None)
    assert parse("<p>nothing</p>", "https://example.com/").empty


def test_page_text_is_cleaned_and_bounded() -> None:
    long = "word " * 400
    html = f'<meta property="og:title" content="a\u202eb\x07c"><meta property="og:description" content="{long}">'
    found = parse(html, "https://example.com/")
    assert found.title == "a b c"  # control and format characters out
    assert found.description is not None
    assert len(found.description) <= 500
    assert found.description.endswith("…")
    assert parse('<meta property="og:image" content="javascript:alert(1)">', "https://x.org/").image is None


def test_the_charset_comes_from_the_header_or_a_meta_tag() -> None:
    latin = '<meta charset="iso-8859-1"><title>café</title>'.encode("latin-1")
    assert "café" in decode(latin, "text/html")
    assert "café" in decode("café".encode("latin-1"), "text/html; charset=ISO-8859-1")
    assert decode(b"\xff\xfeok", "text/html; charset=no-such-charset").endswith("ok")


def event(data: dict[str, Any], actor: uuid.UUID | None = None) -> RecordedEvent:
    return RecordedEvent(
        7, uuid.uuid4(), 1, EventType.MESSAGE_POSTED, 1, data, {}, actor or uuid.uuid4(), None, datetime.now(UTC)
    )


def test_the_follower_queues_plaintext_posts_with_links_that_did_not_opt_out() -> None:
    outbox = LinkPreviewOutbox(max_urls=2)
    job = outbox.job(event({"content": "https://a.io/x https://b.io https://c.io"}))
    assert job is not None
    assert job["urls"] == ["https://a.io/x", "https://b.io/"]
    assert outbox.job(event({"content": "no link"})) is None
    assert outbox.job(event({"content": "https://a.io", "no_previews": True})) is None
    assert outbox.job(event({"content": '{"ciphertext": "https://a.io"}', "encrypted": True})) is None
    assert LinkPreviewOutbox(enabled=False).job(event({"content": "https://a.io"})) is None


def test_an_edit_keeps_the_previews_of_the_links_its_text_still_has_and_queues_its_own_job() -> None:
    shown = [{"url": "https://a.io/", "title": "A"}, {"url": "https://b.io/x", "title": "B"}]
    assert kept(shown, "now only HTTPS://B.io/x#top.") == [shown[1]]  # as normalized
    assert kept(shown, "b in brackets: <https://b.io/x>, a: https://a.io") == [shown[0]]  # the per-link opt-out
    assert kept(shown, "no links") == []
    assert kept(None, "https://a.io") == []
    assert linked("https://1.io " * 5 + "https://2.io") == ["https://1.io/", "https://2.io/"]  # no limit

    edit = RecordedEvent(
        9, uuid.uuid4(), 2, EventType.MESSAGE_EDITED, 1, {"message_id": 7, "content": "https://c.io"}, {},
        uuid.uuid4(), None, datetime.now(UTC),
    )  # fmt: skip
    job = LinkPreviewOutbox().job(edit)
    assert job is not None
    assert (job["id"], job["edit"], job["urls"]) == (7, 9, ["https://c.io/"])
    posted = LinkPreviewOutbox().job(event({"content": "https://c.io"}))
    assert posted is not None
    assert posted["edit"] is None
    opted_out = {"message_id": 7, "content": "https://c.io", "no_previews": True}
    assert offered(opted_out) == ""
    assert LinkPreviewOutbox().job(dataclasses.replace(edit, data=opted_out)) is None
