"""Helpers for the rooms and messages HTTP tests: rooms and messages made through the real API,
and refusals checked to answer the right status and append nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from aiohttp import ClientResponse
from helpers import Account

from gochat.keys import STORE


async def head(client: Any) -> int:
    return int(await client.app[STORE].head())


async def refused(
    client: Any, request: Awaitable[ClientResponse], status: int, code: str | None = None
) -> dict[str, Any]:
    """Send the request; assert it answers `status` (and error `code`) and left the log as it was."""
    before = await head(client)
    resp = await request
    body: dict[str, Any] = await resp.json()
    assert resp.status == status, body
    assert set(body) == {"error"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    assert await head(client) == before
    return body


async def ok(resp: ClientResponse, status: int = 200) -> Any:
    body = await resp.json() if resp.status != 204 else None
    assert resp.status == status, body
    return body


async def make_room(
    client: Any, owner: Account, type_: str = "public", members: Sequence[Account] = (), **body: Any
) -> dict[str, Any]:
    """A room of `owner`'s with `members` in it: invited, then each accepting (groups: joined at once)."""
    if members:
        body["members"] = [str(m.id) for m in members]
    resp = await client.post("/rooms", json={"name": "Room", "type": type_, **body}, headers=owner.headers)
    room: dict[str, Any] = await ok(resp, 201)
    if type_ != "group":
        for member in members:
            await ok(await client.post(f"/invitations/{room['id']}/accept", json={}, headers=member.headers))
    return room


async def post(client: Any, account: Account, room_id: str, content: str, **body: Any) -> dict[str, Any]:
    resp = await client.post(f"/rooms/{room_id}/messages", json={"content": content, **body}, headers=account.headers)
    message: dict[str, Any] = await ok(resp, 201)
    return message
