"""A reference end-to-end encryption client: one device of one user, on vodozemac (Olm and Megolm,
the Signal-derived protocols Matrix uses), speaking gochat's public HTTP API.

- Device setup: an Olm account; its identity keys, signed one-time keys and a fallback key are
  published (`PUT /devices/{id}`); more are uploaded when the server says the device runs low.
- Sessions: to share a room key with a device, claim one of its one-time keys (`POST /keys/claim`),
  check the key's signature against the device's ed25519 key, and open an Olm session to it.
- Sending: messages in a room are encrypted with this device's outbound Megolm session for the
  room; its key goes to every member's devices over Olm (`POST /devices/{id}/send`) before the first
  message they need it for. The plaintext is bound to the room (decrypting checks the room id).
- Receiving: room keys arrive in the device's mailbox (`GET /devices/{id}/inbox`), Olm-decrypted
  and kept per (room, session); a room message's envelope names the session that decrypts it.
- Membership: a member who left or was removed gets nothing new: the outbound session is replaced
  when the member set shrinks, and the new key goes only to who is a member then. A new member or
  device gets the current session's key at its current index: what is sent from then on.

Nothing here is hand-made cryptography: every primitive is vodozemac's.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson
import vodozemac

from ..client import GochatClient
from .protocol import MEGOLM, OLM, signed_text


class DecryptionError(Exception):
    """A message this device cannot read (no key for its session, or it was tampered with)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class _Outbound:
    session: vodozemac.GroupSession
    members: set[str]  # user ids the current session's key may go to
    shared: set[tuple[str, str]] = field(default_factory=set)  # (user id, device id) that have it


class EncryptedDevice:
    def __init__(self, chat: GochatClient, user_id: str, device_id: str) -> None:
        self.chat = chat
        self.user_id = user_id
        self.device_id = device_id
        self.account = vodozemac.Account()
        self.olm: dict[str, list[vodozemac.Session]] = {}  # peer curve25519 -> sessions, newest first
        self.outbound: dict[str, _Outbound] = {}  # room id
        self.inbound: dict[tuple[str, str], vodozemac.InboundGroupSession] = {}  # (room id, session id)
        self.inbox_after = 0

    @property
    def curve25519(self) -> str:
        return str(self.account.curve25519_key.to_base64())

    # --- device setup ------------------------------------------------------------------------
    def _signed_keys(self, count: int) -> dict[str, dict[str, str]]:
        self.account.generate_one_time_keys(count)
        keys = {}
        for key_id, key in self.account.one_time_keys.items():
            text = key.to_base64()
            signature = self.account.sign(signed_text(self.user_id, self.device_id, key_id, text))
            keys[key_id] = {"key": text, "signature": signature.to_base64()}
        return keys

    def _fallback(self) -> dict[str, str]:
        # vodozemac's type stub lacks the fallback key methods its Account has
        self.account.generate_fallback_key()  # type: ignore[attr-defined]
        key_id, key = next(iter(self.account.fallback_key.items()))  # type: ignore[attr-defined]
        text = key.to_base64()
        signature = self.account.sign(signed_text(self.user_id, self.device_id, key_id, text))
        return {"key_id": key_id, "key": text, "signature": signature.to_base64()}

    async def register(self, one_time_keys: int = 20, display_name: str = "") -> dict[str, Any]:
        body = {
            "identity_keys": {"curve25519": self.curve25519, "ed25519": self.account.ed25519_key.to_base64()},
            "display_name": display_name,
            "one_time_keys": self._signed_keys(one_time_keys),
            "fallback_key": self._fallback(),
        }
        answer = dict(await self.chat.request("PUT", f"/devices/{self.device_id}", json=body))
        self.account.mark_keys_as_published()
        return answer

    async def replenish(self, count: int = 20) -> dict[str, Any]:
        body = {"one_time_keys": self._signed_keys(count)}
        answer = dict(await self.chat.request("POST", f"/devices/{self.device_id}/keys", json=body))
        self.account.mark_keys_as_published()
        return answer

    # --- Olm: pairwise sessions -----------------------------------------------------------------
    async def _devices_of(self, user_ids: set[str]) -> list[dict[str, Any]]:
        found = []
        for user_id in sorted(user_ids):
            answer = await self.chat.request("GET", f"/users/{user_id}/devices")
            found += [d for d in answer["devices"] if (d["user_id"], d["device_id"]) != (self.user_id, self.device_id)]
        return found

    async def _sessions_for(self, devices: list[dict[str, Any]]) -> dict[tuple[str, str], vodozemac.Session]:
        """An Olm session with each device (claiming a one-time key for those without one yet)."""
        sessions = {}
        missing = [d for d in devices if not self.olm.get(d["identity_keys"]["curve25519"])]
        if missing:
            refs = [{"user_id": d["user_id"], "device_id": d["device_id"]} for d in missing]
            claimed = await self.chat.request("POST", "/keys/claim", json={"devices": refs})
            for bundle in claimed["keys"]:
                otk = bundle["one_time_key"]
                if otk is None:
                    continue  # the device has no key left: it gets this room key another time
                identity = bundle["identity_keys"]
                ed25519 = vodozemac.Ed25519PublicKey.from_base64(identity["ed25519"])
                text = signed_text(bundle["user_id"], bundle["device_id"], otk["key_id"], otk["key"])
                ed25519.verify_signature(text, vodozemac.Ed25519Signature.from_base64(otk["signature"]))
                session = self.account.create_outbound_session(
                    vodozemac.Curve25519PublicKey.from_base64(identity["curve25519"]),
                    vodozemac.Curve25519PublicKey.from_base64(otk["key"]),
                )
                self.olm.setdefault(identity["curve25519"], []).insert(0, session)
        for d in devices:
            known = self.olm.get(d["identity_keys"]["curve25519"])
            if known:
                sessions[(d["user_id"], d["device_id"])] = known[0]
        return sessions

    def _olm_decrypt(self, payload: dict[str, Any]) -> dict[str, Any]:
        sender_key = payload["sender_key"]
        message = vodozemac.AnyOlmMessage.from_parts(payload["type"], base64.b64decode(payload["body"]))
        for session in self.olm.get(sender_key, []):
            try:
                return dict(orjson.loads(session.decrypt(message)))
            except Exception:  # noqa: S112 - another session with that device may be the one
                continue
        pre_key = message.to_pre_key()
        if pre_key is None:
            raise DecryptionError("no Olm session with that device decrypts this message")
        session, plaintext = self.account.create_inbound_session(
            vodozemac.Curve25519PublicKey.from_base64(sender_key), pre_key
        )
        self.olm.setdefault(sender_key, []).insert(0, session)
        return dict(orjson.loads(plaintext))

    # --- Megolm: room messages --------------------------------------------------------------------
    async def _share(self, room_id: str, members: set[str]) -> vodozemac.GroupSession:
        out = self.outbound.get(room_id)
        if out is None or not members >= out.members:  # someone left: they must not read what follows
            out = self.outbound[room_id] = _Outbound(vodozemac.GroupSession(), set(members))
            self.inbound[(room_id, out.session.session_id)] = vodozemac.InboundGroupSession(out.session.session_key)
        out.members = set(members)
        devices = [d for d in await self._devices_of(members | {self.user_id})
                   if (d["user_id"], d["device_id"]) not in out.shared]  # fmt: skip
        if not devices:
            return out.session
        sessions = await self._sessions_for(devices)
        room_key = {
            "type": "room_key",
            "room_id": room_id,
            "session_id": out.session.session_id,
            "session_key": out.session.session_key.to_base64(),
        }
        messages = []
        for (user_id, device_id), session in sessions.items():
            kind, body = session.encrypt(orjson.dumps({**room_key, "recipient": user_id})).to_parts()
            payload = {"algorithm": OLM, "sender_key": self.curve25519, "type": kind, "body": _b64(body)}
            messages.append({"user_id": user_id, "device_id": device_id, "payload": payload})
            out.shared.add((user_id, device_id))
        if messages:
            await self.chat.request("POST", f"/devices/{self.device_id}/send", json={"messages": messages})
        return out.session

    async def encrypt(self, room_id: str, members: set[str], text: str) -> str:
        """The content to post in an encrypted room: the envelope of `text` (JSON)."""
        session = await self._share(room_id, members)
        plaintext = orjson.dumps({"room_id": room_id, "body": text})
        envelope = {
            "algorithm": MEGOLM,
            "ciphertext": session.encrypt(plaintext).to_base64(),
            "sender_key": self.curve25519,
            "session_id": session.session_id,
            "device_id": self.device_id,
        }
        return orjson.dumps(envelope).decode()

    async def members(self, room_id: str) -> set[str]:
        room = await self.chat.room(room_id)
        return {str(m["user_id"]) for m in room["members"]}

    async def send(self, room_id: str, text: str, client_msg_id: str | None = None) -> dict[str, Any]:
        content = await self.encrypt(room_id, await self.members(room_id), text)
        return await self.chat.post(room_id, content, client_msg_id=client_msg_id)

    async def receive_keys(self) -> int:
        """Read the mailbox: take in room keys, answer low-key notices; returns keys taken in."""
        taken = 0
        while True:
            answer = await self.chat.request("GET", f"/devices/{self.device_id}/inbox?after={self.inbox_after}")
            items = answer["messages"]
            if not items:
                return taken
            for item in items:
                payload = item["payload"]
                if payload.get("type") == "keys_low":
                    await self.replenish()
                elif payload.get("algorithm") == OLM:
                    key = self._olm_decrypt(payload)
                    if key.get("type") == "room_key" and key.get("recipient") == self.user_id:
                        inbound = vodozemac.InboundGroupSession(vodozemac.SessionKey(key["session_key"]))
                        self.inbound[(key["room_id"], inbound.session_id)] = inbound
                        taken += 1
                self.inbox_after = item["id"]
            await self.chat.request("POST", f"/devices/{self.device_id}/inbox/ack", json={"upto": self.inbox_after})

    def decrypt(self, room_id: str, content: str) -> str:
        """The text of a message of an encrypted room (its `content` as history or a frame has it)."""
        envelope = orjson.loads(content)
        session = self.inbound.get((room_id, envelope["session_id"]))
        if session is None:
            raise DecryptionError("no key for this message's session (sent before this device could read the room)")
        try:
            decrypted = session.decrypt(vodozemac.MegolmMessage.from_base64(envelope["ciphertext"]))
        except Exception as exc:
            raise DecryptionError(str(exc)) from None
        inner = orjson.loads(decrypted.plaintext)
        if inner.get("room_id") != room_id:
            raise DecryptionError("this message was encrypted for another room")
        return str(inner["body"])
