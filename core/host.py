"""The plugin host: a pluggy PluginManager that loads processor plugins.

Start-up is add_hookspecs, register, check_pending. Built-in plugins are plain
module paths in plugins.toml; outside plugins come from the ``mixbridge``
entry-point group or module paths in plugins.toml. A plugin that fails is
reported by name with the reason and the others still load.
"""

from __future__ import annotations

import importlib
import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from core import hookspecs
from core.chain import Chain, Slot
from core.errors import (
    MixbridgeError,
    ParameterError,
    PluginLoadError,
    SessionError,
    UnknownProcessorError,
)
from core.processor import Processor
from core.specs import check_slot_specs, expect, slot_labels

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mixbridge"


@dataclass
class PluginsConfig:
    """What plugins.toml says: modules to load, entry points on/off, blocks, named chains."""

    modules: list[str] = field(default_factory=list)
    entry_points: bool = True
    block: list[str] = field(default_factory=list)
    chains: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> PluginsConfig:
        """Parse plugins.toml; SessionError names the offending key."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise SessionError(f"{p}: plugins file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise SessionError(f"{p}: not valid TOML: {e}") from None
        return cls.from_dict(data, str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "plugins.toml") -> PluginsConfig:
        unknown = set(data) - {"plugins", "chains"}
        if unknown:
            raise SessionError(f"{where}: unknown section(s) {sorted(unknown)}")
        plugins = data.get("plugins", {})
        expect(plugins, dict, f"{where}: [plugins]")
        bad = set(plugins) - {"modules", "entry_points", "block"}
        if bad:
            raise SessionError(f"{where}: unknown key(s) in [plugins]: {sorted(bad)}")
        modules = plugins.get("modules", [])
        block = plugins.get("block", [])
        for key, val in (("modules", modules), ("block", block)):
            if not (isinstance(val, list) and all(isinstance(x, str) for x in val)):
                raise SessionError(f"{where}: plugins.{key} must be a list of strings")
        ep = plugins.get("entry_points", True)
        expect(ep, bool, f"{where}: plugins.entry_points")
        chains = data.get("chains", {})
        expect(chains, dict, f"{where}: [chains]")
        for cname, slots in chains.items():
            check_slot_specs(slots, f"{where}: chains.{cname}")
        return cls(list(modules), ep, list(block), dict(chains),
                   Path(where) if where != "plugins.toml" else None)


class PluginHost:
    """Loads plugins and makes processors and chains from their declarations.

    Examples
    --------
    >>> host = PluginHost.from_toml()        # doctest: +SKIP
    >>> eq = host.create("eq", b1_gain_db=3.0)   # doctest: +SKIP
    """

    def __init__(self, config: PluginsConfig | None = None) -> None:
        self.config = config or PluginsConfig()
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.failures: dict[str, str] = {}
        self.processors: dict[str, type[Processor]] = {}
        self.origin: dict[str, str] = {}
        for name in self.config.block:
            self.pm.set_blocked(name)
        for mod in self.config.modules:
            self._load_module(mod)
        if self.config.entry_points:
            self._load_entry_points()
        self.pm.check_pending()
        self._collect()
        self.pm.hook.mixbridge_startup.call_historic(kwargs={"host": self})

    @classmethod
    def from_toml(cls, path: str | Path | None = None) -> PluginHost:
        """A host configured by plugins.toml (the one in force when ``path`` is None)."""
        from core.settings import plugins_toml

        return cls(PluginsConfig.load(path or plugins_toml()))

    # -- loading --------------------------------------------------------------------
    def _fail(self, name: str, reason: str) -> None:
        self.failures[name] = reason
        log.warning("%s", PluginLoadError(name, reason))

    def _register(self, obj: Any, name: str) -> None:
        if self.pm.is_blocked(name):
            return
        try:
            self.pm.register(obj, name=name)
        except (pluggy.PluginValidationError, ValueError) as e:
            self._fail(name, str(e))

    def _load_module(self, path: str) -> None:
        try:
            module = importlib.import_module(path)
        except Exception as e:  # noqa: BLE001 - any import failure is reported by name
            self._fail(path, f"{type(e).__name__}: {e}")
            return
        self._register(module, path)

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.is_blocked(ep.name) or self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                obj = ep.load()
            except Exception as e:  # noqa: BLE001
                self._fail(ep.name, f"{type(e).__name__}: {e}")
                continue
            self._register(obj, ep.name)

    def _collect(self) -> None:
        for impl in self.pm.hook.mixbridge_processors.get_hookimpls():
            plugin = impl.plugin_name
            try:
                classes = impl.function()
                for cls in classes:
                    if not (isinstance(cls, type) and issubclass(cls, Processor) and cls.name):
                        raise TypeError(f"{cls!r} is not a named Processor subclass")
                    if cls.realtime and cls.kernel is None and cls.process is Processor.process:
                        raise TypeError(f"{cls.name}: a real-time processor needs a kernel")
                    if cls.name in self.processors:
                        raise TypeError(
                            f"processor {cls.name!r} is already provided by {self.origin[cls.name]}"
                        )
                    self.processors[cls.name] = cls
                    self.origin[cls.name] = plugin
            except Exception as e:  # noqa: BLE001
                self._fail(plugin, f"{type(e).__name__}: {e}")

    # -- making things ------------------------------------------------------------
    def processor_class(self, name: str) -> type[Processor]:
        try:
            return self.processors[name]
        except KeyError:
            known = ", ".join(sorted(self.processors)) or "none loaded"
            hint = f"; {name} failed to load: {self.failures[name]}" if name in self.failures else ""
            raise UnknownProcessorError(f"unknown plugin {name!r} (available: {known}){hint}") from None

    def create(self, name: str, location: str | None = None, **params: Any) -> Processor:
        """A new processor instance; unknown names and bad values raise specific errors.

        ``location`` is the path or URI of the third-party plugin a processor such
        as ``vst3`` or ``lv2`` loads (its slot table's ``path`` or ``uri``).
        """
        cls = self.processor_class(name)
        if cls.location_key:
            if location is None:
                raise ParameterError(f"plugin {name!r} needs {cls.location_key} = ... (the plugin to load)")
            cls = cls.at(location)
        elif location is not None:
            raise ParameterError(f"plugin {name!r} takes no path or uri")
        return cls(**params)

    def build_chain(self, specs: Sequence[Mapping[str, Any]], name: str, where: str = "") -> Chain:
        """A Chain from slot tables; errors name the slot and key (``where``)."""
        where = where or f"chain {name!r}"
        check_slot_specs(list(specs), where)
        chain = Chain(name=name)
        for i, (spec, label) in enumerate(zip(specs, slot_labels(list(specs)), strict=True)):
            at = f"{where}[{i}]"
            try:
                proc = self.create(spec["plugin"], spec.get("path", spec.get("uri")), **spec.get("params", {}))
                slot = Slot(
                    proc,
                    label=label,
                    bypass=spec.get("bypass", False),
                    mix=spec.get("mix", 1.0),
                    sidechain=spec.get("sidechain"),
                )
                chain.append(slot)
            except (ParameterError, UnknownProcessorError, PluginLoadError) as e:
                raise SessionError(f"{at}: {e}") from e
        return chain

    def service(self, name: str) -> Any:
        """The object a plugin provides for service ``name`` (core.hookspecs.SERVICES).

        Examples
        --------
        >>> host.service("analysis").spectral_features(audio, 48000)   # doctest: +SKIP
        """
        found = self.pm.hook.mixbridge_service(name=name)
        if found is None:
            known = ", ".join(hookspecs.SERVICES)
            raise PluginLoadError(name, f"no loaded plugin provides the {name!r} service (services: {known}); "
                                        "check plugins.toml's modules")
        return found

    def chain(self, name: str) -> Chain:
        """The named chain (preset) from plugins.toml."""
        if name not in self.config.chains:
            known = ", ".join(sorted(self.config.chains)) or "none defined"
            raise MixbridgeError(f"unknown chain {name!r} (chains: {known})")
        return self.build_chain(self.config.chains[name], name, f"chains.{name}")
