"""Audio devices through PortAudio (sounddevice), imported only when an audio command runs."""

from __future__ import annotations

from typing import Any

from core.errors import RealtimeError

LOOPBACK_HINTS = ("blackhole", "vb-audio", "vb-cable", "cable input", "cable output", "loopback",
                  "soundflower", "jack", "pipewire", "monitor of")


def portaudio() -> Any:
    """The sounddevice module; a RealtimeError names the system package when PortAudio is absent."""
    try:
        import sounddevice
    except OSError as e:
        raise RealtimeError(
            f"PortAudio is not available ({e}); install it: Debian/Ubuntu `apt-get install libportaudio2`, "
            "Fedora `dnf install portaudio`, macOS `brew install portaudio`"
        ) from None
    return sounddevice


def portaudio_c() -> tuple[Any, Any]:
    """sounddevice's CFFI handle and PortAudio library: the one place its private names are used.

    The fused engine opens its stream with ``Pa_OpenStream`` on these, so that
    PortAudio calls a compiled callback with no Python in between.
    """
    sd = portaudio()
    return sd._ffi, sd._lib


def refresh() -> None:
    """Re-enumerate devices (PortAudio lists JACK only if jackd ran when it initialised)."""
    import sys

    if "sounddevice" not in sys.modules:
        portaudio()  # the first import initialises PortAudio and enumerates afresh
        return
    sd = portaudio()
    sd._terminate()
    sd._initialize()


def is_loopback(name: str) -> bool:
    n = name.lower()
    return any(h in n for h in LOOPBACK_HINTS)


def list_devices() -> list[dict[str, Any]]:
    """Every device with its host API name and a loopback mark."""
    sd = portaudio()
    apis = sd.query_hostapis()
    out = []
    for i, d in enumerate(sd.query_devices()):
        api = apis[d["hostapi"]]["name"]
        out.append({
            "index": i, "name": d["name"], "hostapi": api,
            "inputs": d["max_input_channels"], "outputs": d["max_output_channels"],
            "default_samplerate": d["default_samplerate"],
            "low_latency_ms": 1000 * min(d["default_low_input_latency"] or 9, d["default_low_output_latency"] or 9),
            "loopback": is_loopback(d["name"]) or is_loopback(api),
        })
    return out


def find_device(spec: int | str | None, kind: str, host_api: str | None = None) -> dict[str, Any]:
    """A device by index or (part of its) name, optionally on one host API; errors list candidates."""
    sd = portaudio()
    apis = sd.query_hostapis()
    api_index = None
    if host_api:
        names = [a["name"] for a in apis]
        matches = [i for i, a in enumerate(names) if host_api.lower() in a.lower()]
        if not matches:
            raise RealtimeError(f"no host API {host_api!r} (available: {', '.join(names)})")
        api_index = matches[0]
    channels = "max_input_channels" if kind == "input" else "max_output_channels"
    devices = [dict(d, index=i) for i, d in enumerate(sd.query_devices())]
    usable = [d for d in devices if d[channels] > 0 and (api_index is None or d["hostapi"] == api_index)]
    if spec is None or spec == "":
        if api_index is not None:
            default = apis[api_index][f"default_{kind}_device"]
        else:
            default = sd.default.device[0 if kind == "input" else 1]
        found = [d for d in usable if d["index"] == default] or usable[:1]
    elif isinstance(spec, int) or str(spec).isdigit():
        found = [d for d in usable if d["index"] == int(spec)]
    else:
        found = [d for d in usable if str(spec).lower() in d["name"].lower()]
    if not found:
        listing = ", ".join(f"{d['index']}: {d['name']}" for d in usable) or "none"
        raise RealtimeError(f"no {kind} device {spec!r}{' on ' + host_api if host_api else ''} ({listing})")
    return found[0]
