"""The one settings key: (chain, slot label, parameter), spelled as the OSC address.

Every place that stores or moves parameter values (sessions, presets, OSC, MIDI,
HTTP, the memory service, the learner) speaks :data:`Settings`: a flat mapping
``"chain/slot/param" -> value``. The key is the OSC address without its
``/mixbridge/`` prefix, so a value read from memory can be sent to a surface and a
value a surface sent can be stored, with no translation.

In a session the chain is the track's name (``vocals``, ``music``) or ``master``;
live, it is the running chain's name (``vocal``). The slot is the slot's label
(by default the processor's name, ``eq2`` for the second eq).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from core.errors import ParameterError

PREFIX = "/mixbridge"

Settings = dict[str, Any]
"""``{"chain/slot/param": value}``: native values (floats, or a choice's name)."""


class Key(NamedTuple):
    """One parameter's address: chain name, slot label, parameter id.

    Examples
    --------
    >>> k = Key.parse("/mixbridge/vocal/compressor/threshold_db")
    >>> k.chain, k.slot, k.param, str(k)
    ('vocal', 'compressor', 'threshold_db', 'vocal/compressor/threshold_db')
    >>> k.address
    '/mixbridge/vocal/compressor/threshold_db'
    """

    chain: str
    slot: str
    param: str

    def __str__(self) -> str:
        return f"{self.chain}/{self.slot}/{self.param}"

    @property
    def address(self) -> str:
        """The OSC address of this parameter."""
        return f"{PREFIX}/{self}"

    @classmethod
    def parse(cls, text: str) -> Key:
        """``chain/slot/param`` or ``/mixbridge/chain/slot/param``; ParameterError otherwise."""
        if not isinstance(text, str):
            raise ParameterError(f"settings key {text!r}: expected 'chain/slot/param'")
        body = text[len(PREFIX) + 1 :] if text.startswith(PREFIX + "/") else text
        parts = body.split("/")
        if len(parts) != 3 or not all(parts):
            raise ParameterError(f"settings key {text!r}: expected 'chain/slot/param'")
        return cls(*parts)


def check(settings: Mapping[str, Any], where: str = "settings") -> Settings:
    """A validated copy of ``settings``: keys parse, values are finite numbers, booleans or strings."""
    import math

    if not isinstance(settings, Mapping):
        raise ParameterError(f"{where}: expected a mapping of 'chain/slot/param' to values")
    out: Settings = {}
    for k, v in settings.items():
        key = Key.parse(k)
        if isinstance(v, bool) or isinstance(v, str):
            out[str(key)] = v
        elif isinstance(v, int | float) and math.isfinite(v):
            out[str(key)] = float(v)
        else:
            raise ParameterError(f"{where}: {k} = {v!r}: expected a finite number or a choice name")
    return out


def nest(settings: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{chain: {slot: {param: value}}}``: the same settings grouped for display or batching."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for k, v in settings.items():
        key = Key.parse(k)
        out.setdefault(key.chain, {}).setdefault(key.slot, {})[key.param] = v
    return out
