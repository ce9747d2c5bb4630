"""Virus scanning against a real clamd (Debian's clamav-daemon), started by the test with a
signature database it writes (the EICAR test file's MD5), since no signature download is possible:
clean files are shared, infected ones refused with nothing stored, and without a verdict (clamd
down) nothing is shared at all."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from file_helpers import stored_files, upload, uploaded
from helpers import signup
from media_servers import free_port
from room_helpers import make_room, refused

from gochat.app import create_app
from gochat.keys import SETTINGS
from gochat.media.clamd import Clamd
from gochat.settings import Settings

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"


@dataclass(frozen=True)
class ClamdServer:
    url: str  # tcp://
    socket: Path


@pytest.fixture(scope="module")
def clamd() -> Iterator[ClamdServer]:
    """A clamd of this module's own on a free TCP port and a unix socket."""
    root = Path(tempfile.mkdtemp(prefix="gochat-clamd-"))  # short: a socket path has a length limit
    (root / "db").mkdir()
    # an .hdb line: the file's MD5, its size, the name clamd reports (the format is MD5, not our choice)
    digest = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()
    (root / "db" / "eicar.hdb").write_text(f"{digest}:{len(EICAR)}:Eicar-Test-Signature\n")
    port = free_port()
    (root / "clamd.conf").write_text(
        f"TCPSocket {port}\nTCPAddr 127.0.0.1\nLocalSocket {root}/clamd.sock\nDatabaseDirectory {root}/db\n"
        f"Foreground yes\nLogFile {root}/clamd.log\nBytecode no\nStreamMaxLength 64M\n"
    )
    proc = subprocess.Popen([CLAMD, "-c", str(root / "clamd.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"tcp://127.0.0.1:{port}"
    try:
        scanner = Clamd(url)

        async def ready() -> None:
            async with asyncio.timeout(90):
                while not await scanner.ping():
                    assert proc.poll() is None, (root / "clamd.log").read_text()
                    await asyncio.sleep(0.2)

        asyncio.run(ready())
        yield ClamdServer(url, root / "clamd.sock")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


async def room_of(client: Any) -> tuple[Any, str]:
    alice = await signup(client)
    return alice, (await make_room(client, alice, "private"))["id"]


async def test_clean_files_are_shared_and_infected_ones_refused_with_nothing_stored(
    aiohttp_client: Any, settings: Settings, clamd: ClamdServer
) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides(clamd_url=clamd.url)))
    alice, room = await room_of(client)
    await uploaded(client, alice, room, b"a perfectly ordinary file\n", "ok.txt")
    body = await refused(client, upload(client, alice, room, EICAR, "eicar.com"), 422, "file_infected")
    assert "Eicar-Test-Signature" in body["error"]["details"]["file"][0]
    assert len(stored_files(Path(client.app[SETTINGS].data_dir) / "files")) == 1


async def test_the_unix_socket_is_an_address_too(tmp_path: Path, clamd: ClamdServer) -> None:
    scanner = Clamd(f"unix://{clamd.socket}")
    clean, infected = tmp_path / "clean", tmp_path / "infected"
    clean.write_bytes(b"hello")
    infected.write_bytes(EICAR)
    assert (await scanner.scan(clean)).clean
    verdict = await scanner.scan(infected)
    assert verdict.clean is False
    assert verdict.signature is not None
    assert verdict.signature.startswith("Eicar-Test-Signature")


async def test_with_clamd_down_nothing_is_shared_unscanned(aiohttp_client: Any, settings: Settings) -> None:
    down = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    client = await aiohttp_client(create_app(settings.with_overrides(clamd_url=down)))
    alice, room = await room_of(client)
    resp = await upload(client, alice, room, b"harmless", "a.txt")
    body = await resp.json()
    assert (resp.status, body["error"]["code"]) == (503, "scanner_unavailable")
    assert int(resp.headers["Retry-After"]) >= 1
    assert stored_files(Path(client.app[SETTINGS].data_dir) / "files") == []
    assert stored_files(Path(client.app[SETTINGS].data_dir) / "uploads") == []
