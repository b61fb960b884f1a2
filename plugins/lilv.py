"""lilv (liblilv-0, Debian ``liblilv-0-0``) through ctypes: find LV2 plugins, read their ports.

PyPI has no lilv binding and Debian's python3-lilv serves only the system
Python, so the few lilv calls mixbridge needs are declared here. lilv is not
thread-safe: one world per process, every use under its ``lock``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading
from dataclasses import dataclass
from typing import Any

from core.chain import SLOT_OWNED
from core.errors import PluginLoadError

LV2 = "http://lv2plug.in/ns/lv2core#"
UNITS = "http://lv2plug.in/ns/extensions/units#"
PPROPS = "http://lv2plug.in/ns/ext/port-props#"
URID_MAP = "http://lv2plug.in/ns/ext/urid#map"
OPTIONS = "http://lv2plug.in/ns/ext/options#options"
BOUNDED = "http://lv2plug.in/ns/ext/buf-size#boundedBlockLength"
SUPPORTED_FEATURES = {URID_MAP, OPTIONS, BOUNDED}
UNIT_NAMES = {"db": "dB", "hz": "Hz", "khz": "kHz", "mhz": "MHz", "ms": "ms", "s": "s", "pc": "%",
              "semitone12TET": "st", "cent": "cents", "bpm": "BPM", "oct": "oct", "min": "min", "m": "m"}


_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "lilv_world_new": (_P, ()),
    "lilv_world_load_all": (None, (_P,)),
    "lilv_world_get_all_plugins": (_P, (_P,)),
    "lilv_new_uri": (_P, (_P, ctypes.c_char_p)),
    "lilv_node_free": (None, (_P,)),
    "lilv_node_as_string": (ctypes.c_char_p, (_P,)),
    "lilv_node_as_float": (ctypes.c_float, (_P,)),
    "lilv_plugins_get_by_uri": (_P, (_P, _P)),
    "lilv_plugins_begin": (_P, (_P,)),
    "lilv_plugins_is_end": (ctypes.c_bool, (_P, _P)),
    "lilv_plugins_get": (_P, (_P, _P)),
    "lilv_plugins_next": (_P, (_P, _P)),
    "lilv_plugin_get_uri": (_P, (_P,)),
    "lilv_plugin_get_name": (_P, (_P,)),
    "lilv_plugin_get_num_ports": (ctypes.c_uint32, (_P,)),
    "lilv_plugin_get_port_by_index": (_P, (_P, ctypes.c_uint32)),
    "lilv_plugin_get_port_ranges_float": (None, (_P, _P, _P, _P)),
    "lilv_plugin_get_required_features": (_P, (_P,)),
    "lilv_plugin_has_feature": (ctypes.c_bool, (_P, _P)),
    "lilv_plugin_has_latency": (ctypes.c_bool, (_P,)),
    "lilv_plugin_get_latency_port_index": (ctypes.c_uint32, (_P,)),
    "lilv_plugin_instantiate": (_P, (_P, ctypes.c_double, _P)),
    "lilv_instance_free": (None, (_P,)),
    "lilv_nodes_begin": (_P, (_P,)),
    "lilv_nodes_is_end": (ctypes.c_bool, (_P, _P)),
    "lilv_nodes_get": (_P, (_P, _P)),
    "lilv_nodes_next": (_P, (_P, _P)),
    "lilv_nodes_free": (None, (_P,)),
    "lilv_port_is_a": (ctypes.c_bool, (_P, _P, _P)),
    "lilv_port_has_property": (ctypes.c_bool, (_P, _P, _P)),
    "lilv_port_get_symbol": (_P, (_P, _P)),
    "lilv_port_get_name": (_P, (_P, _P)),
    "lilv_port_get": (_P, (_P, _P, _P)),
}


class Descriptor(ctypes.Structure):
    """LV2_Descriptor (lv2/core/lv2.h): the plugin's URI and its C entry points."""

    _fields_ = [("URI", ctypes.c_char_p), ("instantiate", _P), ("connect_port", _P), ("activate", _P),
                ("run", _P), ("deactivate", _P), ("cleanup", _P), ("extension_data", _P)]


class Instance(ctypes.Structure):
    """LilvInstance (lilv/lilv.h, public): descriptor, handle, lilv's private part."""

    _fields_ = [("descriptor", ctypes.POINTER(Descriptor)), ("handle", _P), ("pimpl", _P)]


class Feature(ctypes.Structure):
    _fields_ = [("URI", ctypes.c_char_p), ("data", _P)]


MAP_FUNC = ctypes.CFUNCTYPE(ctypes.c_uint32, _P, ctypes.c_char_p)


class URIDMap(ctypes.Structure):
    _fields_ = [("handle", _P), ("map", MAP_FUNC)]


class Option(ctypes.Structure):
    """LV2_Options_Option (lv2/options/options.h)."""

    _fields_ = [("context", ctypes.c_int), ("subject", ctypes.c_uint32), ("key", ctypes.c_uint32),
                ("size", ctypes.c_uint32), ("type", ctypes.c_uint32), ("value", _P)]


CONNECT = ctypes.CFUNCTYPE(None, _P, ctypes.c_uint32, _P)
HANDLE_CALL = ctypes.CFUNCTYPE(None, _P)


class Lilv:
    """One lilv world for the process (lilv is not thread-safe: every use holds ``lock``)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("lilv-0") or "liblilv-0.so.0"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as e:
            raise PluginLoadError("lv2", f"LV2 hosting needs liblilv (Debian: liblilv-0-0): {e}") from None
        for fn, (res, args) in _SIGNATURES.items():
            f = getattr(self.lib, fn)
            f.restype, f.argtypes = res, args
        self.lock = threading.RLock()
        self.world = self.lib.lilv_world_new()
        self.lib.lilv_world_load_all(self.world)
        self.plugins = self.lib.lilv_world_get_all_plugins(self.world)
        self._nodes: dict[str, int] = {}
        self.urids: dict[str, int] = {}
        self.map_func = MAP_FUNC(self.map_uri)  # kept alive as long as the world
        self.urid_map = URIDMap(None, self.map_func)

    def map_uri(self, handle: int | None, uri: bytes) -> int:
        # called by plugins while they instantiate (never from run()), on the preparing thread
        return self.urids.setdefault(uri.decode(), len(self.urids) + 1)

    def node(self, uri: str) -> int:
        """A cached LilvNode for ``uri`` (kept for the life of the world)."""
        if uri not in self._nodes:
            self._nodes[uri] = self.lib.lilv_new_uri(self.world, uri.encode())
        return self._nodes[uri]

    def string(self, node: int | None, free: bool = False) -> str:
        if not node:
            return ""
        s = (self.lib.lilv_node_as_string(node) or b"").decode()
        if free:
            self.lib.lilv_node_free(node)
        return s

    def nodes(self, nodes: int | None) -> list[str]:
        """The strings of a LilvNodes collection, which is then freed."""
        out: list[str] = []
        if not nodes:
            return out
        it = self.lib.lilv_nodes_begin(nodes)
        while not self.lib.lilv_nodes_is_end(nodes, it):
            out.append(self.string(self.lib.lilv_nodes_get(nodes, it)))
            it = self.lib.lilv_nodes_next(nodes, it)
        self.lib.lilv_nodes_free(nodes)
        return out

    def plugin(self, uri: str) -> int:
        p = self.lib.lilv_plugins_get_by_uri(self.plugins, self.node(uri))
        if not p:
            raise PluginLoadError(uri, "no installed LV2 plugin has that URI (see `lv2ls`, or LV2_PATH)")
        return int(p)

    def all_plugins(self) -> list[int]:
        out = []
        it = self.lib.lilv_plugins_begin(self.plugins)
        while not self.lib.lilv_plugins_is_end(self.plugins, it):
            out.append(int(self.lib.lilv_plugins_get(self.plugins, it)))
            it = self.lib.lilv_plugins_next(self.plugins, it)
        return out


_lilv: Lilv | None = None
_lilv_lock = threading.Lock()


def lilv() -> Lilv:
    """The process's lilv world, loaded on first use (every installed bundle, honouring LV2_PATH)."""
    global _lilv
    with _lilv_lock:
        if _lilv is None:
            _lilv = Lilv()
        return _lilv


@dataclass(slots=True)
class Port:
    """One port of an LV2 plugin as its RDF describes it (ranges NaN where not given)."""

    index: int
    symbol: str
    name: str
    kind: str  # "audio", "control", "cv" or "other" (atom, event...)
    is_input: bool
    optional: bool  # lv2:connectionOptional
    lo: float
    hi: float
    default: float
    unit: str
    log: bool
    rate_relative: bool  # lv2:sampleRate: the range is a fraction of the sample rate
    toggled: bool
    integer: bool


def read_ports(w: Lilv, plugin: int) -> list[Port]:
    """Every port of ``plugin`` (a LilvPlugin*), in index order."""
    n = w.lib.lilv_plugin_get_num_ports(plugin)
    lo, hi, de = ((ctypes.c_float * n)() for _ in range(3))
    w.lib.lilv_plugin_get_port_ranges_float(plugin, lo, hi, de)
    ports = []
    for i in range(n):
        port = w.lib.lilv_plugin_get_port_by_index(plugin, i)

        def is_a(cls: str, port: int = port) -> bool:
            return bool(w.lib.lilv_port_is_a(plugin, port, w.node(cls)))

        def has(prop: str, port: int = port) -> bool:
            return bool(w.lib.lilv_port_has_property(plugin, port, w.node(prop)))

        kind = ("audio" if is_a(LV2 + "AudioPort") else "control" if is_a(LV2 + "ControlPort")
                else "cv" if is_a(LV2 + "CVPort") else "other")
        unit = w.string(w.lib.lilv_port_get(plugin, port, w.node(UNITS + "unit")), free=True)
        name = w.string(w.lib.lilv_port_get_name(plugin, port), free=True)
        ports.append(Port(
            index=i, symbol=w.string(w.lib.lilv_port_get_symbol(plugin, port)), name=name,
            kind=kind, is_input=is_a(LV2 + "InputPort"), optional=has(LV2 + "connectionOptional"),
            lo=lo[i], hi=hi[i], default=de[i], unit=_unit(unit, name),
            log=has(PPROPS + "logarithmic"), rate_relative=has(LV2 + "sampleRate"),
            toggled=has(LV2 + "toggled"), integer=has(LV2 + "integer"),
        ))
    return ports


def _unit(uri: str, name: str) -> str:
    """The port's units:unit, else a unit its name ends with in brackets ("Gain (dB)")."""
    if uri:
        return UNIT_NAMES.get(uri.rpartition("#")[2], "")
    m = re.search(r"\((dB|Hz|kHz|ms|s|%)\)\s*$", name)
    return m.group(1) if m else ""


def installed() -> list[dict[str, object]]:
    """Every installed LV2 plugin: uri, name, audio inputs/outputs, control params, required features.

    Examples
    --------
    >>> [p["uri"] for p in installed()][:1]   # doctest: +SKIP
    ['http://plugin.org.uk/swh-plugins/alias']
    """
    w = lilv()
    out: list[dict[str, object]] = []
    with w.lock:
        for plugin in w.all_plugins():
            uri = w.string(w.lib.lilv_plugin_get_uri(plugin))
            ports = read_ports(w, plugin)
            out.append({
                "uri": uri,
                "name": w.string(w.lib.lilv_plugin_get_name(plugin), free=True),
                "audio_in": sum(p.kind == "audio" and p.is_input for p in ports),
                "audio_out": sum(p.kind == "audio" and not p.is_input for p in ports),
                "params": [SLOT_OWNED.get(p.symbol, p.symbol) for p in ports if p.kind == "control" and p.is_input],
                "required_features": w.nodes(w.lib.lilv_plugin_get_required_features(plugin)),
            })
    return sorted(out, key=lambda d: str(d["uri"]))
