"""Settings from the environment: the enhancement switches and where data lives."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, fields
from pathlib import Path

from core.errors import ModelUnavailableError, SessionError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise SessionError(f"{name}={raw!r}: expected true/false, 1/0, yes/no or on/off")


@dataclass(frozen=True)
class EnhancementSettings:
    """Which stages run, read from the environment (names as in the reference design).

    Examples
    --------
    >>> EnhancementSettings().enable_auto_tune
    False
    """

    enable_voice_enhancement: bool = True
    enable_neural_vocoder: bool = True
    enable_prosody_enhancement: bool = True
    enable_auto_tune: bool = False
    enable_intelligent_mixing: bool = True
    enable_frequency_balancing: bool = True
    enable_sidechain_compression: bool = True
    enable_stereo_imaging: bool = True
    enable_genre_specific_mixing: bool = True
    enable_memory_learning: bool = True
    enable_quality_tracking: bool = True
    enable_caching: bool = True
    cache_ttl_seconds: int = 3600
    fallback_on_error: bool = True
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> EnhancementSettings:
        """Read every field from its upper-case environment variable."""
        values: dict[str, object] = {}
        for f in fields(cls):
            env = f.name.upper()
            if f.type in ("bool", bool):
                values[f.name] = _env_bool(env, f.default)  # type: ignore[arg-type]
            elif f.name == "cache_ttl_seconds":
                raw = os.environ.get(env)
                if raw is not None:
                    try:
                        ttl = int(raw)
                    except ValueError:
                        raise SessionError(f"{env}={raw!r}: expected whole seconds") from None
                    if ttl < 0:
                        raise SessionError(f"{env}={raw!r}: must be >= 0")
                    values[f.name] = ttl
            elif f.name == "log_level":
                raw = os.environ.get(env, f.default).upper()  # type: ignore[arg-type]
                if raw not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
                    raise SessionError(f"{env}={raw!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]


def data_dir() -> Path:
    """Where the embedded database, cache and vector store live (MIXBRIDGE_DATA_DIR)."""
    raw = os.environ.get("MIXBRIDGE_DATA_DIR")
    if raw:
        return Path(raw).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mixbridge"


def package_file(package: str, *parts: str, what: str) -> Path:
    """A file shipped inside an installed package (model weights), found without importing the package.

    Raises ModelUnavailableError saying which ``what`` is missing and why.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"{what} missing: {package} is not installed")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise ModelUnavailableError(f"{what} missing: {path}")
    return path


def plugins_toml() -> Path:
    """The plugins.toml in force: MIXBRIDGE_PLUGINS, ./plugins.toml, or the shipped one."""
    raw = os.environ.get("MIXBRIDGE_PLUGINS")
    if raw:
        return Path(raw).expanduser()
    local = Path.cwd() / "plugins.toml"
    if local.is_file():
        return local
    return Path(__file__).resolve().parent.parent / "plugins.toml"
