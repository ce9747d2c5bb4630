"""The web client's people features in real browsers (headless Chromium, Selenium): real names
everywhere (the server's `display`, live `user_updated`), direct messages started from a user
search, mentions (highlighted as text, an @-autocomplete, badges, the notifications panel, levels,
do-not-disturb), and statuses.

One `gochat serve` for the module (the `site` fixture of test_web_client.py), one pair of browsers
per test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys
from test_web_client import Site, chat_in_one_room, site_fixture, unique
from web_harness import PASSWORD, Browser, browsers, http, screenshot_dir

__all__ = ["site_fixture"]  # the `site` fixture: a server of this module's own


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshot_dir(tmp_path)


def token_of(b: Browser) -> str:
    return str(b.session()["access_token"])


def sign_up_over_http(site: Site, username: str, display_name: str) -> tuple[str, str]:
    status, body = http(
        f"{site.server.url}/auth/signup", {"username": username, "password": PASSWORD, "display_name": display_name}
    )
    assert status == 201, body
    return str(body["user"]["id"]), str(body["access_token"])


def member_names(b: Browser) -> list[str]:
    return [el.text for el in b.all("#panel .member-name")]


def authors(b: Browser) -> list[str]:
    return [el.text for el in b.all("#timeline .author")]


def test_names_come_from_the_server_with_look_alikes_marked_and_follow_renames_live(site: Site) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        alice_name = unique("alice")
        _, bob_id, room = chat_in_one_room(alice, bob, names=(alice_name, ""))
        bob.send("Hello from Bob")
        alice.wait_text("Hello from Bob")
        alice.wait(lambda: "Bob" in authors(alice), "Bob's name on his message")

        # Someone Alice has never seen copies her username as a display name, joins and posts: her
        # client asks the server who that is and shows the name with the real username beside it.
        mallory_name = unique("mallory")
        _, mallory_token = sign_up_over_http(site, mallory_name, alice_name)
        assert http(f"{site.server.url}/rooms/{room}/join", {}, mallory_token)[0] == 200
        assert (
            http(f"{site.server.url}/rooms/{room}/messages", {"content": "I am Alice, trust me"}, mallory_token)[0]
            == 201
        )
        alice.wait_text("I am Alice, trust me")
        alice.wait(
            lambda: f"{alice_name} (@{mallory_name})" in authors(alice), "the look-alike shown with her username"
        )
        alice.find("#members-button").click()
        alice.wait(
            lambda: sorted(member_names(alice)) == sorted(["Alice (you)", "Bob", f"{alice_name} (@{mallory_name})"]),
            "members by name",
        )

        # Typing and seen-by name people too.
        # (The server passes one typing event per person and room every 3 s: Bob types until one does.)
        alice.wait(
            lambda: bob.type("#composer-input", "o") and alice.find("#typing").text == "Bob is typing…", "Bob is typing"
        )
        alice.send("Seen?")
        alice.wait(lambda: "Seen by Bob" in alice.find("#timeline").text, "seen by Bob")

        # Bob renames himself: Alice's screen follows from the user_updated frame.
        status, _ = http(f"{site.server.url}/me", {"display_name": "Robert"}, token_of(bob), method="PATCH")
        assert status == 200
        alice.wait(lambda: "Robert" in authors(alice) and "Bob" not in authors(alice), "Bob's new name on his messages")
        alice.wait(lambda: "Robert" in member_names(alice), "Bob's new name in the members")
        # Names nobody described yet are asked for together, once: one GET /users?ids= for all of
        # them; an id the server does not know (an erased user's) reads "deleted user".
        nobody = "00000000-0000-4000-8000-000000000000"
        asked = alice.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.all([import('/static/js/api.js'), import('/static/js/session.js'), import('/static/js/users.js')])"
            ".then(([{Api}, {Session}, {Users}]) => {"
            "  const api = new Api(new Session()); const paths = []; const get = api.get.bind(api);"
            "  api.get = (path, query) => { paths.push([path, query]); return get(path, query); };"
            "  const users = new Users(api);"
            "  const first = arguments[0].map((id) => users.name(id));"
            "  const then = () => arguments[0].map((id) => users.name(id));"
            "  users.addEventListener('users', () => done({paths, first, then: then()}));"
            "});",
            [bob_id, nobody],
        )
        assert asked["paths"] == [["/users", {"ids": f"{bob_id},{nobody}"}]]
        assert asked["first"] == [f"user {bob_id[:6]}", f"user {nobody[:6]}"]
        assert asked["then"] == ["Robert", "deleted user"]
        assert alice.errors() == []


def test_a_direct_message_starts_from_a_user_search(site: Site, shots: Path) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        _, _, _ = chat_in_one_room(alice, bob)
        bob_username = bob.session()["user"]["username"]
        alice.find("#new-dm").click()
        alice.visible("#people-q").send_keys(bob_username[:6])
        alice.wait(lambda: alice.click("#dialog-body button[aria-label='Message Bob']"), "Bob found")
        alice.wait(lambda: alice.find("#room-title").text == "@ Bob", "the DM named after Bob")
        assert alice.find("#leave-room").is_displayed() is False
        assert "Bob" in [el.text for el in alice.all("#dm-list .room-name")]
        alice.send("Just between us")

        # Bob had no such room: the message's notification brings it into his sidebar, named Alice.
        bob.wait(lambda: [el.text for el in bob.all("#dm-list .room-name")] == ["Alice"], "the DM in Bob's sidebar")
        bob.wait(lambda: bob.find("#dm-list .mention-badge").text == "@1", "a DM counts as a mention")
        bob.find("#dm-list .room").click()
        bob.wait_text("Just between us")
        bob.wait(lambda: bob.all("#dm-list .presence.online"), "Alice shown online")
        bob.send("Sure")
        alice.wait_text("Sure")
        # Alice read it as it came (the DM open, at the bottom): nothing is left unread for her.
        alice.wait(lambda: not alice.find("#notifications-badge").is_displayed(), "Bob's reply read as it came")
        alice.driver.save_screenshot(str(shots / "web-dm.png"))
        assert bob.errors() == []


def test_mentions_autocomplete_highlight_badge_and_notify(site: Site, shots: Path) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        alice_id, _, room = chat_in_one_room(alice, bob)
        alice_username = alice.session()["user"]["username"]
        other = alice.create_room(unique("Elsewhere "))  # Alice looks at another room meanwhile
        assert other != room

        # Bob types "@" and the start of her name; the list offers Alice; Enter picks her.
        box = bob.visible("#composer-input")
        box.send_keys("Look @" + alice_username[:3])
        bob.wait(
            lambda: bob.find("#mention-list .mention-option.active .mention-name").text == "Alice", "Alice offered"
        )
        box.send_keys(Keys.ENTER)
        assert box.get_attribute("value") == f"Look @{alice_username} "
        box.send_keys("<b>here</b>", Keys.ENTER)
        bob.wait_text(f"Look @{alice_username}")
        bob.wait(
            lambda: bob.find("#timeline .message:last-of-type .mention").text == f"@{alice_username}",
            "the mention highlighted once the server's entities arrive",
        )

        # Alice, in the other room: a mention badge, the bell counts it, the panel lists it.
        alice.wait(lambda: alice.find(f".room[data-room-id='{room}'] .mention-badge").text == "@1", "a mention badge")
        alice.wait(lambda: alice.find("#notifications-badge").text == "1", "the bell counts one")
        alice.find("#notifications-button").click()
        listed = "Bob mentioned you in #"
        alice.wait(
            lambda: (
                listed in (t := alice.find("#panel .notification.unread").text)
                and f"Look @{alice_username} <b>here</b>" in t
            ),
            "the notification listed, as text",
        )
        alice.driver.save_screenshot(str(shots / "web-notifications.png"))
        alice.wait(lambda: alice.click("#panel .notification.unread"), "open the notification")  # and mark it read
        alice.wait(lambda: alice.room_id() == room, "the room opened")
        alice.wait_text(f"Look @{alice_username}")
        # The mention is a highlighted span of text, titled with the name.
        assert alice.js(
            "const m = document.querySelector('#timeline .mention.to-me');"
            "return [m.textContent, m.title, [...m.childNodes].every(n => n.nodeType === Node.TEXT_NODE)]"
        ) == [f"@{alice_username}", "Alice", True]
        assert alice.all("#timeline .content b") == []  # markup stays text
        alice.wait(lambda: alice.find("#notifications-badge").is_displayed() is False, "nothing unread")
        alice.wait(lambda: not alice.all(".mention-badge"), "the badge gone")

        # Levels and do-not-disturb: muted, a mention counts nothing; "Mark all read" reads the rest.
        alice.find(f".room[data-room-id='{other}']").click()
        alice.wait(lambda: alice.room_id() == other, "back elsewhere")
        bob.send(f"Again @{alice_username} ")  # (a space closes the list: Enter would pick from it)
        alice.wait(lambda: alice.find("#notifications-badge").text == "1", "a second notification")
        assert alice.find("#panel").get_attribute("data-kind") == "notifications"  # still open
        alice.wait(lambda: alice.click("#panel .panel-toolbar button"), "mark all read")
        alice.wait(lambda: alice.find("#notifications-badge").is_displayed() is False, "all read")
        alice.find("#dnd").click()
        alice.wait(lambda: alice.attr("#dnd", "aria-pressed") == "true", "do-not-disturb on")
        status, dnd = http(f"{site.server.url}/me/dnd", token=token_of(alice))
        assert status == 200
        assert dnd["enabled"] is True
        alice.find("#dnd").click()
        alice.wait(lambda: alice.attr("#dnd", "aria-pressed") == "false", "do-not-disturb off")

        bob.find("#room-level").click()
        bob.find("#room-level option[value=muted]").click()
        bob.wait(
            lambda: http(f"{site.server.url}/rooms/{room}/notifications", token=token_of(bob))[1]["level"] == "muted",
            "Bob muted the room",
        )
        assert alice_id
        assert alice.errors() == []
        assert bob.errors() == []


def test_statuses_are_set_and_seen(site: Site) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        chat_in_one_room(alice, bob)
        bob.send("Status check")
        alice.wait_text("Status check")
        bob.find("#me-button").click()
        bob.visible("#status-emoji").send_keys("📅")
        bob.find("#status-text").send_keys("In a meeting")
        bob.find("#dialog-body button[type=submit]").click()
        bob.wait(lambda: bob.find("#me-handle").text == "📅 In a meeting", "Bob's own status")
        alice.wait(
            lambda: alice.find("#timeline .status-badge").get_attribute("title") == "📅 In a meeting",
            "Bob's status beside his name",
        )
        alice.find("#members-button").click()
        alice.wait(lambda: alice.find("#panel .member-name .status-badge").text == "📅", "in the members too")
        bob.find("#me-button").click()
        bob.wait(lambda: bob.click("#dialog-body button.ghost"), "clear the status")
        alice.wait(lambda: not alice.all(".status-badge"), "the status gone")


def test_people_screens_have_no_serious_accessibility_violations(site: Site) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        alice_username = unique("alice")
        chat_in_one_room(alice, bob, names=(alice_username, ""))
        bob.type("#composer-input", "@" + alice_username[:4])
        bob.visible("#mention-list")
        assert bob.axe() == [], "with the mention list open"
        bob.find("#composer-input").send_keys(Keys.ESCAPE)
        bob.find("#notifications-button").click()
        bob.visible("#panel .panel-toolbar")
        assert bob.axe() == [], "the notifications panel"
        bob.find("#new-dm").click()
        bob.visible("#people-q").send_keys(alice_username[:6])
        bob.wait(lambda: bob.find("#dialog-body .person"), "Alice found")
        assert bob.axe() == [], "the new-message dialog"
