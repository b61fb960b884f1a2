"""OSCQuery (the Vidvox proposal): the address space as an HTTP JSON tree, LISTEN over a websocket.

One port serves both: plain HTTP GETs get JSON (``/`` the whole tree, a path its
subtree, ``?HOST_INFO`` the server's description, ``?VALUE`` and the other
attributes one attribute); a websocket upgrade on the same port takes
``{"COMMAND": "LISTEN" | "IGNORE", "DATA": address}`` text frames and gets every
change to a listened address as a binary OSC message. Binary OSC frames sent to
the websocket set values like UDP messages do.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from pythonosc.osc_packet import OscPacket

from bridge.control import BYPASS_PARAM, PREFIX, Controller, Target
from bridge.osc_wire import build_message
from bridge.ws_server import WebsocketServer
from core.errors import ParameterError

log = logging.getLogger(__name__)
ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "ACCESS", "VALUE", "RANGE", "UNIT", "DESCRIPTION", "SCALE", "CHOICES")
READ_WRITE = 3


def leaf(t: Target) -> dict[str, Any]:
    """One parameter as an OSCQuery node.

    Beside the proposal's attributes, ``SCALE`` ("lin", "log", "choice", or "toggle"
    for bypass) tells a surface how to map a fader, and a choice has its names in
    ``CHOICES`` (the values are their indices).
    """
    p = t.param
    rng: dict[str, Any] = {"VALS": list(range(len(p.choices)))} if p.choices else {"MIN": p.min, "MAX": p.max}
    node = {
        "FULL_PATH": t.address,
        "TYPE": "i" if p is BYPASS_PARAM or p.choices else "f",
        "ACCESS": READ_WRITE,
        "VALUE": [int(t.value()) if p is BYPASS_PARAM or p.choices else t.value()],
        "RANGE": [rng],
        "UNIT": [p.unit],
        "DESCRIPTION": p.doc + (f" ({', '.join(p.choices)})" if p.choices else ""),
        "SCALE": "toggle" if p is BYPASS_PARAM else p.scale,
    }
    if p.choices:
        node["CHOICES"] = list(p.choices)
    return node


def tree(ctl: Controller) -> dict[str, Any]:
    """The whole namespace: containers for /mixbridge, chains and slots, leaves for values."""
    root: dict[str, Any] = {"FULL_PATH": "/", "ACCESS": 0, "CONTENTS": {}, "DESCRIPTION": "mixbridge"}
    for t in ctl.targets():
        node = root
        parts = t.address.strip("/").split("/")
        for i, part in enumerate(parts[:-1]):
            node = node["CONTENTS"].setdefault(
                part, {"FULL_PATH": "/" + "/".join(parts[: i + 1]), "ACCESS": 0, "CONTENTS": {}})
        node["CONTENTS"][parts[-1]] = leaf(t)
    return root


class OSCQueryServer(WebsocketServer):
    """HTTP + websocket OSCQuery server for a :class:`Controller`, on its own thread.

    Examples
    --------
    >>> q = OSCQueryServer(ctl, port=0, osc_port=9000).start(); q.port   # doctest: +SKIP
    """

    what = "OSCQuery"

    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 9001,
                 osc_port: int = 9000) -> None:
        super().__init__(controller, host, port, "oscquery")
        self.osc_port = osc_port
        self._listeners: dict[Any, set[str]] = {}  # websocket -> addresses it listens to

    def host_info(self) -> dict[str, Any]:
        return {
            "NAME": "mixbridge", "OSC_IP": self.host, "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP",
            "EXTENSIONS": {a: True for a in ("ACCESS", "VALUE", "RANGE", "UNIT", "DESCRIPTION", "LISTEN")}
            | {"PATH_CHANGED": False},
        }

    # -- HTTP -------------------------------------------------------------------------
    def _http(self, connection: Any, request: Any) -> Any:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        url = urlsplit(request.path)
        query = url.query.upper()
        try:
            if query == "HOST_INFO":
                body: Any = self.host_info()
            else:
                node = self._node(url.path)
                if query:
                    if query not in ATTRIBUTES or query not in node:
                        return self._respond(connection, HTTPStatus.NO_CONTENT, None)
                    body = {query: node[query]}
                else:
                    body = node
        except KeyError:
            return self._respond(connection, HTTPStatus.NOT_FOUND, {"error": f"no node {url.path}"})
        return self._respond(connection, HTTPStatus.OK, body)

    @staticmethod
    def _respond(connection: Any, status: HTTPStatus, body: Any) -> Any:
        response = connection.respond(status, "" if body is None else json.dumps(body))
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    def _node(self, path: str) -> dict[str, Any]:
        node = tree(self.controller)
        for part in (p for p in path.split("/") if p):
            node = node["CONTENTS"][part]
        return node

    # -- websocket --------------------------------------------------------------------
    async def _ws(self, ws: Any) -> None:
        self._listeners[ws] = set()
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    self._osc(frame)
                    continue
                try:
                    cmd = json.loads(frame)
                    address = self.controller.resolve(cmd["DATA"]).address
                    if cmd["COMMAND"] == "LISTEN":
                        self._listeners[ws].add(address)
                    elif cmd["COMMAND"] == "IGNORE":
                        self._listeners[ws].discard(address)
                except (ValueError, KeyError, TypeError, ParameterError) as e:
                    log.info("OSCQuery websocket command %r: %s", frame, e)
        finally:
            del self._listeners[ws]

    def _osc(self, frame: bytes) -> None:
        try:
            msgs = [(m.message.address, list(m.message.params)) for m in OscPacket(frame).messages]
            sets = [(a, args) for a, args in msgs if a.startswith(f"{PREFIX}/")]
            self.controller.apply(self.controller.changes(sets), source="oscquery")
        except Exception as e:  # garbage from one client must not end the session
            log.info("OSCQuery websocket OSC frame: %s", e)

    def _on_change(self, changes: list[tuple[str, float]], source: str) -> None:
        if self._listeners:
            self._loop.call_soon_threadsafe(self._push, changes)

    def _push(self, changes: list[tuple[str, float]]) -> None:
        for ws, addresses in list(self._listeners.items()):
            for address, value in changes:
                if address in addresses:
                    self._loop.create_task(ws.send(build_message(address, [value])))
