"""A message sent over the WebSocket is the same message as one posted over HTTP: its mentions are
parsed on either path (the pipelined path of a subscribed socket once skipped them)."""

from __future__ import annotations

from typing import Any

from helpers import signup
from room_helpers import make_room
from test_people import get, notification
from test_ws import connect, message, until


async def test_a_mention_sent_over_a_subscribed_socket_is_parsed_and_notifies(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, members=[bob])
    sender, bobs = await connect(client, alice, room["id"]), await connect(client, bob, room["id"])
    await sender.send_json(message(room["id"], f"ping @{bob.username}"))
    ack = await until(sender, lambda f: f["type"] == "ack")
    got = await notification(bobs, ack["message_id"])
    assert got["reason"] == "mention"
    history = await get(client, bob, f"/rooms/{room['id']}/messages")
    [sent] = [m for m in history["messages"] if m["id"] == ack["message_id"]]
    assert sent["mentions"] == [{"kind": "user", "offset": 5, "length": 1 + len(bob.username), "user_id": str(bob.id)}]
