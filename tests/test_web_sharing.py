"""Sharing files and voice messages in the web client, in real browsers (headless Chromium,
Selenium) through a real server: files chosen with the button, dropped on the conversation or
pasted go with the next message; the other side sees image thumbnails that open a preview, other
files as downloads (the bytes arrive intact), and voice messages recorded with the browser's
(fake) microphone, drawn with the server's waveform, that play.

One `gochat serve` for the module (the `site` fixture of test_web_client.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from selenium.webdriver.common.keys import Keys
from test_web_client import Site, chat_in_one_room, site_fixture, unique
from web_harness import Browser, browsers, http, screenshot_dir

__all__ = ["site_fixture"]  # the `site` fixture: a server of this module's own


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshot_dir(tmp_path)


def picture(path: Path, size: tuple[int, int] = (1200, 800)) -> Path:
    """A PNG worth looking at: a sky, a sun and a hill."""
    img = Image.new("RGB", size, (125, 185, 240))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.ellipse((w * 0.65, h * 0.12, w * 0.85, h * 0.42), fill=(253, 214, 80))
    draw.polygon([(0, h), (0, h * 0.7), (w * 0.4, h * 0.5), (w, h * 0.75), (w, h)], fill=(70, 150, 90))
    img.save(path, format="PNG")
    return path


def in_page_file(b: Browser, name: str, text: str, mime: str) -> None:
    """Make a DataTransfer holding one file in the page (what a drag or a paste carries)."""
    b.js(
        "window.__files = new DataTransfer();"
        "window.__files.items.add(new File([arguments[1]], arguments[0], {type: arguments[2]}));",
        name,
        text,
        mime,
    )


def in_page_bytes(b: Browser, name: str, data: list[int]) -> None:
    b.js(
        "window.__files = new DataTransfer();"
        "window.__files.items.add(new File([new Uint8Array(arguments[1])], arguments[0]));",
        name,
        data,
    )


def drop(b: Browser) -> None:
    b.js(
        "const target = document.getElementById('timeline');"
        "for (const type of ['dragenter', 'dragover', 'drop'])"
        "  target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: window.__files}));"
    )


def paste_image(b: Browser) -> None:
    """Paste a screenshot-like PNG (made on a canvas) into the message box."""
    b.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const c = document.createElement('canvas'); c.width = 320; c.height = 200;"
        "const g = c.getContext('2d'); g.fillStyle = '#4f46e5'; g.fillRect(0, 0, 320, 200);"
        "g.fillStyle = '#fff'; g.fillRect(40, 40, 240, 120);"
        "c.toBlob((blob) => {"
        "  const dt = new DataTransfer(); dt.items.add(new File([blob], 'image.png', {type: 'image/png'}));"
        "  document.getElementById('composer-input').dispatchEvent("
        "    new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: dt}));"
        "  done();"
        "}, 'image/png');"
    )


def tray_names(b: Browser) -> list[str]:
    return [el.text for el in b.all("#tray .tray-name")]


def loaded_image(b: Browser, css: str) -> dict[str, int | str]:
    """An <img> that finished loading from a blob: URL: its natural size."""
    info = b.wait(
        lambda: b.js(
            "const i = document.querySelector(arguments[0]);"
            "return i && i.complete && i.naturalWidth ? {src: i.src, w: i.naturalWidth, h: i.naturalHeight} : null",
            css,
        ),
        f"{css} loaded",
    )
    assert str(info["src"]).startswith("blob:"), "fetched with the token, shown through a blob: URL"
    return info  # type: ignore[no-any-return]


def test_images_and_files_are_shared_with_thumbnails_previews_and_downloads(
    site: Site, tmp_path: Path, shots: Path
) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        _, _, room = chat_in_one_room(alice, bob)

        # The 📎 button's file input; the file waits in the tray (removable) until sent with a caption.
        photo = picture(tmp_path / "hillside.png")
        alice.find("#attach-input").send_keys(str(photo))
        alice.wait(lambda: tray_names(alice) == ["hillside.png"], "the photo in the tray")
        loaded_image(alice, "#tray .tray-thumb")
        alice.send("The view from the office")
        bob.wait_text("The view from the office")
        thumb = loaded_image(bob, "#timeline .thumb img")
        assert thumb["w"] == 400, "the server's thumbnail, at most 400 px a side"
        assert thumb["h"] in (266, 267)
        assert alice.find("#tray").is_displayed() is False
        assert bob.attr("#timeline .thumb", "aria-label") == "Open image hillside.png"

        # A click opens the full image in a dialog; Escape closes it.
        bob.find("#timeline .thumb").click()
        full = loaded_image(bob, "#dialog .preview-img")
        assert (full["w"], full["h"]) == (1200, 800)
        assert "1200 × 800" in bob.find("#dialog figcaption").text
        assert bob.axe() == [], "the image preview"
        bob.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        bob.wait(lambda: not bob.find("#dialog").is_displayed(), "preview closed")

        # A file dropped on the conversation; another one removed from the tray before sending.
        report = "Q3 numbers\nrevenue: up\n<script>alert(1)</script>\n"
        in_page_file(alice, "notes.txt", "scratch", "text/plain")
        drop(alice)
        alice.wait(lambda: tray_names(alice) == ["notes.txt"], "the dropped file in the tray")
        alice.find("#tray button[aria-label='Remove notes.txt']").click()
        alice.wait(lambda: not alice.find("#tray").is_displayed(), "removed")
        in_page_file(alice, "q3-report.txt", report, "text/plain")
        drop(alice)
        alice.wait(lambda: tray_names(alice) == ["q3-report.txt"], "the report in the tray")
        alice.find("#composer-send").click()  # no caption: the file alone
        card = bob.wait(lambda: bob.find("#timeline .file-card"), "the file on Bob's side")
        assert "q3-report.txt" in card.text
        assert bob.all("#timeline script") == []
        bob.find("#timeline .file-card button[aria-label='Download q3-report.txt']").click()
        assert bob.downloaded("q3-report.txt") == report.encode()

        # A pasted screenshot.
        paste_image(alice)
        alice.wait(lambda: tray_names(alice) == ["image.png"], "the pasted image in the tray")
        alice.find("#composer-input").send_keys(Keys.ENTER)
        bob.wait(lambda: len(bob.all("#timeline .thumb")) == 2, "the pasted image on Bob's side")
        loaded_image(bob, "#timeline .message:last-of-type .thumb img")

        # The server has them as attachments of three messages, in order.
        status, page = http(f"{site.server.url}/rooms/{room}/messages", token=bob.session()["access_token"])
        assert status == 200
        names = [[a["name"] for a in m.get("attachments", [])] for m in page["messages"]]
        assert names[-3:] == [["hillside.png"], ["q3-report.txt"], ["image.png"]]
        assert page["messages"][-3]["content"] == "The view from the office"
        assert "📎" in bob.find(f".room[data-room-id='{room}'] .room-preview").text
        assert bob.axe() == [], "a room with images and files"
        bob.driver.save_screenshot(str(shots / "web-files.png"))
        assert alice.errors() == []
        assert bob.errors() == []


def test_a_voice_message_is_recorded_and_played_with_its_waveform(site: Site, shots: Path) -> None:
    with browsers(site.server.url, site.server.url) as (alice, bob):
        _, _, room = chat_in_one_room(alice, bob)
        alice.send("Listen to this")
        bob.wait_text("Listen to this")

        # 🎤 records from the (fake) microphone until "Send voice message".
        alice.find("#record").click()
        alice.visible("#recorder")
        assert alice.find("#composer-row").is_displayed() is False
        assert alice.axe() == [], "while recording"
        alice.wait(lambda: alice.find("#recorder-time").text == "0:03", "three seconds recorded", timeout=30)
        alice.find("#recorder-send").click()
        alice.wait(lambda: alice.find("#composer-row").is_displayed(), "the composer back")

        # Bob sees a voice message: the server's 64-bar waveform and its duration, before playing.
        voice = bob.wait(lambda: bob.find("#timeline .voice"), "the voice message")
        bars = bob.js(
            "return [...arguments[0].querySelectorAll('.waveform rect')].map(r => Number(r.getAttribute('height')))",
            voice,
        )
        assert len(bars) == 64
        assert max(bars) == 32, "the loudest bar is full height"
        assert bob.find("#timeline .voice .voice-time").text in ("0:03", "0:04")
        status, page = http(f"{site.server.url}/rooms/{room}/messages", token=bob.session()["access_token"])
        assert status == 200
        file = page["messages"][-1]["attachments"][0]
        assert (file["kind"], file["content_type"]) == ("voice", "audio/webm")
        assert file["duration"] == pytest.approx(3.2, abs=0.6)
        assert bob.attr("#timeline .voice .play", "aria-label") == "Play voice message"
        assert "🎤 voice message" in bob.find(f".room[data-room-id='{room}'] .room-preview").text
        assert bob.axe() == [], "a voice message"

        # It plays to the end, the waveform filling as it goes; and again from the start.
        bob.find("#timeline .voice .play").click()
        bob.wait(lambda: bob.attr("#timeline .voice", "data-state") == "playing", "playing")
        bob.wait(lambda: bob.all("#timeline .voice .waveform rect.played"), "the played part drawn")
        bob.wait(lambda: bob.attr("#timeline .voice", "data-state") == "ended", "played to the end", timeout=30)
        assert len(bob.all("#timeline .voice .waveform rect.played")) == 64
        bob.find("#timeline .voice .play").click()
        bob.wait(lambda: bob.attr("#timeline .voice", "data-state") == "playing", "playing again")
        # The player survives the timeline redrawing around it (a new message arrives meanwhile).
        alice.send("Did it come through?")
        bob.wait_text("Did it come through?")
        assert bob.attr("#timeline .voice", "data-state") in ("playing", "ended")
        bob.wait(lambda: bob.attr("#timeline .voice", "data-state") == "ended", "played to the end again", timeout=30)

        # A phone's width holds it.
        bob.driver.set_window_size(375, 812)
        bob.wait(lambda: bob.find("#timeline .voice").is_displayed(), "phone layout")
        assert bob.js("return document.documentElement.scrollWidth") <= 375, "nothing wider than the phone"
        assert bob.axe() == [], "on a phone"
        bob.driver.save_screenshot(str(shots / "web-phone-voice.png"))
        assert alice.errors() == []
        assert bob.errors() == []


def test_an_upload_the_server_refuses_says_why_and_can_be_discarded(site: Site) -> None:
    with browsers(site.server.url) as (alice,):
        alice.sign_up(unique("alice"), "Alice")
        room = alice.create_room(unique("Uploads "))
        # A PNG signature with nothing decodable behind it: 422 invalid_image.
        in_page_bytes(alice, "broken.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, *range(64)])
        drop(alice)
        alice.wait(lambda: tray_names(alice) == ["broken.png"], "in the tray")
        alice.send("This one is broken")
        failed = alice.wait(lambda: alice.find("#timeline .pending.upload.failed"), "refused")
        assert "Not sent:" in failed.text
        assert "broken.png" in failed.text
        assert "This one is broken" in failed.text
        alice.find("#timeline .pending.upload.failed button:last-of-type").click()  # Discard
        alice.wait(lambda: not alice.all("#timeline .pending"), "discarded")

        # Bytes of no known type: shared as an opaque download.
        in_page_bytes(alice, "data.bin", list(range(256)))
        drop(alice)
        alice.wait(lambda: tray_names(alice) == ["data.bin"], "in the tray")
        alice.find("#composer-send").click()
        card = alice.wait(lambda: alice.find("#timeline .file-card"), "an opaque file shared as a download")
        assert "data.bin" in card.text
        assert "application/octet-stream" in card.text
        status, page = http(f"{site.server.url}/rooms/{room}/messages", token=alice.session()["access_token"])
        assert status == 200
        assert [[a["name"] for a in m.get("attachments", [])] for m in page["messages"]] == [["data.bin"]]
        assert all("/files" in e for e in alice.errors()), "only the refused upload's 422 logged"
