"""The HTTP edge: CORS with preflight, per-user budgets on every write route (shared across nodes
through Redis), security headers and HSTS, X-Forwarded-* from trusted proxies only, and TLS."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.test_utils import TestClient
from conftest import TEST_SECRET, run_cli
from file_helpers import form
from helpers import PASSWORD, signup, unique_name
from single_node import single_node

from gochat.api.limits import LIMIT_ATTR
from gochat.app import create_app
from gochat.keys import SETTINGS, STORE
from gochat.ratelimit import Limit
from gochat.settings import Settings

Client = TestClient[Any, Any]
MakeClient = Callable[..., Any]
ORIGIN = "https://app.example"


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Any], settings: Settings) -> MakeClient:
    async def make(**overrides: Any) -> Client:
        return await aiohttp_client(create_app(settings.with_overrides(**overrides)))  # type: ignore[no-any-return]

    return make


# --- CORS -------------------------------------------------------------------------------------------
async def test_a_preflight_from_an_allowed_origin_is_answered_and_the_answer_carries_cors(
    make_client: MakeClient,
) -> None:
    client = await make_client(allowed_origins=(ORIGIN,))
    resp = await client.options(
        "/rooms",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "AUTHORIZATION" in resp.headers["Access-Control-Allow-Headers"].upper()
    account = await signup(client)
    resp = await client.get("/rooms", headers={**account.headers, "Origin": ORIGIN})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in resp.headers  # bearer tokens, not cookies


async def test_every_route_but_the_websocket_answers_a_preflight(make_client: MakeClient) -> None:
    """Routes added since CORS was set up included: setup_cors runs after the last route."""
    client = await make_client(allowed_origins=(ORIGIN,))
    refused = []
    for route in client.app.router.routes():
        if route.method in ("OPTIONS", "HEAD") or route.resource is None:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.resource.canonical)
        headers = {"Origin": ORIGIN, "Access-Control-Request-Method": route.method}
        resp = await client.options(path, headers=headers)
        allowed = resp.status == 200 and resp.headers.get("Access-Control-Allow-Origin") == ORIGIN
        if allowed == (route.resource.canonical == "/ws"):
            refused.append((route.method, route.resource.canonical, resp.status))
    assert refused == []


async def test_other_origins_get_no_cors_and_their_preflight_is_refused(make_client: MakeClient) -> None:
    client = await make_client(allowed_origins=(ORIGIN,))
    evil = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert (await client.options("/rooms", headers=evil)).status == 403
    resp = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    without = await make_client()
    resp = await without.get("/healthz", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in resp.headers


# --- per-user budgets on the write routes ------------------------------------------------------------
# Signup and login keep their own per-address and per-name budgets (api/auth.py), key claims theirs
# (api/devices.py).
OWN_LIMITS = {("POST", "/auth/signup"), ("POST", "/auth/login"), ("POST", "/keys/claim")}


async def test_every_write_route_spends_a_rate_limit_budget(client: Client) -> None:
    missing, unknown = [], []
    budgets = client.app[SETTINGS].write_limits
    for route in client.app.router.routes():
        if route.method in ("POST", "PUT", "PATCH", "DELETE") and route.resource is not None:
            key = (route.method, route.resource.canonical)
            if key not in OWN_LIMITS and not hasattr(route.handler, LIMIT_ATTR):
                missing.append(key)
            elif hasattr(route.handler, LIMIT_ATTR) and getattr(route.handler, LIMIT_ATTR) not in budgets:
                unknown.append(key)  # would be a KeyError, a 500, at the first request
    assert missing == [], "write routes without @limited(...) (gochat/api/limits.py)"
    assert unknown == [], "write routes spending a budget settings.write_limits does not have"
    assert len({getattr(r.handler, LIMIT_ATTR, None) for r in client.app.router.routes()} - {None}) >= 6


async def test_a_users_budget_is_shared_by_every_node_through_redis(
    make_client: MakeClient, redis_url: str, redis_prefix: str
) -> None:
    limits = {**Settings().write_limits, "room": Limit(2, 0.001)}
    a = await make_client(redis_url=redis_url, redis_prefix=redis_prefix, write_limits=limits, node_id="a")
    b = await make_client(redis_url=redis_url, redis_prefix=redis_prefix, write_limits=limits, node_id="b")
    alice, bob = await signup(a), await signup(b)
    for node in (a, b):
        resp = await node.post("/rooms", json={"name": "r", "type": "public"}, headers=alice.headers)
        assert resp.status == 201
    before = await a.app[STORE].head()
    resp = await b.post("/rooms", json={"name": "r", "type": "public"}, headers=alice.headers)
    assert resp.status == 429
    assert (await resp.json())["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) >= 1
    assert await a.app[STORE].head() == before  # refused before anything was appended
    resp = await a.post("/rooms", json={"name": "r", "type": "public"}, headers=bob.headers)
    assert resp.status == 201  # a budget per user


async def test_the_budgets_of_routes_added_since_are_shared_too(
    make_client: MakeClient, redis_url: str, redis_prefix: str
) -> None:
    """The `write` budget (status, DMs' settings, moderation, bots, devices...) and the upload one."""
    limits = {**Settings().write_limits, "write": Limit(1, 0.001), "upload": Limit(1, 0.001)}
    a = await make_client(redis_url=redis_url, redis_prefix=redis_prefix, write_limits=limits, node_id="a")
    b = await make_client(redis_url=redis_url, redis_prefix=redis_prefix, write_limits=limits, node_id="b")
    alice = await signup(a)
    room = (await (await a.post("/rooms", json={"name": "r", "type": "public"}, headers=alice.headers)).json())["id"]
    assert (await a.put("/me/status", json={"text": "here"}, headers=alice.headers)).status == 200
    again = await b.put("/me/status", json={"text": "there"}, headers=alice.headers)
    assert again.status == 429
    assert int(again.headers["Retry-After"]) >= 1
    assert (await a.post(f"/rooms/{room}/files", data=form(b"one"), headers=alice.headers)).status == 201
    second = await b.post(f"/rooms/{room}/files", data=form(b"two"), headers=alice.headers)
    assert second.status == 429
    assert "Retry-After" in second.headers


async def test_refresh_is_limited_per_client_address(make_client: MakeClient) -> None:
    client = await make_client(write_limits={**Settings().write_limits, "refresh": Limit(1, 0.001)})
    account = await signup(client)
    first = await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status == 200
    again = await client.post("/auth/refresh", json={"refresh_token": (await first.json())["refresh_token"]})
    assert again.status == 429
    assert "Retry-After" in again.headers


# --- security headers, HSTS and X-Forwarded-* ---------------------------------------------------------
async def test_answers_carry_security_headers_and_hsts_only_over_https(make_client: MakeClient) -> None:
    client = await make_client(trusted_proxies=("127.0.0.1/32",))
    resp = await client.get("/healthz")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in resp.headers  # plain HTTP
    behind_tls = await client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    untrusted = await make_client(trusted_proxies=("10.0.0.0/8",))
    forged = await untrusted.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


@pytest.mark.parametrize(
    ("proxies", "expected"), [(("127.0.0.1/32",), [201, 201, 429]), (("10.0.0.0/8",), [201, 429, 429])]
)
async def test_forwarded_for_names_the_client_only_when_the_peer_is_a_configured_proxy(
    make_client: MakeClient, proxies: tuple[str, ...], expected: list[int]
) -> None:
    client = await make_client(signup_limit_per_ip=Limit(1, 0.001), trusted_proxies=proxies)
    statuses = []
    # The leftmost hop is the client's own claim; the one before our proxy is the truth.
    for chain in ("1.1.1.1, 198.51.100.7", "1.1.1.1, 203.0.113.9", "9.9.9.9, 203.0.113.9"):
        resp = await client.post(
            "/auth/signup",
            json={"username": unique_name(), "password": PASSWORD},
            headers={"X-Forwarded-For": chain},
        )
        statuses.append(resp.status)
    assert statuses == expected


# --- TLS ---------------------------------------------------------------------------------------------
@pytest.fixture
def tls_node(database_url: str, tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """`gochat serve` terminating TLS with a certificate for 127.0.0.1 from a CA made here."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    node = single_node(database_url, tmp_path / "node.log", TLS_CERT_FILE=str(cert_file), TLS_KEY_FILE=str(key_file))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with node as (_, port):
        yield f"127.0.0.1:{port}", client_context


async def test_serve_terminates_tls_for_https_and_wss(tls_node: tuple[str, ssl.SSLContext]) -> None:
    address, context = tls_node
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        deadline = time.monotonic() + 60
        while True:
            try:
                async with http.get(f"https://{address}/readyz") as resp:
                    if resp.status == 200:
                        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
                        break
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, "the TLS node never became ready"
            await asyncio.sleep(0.1)
        async with http.post(
            f"https://{address}/auth/signup", json={"username": unique_name(), "password": PASSWORD}
        ) as resp:
            assert resp.status == 201
            token = (await resp.json())["access_token"]
        async with http.post(
            f"https://{address}/rooms",
            json={"name": "tls", "type": "public"},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            room = (await resp.json())["id"]
        async with http.ws_connect(f"wss://{address}/ws?token={token}&room_id={room}") as ws:
            await ws.send_json({"type": "message", "room_id": room, "content": "over tls", "client_msg_id": "t1"})
            kinds = set()
            while "ack" not in kinds:
                frame = await ws.receive_json(timeout=10)
                kinds.add(frame["type"])
    # A plain client refuses the certificate: it is the test's own CA's, not a public one.
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await plain.get(f"https://{address}/healthz")


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"TLS_CERT_FILE": "/etc/hostname"},
            "gochat: configuration error: TLS_CERT_FILE and TLS_KEY_FILE must be set together",
        ),
        (
            {"TLS_CERT_FILE": "/nonexistent.pem", "TLS_KEY_FILE": "/nonexistent.key"},
            "gochat: configuration error: TLS_CERT_FILE='/nonexistent.pem' is not a readable file",
        ),
        (
            {"GOCHAT_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"},
            "gochat: configuration error: GOCHAT_TRUSTED_PROXIES: 'proxy.local' is not an IP address or CIDR network",
        ),
        (
            {"ALLOWED_ORIGINS": "https://app.example, app.example"},
            "gochat: configuration error: ALLOWED_ORIGINS: 'app.example' is not an origin (scheme://host[:port], or *)",
        ),
    ],
)
def test_a_bad_edge_setting_stops_start_up_with_one_line(
    env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:1/none")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run_cli(capsys, "serve")
    assert code == 2
    assert err.strip() == line


async def test_a_nul_character_anywhere_in_a_body_or_a_device_path_is_refused_not_a_500(client: Client) -> None:
    """PostgreSQL stores no NUL in text or jsonb (found by the schemathesis run, tests/test_openapi.py)."""
    account = await signup(client)
    claim = {"devices": [{"user_id": str(account.id), "device_id": "4\x00v"}]}
    resp = await client.post("/keys/claim", json=claim, headers=account.headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"] == {"_schema": ["Must not contain NUL characters."]}
    resp = await client.get("/devices/a%00b/inbox", headers=account.headers)
    assert resp.status == 400
