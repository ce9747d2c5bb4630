"""The API documents: OpenAPI 3.1 of every HTTP route, AsyncAPI of the WebSocket protocol, the /docs
page, and a schemathesis run of the document against a real server (no 5xx, no answer that breaks
the document)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from conftest import TEST_SECRET, PgCluster
from helpers import signup
from hypothesis import HealthCheck, Phase, settings
from openapi_spec_validator import validate as validate_openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from single_node import single_node
from test_ws import connect, make_room, message, until

from gochat.api.docs import doc_of
from gochat.api.openapi import build_openapi, documentable_routes
from gochat.app import create_app
from gochat.settings import Settings

Client = TestClient[Any, Any]


# --- the document covers the router -----------------------------------------------------------------
async def test_every_route_is_in_the_document_and_declares_its_schemas(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    absent, undeclared = [], []
    for method, path, route in documentable_routes(client.app):
        if method.lower() not in doc["paths"].get(path, {}):
            absent.append((method, path))
        if doc_of(route.handler) is None:
            undeclared.append((method, path))
    assert absent == []
    # A new route needs @documented(...) (gochat/api/docs.py; docs/api.md says how).
    assert undeclared == []
    assert len(doc["paths"]) >= 30


async def test_the_document_is_valid_openapi_3_1(client: Client) -> None:
    """By the OpenAPI 3.1 meta-schema and its rules (operation ids unique, path parameters declared):
    two handlers named `register` (commands, devices) once gave one id to two operations."""
    doc = await (await client.get("/openapi.json")).json()
    validate_openapi(doc)
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


async def test_operations_carry_their_schemas_security_and_limits(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    post = doc["paths"]["/rooms/{room_id}/messages"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PostBody"}
    assert post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/Message")
    assert "Retry-After" in post["responses"]["429"]["headers"]
    assert post["security"] == [{"bearer": []}]
    assert doc["paths"]["/auth/login"]["post"]["security"] == []
    body = doc["components"]["schemas"]["CreateRoomBody"]
    assert set(body["required"]) == {"name", "type"}
    assert body["properties"]["name"]["maxLength"] == 100  # from the Text field's own limit
    assert body["properties"]["type"]["enum"] == ["public", "private", "group"]
    room = doc["components"]["schemas"]["Room"]
    assert room["properties"]["last_message_id"]["type"] == ["integer", "null"]


async def test_the_docs_page_is_served_from_the_package_with_no_outside_resource(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    resp = await client.get("/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    page = await resp.text()
    for path in doc["paths"]:
        assert f"<code>{path}</code>" in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    css = await client.get("/docs/docs.css")
    assert css.status == 200
    assert css.content_type == "text/css"


async def test_real_frames_match_the_asyncapi_payloads(client: Client) -> None:
    api = await (await client.get("/asyncapi.json")).json()
    assert api["asyncapi"] == "3.0.0"
    payloads = {name: jsonschema_rs.validator_for(m["payload"]) for name, m in api["components"]["messages"].items()}
    kinds = {"join": "member", "leave": "member", "invite": "member", "unban": "member", "role": "member"}
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice)
    ws_a = await connect(client, alice)
    sent = [
        {"type": "join", "room_id": room},
        message(room, "hello"),
        {"type": "typing", "room_id": room},
        {"type": "react", "room_id": room, "message_id": 10**12, "emoji": "👍"},
        {"type": "nonsense"},
    ]
    for frame in sent:
        assert payloads["client_frame"].is_valid(frame) == (frame["type"] != "nonsense")
        await ws_a.send_json(frame)
        if frame["type"] == "join":
            await until(ws_a, lambda f: f["type"] == "subscribed")
    await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers)
    seen: set[str] = set()
    while not {"ack", "error", "message", "typing", "join"} <= seen:
        frame = await until(ws_a, lambda f: True)
        name = kinds.get(frame["type"], frame["type"])
        payloads[name].validate(frame)
        seen.add(frame["type"])
    await ws_a.close()


# --- schemathesis against a real server -----------------------------------------------------------------
SCHEMA = schemathesis.openapi.from_dict(
    build_openapi(create_app(Settings(database_url="postgresql://unused/x", jwt_secret=TEST_SECRET)))
)


@dataclass
class Live:
    url: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def live(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`gochat serve` on a fresh database, and a signed-up user whose token every request carries."""
    database = pg_cluster.new_database()
    log = tmp_path_factory.mktemp("live") / "node.log"
    with single_node(database, log, GOCHAT_RATE_LIMITS="off", LOG_LEVEL="error") as (proc, port):
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.1)
        name = f"st_{uuid.uuid4().hex[:8]}"
        answer = requests.post(
            url + "/auth/signup", json={"username": name, "password": "correct horse battery"}, timeout=30
        )
        token = answer.json()["access_token"]
        yield Live(url, {"Authorization": f"Bearer {token}"})
    pg_cluster.drop(database)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@SCHEMA.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: Any, live: Live) -> None:
    case.call_and_validate(base_url=live.url, headers=live.headers, checks=CHECKS)
