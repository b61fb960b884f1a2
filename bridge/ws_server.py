"""A websocket + HTTP server on its own asyncio thread, fed by a Controller's changes.

The OSCQuery server and the web surface are both this: ``start`` listens (a port
that cannot be had is a BridgeError naming it), registers the subclass's
``_on_change`` with the controller, and ``stop`` closes every connection and ends
the thread. Subclasses give the websocket handler, the HTTP handler and, if they
want one, a background task.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from core.errors import BridgeError


class WebsocketServer:
    """Base of the OSCQuery and web servers; ``what`` names it in errors."""

    what = "a websocket server"
    serve_options: dict[str, Any] = {}

    def __init__(self, controller: Any, host: str, port: int, thread_name: str) -> None:
        self.controller = controller
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._error: Exception | None = None
        self._stop: asyncio.Future[None] | None = None

    def start(self) -> Any:
        """Listen and serve on a daemon thread; BridgeError if the port cannot be had."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise BridgeError(f"cannot serve {self.what} on {self.host}:{self.port}: {self._error}")
        self.controller.listeners.append(self._on_change)
        return self

    def stop(self) -> None:
        """Close every connection and the port, and end the thread."""
        if self._on_change in self.controller.listeners:
            self.controller.listeners.remove(self._on_change)
        if self._stop is not None and not self._stop.done():
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._stop = self._loop.create_future()
        try:
            server = await serve(self._ws, self.host, self.port, process_request=self._http, **self.serve_options)
        except OSError as e:
            self._error = e
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        background = asyncio.create_task(self._background())
        async with server:
            await self._stop
        background.cancel()

    async def _background(self) -> None:
        """A task that runs while the server does (meters, for instance); none by default."""

    # subclasses: the websocket handler, the HTTP handler and the controller listener
    async def _ws(self, ws: Any) -> None:
        raise NotImplementedError

    def _http(self, connection: Any, request: Any) -> Any:
        raise NotImplementedError

    def _on_change(self, changes: list[tuple[str, float]], source: str) -> None:
        raise NotImplementedError
