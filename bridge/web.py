"""The built-in web control surface: a page built in the browser from the declared parameters.

One port serves everything, on a thread of its own (127.0.0.1 unless told otherwise):

- ``GET /`` the page, ``/app.js`` and ``/style.css`` from ``bridge/web_static`` (no
  build step, nothing fetched from anywhere else);
- ``GET /tree`` the OSCQuery tree (:func:`bridge.oscquery.tree`): ranges, units, scales,
  choices and current values, from which the page draws a fader (log where the
  Param is log), dropdown or toggle per parameter;
- ``/ws`` a websocket of JSON text messages.

Client to server (anything else is answered with an ``error``; nothing crashes)::

    {"op": "set", "address": "/mixbridge/vocal/compressor/threshold_db", "value": -24}
    {"op": "presets"}  {"op": "preset_load", "name": "N"}  {"op": "preset_save", "name": "N"}
    {"op": "rate", "overall": 4}

Server to client: ``{"op": "values", "values": {address: value}}`` (every value on
connect, then every change from any source — this page, another page, OSC, MIDI,
a preset — coalesced per 30 ms), ``{"op": "meters", ...}`` four times a second
(levels, gain reduction, load, xruns; ``audio: false`` without an engine),
``{"op": "presets", "names": [...]}``, ``{"op": "ok", "request": op}`` and
``{"op": "error", "request": op, "error": reason}``.

Bounds: 16 websocket clients, 4 KiB per incoming message (a larger one closes that
connection with code 1009), one outgoing message of each kind in flight per client
(a slow page gets the latest values, never a growing queue).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

from bridge.control import Controller
from bridge.oscquery import tree
from bridge.ws_server import WebsocketServer
from core.errors import BridgeError, ParameterError, RealtimeError

log = logging.getLogger(__name__)
MAX_CLIENTS = 16
MAX_MESSAGE_BYTES = 4096
FEEDBACK_INTERVAL_S = 0.03
METER_INTERVAL_S = 0.25
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
# what each request carries besides "op", and the JSON types each field takes
REQUESTS: dict[str, dict[str, tuple[type, ...]]] = {
    "set": {"address": (str,), "value": (int, float)},
    "presets": {},
    "preset_load": {"name": (str,)},
    "preset_save": {"name": (str,)},
    "rate": {"overall": (int, float)},
}
Stats = Callable[[], dict[str, Any]]


@dataclass
class _Client:
    """One open page: what it still has to be told, and the event that wakes its sender."""

    ws: Any
    peer: str
    values: dict[str, float] = field(default_factory=dict)
    meters: dict[str, Any] | None = None
    presets: list[str] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class WebServer(WebsocketServer):
    """HTTP + websocket server of the control page for a :class:`Controller`.

    Parameters
    ----------
    controller : Controller
    host, port : str, int
        Where to listen (port 0 picks a free one, see ``.port`` after ``start``).
    stats : callable, optional
        Returns the engine's stats (:meth:`rt.engine.Engine.stats`); without it (no
        audio) the page shows the meters as n/a.

    Examples
    --------
    >>> web = WebServer(ctl, port=0).start(); print(web.url)   # doctest: +SKIP
    >>> web.stop()                                             # doctest: +SKIP
    """

    what = "the web surface"
    serve_options = {"max_size": MAX_MESSAGE_BYTES, "max_queue": 4}

    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 8080,
                 stats: Stats | None = None) -> None:
        super().__init__(controller, host, port, "web")
        self.stats = stats
        self._static = {path: (files("bridge").joinpath("web_static", name).read_bytes(), ctype)
                        for path, (name, ctype) in STATIC.items()}
        self._clients: dict[Any, _Client] = {}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def _background(self) -> None:
        await self._meter_loop()

    # -- HTTP -------------------------------------------------------------------------
    def _http(self, connection: Any, request: Any) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/ws":
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != request.headers.get("Host"):
                # another site open in the same browser must not steer the mix
                return _response(HTTPStatus.FORBIDDEN, b"websocket from another origin", "text/plain")
            return None
        if path == "/tree":
            return _response(HTTPStatus.OK, json.dumps(tree(self.controller)).encode(), "application/json")
        if path in self._static:
            return _response(HTTPStatus.OK, *self._static[path])
        return _response(HTTPStatus.NOT_FOUND, f"no page {path}".encode(), "text/plain")

    # -- websocket --------------------------------------------------------------------
    async def _ws(self, ws: Any) -> None:
        if len(self._clients) >= MAX_CLIENTS:
            await ws.close(1013, f"too many pages open (at most {MAX_CLIENTS})")
            return
        client = _Client(ws, "{}:{}".format(*ws.remote_address[:2]), presets=self.controller.list_presets())
        self._clients[ws] = client  # first, so that no change made while the page opens is missed
        client.values = {t.address: t.value() for t in self.controller.targets()}
        client.wake.set()
        sender = asyncio.create_task(self._sender(client))
        try:
            async for frame in ws:
                reply = await self._handle(frame, client)
                if reply is not None:
                    await ws.send(json.dumps(reply))
        except Exception as e:  # noqa: BLE001 - a dropped or oversized connection ends this page only
            log.info("web client %s: %s", client.peer, e)
        finally:
            del self._clients[ws]
            sender.cancel()

    async def _sender(self, client: _Client) -> None:
        """Send what changed since the last message, then wait: coalesces a fast sweep."""
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                if client.values:
                    values, client.values = client.values, {}
                    await client.ws.send(json.dumps({"op": "values", "values": values}))
                if client.presets is not None:
                    names, client.presets = client.presets, None
                    await client.ws.send(json.dumps({"op": "presets", "names": names}))
                if client.meters is not None:
                    meters, client.meters = client.meters, None
                    await client.ws.send(json.dumps(meters))
                await asyncio.sleep(FEEDBACK_INTERVAL_S)
        except Exception as e:  # noqa: BLE001 - the connection closed under us
            log.debug("web sender %s: %s", client.peer, e)

    async def _handle(self, frame: str | bytes, client: _Client) -> dict[str, Any] | None:
        """Validate and carry out one request; the reply (None for a set that went through)."""
        op = "?"
        try:
            msg = _parse(frame)
            op = msg["op"]
            ctl, source = self.controller, f"web {client.peer}"
            if op == "set":
                changes = ctl.changes([(msg["address"], [msg["value"]])])
                await asyncio.to_thread(ctl.apply, changes, source)
                return None
            if op == "presets":
                return {"op": "presets", "names": await asyncio.to_thread(ctl.list_presets)}
            if op == "preset_load":
                await asyncio.to_thread(ctl.load_preset, msg["name"], source)
            elif op == "preset_save":
                await asyncio.to_thread(ctl.save_preset, msg["name"])
                names = await asyncio.to_thread(ctl.list_presets)
                for c in list(self._clients.values()):
                    c.presets = names
                    c.wake.set()
            elif op == "rate":
                await asyncio.to_thread(ctl.rate, [msg["overall"]])
            return {"op": "ok", "request": op} | {k: v for k, v in msg.items() if k != "op"}
        except (ParameterError, BridgeError, RealtimeError) as e:
            return {"op": "error", "request": op, "error": str(e)}
        except Exception as e:  # noqa: BLE001 - a bug or a failing store answers the page, never ends the server
            log.exception("web request %r from %s", frame[:200], client.peer)
            return {"op": "error", "request": op, "error": f"internal error: {type(e).__name__}: {e}"}

    # -- feedback ---------------------------------------------------------------------
    def _on_change(self, changes: list[tuple[str, float]], source: str) -> None:
        """Controller listener (any thread): every change reaches every open page."""
        if self._clients:
            self._loop.call_soon_threadsafe(self._queue, changes)

    def _queue(self, changes: list[tuple[str, float]]) -> None:
        for client in self._clients.values():
            client.values.update(changes)
            client.wake.set()

    async def _meter_loop(self) -> None:
        while True:
            await asyncio.sleep(METER_INTERVAL_S)
            if self._clients:
                try:
                    meters = await asyncio.to_thread(self.meters)
                except Exception:  # noqa: BLE001 - a processor's meter failing must not stop the others
                    log.exception("web meters")
                    continue
                for client in self._clients.values():
                    client.meters = meters
                    client.wake.set()

    def meters(self) -> dict[str, Any]:
        """Levels (dBFS peaks), load, xruns, latency and each reporting slot's gain reduction.

        Without an engine every figure is None (the page shows n/a): a chain that is
        not running reduces nothing and has no level.
        """
        reporting = {f"{cname}/{slot.label}": slot.processor
                     for cname, chain in self.controller.chains.items() for slot in chain
                     if hasattr(slot.processor, "gain_reduction_db")}
        stats: dict[str, Any] | None = None
        if self.stats is not None:
            try:
                stats = self.stats()
            except Exception:  # noqa: BLE001 - meters are best effort; the surface goes on
                log.exception("engine stats")
        if stats is None:
            return {"op": "meters", "audio": False, "input_db": None, "output_db": None, "load": None,
                    "xruns": None, "latency_ms": None, "gain_reduction_db": {k: None for k in reporting}}
        return {
            "op": "meters", "audio": True,
            "input_db": _finite(stats.get("input_peak_db")), "output_db": _finite(stats.get("output_peak_db")),
            "load": _finite(stats.get("load")), "xruns": stats.get("xruns"),
            "latency_ms": _finite(stats.get("total_latency_ms")),
            "gain_reduction_db": {k: _finite(p.gain_reduction_db) for k, p in reporting.items()},
        }


def _finite(v: Any) -> float | None:
    """A number JSON can carry (NaN and inf are not JSON), else None."""
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _parse(frame: str | bytes) -> dict[str, Any]:
    """One request, checked against REQUESTS: an object with a known op and exactly its fields."""
    if isinstance(frame, bytes):
        raise BridgeError("binary frames are not taken: send JSON text")
    try:
        msg = json.loads(frame)
    except ValueError as e:
        raise BridgeError(f"not JSON: {e}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        raise BridgeError('expected a JSON object with an "op" string')
    fields = REQUESTS.get(msg["op"])
    if fields is None:
        raise BridgeError(f"unknown op {msg['op'][:40]!r} (ops: {', '.join(REQUESTS)})")
    if set(msg) != {"op", *fields}:
        want = ", ".join(fields) or "nothing else"
        got = ", ".join(k[:40] for k in msg if k != "op") or "none"
        raise BridgeError(f"{msg['op']}: expected fields {want}, got {got}")
    for name, types in fields.items():
        v = msg[name]
        if isinstance(v, bool) or not isinstance(v, types):
            raise BridgeError(f"{msg['op']}: {name} must be {' or '.join(t.__name__ for t in types)}, got {v!r}"[:300])
    return msg


def _response(status: HTTPStatus, body: bytes, ctype: str) -> Response:
    headers = Headers({
        "Content-Type": ctype, "Content-Length": str(len(body)), "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    })
    return Response(status.value, status.phrase, headers, body)


def serve_web(controller: Controller, host: str = "127.0.0.1", port: int = 8080,
              stats: Stats | None = None) -> WebServer:
    """Start the web surface for ``controller`` on a thread; ``.stop()`` ends it.

    Examples
    --------
    >>> web = serve_web(ctl, port=8080, stats=engine.stats)   # doctest: +SKIP
    """
    return WebServer(controller, host, port, stats).start()
