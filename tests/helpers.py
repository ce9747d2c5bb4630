"""Helpers shared by the HTTP and WebSocket tests: accounts made through the real API."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

PASSWORD = "correct horse battery"
_names = itertools.count(1)


@dataclass(frozen=True)
class Account:
    """A signed-up user: `headers` authenticate HTTP requests, `access_token` a WebSocket `?token=`."""

    id: uuid.UUID
    username: str
    password: str
    user: dict[str, Any]
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}{next(_names)}_{uuid.uuid4().hex[:6]}"


async def signup(client: Any, name: str | None = None, *, password: str = PASSWORD, **extra: Any) -> Account:
    """Sign a new user up through POST /auth/signup (asserting the 201) and return its account."""
    username = name or unique_name()
    resp = await client.post("/auth/signup", json={"username": username, "password": password, **extra})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    return Account(
        id=uuid.UUID(body["user"]["id"]),
        username=body["user"]["username"],
        password=password,
        user=body["user"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


async def login(client: Any, username: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = await client.post("/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body
