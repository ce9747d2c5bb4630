"""Who is in a room and who is heard, in the web client, in real browsers (headless Chromium,
Selenium) through a real server: invitations to a private room (sent from the member list, listed
in the invitee's sidebar, accepted or declined), blocking someone from their profile (their
messages hidden until unblocked), and what a room's admins can do (pin, mute, act on reports).

One `gochat serve` for the module (the `site` fixture of test_web_client.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_web_client import Site, chat_in_one_room, message_action, site_fixture, unique
from test_web_people import sign_up_over_http, token_of
from web_harness import Browser, browsers, http, screenshot_dir

__all__ = ["site_fixture"]  # the `site` fixture: a server of this module's own


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshot_dir(tmp_path)


def create_private_room(b: Browser, name: str) -> str:
    b.find("#new-room").click()
    b.visible("#room-name").send_keys(name)
    b.find("#dialog-body input[name=room-type][value=private]").click()
    b.find("#dialog-body button[type=submit]").click()
    b.wait(lambda: b.find("#room-title").text == f"🔒 {name}", f"private room {name} open")
    return b.room_id()


def open_profile(b: Browser, name: str) -> None:
    """Press a name on a message (the newest one by that person shown with a header)."""
    b.wait(
        lambda: b.js(
            "const el = [...document.querySelectorAll('#timeline .author')].reverse()"
            ".find(e => e.textContent === arguments[0]);"
            "if (el) el.click(); return Boolean(el);",
            name,
        ),
        f"{name}'s name pressed",
    )
    b.wait(lambda: b.find("#dialog .profile-name").text.startswith(name), f"{name}'s profile")


def press(b: Browser, css: str, text: str) -> None:
    """Press the button under `css` that reads `text`."""
    b.wait(
        lambda: b.js(
            "const el = [...document.querySelectorAll(arguments[0])].find(e => e.textContent === arguments[1]);"
            "const ready = Boolean(el && !el.disabled); if (ready) el.click(); return ready;",
            css,
            text,
        ),
        f"{text} pressed",
    )


def test_invitations_are_sent_from_the_member_list_and_accepted_or_declined(site: Site, shots: Path) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        _, bob_id, _ = chat_in_one_room(alice, bob)  # a public room in common: they can find each other
        bob_username = bob.session()["user"]["username"]
        launch = unique("Launch plans ")
        secret = create_private_room(alice, launch)
        alice.send("Welcome to the launch room")

        alice.find("#members-button").click()
        press(alice, "#panel .panel-toolbar button", "Invite people")
        alice.visible("#invite-q").send_keys(bob_username[:8])
        alice.wait(lambda: alice.click("#dialog-body button[aria-label='Invite Bob']"), "Bob found and invited")
        alice.wait(lambda: alice.find("#dialog-body button[aria-label='Invited Bob']").text == "Invited", "invited")
        assert alice.axe() == [], "the invite dialog"
        alice.find("#dialog-close").click()

        # Bob's sidebar lists it (the client asks for invitations every 15 s and when it comes back).
        invitation = bob.wait(
            lambda: (
                (el := bob.find(f"#invite-list .invitation[data-room-id='{secret}']"))
                and "from Alice" in el.text
                and el
            ),
            "the invitation, from Alice",
            timeout=30,
        )
        assert launch in invitation.text
        assert bob.all(f".room[data-room-id='{secret}']") == [], "not a member before accepting"
        assert bob.axe() == [], "the sidebar with an invitation"
        bob.driver.save_screenshot(str(shots / "web-invitation.png"))
        bob.find(f"#invite-list button[aria-label='Join {launch}']").click()
        bob.wait(lambda: bob.room_id() == secret, "the room opened")
        bob.wait_text("Welcome to the launch room")
        bob.wait(lambda: not bob.find("#invite-list").is_displayed(), "no invitation left")
        alice.wait(lambda: "2" in alice.find("#members-button").text, "Bob a member on Alice's side")

        # A second invitation (sent over HTTP), declined: gone for good, the room never joined.
        budget = unique("Budget ")
        status, room = http(f"{site.server.url}/rooms", {"name": budget, "type": "private"}, token_of(alice))
        assert status == 201
        assert http(f"{site.server.url}/rooms/{room['id']}/members", {"user_id": bob_id}, token_of(alice))[0] == 200
        bob.driver.refresh()  # what was missed is read when the client starts
        bob.wait(lambda: bob.click(f"#invite-list button[aria-label='Decline {budget}']"), "declined")
        bob.wait(lambda: not bob.find("#invite-list").is_displayed(), "the invitation gone")
        status, pending = http(f"{site.server.url}/invitations", token=token_of(bob))
        assert status == 200
        assert pending["invitations"] == []
        assert bob.all(f".room[data-room-id='{room['id']}']") == []
        assert alice.errors() == []
        assert bob.errors() == []


def test_blocking_someone_hides_their_messages_until_unblocked(site: Site, shots: Path) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        _, bob_id, _ = chat_in_one_room(alice, bob)
        bob.send("Hello from Bob")
        alice.wait_text("Hello from Bob")

        open_profile(alice, "Bob")
        assert "They are not told" in alice.find("#dialog").text
        assert alice.axe() == [], "a profile"
        alice.driver.save_screenshot(str(shots / "web-profile.png"))
        press(alice, "#dialog-body button", "Block")
        alice.wait(lambda: "Hello from Bob" not in alice.texts(), "Bob's message hidden")
        alice.wait(lambda: alice.find("#dialog-body .button.ghost").text == "Unblock", "the profile says so")
        alice.find("#dialog-close").click()
        status, blocks = http(f"{site.server.url}/me/blocks", token=token_of(alice))
        assert status == 200
        assert [b["user_id"] for b in blocks["blocks"]] == [bob_id]

        # What Bob writes now does not reach Alice's screen (Bob is not told anything).
        alice.wait_connection(online=True)  # the socket opened again, asking to leave Bob out
        bob.send("Bob again, while blocked")
        bob.wait_text("Bob again, while blocked")
        alice.send("Anyone there?")
        alice.wait_text("Anyone there?")  # after Bob's message in the room's order
        bob.wait_text("Anyone there?")
        assert alice.texts() == ["Anyone there?"]
        alice.driver.refresh()
        alice.wait_text("Anyone there?")
        assert alice.texts() == ["Anyone there?"], "history leaves him out too"

        # The member list marks him; his profile unblocks him, and everything comes back.
        alice.find("#members-button").click()
        alice.wait(lambda: "blocked" in alice.find(f"#panel .member[data-user-id='{bob_id}']").text, "marked")
        alice.find(f"#panel .member[data-user-id='{bob_id}']").click()
        press(alice, "#dialog-body button", "Unblock")
        alice.wait(
            lambda: alice.texts() == ["Hello from Bob", "Bob again, while blocked", "Anyone there?"], "back in order"
        )
        bob.send("After the unblock")
        alice.wait_text("After the unblock")
        assert http(f"{site.server.url}/me/blocks", token=token_of(alice))[1]["blocks"] == []
        assert alice.errors() == []


def test_room_admins_pin_mute_and_act_on_reports(site: Site, shots: Path) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        _, bob_id, room = chat_in_one_room(alice, bob)  # Alice owns the room, Bob is a member
        carol_id, carol = sign_up_over_http(site, unique("carol"), "Carol")
        assert http(f"{site.server.url}/rooms/{room}/join", {}, carol)[0] == 200
        alice.send("Agenda: ship on Friday")
        assert http(f"{site.server.url}/rooms/{room}/messages", {"content": "Buy cheap watches now"}, carol)[0] == 201
        bob.wait_text("Buy cheap watches now")

        # Pins: the owner pins from a message's actions; every member lists them, only admins unpin.
        message_action(alice, "Agenda: ship on Friday", "Pin message")
        alice.wait(lambda: "Pinned" in alice.find("#notice").text, "pinned")
        bob.find("#pins-button").click()
        bob.wait(lambda: "Agenda: ship on Friday" in bob.find("#panel .pins").text, "pinned, seen by Bob")
        assert bob.all("#panel .pins button[aria-label='Unpin this message']") == []
        assert bob.axe() == [], "the pinned messages"
        bob.js("arguments[0].closest('.message').focus()", bob.wait_text("Buy cheap watches"))
        labels = [b.get_attribute("aria-label") for b in bob.all(".message.focus-within .message-actions button")]
        assert "Pin message" not in labels, "members do not pin"
        assert bob.find("#reports-button").is_displayed() is False

        # Reports: Bob reports Carol's spam; Alice sees it under ⚑ and deletes the message.
        message_action(bob, "Buy cheap watches now", "Report message")
        bob.visible("#report-reason").send_keys("Spam")
        assert bob.axe() == [], "the report dialog"
        bob.find("#dialog-body button[type=submit]").click()
        bob.wait(lambda: "Reported" in bob.find("#notice").text, "thanked")
        alice.find("#reports-button").click()
        report = alice.wait(lambda: alice.find("#panel .report"), "the report listed")
        assert "Bob" in report.text
        assert "Spam" in report.text
        assert alice.axe() == [], "the reports"
        alice.driver.save_screenshot(str(shots / "web-reports.png"))
        press(alice, "#panel .report button", "Delete message")
        alice.wait(lambda: "No open reports" in alice.find("#panel").text, "resolved")
        bob.wait(lambda: "This message was deleted." in bob.find("#timeline").text, "the spam gone")
        status, reports = http(f"{site.server.url}/rooms/{room}/reports?state=resolved", token=token_of(alice))
        assert status == 200
        assert [(r["reporter"], r["action"]) for r in reports["reports"]] == [(bob_id, "delete")]

        # Mutes: from Bob's profile (the member list opens it), for ten minutes; his next message is
        # refused, saying why.
        alice.find("#members-button").click()
        alice.wait(lambda: alice.click(f"#panel .member[data-user-id='{bob_id}']"), "Bob's profile from the members")
        alice.wait(lambda: alice.find("#dialog .moderation #mute-length"), "the moderation section")
        assert alice.axe() == [], "a profile with moderation"
        press(alice, "#dialog .moderation button", "Mute")
        alice.wait(lambda: "Muted until" in alice.find("#dialog .moderation").text, "muted")
        bob.send("Can I still talk?")
        failed = bob.wait(lambda: bob.find("#timeline .pending.failed"), "refused")
        assert "muted" in failed.text
        press(alice, "#dialog .moderation button", "Unmute")
        alice.wait(lambda: alice.find("#dialog .moderation #mute-length"), "unmuted")
        press(bob, "#timeline .pending.failed button", "Retry")
        alice.wait_text("Can I still talk?")
        assert http(f"{site.server.url}/rooms/{room}/mutes", token=token_of(alice))[1]["mutes"] == []
        assert carol_id
        assert alice.errors() == []
