"""End-to-end encryption use cases: the key directory, device mailboxes, and the envelope rule of
encrypted rooms. The server routes and stores; it never decrypts and holds no secret key.

Keys are checked as keys (vodozemac parses them) and one-time keys must carry the device's ed25519
signature over `"{user_id}:{device_id}:{key_id}:{key}"`, so a device can only publish keys it owns
and a client that claims one can check it came from that device (gochat/e2e/client.py does).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import vodozemac
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from ..e2e.protocol import MEGOLM, signed_text
from ..e2e.store import Device, InboxItem, KeyStore, OneTimeKey
from ..errors import NotFound, ValidationFailed
from ..events.catalog import ENCRYPTED_MAX

#: a device whose unclaimed one-time keys drop below this is told so in its mailbox
LOW_KEYS = 10
MAX_KEYS_PER_UPLOAD = 100
MAX_TO_DEVICE = 100  # messages per call
MAX_PAYLOAD = 64 * 1024  # bytes of JSON per message
SERVER = uuid.UUID(int=0)  # the sender of the server's own mailbox notices
_DEVICE_ID = validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$", error="1-64 letters, digits, '_', '.' or '-'.")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class Envelope(_Strict):
    """The content of a message in an encrypted room: a Megolm message and where it came from."""

    algorithm = fields.String(required=True, validate=validate.Equal(MEGOLM))
    ciphertext = fields.String(required=True, validate=validate.Length(min=1, max=ENCRYPTED_MAX))
    sender_key = fields.String(required=True, validate=validate.Length(min=1, max=64))
    session_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    device_id = fields.String(required=True, validate=_DEVICE_ID)


def check_envelope(content: str) -> None:
    """Raise ValidationFailed unless `content` is an Envelope's JSON (all the server checks of an
    encrypted room's message: its shape, never its plaintext, which it cannot read)."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ValidationFailed(
            "messages in an encrypted room are encrypted envelopes",
            code="encryption_required",
            details={"content": ["Must be the JSON of an encrypted envelope (docs/api.md, End-to-end encryption)."]},
        )
    try:
        Envelope().load(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "invalid encrypted envelope", code="encryption_required", details={"content": exc.messages}
        ) from None


@dataclass(frozen=True, slots=True)
class Claimed:
    device: Device
    key: OneTimeKey | None


def _key(text: str, kind: str, field: str) -> str:
    try:
        if kind == "curve25519":
            vodozemac.Curve25519PublicKey.from_base64(text)
        else:
            vodozemac.Ed25519PublicKey.from_base64(text)
    except Exception:
        raise ValidationFailed(
            "invalid key", details={field: [f"Not a {kind} public key in unpadded base64."]}
        ) from None
    return text


class DeviceService:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def register(
        self, user_id: uuid.UUID, device_id: str, curve25519: str, ed25519: str, display_name: str = ""
    ) -> tuple[Device, bool]:
        """The device, and True if it is new. Registering an id again with other identity keys is a
        conflict: identity keys never change (a new identity is a new device id)."""
        _check_device_id(device_id)
        device = Device(
            user_id,
            device_id,
            _key(curve25519, "curve25519", "identity_keys.curve25519"),
            _key(ed25519, "ed25519", "identity_keys.ed25519"),
            display_name,
        )
        stored = await self.keys.register(device)
        if (stored.curve25519, stored.ed25519) != (curve25519, ed25519):
            raise ValidationFailed(
                "this device id is registered with other identity keys",
                code="device_exists",
                details={"device_id": ["Registered with other identity keys: use a new device id."]},
            )
        return stored, stored is device

    async def _own_device(self, user_id: uuid.UUID, device_id: str) -> Device:
        device = await self.keys.device(user_id, device_id)
        if device is None:
            raise NotFound("device not found", code="device_not_found")
        return device

    async def upload_keys(
        self, user_id: uuid.UUID, device_id: str, one_time_keys: Mapping[str, Mapping[str, str]],
        fallback_key: Mapping[str, str] | None = None,
    ) -> int:  # fmt: skip
        """Store signed one-time keys (and a fallback key); returns the unclaimed count."""
        device = await self._own_device(user_id, device_id)
        if len(one_time_keys) > MAX_KEYS_PER_UPLOAD:
            raise ValidationFailed("too many keys", details={"one_time_keys": [f"At most {MAX_KEYS_PER_UPLOAD}."]})
        ed25519 = vodozemac.Ed25519PublicKey.from_base64(device.ed25519)
        keys = [self._signed(user_id, device_id, ed25519, key_id, k, False) for key_id, k in one_time_keys.items()]
        if fallback_key is not None:
            keys.append(self._signed(user_id, device_id, ed25519, fallback_key["key_id"], fallback_key, True))
        return await self.keys.add_keys(user_id, device_id, keys)

    @staticmethod
    def _signed(
        user_id: uuid.UUID, device_id: str, ed25519: vodozemac.Ed25519PublicKey, key_id: str,
        key: Mapping[str, str], fallback: bool,
    ) -> OneTimeKey:  # fmt: skip
        field = f"one_time_keys.{key_id}" if not fallback else "fallback_key"
        if not 1 <= len(key_id) <= 64:
            raise ValidationFailed("invalid key id", details={field: ["Key ids are 1-64 characters."]})
        text = _key(key["key"], "curve25519", field)
        try:
            signature = vodozemac.Ed25519Signature.from_base64(key["signature"])
            ed25519.verify_signature(signed_text(user_id, device_id, key_id, text), signature)
        except Exception:
            raise ValidationFailed(
                "a key is not signed by this device", details={field: ["Bad or missing signature."]}
            ) from None
        return OneTimeKey(key_id, text, key["signature"], fallback)

    async def devices(self, user_id: uuid.UUID) -> list[Device]:
        return await self.keys.devices(user_id)

    async def claim(self, wanted: Sequence[tuple[uuid.UUID, str]]) -> list[Claimed]:
        """A one-time key per device asked for (each handed out once), or its fallback key, or None
        when it has neither; unknown devices are left out. Owners running low are told."""
        out = []
        for user_id, device_id in wanted:
            device = await self.keys.device(user_id, device_id)
            if device is None:
                continue
            key, left = await self.keys.claim(user_id, device_id)
            if key is not None and not key.fallback and left == LOW_KEYS - 1:
                notice = {"type": "keys_low", "one_time_keys_left": left}
                await self.keys.send(SERVER, "server", [(user_id, device_id, notice)])
            out.append(Claimed(device, key))
        return out

    async def send(self, sender: uuid.UUID, sender_device: str, messages: Sequence[tuple[uuid.UUID, str, Any]]) -> int:
        await self._own_device(sender, sender_device)
        if len(messages) > MAX_TO_DEVICE:
            raise ValidationFailed("too many messages", details={"messages": [f"At most {MAX_TO_DEVICE}."]})
        for _, _, payload in messages:
            if len(orjson.dumps(payload)) > MAX_PAYLOAD:
                raise ValidationFailed(
                    "payload too large", details={"messages": [f"Each at most {MAX_PAYLOAD} bytes."]}
                )
        return await self.keys.send(sender, sender_device, list(messages))

    async def inbox(self, user_id: uuid.UUID, device_id: str, after: int, limit: int) -> list[InboxItem]:
        await self._own_device(user_id, device_id)
        return await self.keys.inbox(user_id, device_id, after, limit)

    async def ack(self, user_id: uuid.UUID, device_id: str, upto: int) -> None:
        await self._own_device(user_id, device_id)
        await self.keys.ack(user_id, device_id, upto)

    async def remove(self, user_id: uuid.UUID, device_id: str) -> None:
        if not await self.keys.remove(user_id, device_id):
            raise NotFound("device not found", code="device_not_found")


def _check_device_id(device_id: str) -> None:
    try:
        _DEVICE_ID(device_id)
    except ValidationError as exc:
        raise ValidationFailed("invalid device id", details={"device_id": exc.messages}) from None
