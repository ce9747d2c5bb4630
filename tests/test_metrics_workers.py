"""`gochat serve --workers N`: one scrape of `/metrics` shows the whole node, whichever worker answers
(prometheus_client's multiprocess mode over a directory the supervisor hands every worker)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import aiohttp
import pytest
from conftest import eventually
from helpers import signup
from test_cluster import children, nodes_answering, supervisor  # noqa: F401 (the fixture)
from test_metrics import Samples, parse, value

pytestmark = pytest.mark.cluster


async def scrape(http: aiohttp.ClientSession, url: str) -> Samples:
    async with http.get(url + "/metrics") as resp:
        assert resp.status == 200
        return parse(await resp.text())[0]


async def test_one_scrape_counts_every_workers_requests_and_sockets(
    supervisor: tuple[subprocess.Popen[bytes], str],  # noqa: F811
) -> None:
    proc, url = supervisor
    deadline = time.monotonic() + 60
    while len(await nodes_answering(url, 4)) < 2:
        assert proc.poll() is None, "the supervisor exited"
        assert time.monotonic() < deadline, "both workers never answered"
        await asyncio.sleep(0.2)

    # Fresh connections until both workers have answered /healthz: the count must be the sum.
    answered: dict[str, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        while len(answered) < 2 or sum(answered.values()) < 20:
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200
                node = resp.headers["X-Gochat-Node"]
                answered[node] = answered.get(node, 0) + 1
        total = sum(answered.values())
        for _ in range(3):  # whichever worker answers the scrape
            samples = await scrape(http, url)
            assert value(samples, "gochat_http_requests_total", method="GET", route="/healthz", status="200") == total

        # Sockets on both workers: the open-connections gauge is the node's sum (livesum).
        account = await signup(_Http(http, url))
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        try:
            while len(sockets) < 6:
                ws = await http.ws_connect(url + f"/ws?token={account.access_token}")
                sockets.append(ws)
            samples_now: list[Samples] = []

            async def all_counted() -> bool:
                samples_now.append(await scrape(http, url))
                return value(samples_now[-1], "websocket_connections_open") == len(sockets)

            deadline = time.monotonic() + 20
            while not await all_counted():
                assert time.monotonic() < deadline, value(samples_now[-1], "websocket_connections_open")
                await asyncio.sleep(0.2)
        finally:
            for ws in sockets:
                await ws.close()

        # A worker that dies takes its live gauges with it, but never the node's counters.
        victim = min(children(proc.pid))
        os.kill(victim, signal.SIGKILL)
        await eventually(lambda: len(children(proc.pid) - {victim}) == 2, timeout=30, what="the worker restarted")
        samples = await scrape(http, url)
        assert value(samples, "gochat_http_requests_total", method="GET", route="/healthz", status="200") == total


class _Http:
    """helpers.signup's client interface over a plain session (it calls `post(path, json=...)`)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def post(self, path: str, **kw: object) -> aiohttp.ClientResponse:
        resp = await self.http.post(self.url + path, **kw)  # type: ignore[arg-type]
        await resp.read()
        return resp
