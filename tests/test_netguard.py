"""The SSRF guard: user-chosen targets never reach loopback, private, link-local (metadata),
shared or reserved addresses, by literal, by DNS or by redirect, unless allowlisted; answers and
time are bounded. Real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from gochat.netguard import Allowlist, GuardedClient, Refused, check_target, check_url, forbidden

LOCAL = Allowlist.parse("127.0.0.1")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:10.0.0.1"],
)  # fmt: skip
def test_internal_addresses_are_forbidden(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_not(address: str) -> None:
    assert not forbidden(ipaddress.ip_address(address))


def test_the_allowlist_takes_addresses_networks_and_names_and_refuses_junk() -> None:
    allow = Allowlist.parse("127.0.0.1, 10.0.0.0/8 ,hooks.internal")
    assert allow.allows("x", ipaddress.ip_address("127.0.0.1"))
    assert allow.allows("x", ipaddress.ip_address("10.9.9.9"))
    assert allow.allows("hooks.internal", ipaddress.ip_address("192.168.0.5"))
    assert not allow.allows("x", ipaddress.ip_address("192.168.0.5"))
    with pytest.raises(ValueError, match="not an address"):
        Allowlist.parse("http://evil/")


def test_only_http_urls_with_a_host() -> None:
    for url in ("file:///etc/passwd", "gopher://x/", "http:///nohost", "ftp://example.com/"):
        with pytest.raises(Refused):
            check_url(url, Allowlist())


async def test_a_name_resolving_to_loopback_is_refused_after_resolution() -> None:
    with pytest.raises(Refused, match="resolves to"):
        await check_target("http://localhost:9/hook", Allowlist())
    await check_target("http://localhost:9/hook", LOCAL)  # allowlisted: passes


async def _server(aiohttp_server: Callable[..., Any], handler: Any) -> Any:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return await aiohttp_server(app, host="127.0.0.1")


async def test_requests_to_loopback_are_refused_by_literal_and_by_name(aiohttp_server: Callable[..., Any]) -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    server = await _server(aiohttp_server, handler)
    client = GuardedClient(Allowlist())
    try:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(Refused):
                await client.request("POST", f"http://{host}:{server.port}/x", data=b"{}")
        assert hits == []  # nothing reached the server
    finally:
        await client.close()
    allowed = GuardedClient(LOCAL)
    try:
        answer = await allowed.request("POST", f"http://127.0.0.1:{server.port}/x", data=b"{}")
        assert (answer.status, answer.body) == (200, b"ok")
    finally:
        await allowed.close()


async def test_every_redirect_is_checked_again(aiohttp_server: Callable[..., Any]) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/to-metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
        if request.path == "/hop":
            raise web.HTTPTemporaryRedirect("/final")
        return web.Response(text=f"{request.method} {request.path}")

    server = await _server(aiohttp_server, handler)
    client = GuardedClient(LOCAL)
    try:
        with pytest.raises(Refused, match=r"169\.254\.169\.254"):
            await client.request("GET", f"http://127.0.0.1:{server.port}/to-metadata")
        answer = await client.request("POST", f"http://127.0.0.1:{server.port}/hop", data=b"x")
        assert answer.body == b"POST /final"  # 307 keeps the method
    finally:
        await client.close()


async def test_answers_and_time_are_bounded(aiohttp_server: Callable[..., Any]) -> None:
    never = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await never.wait()
        return web.Response(body=b"x" * 1_000_000)

    server = await _server(aiohttp_server, handler)
    client = GuardedClient(LOCAL, timeout=0.5, max_body=1000)
    try:
        answer = await client.request("GET", f"http://127.0.0.1:{server.port}/big")
        assert len(answer.body) == 1000
        with pytest.raises(TimeoutError):
            await client.request("GET", f"http://127.0.0.1:{server.port}/slow")
    finally:
        never.set()
        await client.close()
