"""Headless Chromium driven over the DevTools protocol, with a small websocket client.

Enough of the protocol for page tests: open a page, wait for it to load, evaluate script,
collect console errors and uncaught exceptions, take full-page screenshots.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
]


class Browser:
    """One Chromium process and one page (a flattened target session)."""

    def __init__(self, user_data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = self._devtools_url()
        self.ws = connect(url, max_size=64 * 1024 * 1024, open_timeout=20)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _devtools_url(self) -> str:
        # stderr is read to the end by a thread: chromium logs a lot (dbus and the like), and
        # a full pipe would block it.
        found: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.stderr_lines.append(line)
                match = re.search(r"DevTools listening on (ws://\S+)", line)
                if match:
                    found.put(match.group(1))

        self.stderr_lines: list[str] = []
        threading.Thread(target=pump, daemon=True).start()
        try:
            return found.get(timeout=30)
        except queue.Empty:
            raise RuntimeError(
                "chromium did not start its DevTools endpoint:\n" + "".join(self.stderr_lines)
            ) from None

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def open(self, url: str, *, settle: float = 0.5) -> None:
        """Navigate and wait for the load event, then let scripts settle."""
        start = len(self.events)
        self.call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events[start:]):
                break
            self._drain(0.2)
        else:
            raise TimeoutError(f"{url} did not load")
        self._drain(settle)

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self._drain(0.2)
        raise TimeoutError(f"never true: {expression}")

    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error calls and error log entries seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text")
                found.append(f"Uncaught: {text}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                args = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
                found.append("console.error: " + " ".join(args))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                found.append(f"log: {entry.get('text')} ({entry.get('url', '')})")
        return found

    def screenshot(self, path: Path) -> None:
        """A full-page PNG."""
        metrics = self.call("Page.getLayoutMetrics", session=True)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000)}
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
            session=True,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError, TimeoutError, ConnectionClosed):
            pass  # already gone; the process is reaped below either way
        self.ws.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
