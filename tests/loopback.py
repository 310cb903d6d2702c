"""Run a small ASGI app on a real loopback port in a background thread (stand-in servers)."""

from __future__ import annotations

import threading
import time

import uvicorn

from bot.processes import free_port


class LoopbackServer:
    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off", ws="none"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
