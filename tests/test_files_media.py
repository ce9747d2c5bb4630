"""Files beyond the basics: voice and audio messages with duration and waveform, attachments sent
over the WebSocket and resumed, the S3 backend behind the same routes, and erasure freeing a
user's stored bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from file_helpers import image_bytes, stored_files, tone, upload, uploaded
from helpers import signup
from media_servers import s3_server
from room_helpers import make_room, ok, refused
from test_ws import connect, until

from gochat.app import create_app
from gochat.auth.store import SessionStore
from gochat.e2e.store import KeyStore as DeviceKeys
from gochat.keys import DB, FILES, RELAY, SETTINGS, STORE
from gochat.projections.users import UserQueries
from gochat.services.erasure import ErasureService
from gochat.settings import Settings


async def private_room(client: Any) -> tuple[Any, Any, str]:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, "private", members=[bob])
    return alice, bob, room["id"]


# --- voice and audio --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "codec", "content_type"),
    [
        ("voice.ogg", ("-c:a", "libopus"), "audio/ogg"),
        ("voice.webm", ("-c:a", "libopus"), "audio/webm"),
        ("voice.m4a", ("-c:a", "aac"), "audio/mp4"),
        ("voice.mp3", ("-c:a", "libmp3lame"), "audio/mpeg"),
    ],
)
async def test_a_voice_message_carries_its_duration_and_waveform(
    client: Any, tmp_path: Path, name: str, codec: tuple[str, ...], content_type: str
) -> None:
    alice, bob, room = await private_room(client)
    data = tone(tmp_path, name, 1.5, *codec)
    body = await uploaded(client, alice, room, data, name, kind="voice")
    file = body["file"]
    assert (file["kind"], file["content_type"]) == ("voice", content_type)
    assert file["duration"] == pytest.approx(1.5, abs=0.15)
    assert len(file["waveform"]) == 64
    assert all(0 <= v <= 100 for v in file["waveform"])
    assert max(file["waveform"]) == 100  # a steady tone: loud throughout
    assert body["message"]["attachments"] == [file]
    resp = await client.get(file["url"], headers={**bob.headers, "Range": "bytes=0-99"})
    assert resp.status == 206
    assert resp.headers["Content-Disposition"].startswith("inline;")  # decoded audio plays in place
    assert len(await resp.read()) == 100


async def test_a_recording_without_a_duration_in_its_header_is_measured_by_decoding(
    client: Any, tmp_path: Path
) -> None:
    """A browser's MediaRecorder writes WebM as a stream, without a duration: the length and the
    waveform come from the decoded sound (here 1 s of tone, then 2 s of silence)."""
    alice, _, room = await private_room(client)
    source = "[0][1]concat=n=2:v=0:a=1,atrim=0:3"
    piped = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-f", "lavfi",
         "-i", "anullsrc=r=48000:cl=mono", "-filter_complex", source, "-c:a", "libopus", "-f", "webm", "pipe:"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    file = (await uploaded(client, alice, room, piped, "voice-message.webm", kind="voice"))["file"]
    assert (file["kind"], file["content_type"]) == ("voice", "audio/webm")
    assert file["duration"] == pytest.approx(3.0, abs=0.15)
    wave = file["waveform"]
    assert min(wave[:20]) > 50, "the tone fills the first third"
    assert max(wave[24:]) < 5, "silence after it"


async def test_voice_must_be_audio(client: Any, tmp_path: Path) -> None:
    alice, _, room = await private_room(client)
    await refused(client, upload(client, alice, room, image_bytes("PNG"), "v.png", kind="voice"), 422, "not_audio")
    await refused(client, upload(client, alice, room, b"just text", "v.ogg", kind="voice"), 422, "not_audio")


async def test_video_is_probed_and_served_as_a_download(client: Any, tmp_path: Path) -> None:
    alice, _, room = await private_room(client)
    out = tmp_path / "clip.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x48:rate=10",
                    "-c:v", "libvpx", str(out)], check=True)  # fmt: skip
    file = (await uploaded(client, alice, room, out.read_bytes(), "clip.webm"))["file"]
    assert (file["kind"], file["content_type"]) == ("video", "video/webm")
    assert file["duration"] == pytest.approx(1.0, abs=0.2)
    assert "waveform" not in file


async def test_a_file_that_claims_to_be_audio_but_does_not_decode_is_refused(client: Any) -> None:
    alice, _, room = await private_room(client)
    fake = b"OggS" + b"\x00" * 200  # the magic number, nothing playable behind it
    await refused(client, upload(client, alice, room, fake, "fake.ogg"), 422, "invalid_media")


# --- the WebSocket ----------------------------------------------------------------------------------
async def test_a_message_frame_attaches_uploaded_files_and_every_route_shows_them(client: Any) -> None:
    alice, bob, room = await private_room(client)
    file = (await uploaded(client, alice, room, image_bytes("PNG"), "pic.png", send="false"))["file"]
    ws_bob = await connect(client, bob, room)
    ws = await connect(client, alice, room)
    frame = {"type": "message", "room_id": room, "content": "look", "client_msg_id": "m1", "attachments": [file["id"]]}
    await ws.send_json(frame)
    ack = await until(ws, lambda f: f["type"] == "ack")
    live = await until(ws_bob, lambda f: f["type"] == "message")
    assert (live["content"], live["attachments"]) == ("look", [file])
    assert live["message_id"] == ack["message_id"]
    # resume: a socket that missed it gets it from the log, attachment included
    resumed = await connect(client, bob, room, since=ack["id"] - 1)
    replayed = await until(resumed, lambda f: f["type"] == "message")
    assert replayed["attachments"] == [file]
    # not the sender's file, or not a file: an error frame, nothing posted
    carol_file = (await uploaded(client, bob, room, b"bob's", "b.txt", send="false"))["file"]
    await ws.send_json({**frame, "client_msg_id": "m2", "attachments": [carol_file["id"]]})
    error = await until(ws, lambda f: f["type"] == "error")
    assert (error["code"], error["client_msg_id"]) == ("unknown_attachment", "m2")
    for sock in (ws, ws_bob, resumed):
        await sock.close()
    # file events are frames too, so the relay's per-room sequence never waited for a gap fill
    assert client.app[RELAY].gaps_filled == 0


async def test_subscribers_hear_of_files_uploaded_and_deleted(client: Any) -> None:
    alice, bob, room = await private_room(client)
    ws = await connect(client, bob, room)
    body = await uploaded(client, alice, room, b"bytes", "f.txt")
    up = await until(ws, lambda f: f["type"] == "file_uploaded")
    posted = await until(ws, lambda f: f["type"] == "message")
    assert (up["file"], up["user_id"], up["room_id"]) == (body["file"], str(alice.id), room)
    assert posted["id"] == up["id"] + 1
    await client.delete(f"/rooms/{room}/messages/{body['message']['id']}", headers=alice.headers)
    await until(ws, lambda f: f["type"] == "message_deleted")
    gone = await until(ws, lambda f: f["type"] == "file_deleted")
    assert gone["file_id"] == body["file"]["id"]
    await ws.close()
    assert client.app[RELAY].gaps_filled == 0


# --- S3 behind the routes ---------------------------------------------------------------------------
@pytest.fixture
def s3() -> Any:
    with s3_server() as server:
        yield server


async def test_the_s3_backend_serves_uploads_ranges_and_frees_deleted_bytes(
    aiohttp_client: Any, settings: Settings, s3: tuple[str, str]
) -> None:
    url, bucket = s3
    s3_settings = settings.with_overrides(s3_url=url, s3_bucket=bucket, s3_access_key="k", s3_secret_key="s")
    client = await aiohttp_client(create_app(s3_settings))
    alice, bob, room = await private_room(client)
    body = await uploaded(client, alice, room, image_bytes("PNG", (500, 500)), "square.png")
    file = body["file"]
    objects = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="k",
                           aws_secret_access_key="s")  # fmt: skip

    def keys() -> list[str]:
        return [o["Key"] for o in objects.list_objects_v2(Bucket=bucket).get("Contents", [])]

    assert len(keys()) == 2  # the image and its thumbnail
    assert all(k.startswith("files/") for k in keys())
    assert stored_files(Path(client.app[SETTINGS].data_dir) / "files") == []
    whole = await client.get(file["url"], headers=bob.headers)
    data = await whole.read()
    assert (whole.status, whole.headers["Content-Type"], whole.headers["X-Content-Type-Options"]) == (
        200, "image/png", "nosniff",
    )  # fmt: skip
    part = await client.get(file["url"], headers={**bob.headers, "Range": "bytes=8-15"})
    assert (part.status, await part.read()) == (206, data[8:16])
    assert part.headers["Content-Range"] == f"bytes 8-15/{len(data)}"
    again = await client.get(file["url"], headers={**bob.headers, "If-None-Match": whole.headers["ETag"]})
    assert again.status == 304
    thumb = await client.get(file["thumbnail_url"], headers=bob.headers)
    assert (thumb.status, thumb.headers["Content-Type"]) == (200, "image/webp")
    outsider = await signup(client)
    assert (await client.get(file["url"], headers=outsider.headers)).status == 404

    await ok(await client.delete(f"/rooms/{room}/messages/{body['message']['id']}", headers=alice.headers), 204)
    await client.app[FILES].collect()
    assert keys() == []


# --- erasure ----------------------------------------------------------------------------------------
async def test_erasing_a_user_deletes_their_files_and_frees_the_bytes(client: Any) -> None:
    alice, bob, room = await private_room(client)
    gone = (await uploaded(client, bob, room, image_bytes("JPEG"), "me.jpg"))["file"]
    kept = (await uploaded(client, alice, room, b"alice's", "a.txt"))["file"]
    db = client.app[DB]
    erasure = ErasureService(client.app[STORE], UserQueries(db), SessionStore(db, 3600), DeviceKeys(db))
    await erasure.erase(await erasure.find(user_id=bob.id))
    await client.app[FILES].collect()
    assert (await client.get(gone["url"], headers=alice.headers)).status == 404
    assert await (await client.get(kept["url"], headers=alice.headers)).read() == b"alice's"
    assert len(stored_files(Path(client.app[SETTINGS].data_dir) / "files")) == 1
    page = await ok(await client.get(f"/rooms/{room}/messages", headers=alice.headers))
    assert [m.get("attachments") for m in page["messages"]] == [None, [kept]]
