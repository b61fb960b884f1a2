"""The plugin host as a command loads it: plugins.toml in force, failures reported on stderr."""

from __future__ import annotations

import sys

from core.host import PluginHost


def load_host() -> PluginHost:
    """A host from the plugins.toml in force; each plugin that failed is named on stderr, the rest load."""
    host = PluginHost.from_toml()
    for name, reason in host.failures.items():
        print(f"mixbridge: warning: plugin {name!r} not loaded: {reason}", file=sys.stderr)
    return host
