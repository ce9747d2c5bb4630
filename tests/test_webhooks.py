"""Webhooks, received by real HTTP servers on 127.0.0.1 (allowlisted as GOCHAT_WEBHOOK_ALLOW would):
outgoing POSTs signed over timestamp and body, at least once with the event id as idempotency key,
retried with backoff, dead-lettered after the last attempt, never held up by another endpoint,
resumed after a restart; incoming webhooks post into a room as a bot."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from helpers import Account, signup
from test_ws import make_room

from gochat.app import create_app
from gochat.settings import Settings
from gochat.webhooks.signing import verify

Client = Any
Behaviour = Callable[[dict[str, Any], int], Awaitable[int]]  # (body, attempt of that event) -> status


@dataclass
class Receiver:
    """An endpoint that records every POST and answers as `behaviour` says."""

    behaviour: Behaviour
    url: str = ""
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = orjson.loads(raw)
        attempt = 1 + sum(1 for _, b in self.posts if orjson.loads(b)["id"] == body["id"])
        self.posts.append((dict(request.headers), raw))
        async with self.arrived:
            self.arrived.notify_all()
        return web.Response(status=await self.behaviour(body, attempt))

    async def wait_for(self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: pred([orjson.loads(b) for _, b in self.posts]))

    def event_ids(self) -> list[int]:
        return [orjson.loads(b)["id"] for _, b in self.posts]


async def ok(body: dict[str, Any], attempt: int) -> int:
    return 200


async def start(aiohttp_server: Callable[..., Any], behaviour: Behaviour) -> Receiver:
    receiver = Receiver(behaviour)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    receiver.url = f"http://127.0.0.1:{server.port}/hook"
    return receiver


def hook_settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        webhook_allow="127.0.0.1", webhook_backoff=0.05, webhook_max_attempts=3, webhook_timeout=2.0
    )


async def add_webhook(client: Client, owner: Account, room: str, url: str, events: list[str]) -> dict[str, Any]:
    resp = await client.post(f"/rooms/{room}/webhooks", json={"url": url, "events": events}, headers=owner.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def post(client: Client, who: Account, room: str, content: str) -> int:
    resp = await client.post(f"/rooms/{room}/messages", json={"content": content}, headers=who.headers)
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def deliveries(client: Client, owner: Account, room: str, hook: dict[str, Any], state: str) -> list[Any]:
    resp = await client.get(
        f"/rooms/{room}/webhooks/{hook['id']}/deliveries", params={"state": state}, headers=owner.headers
    )
    assert resp.status == 200, await resp.text()
    return (await resp.json())["deliveries"]  # type: ignore[no-any-return]


async def until_state(client: Client, owner: Account, room: str, hook: dict[str, Any], state: str, n: int) -> list[Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while len(found := await deliveries(client, owner, room, hook, state)) < n:
        assert loop.time() < deadline, f"{len(found)} {state} deliveries"
        await asyncio.sleep(0.05)
    return found


async def test_each_chosen_event_is_posted_signed_once_it_is_in_the_log(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(hook_settings(settings)))
    receiver = await start(aiohttp_server, ok)
    owner = await signup(client)
    room = await make_room(client, owner)
    before = await post(client, owner, room, "said before the webhook existed")
    hook = await add_webhook(client, owner, room, receiver.url, ["message.posted", "message.deleted"])
    assert hook["secret"].startswith("whsec_")
    listed = await (await client.get(f"/rooms/{room}/webhooks", headers=owner.headers)).json()
    assert [(h["id"], "secret" in h) for h in listed["webhooks"]] == [(hook["id"], False)]

    ids = [await post(client, owner, room, f"m{i}") for i in range(3)]
    await client.put(f"/rooms/{room}/messages/{ids[0]}/reactions/%F0%9F%91%8D", headers=owner.headers)  # not chosen
    assert (await client.delete(f"/rooms/{room}/messages/{ids[1]}", headers=owner.headers)).status == 204
    await receiver.wait_for(lambda bodies: len(bodies) >= 4)

    bodies = {b["id"]: b for b in (orjson.loads(raw) for _, raw in receiver.posts)}
    assert before not in bodies
    assert sorted(b["type"] for b in bodies.values()) == ["message.deleted"] + ["message.posted"] * 3
    for i, message_id in enumerate(ids):
        assert bodies[message_id]["event"]["content"] == f"m{i}"
        assert bodies[message_id]["room_id"] == room
    for headers, raw in receiver.posts:
        assert headers["X-Gochat-Event-Id"] == str(orjson.loads(raw)["id"]) == headers["Idempotency-Key"]
        assert verify(hook["secret"], headers["X-Gochat-Timestamp"], raw, headers["X-Gochat-Signature"])
        assert not verify("whsec_other", headers["X-Gochat-Timestamp"], raw, headers["X-Gochat-Signature"])
        assert not verify(hook["secret"], headers["X-Gochat-Timestamp"], raw + b" ", headers["X-Gochat-Signature"])
        stale = str(int(headers["X-Gochat-Timestamp"]) - 3600)
        assert not verify(hook["secret"], stale, raw, headers["X-Gochat-Signature"])
    await until_state(client, owner, room, hook, "delivered", 4)


async def test_failures_are_retried_with_the_same_event_id_then_dead_lettered(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(hook_settings(settings)))
    doomed: set[int] = set()

    async def flaky(body: dict[str, Any], attempt: int) -> int:
        if body["id"] in doomed:
            return 500
        return 503 if attempt < 3 else 204  # the third (last) attempt succeeds

    receiver = await start(aiohttp_server, flaky)
    owner = await signup(client)
    room = await make_room(client, owner)
    hook = await add_webhook(client, owner, room, receiver.url, ["message.posted"])
    recovered = await post(client, owner, room, "delivered on the third try")
    [delivered] = await until_state(client, owner, room, hook, "delivered", 1)
    assert (delivered["event_id"], delivered["attempts"], delivered["last_status"]) == (recovered, 3, 204)
    assert receiver.event_ids() == [recovered] * 3

    lost = await post(client, owner, room, "never accepted")
    doomed.add(lost)
    [dead] = await until_state(client, owner, room, hook, "dead", 1)
    assert (dead["event_id"], dead["attempts"], dead["last_error"]) == (lost, 3, "HTTP 500")
    assert receiver.event_ids().count(lost) == 3

    # The receiver is fixed: a dead letter is sent again on request.
    doomed.clear()
    retry = await client.post(f"/rooms/{room}/webhooks/{hook['id']}/deliveries/{lost}/retry", headers=owner.headers)
    assert retry.status == 204
    await receiver.wait_for(lambda bodies: sum(b["id"] == lost for b in bodies) == 4)
    await until_state(client, owner, room, hook, "delivered", 2)
    assert await deliveries(client, owner, room, hook, "dead") == []


async def test_a_hanging_endpoint_delays_no_other_webhook(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(hook_settings(settings).with_overrides(webhook_timeout=30.0)))
    release = asyncio.Event()

    async def hang(body: dict[str, Any], attempt: int) -> int:
        await release.wait()
        return 200

    stuck, healthy = await start(aiohttp_server, hang), await start(aiohttp_server, ok)
    owner = await signup(client)
    room = await make_room(client, owner)
    await add_webhook(client, owner, room, stuck.url, ["message.posted"])
    await add_webhook(client, owner, room, healthy.url, ["message.posted"])
    ids = [await post(client, owner, room, f"m{i}") for i in range(8)]
    await healthy.wait_for(lambda bodies: sorted(b["id"] for b in bodies) == ids)
    assert not release.is_set()  # every delivery to the other endpoint is still hanging
    assert len(stuck.posts) <= 4  # it holds at most its own few slots
    release.set()
    await stuck.wait_for(lambda bodies: sorted({b["id"] for b in bodies}) == ids)


async def test_a_restart_resumes_where_delivery_stopped(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    down = True

    async def maybe(body: dict[str, Any], attempt: int) -> int:
        return 503 if down else 200

    receiver = await start(aiohttp_server, maybe)
    config = hook_settings(settings).with_overrides(webhook_max_attempts=100, webhook_backoff_max=0.2)
    first = await aiohttp_client(create_app(config))
    owner = await signup(first)
    room = await make_room(first, owner)
    hook = await add_webhook(first, owner, room, receiver.url, ["message.posted"])
    ids = [await post(first, owner, room, f"m{i}") for i in range(3)]
    await receiver.wait_for(lambda bodies: {b["id"] for b in bodies} == set(ids))  # tried, refused
    await first.close()

    down = False
    second = await aiohttp_client(create_app(config))
    delivered = await until_state(second, owner, room, hook, "delivered", 3)
    assert sorted(d["event_id"] for d in delivered) == ids


async def test_targets_are_checked_and_only_room_admins_manage_webhooks(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))  # no allowlist
    owner, member = await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[member])
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://169.254.169.254/", "file:///etc/x"):
        resp = await client.post(
            f"/rooms/{room}/webhooks", json={"url": url, "events": ["message.posted"]}, headers=owner.headers
        )
        assert resp.status == 422, url
        assert "url" in (await resp.json())["error"]["details"]
    bad_type = await client.post(
        f"/rooms/{room}/webhooks", json={"url": "http://example.com/", "events": ["nope"]}, headers=owner.headers
    )
    assert bad_type.status == 422
    refused = await client.post(
        f"/rooms/{room}/webhooks",
        json={"url": "http://example.com/", "events": ["message.posted"]},
        headers=member.headers,
    )
    assert refused.status == 403
    assert (await client.get(f"/rooms/{room}/webhooks", headers=member.headers)).status == 403
    outsider = await signup(client)
    assert (await client.get(f"/rooms/{room}/webhooks", headers=outsider.headers)).status == 404


async def test_an_incoming_webhook_posts_into_its_room_as_a_bot(client: Client) -> None:
    owner, member = await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[member])
    denied = await client.post(f"/rooms/{room}/incoming_webhooks", json={"name": "CI"}, headers=member.headers)
    assert denied.status == 403
    resp = await client.post(f"/rooms/{room}/incoming_webhooks", json={"name": "CI"}, headers=owner.headers)
    assert resp.status == 201, await resp.text()
    hook = await resp.json()
    assert hook["url"].startswith("/hooks/")

    posted = await client.post(hook["url"], json={"content": "build passed", "client_msg_id": "b-1"})
    assert posted.status == 201, await posted.text()
    again = await client.post(hook["url"], json={"content": "build passed", "client_msg_id": "b-1"})
    assert again.status == 200  # a retry is the same message
    history = await (await client.get(f"/rooms/{room}/messages", headers=member.headers)).json()
    assert [(m["user_id"], m["content"]) for m in history["messages"]] == [(hook["bot_id"], "build passed")]
    bot = await (await client.get(f"/rooms/{room}", headers=owner.headers)).json()
    assert hook["bot_id"] in [m["user_id"] for m in bot["members"]]

    assert (await client.post(f"/hooks/{uuid.uuid4().hex}", json={"content": "x"})).status == 404
    assert (await client.post(hook["url"], json={"content": ""})).status == 422
    revoked = await client.delete(f"/rooms/{room}/incoming_webhooks/{hook['id']}", headers=owner.headers)
    assert revoked.status == 204
    assert (await client.post(hook["url"], json={"content": "after"})).status == 404
