"""The web client shows link previews and follows them live (headless Chromium, as test_web_client.py):
a link's preview card appears on the other side once fetched, an edit that removes the link takes
the card away without a reload, and an edit to another link shows that page's card instead.

Its own `gochat serve` with previews on, allowed to reach a web site on 127.0.0.1 that this test
serves (the module server of test_web_client.py has previews off).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import PgCluster
from test_web_client import chat_in_one_room, server_env
from web_harness import Browser, Server, browsers, http

PAGES = {
    "/launch": ("Launch notes", "What ships on Friday"),
    "/roadmap": ("Roadmap", "The next two quarters"),
}


class Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server calls it by that name
        title, description = PAGES.get(self.path, ("", ""))
        if not title:
            self.send_error(404)
            return
        body = (
            f'<html><head><meta property="og:title" content="{title}">'
            f'<meta property="og:description" content="{description}">'
            '<meta property="og:site_name" content="Intranet"></head><body></body></html>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def cards(b: Browser) -> list[str]:
    return [c.text for c in b.all("#timeline .link-preview .link-preview-title")]


def edit(b: Browser, room: str, message_id: int, content: str) -> None:
    token = b.session()["access_token"]
    url = f"{b.base_url}/rooms/{room}/messages/{message_id}"
    assert http(url, {"content": content}, token, method="PATCH")[0] == 200


def test_a_preview_card_follows_the_message_s_edits_live(pg_cluster: PgCluster, tmp_path: Path, pages: str) -> None:
    dsn = pg_cluster.new_database()
    env = server_env(dsn, tmp_path, GOCHAT_PREVIEWS="on", GOCHAT_PREVIEW_ALLOW="127.0.0.1")
    server = Server(env, tmp_path / "server.log")
    server.start()
    try:
        with browsers(server.url, server.url) as (alice, bob):
            _, _, room = chat_in_one_room(alice, bob)
            alice.send(f"Notes: {pages}/launch")
            bob.wait(lambda: cards(bob) == ["Launch notes"], "the preview card")
            card = bob.find("#timeline .link-preview")
            assert card.get_attribute("href") == f"{pages}/launch"
            assert "What ships on Friday" in card.text
            [message_id] = bob.message_ids()

            edit(alice, room, message_id, "Notes: none after all")
            bob.wait_text("Notes: none after all")
            bob.wait(lambda: cards(bob) == [], "the card gone with the link")

            edit(alice, room, message_id, f"Notes: {pages}/roadmap")
            bob.wait(lambda: cards(bob) == ["Roadmap"], "the new link's card")
            assert bob.find("#timeline .link-preview").get_attribute("href") == f"{pages}/roadmap"
            alice.wait(lambda: cards(alice) == ["Roadmap"], "the author's card too")
            assert alice.errors() == []
            assert bob.errors() == []
    finally:
        server.stop()
        pg_cluster.drop(dsn)
