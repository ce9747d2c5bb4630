"""The web client when someone in the open room is erased (`gochat users erase`, docs/api.md
"Erasure frames"): their messages show as deleted (in the open thread too), their reactions go
and their name becomes "deleted user", at once, without a reload.

A server of the module's own (test_web_client.py's `site` fixture), the erasure by the command.
"""

from __future__ import annotations

import pytest
from conftest import TEST_SECRET, run_cli
from selenium.webdriver.common.keys import Keys
from test_web_client import Site, chat_in_one_room, message_action, site_fixture
from test_web_people import authors
from web_harness import browsers

__all__ = ["site_fixture"]  # the `site` fixture: a server of this module's own


def test_an_erased_user_s_messages_reactions_and_name_leave_an_open_room_without_a_reload(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        _, bob_id, _ = chat_in_one_room(alice, bob)
        alice.send("Alice asks: lunch at noon?")
        bob.send("Bob's secret plan for the merger")
        alice.wait_text("Bob's secret plan")
        message_action(bob, "Alice asks: lunch", "Add a reaction", "React with 🎉")
        alice.wait(lambda: alice.find(".message .reaction"), "Bob's reaction shown")
        alice.wait(lambda: "Bob" in authors(alice), "Bob's name on his message")
        # Bob replies in a thread Alice has open.
        message_action(bob, "Alice asks: lunch", "Reply in thread")
        bob.visible("#thread-input").send_keys("Bob's thread secret", Keys.ENTER)
        alice.wait(lambda: alice.find(".thread-link").text.startswith("1 reply"), "reply count")
        alice.driver.refresh()  # the thread read over HTTP, not from frames
        alice.wait(lambda: alice.find(".thread-link").text.startswith("1 reply"), "reply count, reloaded")
        alice.find(".thread-link").click()
        alice.wait(lambda: "Bob's thread secret" in alice.find(".thread-list").text, "thread open")
        alice.js("window.notReloaded = true")

        monkeypatch.setenv("DATABASE_URL", site.server.env["DATABASE_URL"])
        monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
        code, _, err = run_cli(capsys, "users", "erase", "--id", bob_id, "--yes")
        assert code == 0, err

        def erased() -> bool:
            text = alice.find("#timeline").text
            return (
                "Bob's secret plan" not in text
                and "This message was deleted." in text
                and not alice.all(".message .reaction")
                and "Bob" not in authors(alice)
            )

        alice.wait(erased, "Bob's message deleted, his reaction and his name gone")
        alice.wait(lambda: "Bob's thread secret" not in alice.find(".thread-list").text, "his reply gone")
        assert "Alice asks: lunch at noon?" in alice.find("#timeline").text
        assert alice.js("return window.notReloaded === true"), "the page was reloaded"
        assert alice.errors() == []
