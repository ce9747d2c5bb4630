"""Success answers against /openapi.json, route by route, with the state that makes each one answer
200 (schemathesis's random ids and bodies mostly reach refusals, so they seldom check these)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema_rs
from aiohttp.test_utils import TestClient
from file_helpers import form
from helpers import signup
from test_ws import make_room

from gochat.app import create_app
from gochat.keys import ADMIN
from gochat.settings import Settings

Client = TestClient[Any, Any]


def answer_schema(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    content = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
    schema: dict[str, Any] = content["schema"]
    return schema


async def checked(client: Client, doc: dict[str, Any], method: str, url: str, path: str, **kw: Any) -> Any:
    """Call the route, and check its success answer against the schema the document declares for it."""
    resp = await client.request(method.upper(), url, **kw)
    body = await resp.json()
    assert 200 <= resp.status < 300, (method, url, resp.status, body)
    schema = answer_schema(doc, method, path, resp.status)
    # Described, not just "an object": otherwise this check could not fail.
    assert schema != {"$ref": "#/components/schemas/AnyObject"}, (method, path)
    jsonschema_rs.validator_for({**schema, "components": doc["components"]}).validate(body)
    return body


async def test_the_people_routes_answer_what_the_document_says(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    alice, bob = await signup(client), await signup(client)
    a: dict[str, Any] = {"headers": alice.headers}
    room = await make_room(client, alice)
    assert (await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers)).status == 200
    mention = {"content": f"hello @{alice.username}"}
    assert (await client.post(f"/rooms/{room}/messages", json=mention, headers=bob.headers)).status == 201

    status = {"text": "away", "emoji": "🌴", "expires_at": "2999-01-01T00:00:00Z"}
    person = await checked(client, doc, "put", "/me/status", "/me/status", json=status, **a)
    assert person["status"]["text"] == "away"
    await checked(client, doc, "get", f"/users/search?q={bob.username[:5]}", "/users/search", **a)
    found = await checked(client, doc, "get", f"/users?ids={alice.id},{bob.id}", "/users", **a)
    assert found["users"][str(alice.id)]["status"]["emoji"] == "🌴"
    await checked(client, doc, "get", f"/users/{bob.id}", "/users/{user_id}", **a)
    assert (await checked(client, doc, "delete", "/me/status", "/me/status", **a))["status"] is None

    deadline = time.monotonic() + 15
    while not (page := await checked(client, doc, "get", "/notifications", "/notifications", **a))["notifications"]:
        assert time.monotonic() < deadline, "the mention never became a notification"
        await asyncio.sleep(0.05)
    assert page["users"][str(bob.id)]["username"] == bob.username

    level = f"/rooms/{room}/notifications"
    await checked(client, doc, "get", level, "/rooms/{room_id}/notifications", **a)
    await checked(client, doc, "put", level, "/rooms/{room_id}/notifications", json={"level": "all"}, **a)
    await checked(
        client, doc, "put", "/me/dnd", "/me/dnd", json={"enabled": True, "until": "2999-01-01T00:00:00Z"}, **a
    )
    await checked(client, doc, "get", "/me/dnd", "/me/dnd", **a)
    settings = f"/rooms/{room}/settings"
    await checked(client, doc, "get", settings, "/rooms/{room_id}/settings", **a)
    await checked(client, doc, "patch", settings, "/rooms/{room_id}/settings", json={"link_previews": False}, **a)

    dm = await checked(client, doc, "post", "/dms", "/dms", json={"user_id": str(bob.id)}, **a)
    assert dm["user"]["id"] == str(bob.id)
    assert len((await checked(client, doc, "get", "/dms", "/dms", **a))["dms"]) == 1
    assert (await client.put(f"/users/{bob.id}/block", **a)).status == 204
    blocks = await checked(client, doc, "get", "/me/blocks", "/me/blocks", **a)
    assert [b["user_id"] for b in blocks["blocks"]] == [str(bob.id)]


async def test_moderation_invitation_upload_and_command_routes_answer_what_the_document_says(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    owner, member, admin = await signup(client), await signup(client), await signup(client)
    await client.app[ADMIN].set_admin(admin.id, True)
    o: dict[str, Any] = {"headers": owner.headers}
    m: dict[str, Any] = {"headers": member.headers}
    room = await make_room(client, owner, "private")
    invited = await client.post(f"/rooms/{room}/members", json={"user_id": str(member.id)}, **o)
    assert invited.status == 200
    pending = await checked(client, doc, "get", "/invitations", "/invitations", **m)
    assert pending["invitations"][0]["invited_by"] == str(owner.id)
    assert (await client.post(f"/invitations/{room}/accept", json={}, **m)).status == 200

    uploaded = await checked(
        client, doc, "post", f"/rooms/{room}/files", "/rooms/{room_id}/files", data=form(b"hello"), **m
    )
    message_id = uploaded["message"]["id"]
    await checked(
        client,
        doc,
        "put",
        f"/rooms/{room}/mutes/{member.id}",
        "/rooms/{room_id}/mutes/{user_id}",
        json={"minutes": 5},
        **o,
    )
    await checked(client, doc, "get", f"/rooms/{room}/mutes", "/rooms/{room_id}/mutes", **o)
    await checked(
        client, doc, "put", f"/rooms/{room}/slow_mode", "/rooms/{room_id}/slow_mode", json={"seconds": 10}, **o
    )
    reports = "/rooms/{room_id}/messages/{message_id}/reports"
    report = await checked(
        client, doc, "post", f"/rooms/{room}/messages/{message_id}/reports", reports, json={"reason": "spam"}, **o
    )
    assert report["state"] == "open"
    await checked(client, doc, "get", f"/rooms/{room}/reports", "/rooms/{room_id}/reports", **o)
    resolve = f"/rooms/{room}/reports/{report['id']}/resolve"
    resolved = await checked(
        client, doc, "post", resolve, "/rooms/{room_id}/reports/{report_id}/resolve", json={"action": "dismiss"}, **o
    )
    assert resolved["state"] == "resolved"
    assert (await client.put(f"/rooms/{room}/pins/{message_id}", **o)).status == 204
    pins = await checked(client, doc, "get", f"/rooms/{room}/pins", "/rooms/{room_id}/pins", **o)
    assert [p["id"] for p in pins["messages"]] == [message_id]
    await checked(client, doc, "get", "/admin/users", "/admin/users", headers=admin.headers)
    history = await checked(
        client,
        doc,
        "get",
        f"/admin/rooms/{room}/moderation",
        "/admin/rooms/{room_id}/moderation",
        headers=admin.headers,
    )
    assert {e["type"] for e in history["events"]} >= {"member.muted", "message.reported", "message.pinned"}

    await checked(client, doc, "get", f"/rooms/{room}/commands", "/rooms/{room_id}/commands", **o)
    ran = await checked(
        client, doc, "post", f"/rooms/{room}/commands", "/rooms/{room_id}/commands", json={"command": "/help"}, **o
    )
    assert ran["visibility"] == "ephemeral"


async def test_bot_and_webhook_routes_answer_what_the_document_says(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(
        create_app(settings.with_overrides(webhook_allow="127.0.0.1", webhook_max_attempts=1))
    )
    doc = await (await client.get("/openapi.json")).json()
    owner, admin = await signup(client), await signup(client)
    await client.app[ADMIN].set_admin(admin.id, True)
    o: dict[str, Any] = {"headers": owner.headers}
    a: dict[str, Any] = {"headers": admin.headers}
    room = await make_room(client, owner)

    name = f"bot{uuid.uuid4().hex[:8]}"
    made = await checked(
        client, doc, "post", f"/rooms/{room}/bots", "/rooms/{room_id}/bots", json={"username": name}, **o
    )
    bot = made["bot"]["id"]
    await checked(client, doc, "get", "/bots", "/bots", **o)
    tokens = f"/bots/{bot}/tokens"
    issued = await checked(
        client, doc, "post", tokens, "/bots/{bot_id}/tokens", json={"name": "ci", "scopes": ["write"]}, **o
    )
    assert issued["token"]
    await checked(client, doc, "get", tokens, "/bots/{bot_id}/tokens", **o)
    revoked = await checked(client, doc, "delete", tokens, "/bots/{bot_id}/tokens", **o)
    assert revoked["revoked"] == [issued["id"]]
    wide = {"username": f"bot{uuid.uuid4().hex[:8]}"}
    assert (await checked(client, doc, "post", "/admin/bots", "/admin/bots", json=wide, **a))["bot"]["server_wide"]
    await checked(client, doc, "get", "/admin/bots", "/admin/bots", **a)

    hooks = f"/rooms/{room}/webhooks"
    body = {"url": "http://127.0.0.1:9/nobody-listens", "events": ["message.posted"]}
    hook = await checked(client, doc, "post", hooks, "/rooms/{room_id}/webhooks", json=body, **o)
    await checked(client, doc, "get", hooks, "/rooms/{room_id}/webhooks", **o)
    assert (await client.post(f"/rooms/{room}/messages", json={"content": "ping"}, **o)).status == 201
    deliveries = f"{hooks}/{hook['id']}/deliveries"
    deadline = time.monotonic() + 15
    while not (await checked(client, doc, "get", deliveries, "/rooms/{room_id}/webhooks/{webhook_id}/deliveries", **o))[
        "deliveries"
    ]:
        assert time.monotonic() < deadline, "no delivery was recorded"
        await asyncio.sleep(0.05)
    incoming = f"/rooms/{room}/incoming_webhooks"
    made_hook = await checked(
        client, doc, "post", incoming, "/rooms/{room_id}/incoming_webhooks", json={"name": "CI"}, **o
    )
    assert made_hook["url"].startswith("/hooks/")
    await checked(client, doc, "get", incoming, "/rooms/{room_id}/incoming_webhooks", **o)


async def test_every_json_success_answer_is_described_not_just_an_object(client: Client) -> None:
    """Only the two documents answer "any object"; a new route says what it answers (gochat/api/schemas.py)."""
    doc = await (await client.get("/openapi.json")).json()
    vague = [
        (method, path, status)
        for path, operations in doc["paths"].items()
        for method, op in operations.items()
        for status, answer in op["responses"].items()
        if status.startswith("2")
        and answer.get("content", {}).get("application/json", {}).get("schema")
        == {"$ref": "#/components/schemas/AnyObject"}
    ]
    assert vague == [("get", "/asyncapi.json", "200"), ("get", "/openapi.json", "200")]
