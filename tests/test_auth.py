"""Accounts over HTTP: sign up, log in, refresh, log out, /me; and every way in that must fail.

Every refusal is also checked to append nothing to the log.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
from aiohttp import ClientResponse
from helpers import PASSWORD, Account, bearer, login, signup, unique_name

from gochat.app import create_app
from gochat.auth.confusables import skeleton, skeleton_stream
from gochat.keys import ACCOUNTS, DB, PROJECTIONS, SETTINGS, STORE
from gochat.ratelimit import Limit
from gochat.settings import Settings

Client = Any
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Any], settings: Settings) -> MakeClient:
    """A client over an app built with some settings changed."""

    async def make(**overrides: Any) -> Client:
        return await aiohttp_client(create_app(settings.with_overrides(**overrides)))

    return make


async def head(client: Client) -> int:
    return int(await client.app[STORE].head())


async def expect_error(resp: ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


async def events_of(client: Client, *types: str) -> list[Any]:
    return list(await client.app[STORE].read_all(types=types))


# --- sign up and the user lifecycle --------------------------------------------------------------
async def test_signup_answers_the_user_and_a_token_pair(client: Client) -> None:
    resp = await client.post("/auth/signup", json={"username": "Alice", "password": PASSWORD, "display_name": "Al"})
    assert resp.status == 201
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert set(body) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    user = body["user"]
    assert set(user) == {"id", "username", "display_name", "created_at"}
    assert (user["username"], user["display_name"]) == ("Alice", "Al")
    assert user["created_at"].startswith(time.strftime("%Y-", time.gmtime()))

    me = await client.get("/me", headers=bearer(body["access_token"]))
    assert me.status == 200
    assert await me.json() == user


async def test_display_name_defaults_to_the_username(client: Client) -> None:
    alice = await signup(client, "alice_w")
    assert alice.user["display_name"] == "alice_w"


async def test_the_user_lifecycle_is_in_the_log(client: Client) -> None:
    alice = await signup(client, "Alice")
    claimed, look_alike, registered = await events_of(client, "username.claimed", "user.registered")
    assert claimed.type == "username.claimed"
    assert claimed.data == {"user_id": str(alice.id)}
    # the name's UTS #39 skeleton is claimed too, so a look-alike name loses the same race
    assert (look_alike.type, look_alike.data) == ("username.claimed", {"user_id": str(alice.id)})
    assert look_alike.stream_id == skeleton_stream(skeleton("Alice"))
    assert registered.data["username_skeleton"] == skeleton("Alice")
    assert registered.stream_id == alice.id
    assert registered.data["username"] == "Alice"
    assert registered.data["username_norm"] == "alice"
    assert registered.data["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in str(registered.data)


async def test_the_same_name_in_another_case_is_taken(client: Client) -> None:
    await signup(client, "Alice")
    before = await head(client)
    for other in ("alice", "ALICE", "\uff21lice"):  # the last with a fullwidth A
        resp = await client.post("/auth/signup", json={"username": other, "password": PASSWORD})
        body = await expect_error(resp, 409, "username_taken")
        assert body["error"]["details"] == {"username": ["Already taken."]}
    assert await head(client) == before
    # and the name logs in whatever its case
    assert (await login(client, "aLiCe"))["user"]["username"] == "Alice"


async def test_concurrent_signups_of_one_name_one_wins(client: Client) -> None:
    bodies = [{"username": name, "password": PASSWORD} for name in ("Bob", "bob", "BOB")]
    responses = await asyncio.gather(*(client.post("/auth/signup", json=b) for b in bodies))
    assert sorted(r.status for r in responses) == [201, 409, 409]
    assert len(await events_of(client, "user.registered")) == 1
    assert len(await events_of(client, "username.claimed")) == 2  # the name and its skeleton


async def test_a_name_claimed_in_the_log_is_taken_even_before_the_users_table_shows_it(client: Client) -> None:
    # The race past the users-table check: the claim stream's version check alone must refuse it.
    from gochat.auth.names import username_stream
    from gochat.events import NewEvent

    await client.app[STORE].append_one(
        NewEvent("username.claimed", username_stream("carol"), {"user_id": str(uuid.uuid4())})
    )
    before = await head(client)
    resp = await client.post("/auth/signup", json={"username": "Carol", "password": PASSWORD})
    await expect_error(resp, 409, "username_taken")
    assert await head(client) == before


BAD_SIGNUPS = [
    ({"username": "ab", "password": PASSWORD}, ["username"]),
    ({"username": "a" * 33, "password": PASSWORD}, ["username"]),
    ({"username": "ali\u202ece", "password": PASSWORD}, ["username"]),  # right-to-left override
    ({"username": "ali\u200bce", "password": PASSWORD}, ["username"]),  # zero-width space
    ({"username": "al ice", "password": PASSWORD}, ["username"]),
    ({"username": 12345, "password": PASSWORD}, ["username"]),
    ({"username": "dave", "password": "7 chars"}, ["password"]),
    ({"username": "dave", "password": "x" * 129}, ["password"]),
    ({"username": "dave", "password": PASSWORD, "display_name": ""}, ["display_name"]),
    ({"username": "dave", "password": PASSWORD, "admin": True}, ["admin"]),
    ({}, ["password", "username"]),
]


@pytest.mark.parametrize(("body", "fields"), BAD_SIGNUPS)
async def test_invalid_signups_are_422_with_field_messages(
    client: Client, body: dict[str, Any], fields: list[str]
) -> None:
    resp = await client.post("/auth/signup", json=body)
    err = await expect_error(resp, 422, "validation_failed")
    assert sorted(err["error"]["details"]) == fields
    assert all(isinstance(m, list) and m for m in err["error"]["details"].values())
    assert await head(client) == 0


async def test_the_password_limits_are_8_and_128_characters(client: Client) -> None:
    await signup(client, password="x" * 8)
    await signup(client, password="y" * 128)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"username": "x",'])
async def test_a_body_that_is_not_a_json_object_is_400(client: Client, raw: bytes) -> None:
    for path in ("/auth/signup", "/auth/login", "/auth/refresh", "/auth/logout"):
        resp = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
        await expect_error(resp, 400, "invalid_json")
    assert await head(client) == 0


async def test_a_body_over_the_limit_is_413(make_client: MakeClient) -> None:
    client = await make_client(max_body_bytes=2048)
    resp = await client.post("/auth/signup", json={"username": "erin", "password": "p" * 4096})
    await expect_error(resp, 413, "payload_too_large")
    assert await head(client) == 0


# --- login ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [({"username": "a\x00b", "password": PASSWORD}, "username"), ({"username": "", "password": PASSWORD}, "username"),
     ({"username": "alice", "password": ""}, "password"), ({"username": "alice"}, "password")],
)  # fmt: skip
async def test_malformed_logins_are_422(client: Client, body: dict[str, Any], field: str) -> None:
    err = await expect_error(await client.post("/auth/login", json=body), 422, "validation_failed")
    assert list(err["error"]["details"]) == [field]


async def test_login_starts_a_new_session(client: Client) -> None:
    alice = await signup(client)
    body = await login(client, alice.username)
    assert body["user"] == alice.user
    assert body["refresh_token"] != alice.refresh_token
    assert (await client.get("/me", headers=bearer(body["access_token"]))).status == 200


async def test_unknown_user_and_wrong_password_answer_alike(client: Client) -> None:
    alice = await signup(client)
    passwords = client.app[ACCOUNTS].passwords
    verified = passwords.verifications
    unknown = await client.post("/auth/login", json={"username": "nobody_here", "password": PASSWORD})
    wrong = await client.post("/auth/login", json={"username": alice.username, "password": PASSWORD + "!"})
    assert unknown.status == wrong.status == 401
    assert await unknown.read() == await wrong.read()
    assert (await unknown.json())["error"]["code"] == "invalid_credentials"
    assert unknown.headers["Content-Type"] == wrong.headers["Content-Type"]
    # the same work for both: one argon2 verification each (the unknown user against a dummy hash)
    assert passwords.verifications == verified + 2


async def test_an_erased_user_cannot_log_in_or_refresh(client: Client) -> None:
    from gochat.events import NewEvent

    alice = await signup(client)
    await client.app[STORE].append_one(NewEvent("user.erased", alice.id, {}))
    resp = await client.post("/auth/login", json={"username": alice.username, "password": PASSWORD})
    await expect_error(resp, 401, "invalid_credentials")
    resp = await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    await expect_error(resp, 401, "invalid_refresh_token")


# --- access tokens over HTTP ---------------------------------------------------------------------
def _forge(settings: Settings, account: Account, kind: str) -> str:
    now = int(time.time())
    claims: dict[str, Any] = jwt.decode(account.access_token, options={"verify_signature": False})
    key, alg = settings.jwt_secret or "", "HS256"
    if kind == "alg_none":
        return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    if kind == "other_key":
        key = "a-different-secret-of-enough-length-0123456789"
    elif kind == "expired":
        claims.update(iat=now - 3600, exp=now - 60)
    elif kind == "wrong_aud":
        claims["aud"] = "another-service"
    elif kind == "wrong_iss":
        claims["iss"] = "someone-else"
    elif kind == "missing_exp":
        del claims["exp"]
    elif kind == "typ_refresh":
        claims["typ"] = "refresh"
    elif kind == "refresh_token":
        return account.refresh_token
    return jwt.encode(claims, key, algorithm=alg)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("alg_none", "invalid_token"),
        ("other_key", "invalid_token"),
        ("expired", "token_expired"),
        ("wrong_aud", "invalid_token"),
        ("wrong_iss", "invalid_token"),
        ("missing_exp", "invalid_token"),
        ("typ_refresh", "invalid_token"),
        ("refresh_token", "invalid_token"),
    ],
)
async def test_bad_access_tokens_are_401(client: Client, kind: str, code: str) -> None:
    alice = await signup(client)
    token = _forge(client.app[SETTINGS], alice, kind)
    for method, path in (("GET", "/me"), ("PATCH", "/me")):
        resp = await client.request(method, path, headers=bearer(token), json={"display_name": "x"})
        await expect_error(resp, 401, code)
    assert (await client.get("/me", headers=alice.headers)).status == 200


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Token abc", "Basic dXNlcjpwYXNz", "abc"])
async def test_a_missing_or_malformed_authorization_header_is_401(client: Client, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    resp = await client.get("/me", headers=headers)
    await expect_error(resp, 401, "missing_token" if not header else "invalid_token")


async def test_public_routes_need_no_token_and_unknown_routes_are_404(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    await expect_error(await client.get("/no/such/route"), 404, "not_found")


# --- refresh and logout --------------------------------------------------------------------------
async def refresh(client: Client, token: str) -> ClientResponse:
    resp: ClientResponse = await client.post("/auth/refresh", json={"refresh_token": token})
    return resp


async def test_refresh_returns_a_new_pair_and_the_old_token_stops_working(client: Client) -> None:
    alice = await signup(client)
    resp = await refresh(client, alice.refresh_token)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["user"] == alice.user
    assert body["refresh_token"] != alice.refresh_token
    assert (await client.get("/me", headers=bearer(body["access_token"]))).status == 200
    # and the new refresh token refreshes in turn
    assert (await refresh(client, body["refresh_token"])).status == 200


async def test_reusing_a_rotated_token_revokes_the_whole_family(client: Client) -> None:
    alice = await signup(client)
    rotated = await (await refresh(client, alice.refresh_token)).json()
    other_session = await login(client, alice.username)

    await expect_error(await refresh(client, alice.refresh_token), 401, "invalid_refresh_token")
    # every token of that login is dead: the newest refresh token and the access tokens
    await expect_error(await refresh(client, rotated["refresh_token"]), 401, "invalid_refresh_token")
    await expect_error(await client.get("/me", headers=bearer(rotated["access_token"])), 401, "session_revoked")
    await expect_error(await client.get("/me", headers=alice.headers), 401, "session_revoked")
    # another login of the same user is untouched
    assert (await client.get("/me", headers=bearer(other_session["access_token"]))).status == 200


async def test_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(client: Client) -> None:
    alice = await signup(client)
    responses = await asyncio.gather(*(refresh(client, alice.refresh_token) for _ in range(2)))
    assert sorted(r.status for r in responses) == [200, 401]
    # The loser presented a used token: that is reuse, so the family is revoked, the winner's pair too.
    winner = next(r for r in responses if r.status == 200)
    await expect_error(await refresh(client, (await winner.json())["refresh_token"]), 401, "invalid_refresh_token")


async def test_logout_revokes_that_login_only(client: Client) -> None:
    alice = await signup(client)
    second = await login(client, alice.username)
    before = await head(client)
    resp = await client.post("/auth/logout", json={"refresh_token": alice.refresh_token})
    assert resp.status == 204
    await expect_error(await refresh(client, alice.refresh_token), 401, "invalid_refresh_token")
    await expect_error(await client.get("/me", headers=alice.headers), 401, "session_revoked")
    assert (await client.get("/me", headers=bearer(second["access_token"]))).status == 200
    # logging out twice, or with a token nobody issued, is not an error
    assert (await client.post("/auth/logout", json={"refresh_token": alice.refresh_token})).status == 204
    assert (await client.post("/auth/logout", json={"refresh_token": "never-issued"})).status == 204
    assert await head(client) == before


async def test_an_unknown_or_expired_refresh_token_is_401(client: Client) -> None:
    alice = await signup(client)
    await expect_error(await refresh(client, "never-issued"), 401, "invalid_refresh_token")
    async with client.app[DB].transaction() as cur:
        await cur.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    await expect_error(await refresh(client, alice.refresh_token), 401, "invalid_refresh_token")
    await expect_error(await client.post("/auth/refresh", json={}), 422, "validation_failed")


async def test_refresh_tokens_are_stored_only_as_hashes(client: Client) -> None:
    alice = await signup(client)
    async with client.app[DB].cursor() as cur:
        await cur.execute("SELECT token_hash FROM refresh_tokens")
        stored = [bytes(r[0]) for r in await cur.fetchall()]
    assert stored == [hashlib.sha256(alice.refresh_token.encode()).digest()]


# --- /me -----------------------------------------------------------------------------------------
async def test_patch_me_changes_the_display_name(client: Client) -> None:
    alice = await signup(client)
    resp = await client.patch("/me", headers=alice.headers, json={"display_name": "  Alice Liddell "})
    assert resp.status == 200
    assert (await resp.json())["display_name"] == "Alice Liddell"
    assert (await (await client.get("/me", headers=alice.headers)).json())["display_name"] == "Alice Liddell"
    (updated,) = await events_of(client, "user.profile_updated")
    assert (updated.stream_id, updated.actor_id) == (alice.id, alice.id)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"display_name": ""}, "display_name"), ({"display_name": "x" * 65}, "display_name"),
     ({"display_name": "a\u202eb"}, "display_name"), ({"username": "new"}, "username"), ({}, "display_name")],
)  # fmt: skip
async def test_patch_me_refuses_invalid_bodies(client: Client, body: dict[str, Any], field: str) -> None:
    alice = await signup(client)
    before = await head(client)
    err = await expect_error(await client.patch("/me", headers=alice.headers, json=body), 422, "validation_failed")
    assert field in err["error"]["details"]
    assert await head(client) == before


async def test_the_users_table_rebuilds_from_the_log_to_the_same_rows(client: Client) -> None:
    alice = await signup(client, "Alice")
    await signup(client, "Bob")
    await client.patch("/me", headers=alice.headers, json={"display_name": "Queen of Hearts"})

    async def rows() -> list[Any]:
        async with client.app[DB].cursor() as cur:
            await cur.execute("SELECT * FROM users ORDER BY id")
            return list(await cur.fetchall())

    live = await rows()
    async with client.app[DB].transaction() as cur:
        await cur.execute("DELETE FROM users; UPDATE projection_checkpoints SET position = 0 WHERE name = 'users'")
    runner = client.app[PROJECTIONS]
    assert await runner.catch_up(runner.get("users")) == 3
    assert await rows() == live


# --- rate limits ---------------------------------------------------------------------------------
async def test_login_is_limited_per_account(make_client: MakeClient) -> None:
    client = await make_client(login_limit_per_account=Limit(3, 0.001))
    alice, bob = await signup(client), await signup(client)
    for _ in range(3):
        await expect_error(
            await client.post("/auth/login", json={"username": alice.username, "password": "wrong-one"}),
            401,
            "invalid_credentials",
        )
    # the right password does not get past a spent budget, nor another spelling of the name
    for name in (alice.username, alice.username.upper()):
        resp = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
        await expect_error(resp, 429, "rate_limited")
        assert int(resp.headers["Retry-After"]) >= 1
    # other accounts from the same address are not affected
    await login(client, bob.username)


async def test_login_is_limited_per_client_address(make_client: MakeClient) -> None:
    client = await make_client(login_limit_per_ip=Limit(2, 0.001))
    for _ in range(2):
        resp = await client.post("/auth/login", json={"username": unique_name(), "password": PASSWORD})
        await expect_error(resp, 401, "invalid_credentials")
    resp = await client.post("/auth/login", json={"username": unique_name(), "password": PASSWORD})
    await expect_error(resp, 429, "rate_limited")
    assert "Retry-After" in resp.headers


async def test_signup_is_limited_per_client_address(make_client: MakeClient) -> None:
    client = await make_client(signup_limit_per_ip=Limit(2, 0.001))
    await signup(client)
    await signup(client)
    before = await head(client)
    resp = await client.post("/auth/signup", json={"username": unique_name(), "password": PASSWORD})
    await expect_error(resp, 429, "rate_limited")
    assert await head(client) == before


@pytest.mark.parametrize("trusted", [True, False])
async def test_forwarded_for_is_honoured_only_behind_a_trusted_proxy(make_client: MakeClient, trusted: bool) -> None:
    client = await make_client(signup_limit_per_ip=Limit(1, 0.001), trust_proxy=trusted)
    statuses = []
    for address in ("198.51.100.7", "203.0.113.9"):
        resp = await client.post(
            "/auth/signup",
            json={"username": unique_name(), "password": PASSWORD},
            headers={"X-Forwarded-For": f"10.0.0.1, {address}"},
        )
        statuses.append(resp.status)
    assert statuses == ([201, 201] if trusted else [201, 429])
