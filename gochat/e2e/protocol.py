"""What the server and clients of encrypted rooms agree on (docs/api.md, "End-to-end encryption")."""

from __future__ import annotations

import uuid

#: a room message's envelope: a Megolm message (vodozemac's GroupSession)
MEGOLM = "m.megolm.v1.aes-sha2"
#: a device-to-device payload: an Olm message (vodozemac's Session)
OLM = "m.olm.v1.curve25519-aes-sha2"


def signed_text(user_id: uuid.UUID | str, device_id: str, key_id: str, key: str) -> bytes:
    """What a device signs with its ed25519 key to publish a one-time key, and what a claimer
    checks: binding the key to that user's device, so the server cannot swap in its own."""
    return f"{user_id}:{device_id}:{key_id}:{key}".encode()
