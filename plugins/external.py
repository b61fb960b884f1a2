"""Third-party plugins in sessions and chains: ``plugin = "vst3" | "au" | "lv2"``.

A slot names the plugin to load with ``path`` (a VST3 bundle or AU component,
loaded through pedalboard, offline only) or ``uri`` (an installed LV2 plugin,
hosted through lilv and run live; see plugins/lv2.py)::

    [[chains.vocal]]
    plugin = "lv2"
    uri = "http://plugin.org.uk/swh-plugins/amp"
    params = { gain = -6.0 }

    [[tracks.processors]]
    plugin = "vst3"
    path = "~/.vst3/MyComp.vst3"
    params = { threshold_db = -18.0 }

The registered ``vst3``/``au``/``lv2`` processors are placeholders; the host asks
their ``at(location)`` for a class whose params are discovered from the plugin
itself, so OSC, MIDI and ``mixbridge plugins`` see them like any other.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from core.errors import PluginLoadError
from core.hookspecs import hookimpl
from core.processor import Processor
from plugins.lv2 import LV2Processor

VST3_DIRS = ("~/.vst3", "/usr/lib/vst3", "/usr/local/lib/vst3", "/Library/Audio/Plug-Ins/VST3",
             "~/Library/Audio/Plug-Ins/VST3", "C:/Program Files/Common Files/VST3")
AU_DIRS = ("/Library/Audio/Plug-Ins/Components", "~/Library/Audio/Plug-Ins/Components")


class VST3Plugin(Processor):
    """A VST3 plugin by file (slot key ``path``), through pedalboard; offline only.

    Examples
    --------
    >>> comp = host.create("vst3", "/usr/lib/vst3/Comp.vst3", threshold_db=-18.0)   # doctest: +SKIP
    """

    name = "vst3"
    realtime = False
    location_key = "path"
    suffix = ".vst3"

    @classmethod
    def at(cls, location: str) -> type[Processor]:
        from plugins.pedalboard_fx import plugin_class

        path = Path(location).expanduser()
        if path.suffix.lower() != cls.suffix:
            raise PluginLoadError(str(path), f"a {cls.name} plugin is a {cls.suffix} file or bundle")
        sub = plugin_class(path, cls.name)
        sub.location_key, sub.location = cls.location_key, str(path)
        return sub

    def prepare(self, sample_rate: float, max_block: int, channels: int) -> None:
        raise PluginLoadError(self.name, f"no plugin named (give the slot a {self.location_key} = ...)")


class AUPlugin(VST3Plugin):
    """An Audio Unit by file (slot key ``path``), through pedalboard; macOS only, offline only."""

    name = "au"
    suffix = ".component"

    @classmethod
    def at(cls, location: str) -> type[Processor]:
        if sys.platform != "darwin":
            raise PluginLoadError(location, f"Audio Units load only on macOS (this is {sys.platform}); "
                                            "use the plugin's VST3 or LV2 version")
        return super().at(location)


def discover() -> dict[str, list[dict[str, Any]]]:
    """Third-party plugins installed here, for ``mixbridge plugins``: LV2 by URI, VST3/AU by path.

    LV2 entries carry uri, name, audio_in, audio_out, params and required_features;
    VST3/AU entries only their path (reading their params means loading them).
    A format that cannot load here lists nothing.

    Examples
    --------
    >>> [p["uri"] for p in discover()["lv2"]][:1]   # doctest: +SKIP
    ['http://plugin.org.uk/swh-plugins/alias']
    """
    from plugins.lilv import installed

    try:
        lv2 = installed()
    except PluginLoadError:
        lv2 = []

    def bundles(dirs: tuple[str, ...], suffix: str) -> list[dict[str, Any]]:
        found = []
        for d in dirs:
            root = Path(os.path.expanduser(d))
            if root.is_dir():
                found += [{"path": str(p)} for p in sorted(root.glob(f"*{suffix}"))]
        return found

    return {"lv2": lv2, "vst3": bundles(VST3_DIRS, ".vst3"),
            "au": bundles(AU_DIRS, ".component") if sys.platform == "darwin" else []}


@hookimpl
def mixbridge_processors() -> list[type[Processor]]:
    return [VST3Plugin, AUPlugin, LV2Processor]


@hookimpl
def mixbridge_service(name: str) -> object:
    """This module is the ``external`` service (:func:`discover`)."""
    return sys.modules[__name__] if name == "external" else None
