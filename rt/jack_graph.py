"""The JACK graph through libjack (ctypes): list ports, connect and disconnect them, read latencies.

PortAudio opens our streams as a JACK client but offers no way to patch its
ports; ``mixbridge latency`` needs to, so it opens a second, short-lived client
of its own here. JACK_DEFAULT_SERVER chooses the server, as for every client.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from types import TracebackType

from core.errors import RealtimeError

_P = ctypes.c_void_p
NO_START_SERVER = 0x01
IS_INPUT, IS_OUTPUT = 0x1, 0x2
CAPTURE_LATENCY, PLAYBACK_LATENCY = 0, 1


class _Range(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("jack") or "libjack.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        raise RealtimeError(f"patching JACK ports needs libjack (Debian: libjack-jackd2-0): {e}") from None
    for fn, res, args in (
        ("jack_client_open", _P, (ctypes.c_char_p, ctypes.c_int, _P)),
        ("jack_client_close", ctypes.c_int, (_P,)),
        ("jack_get_ports", _P, (_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong)),
        ("jack_port_by_name", _P, (_P, ctypes.c_char_p)),
        ("jack_port_get_all_connections", _P, (_P, _P)),
        ("jack_port_get_latency_range", None, (_P, ctypes.c_int, ctypes.POINTER(_Range))),
        ("jack_connect", ctypes.c_int, (_P, ctypes.c_char_p, ctypes.c_char_p)),
        ("jack_disconnect", ctypes.c_int, (_P, ctypes.c_char_p, ctypes.c_char_p)),
        ("jack_free", None, (_P,)),
    ):
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


class JackGraph:
    """A short-lived JACK client for patching: ``with JackGraph() as g: g.connect(a, b)``.

    Examples
    --------
    >>> with JackGraph() as g:                          # doctest: +SKIP
    ...     g.connect("PortAudio:out_1", "PortAudio:in_1")
    """

    def __init__(self, name: str = "mixbridge-patch") -> None:
        self.lib = _lib()
        self.client = self.lib.jack_client_open(name.encode(), NO_START_SERVER, None)
        if not self.client:
            raise RealtimeError("no JACK server is running (start jackd, or set JACK_DEFAULT_SERVER)")

    def __enter__(self) -> JackGraph:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.client:
            self.lib.jack_client_close(self.client)
            self.client = None

    def _names(self, array: int | None) -> list[str]:
        if not array:
            return []
        out, ptrs = [], ctypes.cast(array, ctypes.POINTER(ctypes.c_char_p))
        i = 0
        while ptrs[i]:
            out.append(ptrs[i].decode())
            i += 1
        self.lib.jack_free(array)
        return out

    def ports(self, pattern: str = "", inputs: bool | None = None) -> list[str]:
        """Port names matching the regex ``pattern``; only inputs (True) or outputs (False) if given."""
        flags = 0 if inputs is None else IS_INPUT if inputs else IS_OUTPUT
        return self._names(self.lib.jack_get_ports(self.client, pattern.encode() or None, None, flags))

    def _port(self, name: str) -> int:
        port = self.lib.jack_port_by_name(self.client, name.encode())
        if not port:
            raise RealtimeError(f"no JACK port {name!r}")
        return int(port)

    def connections(self, name: str) -> list[str]:
        return self._names(self.lib.jack_port_get_all_connections(self.client, self._port(name)))

    def connect(self, source: str, destination: str) -> None:
        rc = self.lib.jack_connect(self.client, source.encode(), destination.encode())
        if rc not in (0, 17):  # 17 = EEXIST: already connected
            raise RealtimeError(f"JACK refused to connect {source} -> {destination} (error {rc})")

    def disconnect(self, source: str, destination: str) -> None:
        self.lib.jack_disconnect(self.client, source.encode(), destination.encode())

    def latency(self, name: str, playback: bool) -> int:
        """The port's reported latency (max of its range) in frames, to the hardware and back."""
        r = _Range()
        self.lib.jack_port_get_latency_range(self._port(name), PLAYBACK_LATENCY if playback else CAPTURE_LATENCY,
                                             ctypes.byref(r))
        return int(r.max)
