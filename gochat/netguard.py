"""Outgoing HTTP to addresses users chose (webhooks, slash commands, link previews), guarded against
server-side request forgery.

A target is refused when any address its host resolves to is loopback, private, link-local (cloud
metadata services live there: 169.254.169.254, fd00:ec2::254), shared (100.64/10), multicast,
reserved or unspecified, unless the operator allowlisted it (`GOCHAT_WEBHOOK_ALLOW`: addresses,
networks or host names, comma-separated). The check runs inside the HTTP client's resolver, so
the connection goes to the very addresses checked (a DNS answer that changes between a check and
the connect cannot slip through), and redirects are followed here, one by one, each target
checked again. Answers are read up to a bound, and every request has a total timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not `is_private` in every Python
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


class Refused(Exception):
    """The target may not be reached (its address, scheme, or too many redirects)."""


@dataclass(frozen=True, slots=True)
class Allowlist:
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: str) -> Allowlist:
        """`127.0.0.1, 10.0.0.0/8, hooks.internal`: ValueError on an entry that is none of these."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if not all(c.isalnum() or c in "-._" for c in item):
                    raise ValueError(f"not an address, network or host name: {item!r}") from None
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, host: str, address: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(address in n for n in self.networks)


def forbidden(address: IPAddress) -> bool:
    """An address no user-chosen request may reach without an operator's say-so."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address in _METADATA
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
        or not address.is_global
    )


def check_addresses(host: str, addresses: Iterable[str], allow: Allowlist) -> None:
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        if forbidden(address) and not allow.allows(host, address):
            raise Refused(f"{host} resolves to {address}, an address outgoing requests may not reach")


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then refuses the whole answer if any address in it is forbidden."""

    def __init__(self, allow: Allowlist) -> None:
        self.allow = allow
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        check_addresses(host, (r["host"] for r in results), self.allow)
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes  # at most `max_body` bytes of it
    url: str  # the last one, after redirects
    content_type: str = ""  # the answer's Content-Type header, as sent
    truncated: bool = False  # the body went on past `max_body` (the rest was not read)


def check_url(url: str, allow: Allowlist) -> URL:
    """Scheme and host of a target; a literal address is checked here (no resolver sees it)."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Refused("only http and https URLs with a host are allowed")
    try:
        literal = ipaddress.ip_address(parsed.host)
    except ValueError:
        return parsed
    check_addresses(parsed.host, [str(literal)], allow)
    return parsed


async def check_target(url: str, allow: Allowlist) -> None:
    """What a request to `url` would check, ahead of time (a webhook's URL when it is saved)."""
    parsed = check_url(url, allow)
    host = parsed.host
    assert host is not None
    try:
        ipaddress.ip_address(host)
        return  # a literal: check_url checked it
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parsed.port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise Refused(f"cannot resolve {host}") from None
    check_addresses(host, (str(info[4][0]) for info in infos), allow)


class GuardedClient:
    """One aiohttp session whose every connection passes the guard. No cookies, no proxies from the
    environment, no redirects followed by aiohttp itself (each one is checked here)."""

    def __init__(
        self, allow: Allowlist, *, timeout: float = 5.0, max_body: int = 64 * 1024, max_redirects: int = 3
    ) -> None:
        self.allow = allow
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_body = max_body
        self.max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.allow), limit=100, use_dns_cache=False)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, timeout=self.timeout
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Callable[[str], bool] | None = None,
        max_body: int | None = None,
    ) -> Answer:
        """Raises Refused (guard), or aiohttp.ClientError / TimeoutError (network).

        `accept`, given the final answer's Content-Type: False leaves its body unread (empty).
        `max_body`: this request's bound instead of the client's."""
        session = self._client()
        limit = self.max_body if max_body is None else max_body
        async with asyncio.timeout(self.timeout.total):
            for _ in range(self.max_redirects + 1):
                target = check_url(url, self.allow)
                async with session.request(method, target, data=data, headers=headers, allow_redirects=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in (301, 302, 303, 307, 308) and location:
                        url = urljoin(str(resp.url), location)
                        if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                            method, data = "GET", None
                        continue
                    content_type = resp.headers.get("Content-Type", "")
                    if accept is not None and not accept(content_type):
                        return Answer(resp.status, b"", str(resp.url), content_type)
                    body = bytearray()
                    while len(body) < limit:  # read() answers what has arrived: loop
                        chunk = await resp.content.read(limit - len(body))
                        if not chunk:
                            break
                        body += chunk
                    truncated = len(body) >= limit and not resp.content.at_eof()
                    return Answer(resp.status, bytes(body), str(resp.url), content_type, truncated)
        raise Refused(f"more than {self.max_redirects} redirects")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def describe(exc: BaseException) -> str:
    """A short, safe reason for a failed request (stored with a delivery)."""
    if isinstance(exc, Refused):
        return f"refused: {exc}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"{type(exc).__name__}: {exc}"[:300]
