"""/auth/* and /me: sign up, log in, refresh, log out; read and edit one's profile."""

from __future__ import annotations

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from ..auth.names import PASSWORD_MAX, Password, Username, normalize_username
from ..errors import RateLimited
from ..events.fields import Text
from ..keys import ACCOUNTS, LOGIN_THROTTLE, SETTINGS
from ..services.accounts import InvalidCredentials, Tokens
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import client_ip, enforce, limited
from .util import json, load_body

routes = web.RouteTableDef()
# Token answers must not be cached by any intermediary (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store"}


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class SignupBody(_Strict):
    username = Username(required=True)
    password = Password(required=True)
    display_name = Text(min_len=1, max_len=64, no_bidi=True, load_default=None)


class LoginBody(_Strict):
    # Only shape checks here: the rules for new names and passwords may change, old ones still log in.
    username = Text(required=True, min_len=1, max_len=64)  # Text refuses NUL, which PostgreSQL cannot take
    password = fields.String(required=True, validate=validate.Length(min=1, max=PASSWORD_MAX))


class RefreshBody(_Strict):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class ProfileBody(_Strict):
    display_name = Text(required=True, min_len=1, max_len=64, no_bidi=True)


def _tokens(tokens: Tokens, status: int = 200) -> web.Response:
    return json(tokens.to_dict(), status=status, headers=NO_STORE)


@routes.post("/auth/signup")
@documented("Sign up", body=SignupBody, responses={201: schemas.Tokens})
async def signup(request: web.Request) -> web.Response:
    await enforce(request, f"signup:ip:{client_ip(request)}", request.app[SETTINGS].signup_limit_per_ip)
    body = await load_body(request, SignupBody())
    tokens = await request.app[ACCOUNTS].signup(body["username"], body["password"], body["display_name"])
    return _tokens(tokens, status=201)


@routes.post("/auth/login")
@documented("Log in", body=LoginBody, responses={200: schemas.Tokens})
async def login(request: web.Request) -> web.Response:
    settings, throttle, ip = request.app[SETTINGS], request.app[LOGIN_THROTTLE], client_ip(request)
    await enforce(request, f"login:ip:{ip}", settings.login_limit_per_ip)
    body = await load_body(request, LoginBody())
    # Failures slow down per (name, address), whether or not the name exists (so the wait says
    # nothing about accounts), and never lock: guesses from one address do not hold back another.
    key = f"{normalize_username(body['username'])}|{ip}"
    wait = await throttle.wait(key)
    if wait > 0:
        raise RateLimited("too many failed logins: wait before trying again", retry_after=wait)
    try:
        tokens = await request.app[ACCOUNTS].login(body["username"], body["password"])
    except InvalidCredentials:
        await throttle.failed(key)
        raise
    await throttle.succeeded(key)
    return _tokens(tokens)


@routes.post("/auth/refresh")
@documented(
    "Trade a refresh token for a new pair (once: a reuse ends the session)",
    body=RefreshBody,
    responses={200: schemas.Tokens},
)
@limited("refresh", per="ip")
async def refresh(request: web.Request) -> web.Response:
    body = await load_body(request, RefreshBody())
    return _tokens(await request.app[ACCOUNTS].refresh(body["refresh_token"]))


@routes.post("/auth/logout")
@documented("Log out: revoke the refresh token's session", body=RefreshBody, responses={204: NO_CONTENT})
@limited("refresh", per="ip")
async def logout(request: web.Request) -> web.Response:
    body = await load_body(request, RefreshBody())
    await request.app[ACCOUNTS].logout(body["refresh_token"])
    return web.Response(status=204)


@routes.get("/me")
@documented("The caller's profile", responses={200: schemas.User})
async def me(request: web.Request) -> web.Response:
    user = await request.app[ACCOUNTS].get(current_user_id(request))
    return json(user.public())


@routes.patch("/me")
@documented("Edit the caller's profile", body=ProfileBody, responses={200: schemas.User})
@limited("write")
async def update_me(request: web.Request) -> web.Response:
    body = await load_body(request, ProfileBody())
    user = await request.app[ACCOUNTS].update_profile(current_user_id(request), body["display_name"])
    return json(user.public())
