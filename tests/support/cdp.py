"""Headless Chromium driven over the DevTools protocol, with a small websocket client.

Enough of the protocol for page tests: open a page, wait for it to load, evaluate script (in
the page or in one of its frames, including sandboxed out-of-process ones), read the response
headers of every document, collect console errors, CSP violations and uncaught exceptions,
take full-page screenshots.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

# SHADOWGAP_TEST_CHROMIUM points the tests at another build (or at none, to test the CI rule).
CHROMIUM = Path(os.environ.get("SHADOWGAP_TEST_CHROMIUM", "/usr/bin/chromium"))
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
        self.session = ""
        self.frame_sessions: dict[str, dict[str, Any]] = {}
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        # Frames in other processes (sandboxed iframes) attach as targets of their own; they
        # wait for us to enable their Runtime/Log domains, so no error of theirs is missed.
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
            session=True,
        )

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

    def _send(self, method: str, params: dict[str, Any], session_id: str | None) -> int:
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params}
        if session_id:
            message["sessionId"] = session_id
        self.ws.send(json.dumps(message))
        return int(message["id"])

    def _event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if (
            event.get("method") == "Target.attachedToTarget"
            and self.session
            and event.get("sessionId") == self.session
        ):
            params = event["params"]
            child = params["sessionId"]
            self.frame_sessions[child] = params["targetInfo"]
            for domain in ("Runtime", "Log", "Network"):
                self._send(f"{domain}.enable", {}, child)
            self._send("Runtime.runIfWaitingForDebugger", {}, child)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool | str = False,
    ) -> dict[str, Any]:
        session_id = session if isinstance(session, str) else self.session if session else None
        message_id = self._send(method, params or {}, session_id)
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._event(reply)

    def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                message = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in message:
                self._event(message)

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

    def evaluate_in_frame(self, url_part: str, expression: str) -> Any:
        """Evaluate in the child frame whose URL contains ``url_part``, in whichever process
        it runs (a sandboxed frame is cross-origin: the page's script cannot reach into it)."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        for session_id in list(self.frame_sessions):
            # The target's URL is read live: it attaches before it navigates.
            try:
                href = self.call(
                    "Runtime.evaluate",
                    {"expression": "location.href", "returnByValue": True},
                    session=session_id,
                )["result"].get("value", "")
            except RuntimeError:  # detached (the page navigated away)
                continue
            if url_part in href:
                result = self.call("Runtime.evaluate", params, session=session_id)
                break
        else:
            context = self._frame_context(url_part)
            if context is None:
                return None
            result = self.call("Runtime.evaluate", {**params, "contextId": context}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _frame_context(self, url_part: str) -> int | None:
        tree = self.call("Page.getFrameTree", session=True)["frameTree"]
        frames = [tree]
        frame_id = None
        while frames:
            node = frames.pop()
            if url_part in node["frame"].get("url", "") and node is not tree:
                frame_id = node["frame"]["id"]
            frames.extend(node.get("childFrames", []))
        for event in reversed(self.events):
            if event.get("method") != "Runtime.executionContextCreated":
                continue
            context = event["params"]["context"]
            aux = context.get("auxData", {})
            if aux.get("frameId") == frame_id and aux.get("isDefault"):
                return int(context["id"])
        return None

    def wait_in_frame(self, url_part: str, expression: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate_in_frame(url_part, expression)
            if value:
                return value
            self._drain(0.2)
        raise TimeoutError(f"never true in frame {url_part}: {expression}")

    def document_headers(self, url: str) -> dict[str, str]:
        """Response headers (lower-case names) of the last document loaded from ``url``."""
        for event in reversed(self.events):
            if event.get("method") != "Network.responseReceived":
                continue
            response = event["params"]["response"]
            if event["params"].get("type") == "Document" and response["url"] == url:
                return {k.lower(): v for k, v in response["headers"].items()}
        raise AssertionError(f"no document response seen for {url}")

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
