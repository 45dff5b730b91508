"""A minimal Chrome DevTools Protocol client (aiohttp's websocket) for headless Chromium screenshots of a JS app.

``Browser`` starts ``chromium --headless --remote-debugging-port`` with a throw-away profile; ``Page`` navigates,
waits until a piece of text has rendered, runs JavaScript and captures PNGs.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


class Browser:
    """Headless Chromium with the DevTools protocol on a free port of 127.0.0.1."""

    def __init__(self, width: int = 1500, height: int = 900) -> None:
        self.width, self.height = width, height

    def __enter__(self) -> Browser:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if chromium is None:
            raise SystemExit("Chromium not found. Fix: apt-get install -y chromium")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.profile = tempfile.mkdtemp(prefix="nlpkit-chromium-")
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--remote-debugging-port={self.port}", "--remote-allow-origins=*", f"--user-data-dir={self.profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ws_url = self._page_target()
        return self

    def _page_target(self, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise SystemExit(f"Chromium's DevTools did not answer on port {self.port} within {timeout_s:.0f} s")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One DevTools session on the browser's page (use ``async with Page(browser) as page``)."""

    def __init__(self, browser: Browser) -> None:
        self.browser, self.ids = browser, itertools.count(1)

    async def __aenter__(self) -> Page:
        import aiohttp

        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.browser.ws_url, max_msg_size=0)
        await self.send("Page.enable")
        await self.send("Emulation.setDeviceMetricsOverride", width=self.browser.width, height=self.browser.height,
                        deviceScaleFactor=1, mobile=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self.session.close()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are dropped)."""
        call = next(self.ids)
        await self.ws.send_json({"id": call, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=120)
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def js(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page (promises awaited) and return its JSON value."""
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        return result.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def wait_for_text(self, text: str, timeout_s: float = 60) -> None:
        """Wait until ``text`` is in the page's rendered text (the JS app has drawn it), then let it settle."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self.js(f"document.body && document.body.innerText.includes({json.dumps(text)})"):
                await asyncio.sleep(1.5)
                return
            await asyncio.sleep(0.5)
        raise SystemExit(f"{text!r} did not appear within {timeout_s:.0f} s on {await self.js('location.href')}")

    async def screenshot(self, png: Path) -> None:
        data = await self.send("Page.captureScreenshot", format="png")
        png.write_bytes(base64.b64decode(data["data"]))
