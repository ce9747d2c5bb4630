"""What the web client's browser tests stand on: a real `gochat serve` they can stop and start, a
TCP proxy that can cut one browser off the network, and headless Chromium from Debian's packages
driven by Selenium (Service('/usr/bin/chromedriver'): nothing downloads a browser)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AXE = Path(__file__).parent / "browser_assets" / "axe-core" / "axe.min.js"
WAIT = 20.0  # a liveness bound for things that happen within a second when the machine is idle
PASSWORD = "correct horse battery"


def http(url: str, body: Any = None, token: str | None = None, method: str | None = None) -> tuple[int, Any]:
    """A plain HTTP call to the server under test (GET, or POST with a JSON body, or `method`):
    status, JSON body."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(url)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    try:
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def headers_of(url: str) -> dict[str, str]:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(url)
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310
        return dict(resp.headers.items())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m gochat serve` on a fixed port, so it can be stopped and started again there."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gochat", "serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"gochat serve exited: {self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("gochat serve did not become ready within 60 s")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            return http(self.url + "/readyz")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class Proxy:
    """A TCP proxy in front of the server for one browser: `cut()` drops its connections and
    refuses new ones (a network drop for that browser only) until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.down = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web-test-proxy", daemon=True)
        self.thread.start()
        self._call(self._serve())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _cut(self) -> None:
        self.down = True
        for w in list(self.writers):
            w.transport.abort()

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self._call(self._cut())
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Browser:
    """One headless Chromium with a fresh profile, and the waits the tests use."""

    def __init__(self, base_url: str, width: int = 1280, height: int = 800) -> None:
        self.base_url = base_url
        self.profile = tempfile.mkdtemp(prefix="gochat-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "--force-device-scale-factor=1",
            "--lang=en-US",
            # A microphone that plays a beep, granted without asking: voice messages record.
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ):
            options.add_argument(flag)
        self.downloads = Path(self.profile) / "downloads"
        self.downloads.mkdir()
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(self.downloads), "download.prompt_for_download": False}
        )
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.handshakes = 0
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_window_size(width, height)
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(self.downloads)}
        )

    def quit(self) -> None:
        with contextlib.suppress(Exception):
            self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- finding and waiting -----------------------------------------------------------------------
    def wait(self, check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        """Poll `check` until it returns something truthy, and return that."""

        def attempt(_: Any) -> Any:
            try:
                return check()
            except Exception:  # the DOM moves under us while it renders: look again
                return None

        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(attempt, f"waited for: {what}")

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> WebElement:
        return self.wait(lambda: (el := self.find(css)).is_displayed() and el, f"{css} visible")  # type: ignore[no-any-return]

    def attr(self, css: str, name: str) -> str:
        return self.find(css).get_attribute(name) or ""

    def connection(self) -> str:
        return self.attr("#connection", "data-state")

    def session(self) -> dict[str, Any]:
        stored: dict[str, Any] = self.js("return JSON.parse(localStorage.getItem('gochat.session'))")
        return stored

    def downloaded(self, name: str) -> bytes:
        """A file this browser downloaded, once it is complete."""
        path = self.downloads / name
        self.wait(lambda: path.is_file() and not (self.downloads / f"{name}.crdownload").exists(), f"{name} downloaded")
        return path.read_bytes()

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    # --- what a person does ------------------------------------------------------------------------
    def open(self, path: str = "/") -> None:
        self.driver.get(self.base_url + path)

    def sign_up(self, username: str, display_name: str, password: str = PASSWORD) -> str:
        """Sign up through the form; the user's id."""
        self.open()
        self.visible("#auth-username").send_keys(username)
        if not self.find("#auth-display").is_displayed():
            self.find("#auth-switch").click()
        self.find("#auth-display").send_keys(display_name)
        self.find("#auth-password").send_keys(password)
        self.find("#auth-submit").click()
        self.visible("#app")
        self.wait(lambda: self.connection() == "online", "connected")
        return str(self.session()["user"]["id"])

    def create_room(self, name: str, topic: str = "") -> str:
        self.find("#new-room").click()
        self.visible("#room-name").send_keys(name)
        self.find("#room-topic-input").send_keys(topic)
        self.find("#dialog-body button[type=submit]").click()
        self.wait(lambda: self.find("#room-title").text.endswith(name), f"room {name} open")
        return self.room_id()

    def join_from_directory(self, name: str) -> None:
        self.find("#browse-rooms").click()
        self.visible("#directory-q").send_keys(name)
        self.wait(lambda: self.click(f".directory-room button[aria-label='Join {name}']"), f"join {name}")
        self.wait(lambda: self.find("#room-title").text.endswith(name), f"room {name} open")

    def click(self, css: str) -> bool:
        self.find(css).click()
        return True

    def type(self, css: str, *keys: str) -> bool:
        self.find(css).send_keys(*keys)
        return True

    def room_id(self) -> str:
        return str(self.js("return location.hash.split('/')[2]"))

    def send(self, text: str) -> None:
        box = self.visible("#composer-input")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def message_ids(self) -> list[int]:
        """The ids of the messages in the timeline, top to bottom."""
        ids = self.js("return [...document.querySelectorAll('#timeline .message[data-id]')].map(e => e.dataset.id)")
        return [int(x) for x in ids]

    def texts(self) -> list[str]:
        """The text of the messages in the timeline, top to bottom (without the "(edited)" mark)."""
        return list(
            self.js(
                "return [...document.querySelectorAll('#timeline .message[data-id] .content')]"
                ".map(e => [...e.childNodes].filter(n => !n.classList?.contains('edited'))"
                ".map(n => n.textContent).join(''))"
            )
        )

    def wait_text(self, text: str, timeout: float = WAIT) -> WebElement:
        def found() -> WebElement | None:
            for el in self.all("#timeline .message[data-id] .content"):
                if el.text.startswith(text):
                    return el
            return None

        shown: WebElement = self.wait(found, f"message {text!r} shown", timeout)
        return shown

    def websockets_opened(self) -> int:
        """How many WebSocket handshakes the page has completed (from Chromium's DevTools log)."""
        events: list[dict[str, Any]] = self.driver.get_log("performance")  # type: ignore[no-untyped-call]
        self.handshakes += sum('"Network.webSocketHandshakeResponseReceived"' in e["message"] for e in events)
        return self.handshakes

    def wait_texts(self, expected: list[str]) -> None:
        self.wait(lambda: self.texts() == expected, f"exactly these messages, in order: {expected}")

    def wait_connection(self, *, online: bool) -> None:
        self.wait(lambda: (self.connection() == "online") == online, "online" if online else "offline", timeout=30)

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        self.js(AXE.read_text())
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations),"
            " e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
        )
        return [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result
            if v["impact"] in ("serious", "critical")
        ]

    def errors(self) -> list[str]:
        """Errors the page logged (a CSP refusal would show here), but not the failed fetches of
        routes the server may not have yet."""
        logged: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [e["message"] for e in logged if e["level"] == "SEVERE" and "/users/" not in e["message"]]


@contextlib.contextmanager
def browsers(*urls: str, **size: int) -> Iterator[list[Browser]]:
    opened: list[Browser] = []
    try:
        for url in urls:
            opened.append(Browser(url, **size))
        yield opened
    finally:
        for b in opened:
            b.quit()


def screenshot_dir(default: Path) -> Path:
    """docs/screenshots when asked for (GOCHAT_SCREENSHOTS=docs/screenshots), else a temp dir."""
    target = Path(os.environ.get("GOCHAT_SCREENSHOTS") or default)
    target.mkdir(parents=True, exist_ok=True)
    return target
