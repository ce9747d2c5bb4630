"""Files over HTTP: uploads typed by their bytes, names that cannot escape or inject, size limits
that leave nothing behind, images cleaned and thumbnailed, members-only downloads with ranges,
idempotent retries, attachments on later messages, and deletion that frees the stored bytes."""

from __future__ import annotations

import io
import urllib.parse
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import eventually
from file_helpers import form, image_bytes, png_claiming, stored_files, upload, uploaded
from helpers import Account, signup
from PIL import ExifTags, Image
from room_helpers import head, make_room, ok, refused

from gochat.app import create_app
from gochat.keys import FILES, PROJECTIONS, SETTINGS
from gochat.projections.search import SearchProjection
from gochat.settings import Settings

FILE_KEYS = {"id", "name", "size", "content_type", "kind", "url"}


async def room_with(client: Any, type_: str = "private") -> tuple[Account, Account, str]:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, type_, members=[bob])
    return alice, bob, room["id"]


async def fetch(client: Any, who: Account, url: str, **headers: str) -> tuple[int, Mapping[str, str], bytes]:
    resp = await client.get(url, headers={**who.headers, **headers})
    return resp.status, resp.headers, await resp.read()


def files_root(client: Any) -> Path:
    return Path(client.app[SETTINGS].data_dir) / "files"


# --- upload and download ----------------------------------------------------------------------------
async def test_an_upload_is_a_message_with_the_file_attached_and_members_download_it(client: Any) -> None:
    alice, bob, room = await room_with(client)
    body = await uploaded(client, alice, room, b"hello, file\n", "notes.txt", content="the notes", client_msg_id="u1")
    file, message = body["file"], body["message"]
    assert set(file) == FILE_KEYS
    assert file["url"] == f"/files/{file['id']}"
    assert (file["name"], file["size"], file["kind"]) == ("notes.txt", 12, "text")
    assert file["content_type"] == "text/plain; charset=utf-8"
    assert (message["content"], message["attachments"], message["client_msg_id"]) == ("the notes", [file], "u1")

    page = await ok(await client.get(f"/rooms/{room}/messages", headers=bob.headers))
    assert page["messages"][-1] == message
    status, headers, data = await fetch(client, bob, file["url"])
    assert (status, data) == (200, b"hello, file\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"] == "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"].startswith("private")
    status, _, _ = await fetch(client, bob, file["url"], **{"If-None-Match": headers["ETag"]})
    assert status == 304


async def test_a_file_without_a_caption_is_a_message_with_empty_content(client: Any) -> None:
    alice, _, room = await room_with(client)
    body = await uploaded(client, alice, room, b"\x00\x01binary", "data.bin")
    assert body["message"]["content"] == ""
    assert (body["file"]["content_type"], body["file"]["kind"]) == ("application/octet-stream", "file")


async def test_range_requests_answer_partial_content(client: Any) -> None:
    alice, bob, room = await room_with(client)
    data = bytes(range(256)) * 4
    file = (await uploaded(client, alice, room, data, "blob.bin"))["file"]
    status, headers, got = await fetch(client, bob, file["url"], Range="bytes=10-19")
    assert (status, got, headers["Content-Range"]) == (206, data[10:20], f"bytes 10-19/{len(data)}")
    status, _, got = await fetch(client, bob, file["url"], Range="bytes=-5")
    assert (status, got) == (206, data[-5:])
    status, headers, _ = await fetch(client, bob, file["url"], Range=f"bytes={len(data) + 10}-")
    assert status == 416


# --- who may download ---------------------------------------------------------------------------------
async def test_non_members_former_members_and_unknown_ids_all_get_the_same_404(client: Any) -> None:
    alice, bob, room = await room_with(client)
    carol = await signup(client)
    file = (await uploaded(client, alice, room, b"private bytes", "secret.txt"))["file"]
    assert (await fetch(client, bob, file["url"]))[0] == 200
    await ok(await client.post(f"/rooms/{room}/leave", json={}, headers=bob.headers), 204)

    answers = [
        await fetch(client, carol, file["url"]),
        await fetch(client, bob, file["url"]),
        await fetch(client, bob, f"/files/{file['id']}/thumbnail"),
        await fetch(client, alice, f"/files/{uuid.uuid4()}"),
    ]
    assert {(status, body) for status, _, body in answers} == {(404, answers[0][2])}
    assert b"secret" not in answers[0][2]
    assert (await client.get(file["url"])).status == 401


async def test_only_members_who_may_post_upload_and_a_refused_upload_stores_nothing(client: Any) -> None:
    alice, _, room = await room_with(client)
    carol = await signup(client)
    await refused(client, upload(client, carol, room, b"not yours"), 404)
    public = (await make_room(client, alice, "public"))["id"]
    await refused(client, upload(client, carol, public, b"join first"), 403, "not_a_member")
    assert stored_files(files_root(client)) == []


# --- types by bytes, names as metadata ---------------------------------------------------------------
async def test_html_named_jpg_and_svg_with_script_are_served_as_plain_text_downloads(client: Any) -> None:
    alice, bob, room = await room_with(client)
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for data, name in ((html, "cat.jpg"), (svg, "logo.svg")):
        file = (await uploaded(client, alice, room, data, name))["file"]
        assert (file["kind"], file["content_type"]) == ("text", "text/plain; charset=utf-8")
        status, headers, got = await fetch(client, bob, file["url"])
        assert (status, got) == (200, data)
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        assert headers["Content-Disposition"].startswith("attachment;")
        assert headers["X-Content-Type-Options"] == "nosniff"


async def test_a_polyglot_image_is_re_encoded_so_its_payload_is_gone(client: Any) -> None:
    alice, bob, room = await room_with(client)
    polyglot = image_bytes("GIF", (32, 32)) + b"<html><script>alert(1)</script></html>"
    file = (await uploaded(client, alice, room, polyglot, "funny.gif"))["file"]
    assert (file["kind"], file["content_type"]) == ("image", "image/gif")
    status, headers, got = await fetch(client, bob, file["url"])
    assert status == 200
    assert b"<script" not in got
    assert Image.open(io.BytesIO(got)).size == (32, 32)
    assert headers["Content-Disposition"].startswith("inline;")


async def test_a_client_content_type_is_ignored(client: Any) -> None:
    alice, _, room = await room_with(client)
    body = form(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "report")
    body._fields[-1][1]["Content-Type"] = "image/png"  # what the client claims
    resp = await client.post(f"/rooms/{room}/files", data=body, headers=alice.headers)
    file = (await ok(resp, 201))["file"]
    assert (file["kind"], file["content_type"]) == ("pdf", "application/pdf")


def raw_form(disposition: str, data: bytes) -> tuple[bytes, str]:
    """A multipart body written by hand, so the file part's Content-Disposition is exactly `disposition`."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("disposition", "kept"),
    [
        ('filename="../../etc/passwd"', "passwd"),
        ("filename*=UTF-8''..%5C..%5Cwindows%5Cwin.ini", "win.ini"),
        ("filename*=UTF-8''%2E%2E%2F%2E%2E%2Fetc%2Fshadow", "shadow"),
        ("filename*=UTF-8''evil%22.txt%0D%0ASet-Cookie%3A%20a%3Db", "evil_.txtSet-Cookie_ a=b"),
        ("filename*=UTF-8''%E2%80%AEtxt.exe", "txt.exe"),
        ('filename="..."', "file"),
        ("filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf", "résumé 2024.pdf"),
    ],
)
async def test_names_are_cleaned_and_sent_back_in_rfc_6266_form(client: Any, disposition: str, kept: str) -> None:
    alice, bob, room = await room_with(client)
    body, content_type = raw_form(disposition, b"x")
    resp = await client.post(f"/rooms/{room}/files", data=body,
                             headers={**alice.headers, "Content-Type": content_type})  # fmt: skip
    file = (await ok(resp, 201))["file"]
    assert file["name"] == kept
    _, headers, _ = await fetch(client, bob, file["url"])
    disposition = headers["Content-Disposition"]
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert disposition.endswith("filename*=UTF-8''" + urllib.parse.quote(kept, safe=""))
    # stored under its digest, inside the store, whatever the name said
    (stored,) = stored_files(files_root(client))
    assert stored.parent.parent.parent == files_root(client)
    assert len(stored.name) == 64


# --- limits -----------------------------------------------------------------------------------------
@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    return settings.with_overrides(max_upload_bytes=64 * 1024, upload_quota_bytes=100 * 1024)


@pytest.fixture
async def small(aiohttp_client: Any, small_settings: Settings) -> Any:
    return await aiohttp_client(create_app(small_settings))


async def test_an_oversize_upload_is_413_and_leaves_nothing_behind(small: Any) -> None:
    alice, _, room = await room_with(small)
    before = await head(small)
    resp = await upload(small, alice, room, b"x" * (48 * 1024), "fits.bin")
    assert resp.status == 201
    for size in (64 * 1024 + 1, 5 * 1024 * 1024):
        resp = await upload(small, alice, room, b"y" * size, "big.bin")
        body = await resp.json()
        assert resp.status == 413, body
        assert body["error"]["code"] == "file_too_large"
    assert await head(small) == before + 2  # the one that fit: its file and its message
    assert len(stored_files(files_root(small))) == 1
    assert stored_files(Path(small.app[SETTINGS].data_dir) / "uploads") == []


async def test_the_storage_quota_refuses_what_would_exceed_it(small: Any) -> None:
    alice, _, room = await room_with(small)
    await uploaded(small, alice, room, b"a" * (60 * 1024), "one.bin")
    body = await refused(small, upload(small, alice, room, b"b" * (60 * 1024), "two.bin"), 413, "quota_exceeded")
    assert body["error"]["details"]["quota_bytes"] == 100 * 1024


async def test_uploads_are_rate_limited_per_user(aiohttp_client: Any, settings: Settings) -> None:
    from gochat.ratelimit import Limit

    client = await aiohttp_client(
        create_app(settings.with_overrides(write_limits={**settings.write_limits, "upload": Limit(2, 1 / 3600)}))
    )
    alice, _, room = await room_with(client)
    await uploaded(client, alice, room, b"1")
    await uploaded(client, alice, room, b"2")
    resp = await upload(client, alice, room, b"3")
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1


# --- images -----------------------------------------------------------------------------------------
def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 0.0)
    data = image_bytes("JPEG", (1200, 900), exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the input has it
    return data


async def test_an_image_is_stored_without_exif_and_gps_with_its_size_and_a_thumbnail(client: Any) -> None:
    alice, bob, room = await room_with(client)
    file = (await uploaded(client, alice, room, jpeg_with_gps(), "holiday.jpg"))["file"]
    assert (file["kind"], file["content_type"], file["width"], file["height"]) == ("image", "image/jpeg", 1200, 900)
    assert file["animated"] is False
    assert file["thumbnail_url"] == f"/files/{file['id']}/thumbnail"
    status, headers, got = await fetch(client, bob, file["url"])
    assert status == 200
    assert headers["Content-Disposition"].startswith("inline;")
    stored = Image.open(io.BytesIO(got))
    assert stored.size == (1200, 900)
    assert dict(stored.getexif()) == {}
    assert b"SpyCam" not in got
    status, headers, thumb = await fetch(client, bob, file["thumbnail_url"])
    assert (status, headers["Content-Type"]) == (200, "image/webp")
    small = Image.open(io.BytesIO(thumb))
    assert (small.format, small.size) == ("WEBP", (400, 300))
    assert (file["thumbnail_width"], file["thumbnail_height"]) == (400, 300)


async def test_an_animated_gif_keeps_its_frames_and_gets_a_still_thumbnail(client: Any) -> None:
    alice, bob, room = await room_with(client)
    frames = [Image.new("RGB", (60, 40), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    file = (await uploaded(client, alice, room, out.getvalue(), "party.gif"))["file"]
    assert (file["animated"], file["width"], file["height"]) == (True, 60, 40)
    _, _, got = await fetch(client, bob, file["url"])
    assert getattr(Image.open(io.BytesIO(got)), "n_frames", 1) == 3
    _, _, thumb = await fetch(client, bob, file["thumbnail_url"])
    assert getattr(Image.open(io.BytesIO(thumb)), "n_frames", 1) == 1


async def test_a_decompression_bomb_is_422_without_being_decoded(client: Any) -> None:
    alice, _, room = await room_with(client)
    body = await refused(client, upload(client, alice, room, png_claiming(50_000, 50_000), "bomb.png"), 422)
    assert body["error"]["code"] == "image_too_large"
    await refused(client, upload(client, alice, room, image_bytes("PNG")[:60], "cut.png"), 422, "invalid_image")
    assert stored_files(files_root(client)) == []


# --- retries, attachments, deletion -----------------------------------------------------------------
async def test_a_retry_with_the_same_client_msg_id_returns_the_original(client: Any) -> None:
    alice, _, room = await room_with(client)
    first = await uploaded(client, alice, room, image_bytes("PNG"), "a.png", client_msg_id="same")
    before = await head(client)
    resp = await upload(client, alice, room, image_bytes("PNG"), "a.png", client_msg_id="same")
    again = await ok(resp, 200)
    assert again == first
    assert await head(client) == before
    assert len(stored_files(files_root(client))) == 2  # the image and its thumbnail, once


async def test_files_uploaded_without_sending_are_attached_to_a_later_message(client: Any) -> None:
    alice, bob, room = await room_with(client)
    one = await uploaded(client, alice, room, b"first", "1.txt", send="false")
    two = await uploaded(client, alice, room, b"second", "2.txt", send="false")
    assert one["message"] is None
    ids = [one["file"]["id"], two["file"]["id"]]
    resp = await client.post(f"/rooms/{room}/messages", json={"content": "both", "attachments": ids},
                             headers=alice.headers)  # fmt: skip
    message = await ok(resp, 201)
    assert [a["id"] for a in message["attachments"]] == ids
    assert message["attachments"][0] == one["file"]
    # bob cannot attach alice's files; nobody attaches unknown ones
    for who, attach in ((bob, ids[:1]), (alice, [str(uuid.uuid4())]), (alice, ["not-an-id"])):
        await refused(client, client.post(f"/rooms/{room}/messages", json={"content": "x", "attachments": attach},
                                          headers=who.headers), 422)  # fmt: skip


async def test_deleting_the_message_deletes_its_file_and_frees_the_bytes(client: Any) -> None:
    alice, bob, room = await room_with(client)
    body = await uploaded(client, alice, room, image_bytes("JPEG"), "gone.jpg")
    keep = await uploaded(client, alice, room, b"kept", "keep.txt")
    assert len(stored_files(files_root(client))) == 3
    resp = await client.delete(f"/rooms/{room}/messages/{body['message']['id']}", headers=alice.headers)
    assert resp.status == 204
    assert (await fetch(client, bob, body["file"]["url"]))[0] == 404
    page = await ok(await client.get(f"/rooms/{room}/messages", headers=bob.headers))
    assert "attachments" not in page["messages"][0]
    # no call here: the delete's commit wakes the collector
    await eventually(lambda: len(stored_files(files_root(client))) == 1, what="the image and thumbnail removed")
    assert (await fetch(client, bob, keep["file"]["url"]))[2] == b"kept"


async def test_the_same_bytes_twice_are_stored_once_and_kept_while_either_file_lives(client: Any) -> None:
    alice, bob, room = await room_with(client)
    one = await uploaded(client, alice, room, b"twins", "a.txt")
    two = await uploaded(client, alice, room, b"twins", "b.txt")
    assert len(stored_files(files_root(client))) == 1
    await client.delete(f"/rooms/{room}/messages/{one['message']['id']}", headers=alice.headers)
    await client.app[FILES].collect()
    assert (await fetch(client, bob, two["file"]["url"]))[2] == b"twins"
    await client.delete(f"/rooms/{room}/messages/{two['message']['id']}", headers=alice.headers)
    await client.app[FILES].collect()
    assert stored_files(files_root(client)) == []


async def test_search_finds_a_message_by_its_file_name(client: Any) -> None:
    alice, bob, room = await room_with(client)
    await uploaded(client, alice, room, b"numbers", "quarterly-forecast.csv", content="see attached")
    runner = client.app[PROJECTIONS]
    await runner.catch_up(runner.get(SearchProjection.name))
    resp = await client.get(f"/rooms/{room}/search", params={"q": "forecast"}, headers=bob.headers)
    (found,) = (await ok(resp))["results"]
    assert found["attachments"][0]["name"] == "quarterly-forecast.csv"
    # an edit of the caption keeps the name findable
    await ok(await client.patch(f"/rooms/{room}/messages/{found['id']}", json={"content": "the numbers"},
                                headers=alice.headers))  # fmt: skip
    await runner.catch_up(runner.get(SearchProjection.name))
    for q in ("forecast", "numbers"):
        resp = await client.get(f"/rooms/{room}/search", params={"q": q}, headers=bob.headers)
        assert [r["id"] for r in (await ok(resp))["results"]] == [found["id"]], q


async def test_a_transparent_palette_png_keeps_its_transparency(client: Any) -> None:
    alice, bob, room = await room_with(client)
    im = Image.new("P", (20, 20), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    out = io.BytesIO()
    im.save(out, format="PNG", transparency=1)
    file = (await uploaded(client, alice, room, out.getvalue(), "dot.png"))["file"]
    _, _, got = await fetch(client, bob, file["url"])
    _, _, thumb = await fetch(client, bob, file["thumbnail_url"])
    for data in (got, thumb):
        alpha = Image.open(io.BytesIO(data)).convert("RGBA").getchannel("A")
        assert alpha.getextrema() == (0, 0)  # every pixel still transparent


async def test_an_image_is_turned_upright_before_its_orientation_tag_goes(client: Any) -> None:
    alice, bob, room = await room_with(client)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "rotate 90 degrees clockwise to display"
    file = (await uploaded(client, alice, room, image_bytes("JPEG", (200, 100), exif=exif), "side.jpg"))["file"]
    assert (file["width"], file["height"]) == (100, 200)
    _, _, got = await fetch(client, bob, file["url"])
    stored = Image.open(io.BytesIO(got))
    assert stored.size == (100, 200)
    assert ExifTags.Base.Orientation not in stored.getexif()


def field(name: str) -> bytes:
    return f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n\r\nhi\r\n--xyz--\r\n'.encode()


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("multipart/form-data", b"no boundary", 400),
        ("multipart/form-data; boundary=xyz", b"not a multipart body", 400),
        ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\ncut', 400),
        ("multipart/form-data; boundary=xyz", field("content"), 422),  # no file
        ("multipart/form-data; boundary=xyz", field("other"), 422),  # an unknown field
        ("application/json", b"{}", 415),
    ],
)  # fmt: skip
async def test_malformed_or_incomplete_forms_are_refused_with_nothing_kept(
    client: Any, content_type: str, body: bytes, status: int
) -> None:
    alice, _, room = await room_with(client)
    headers = {**alice.headers, "Content-Type": content_type}
    await refused(client, client.post(f"/rooms/{room}/files", data=body, headers=headers), status)
    assert stored_files(files_root(client)) == []
    assert stored_files(Path(client.app[SETTINGS].data_dir) / "uploads") == []


async def test_two_files_in_one_form_are_refused(client: Any) -> None:
    alice, _, room = await room_with(client)
    body = form(b"one", "1.txt")
    body.add_field("file", b"two", filename="2.txt")
    await refused(client, client.post(f"/rooms/{room}/files", data=body, headers=alice.headers), 422)


async def test_an_end_to_end_encrypted_room_takes_no_server_readable_files(client: Any) -> None:
    alice = await signup(client)
    resp = await client.post("/rooms", json={"name": "secret", "type": "private", "encrypted": True},
                             headers=alice.headers)  # fmt: skip
    room = (await ok(resp, 201))["id"]
    await refused(client, upload(client, alice, room, b"plain bytes", "a.txt"), 422, "encryption_required")
    assert stored_files(files_root(client)) == []


async def test_a_caption_mentions_people_like_any_message(client: Any) -> None:
    alice, bob, room = await room_with(client)
    body = await uploaded(client, alice, room, b"agenda", "agenda.txt", content=f"hi @{bob.username}")
    expected = [{"kind": "user", "offset": 3, "length": 1 + len(bob.username), "user_id": str(bob.id)}]
    assert body["message"]["mentions"] == expected
    page = await ok(await client.get(f"/rooms/{room}/messages", headers=bob.headers))
    assert page["messages"][-1]["mentions"] == expected
