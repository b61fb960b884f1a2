"""One exception tree for mixbridge: every error a user can cause is a MixbridgeError."""

from __future__ import annotations


class MixbridgeError(Exception):
    """Root of every error mixbridge raises on purpose."""


class ParameterError(MixbridgeError, ValueError):
    """An unknown parameter, or a value outside its declared range."""


class PluginLoadError(MixbridgeError):
    """A plugin failed to import or register; ``plugin`` names it."""

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r} failed to load: {reason}")
        self.plugin = plugin
        self.reason = reason


class UnknownProcessorError(MixbridgeError, KeyError):
    """No loaded plugin provides a processor of that name."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that
        return str(self.args[0])


class UnknownGenreError(ParameterError):
    """A genre that is neither a registered name nor an alias (see core.genres)."""


class SessionError(MixbridgeError, ValueError):
    """A session or plugins.toml file is malformed; the message names the key."""


class AudioFileError(MixbridgeError):
    """Audio that cannot be read, is empty or holds non-finite samples."""


class RealtimeError(MixbridgeError):
    """The real-time engine cannot start or a processor cannot run live."""


class BridgeError(MixbridgeError):
    """Bad input from OSC, MIDI or HTTP."""


class MemoryServiceError(MixbridgeError):
    """The memory service (database, cache, vector store) failed."""


class MemoryUnavailableError(MemoryServiceError):
    """The database cannot be reached (and, for a write, not even the local journal took it): retry later."""


class ModelUnavailableError(MixbridgeError):
    """Model weights or an optional dependency are missing; a fallback may run."""


class NotFoundError(MixbridgeError, LookupError):
    """No such song, render, configuration or job."""


class PermissionDeniedError(MixbridgeError):
    """The user may not touch another user's song, configuration or render."""
