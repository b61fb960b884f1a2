"""Shape checks for the TOML tables of plugins.toml and sessions (cheap: no DSP imports)."""

from __future__ import annotations

from typing import Any

from core.errors import SessionError

SLOT_KEYS = {"plugin", "label", "bypass", "mix", "sidechain", "params", "path", "uri"}
"""``path`` (a VST3/AU file) or ``uri`` (an LV2 plugin) names the third-party plugin a slot loads."""


def expect(value: Any, typ: type | tuple[type, ...], where: str) -> None:
    if not isinstance(value, typ):
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise SessionError(f"{where}: expected {names}, got {type(value).__name__}")


def check_slot_specs(slots: Any, where: str) -> None:
    """Check the shape of a list of slot tables (plugin, label, bypass, mix, sidechain, params, path/uri)."""
    if not isinstance(slots, list):
        raise SessionError(f"{where}: expected a list of processor tables")
    for i, spec in enumerate(slots):
        at = f"{where}[{i}]"
        expect(spec, dict, at)
        bad = set(spec) - SLOT_KEYS
        if bad:
            raise SessionError(f"{at}: unknown key(s) {sorted(bad)} (allowed: {sorted(SLOT_KEYS)})")
        if "plugin" not in spec:
            raise SessionError(f"{at}: missing 'plugin'")
        expect(spec["plugin"], str, f"{at}.plugin")
        expect(spec.get("params", {}), dict, f"{at}.params")
        expect(spec.get("bypass", False), bool, f"{at}.bypass")
        expect(spec.get("mix", 1.0), (int, float), f"{at}.mix")
        for key in ("label", "sidechain", "path", "uri"):
            if key in spec:
                expect(spec[key], str, f"{at}.{key}")
        if "path" in spec and "uri" in spec:
            raise SessionError(f"{at}: give 'path' or 'uri', not both")


def slot_labels(slots: list[dict[str, Any]]) -> list[str]:
    """Each slot table's label: its ``label``, else its plugin's name made unique (``eq``, ``eq2``)."""
    labels: list[str] = []
    for spec in slots:
        label = spec.get("label")
        if not label:
            label, n = spec["plugin"], 2
            while label in labels:
                label, n = f"{spec['plugin']}{n}", n + 1
        labels.append(label)
    return labels
