"""Success answers against /openapi.json, route by route, with the state that makes each one answer
200 (schemathesis's random ids and bodies mostly reach refusals, so they seldom check these)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jsonschema_rs
from aiohttp.test_utils import TestClient
from helpers import signup
from test_ws import make_room

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
    a = {"headers": alice.headers}
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
