"""A Chain: an ordered list of processor slots with bypass, wet/dry and sidechains.

It behaves like a list (as pedalboard's Pedalboard does). Edits build a new list
off the audio thread and swap it in with one assignment; bypass and mix are
targets the audio thread glides toward, so toggles are click-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
from numba import njit

from core.errors import ParameterError, RealtimeError
from core.processor import Processor

CROSSFADE_MS = 10.0

Change = tuple[np.ndarray, int, float]
"""One parameter change for the audio thread: (target array, index, new value)."""

# a third-party plugin's parameter of one of these names is renamed: the slot owns the OSC name
SLOT_OWNED = {"bypass": "plugin_bypass", "mix": "plugin_mix"}

# ctrl layout per slot: [bypass target 0/1, mix target 0..1, current wet gain, glide coef]
BYPASS, MIX, WET, COEF = 0, 1, 2, 3


@njit(cache=True, nogil=True, error_model="numpy")
def mix_kernel(
    audio: np.ndarray, dry: np.ndarray, ring: np.ndarray, pos: np.ndarray, ctrl: np.ndarray
) -> None:
    """audio = delayed dry + g * (wet - delayed dry), g gliding to (1 - bypass) * mix."""
    channels, frames = audio.shape
    target = (1.0 - ctrl[BYPASS]) * ctrl[MIX]
    g = ctrl[WET]
    delay = ring.shape[1]
    p = pos[0]
    coef = ctrl[COEF]
    for i in range(frames):
        g += (target - g) * coef
        if abs(target - g) < 1e-7:
            g = target
        for c in range(channels):
            if delay > 0:
                d = ring[c, p]
                ring[c, p] = dry[c, i]
            else:
                d = dry[c, i]
            audio[c, i] = d + g * (audio[c, i] - d)
        if delay > 0:
            p += 1
            if p == delay:
                p = 0
    pos[0] = p
    ctrl[WET] = g


@njit(cache=True, nogil=True, error_model="numpy")
def push_kernel(audio: np.ndarray, ring: np.ndarray, pos: np.ndarray) -> None:
    """Write ``audio`` into the dry delay line (kept current while a slot is fully wet)."""
    channels, frames = audio.shape
    delay = ring.shape[1]
    p = pos[0]
    for i in range(frames):
        for c in range(channels):
            ring[c, p] = audio[c, i]
        p += 1
        if p == delay:
            p = 0
    pos[0] = p


def blocks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, frames)`` of consecutive blocks of ``size`` covering ``total`` frames."""
    for start in range(0, total, size):
        yield start, min(size, total - start)


class Slot:
    """One processor in a chain, with its bypass, wet/dry mix and sidechain source."""

    def __init__(
        self,
        processor: Processor,
        label: str | None = None,
        bypass: bool = False,
        mix: float = 1.0,
        sidechain: str | None = None,
    ) -> None:
        self.processor = processor
        self.label = label or processor.name
        self.sidechain = sidechain
        self.ctrl = np.array([0.0, 1.0, 1.0, 1.0], dtype=np.float64)
        self._ctrl = memoryview(self.ctrl)  # the same memory, read per block at half numpy's indexing cost
        self.set_bypass(bypass)
        self.set_mix(mix)
        self.ctrl[WET] = (1.0 - self.ctrl[BYPASS]) * self.ctrl[MIX]
        self.dry = np.zeros((1, 0), dtype=np.float32)
        self.ring = np.zeros((1, 0), dtype=np.float32)
        self.pos = np.zeros(1, dtype=np.int64)
        if sidechain and not processor.accepts_sidechain:
            raise ParameterError(f"{self.label}: processor {processor.name!r} takes no sidechain")

    @property
    def bypass(self) -> bool:
        return bool(self.ctrl[BYPASS])

    def set_bypass(self, on: bool | int | float) -> None:
        """Bypass (crossfaded over CROSSFADE_MS)."""
        self.ctrl[BYPASS] = 1.0 if on else 0.0

    @property
    def mix(self) -> float:
        return float(self.ctrl[MIX])

    def set_mix(self, mix: float) -> None:
        """Wet share 0..1; the dry path is delayed by the processor's latency."""
        m = float(mix)
        if not 0.0 <= m <= 1.0:
            raise ParameterError(f"{self.label}: mix {mix} is outside [0, 1]")
        self.ctrl[MIX] = m

    def prepare(self, sample_rate: float, max_block: int, channels: int) -> None:
        self.processor.prepare(sample_rate, max_block, channels)
        self.dry = np.zeros((channels, max_block), dtype=np.float32)
        self.ring = np.zeros((channels, self.processor.latency), dtype=np.float32)
        self.pos[0] = 0
        self.ctrl[COEF] = 1.0 - np.exp(-1.0 / (CROSSFADE_MS * 1e-3 * sample_rate / 5.0))
        self.ctrl[WET] = (1.0 - self.ctrl[BYPASS]) * self.ctrl[MIX]

    def reset(self) -> None:
        self.processor.reset()
        self.ring[...] = 0
        self.pos[0] = 0
        self.ctrl[WET] = (1.0 - self.ctrl[BYPASS]) * self.ctrl[MIX]

    def process(self, audio: np.ndarray, sidechain: np.ndarray | None) -> None:
        c = self._ctrl
        if c[WET] == 1.0 and c[BYPASS] == 0.0 and c[MIX] == 1.0:  # fully wet: nothing to mix
            if self.ring.shape[1]:
                push_kernel(audio, self.ring, self.pos)  # the dry path a later crossfade needs
            self.processor.process(audio, sidechain)
            return
        frames = audio.shape[1]
        dry = self.dry[:, :frames]
        dry[...] = audio
        self.processor.process(audio, sidechain)
        mix_kernel(audio, dry, self.ring, self.pos, self.ctrl)

    def describe(self) -> dict[str, object]:
        d: dict[str, object] = {
            "label": self.label,
            "plugin": self.processor.name,
            "bypass": self.bypass,
            "mix": self.mix,
            "sidechain": self.sidechain,
            "params": self.processor.values(),
        }
        if self.processor.location_key:
            d[self.processor.location_key] = self.processor.location
        return d


class Chain:
    """Ordered processor slots; list-like, with total latency and sidechain inputs.

    Examples
    --------
    >>> chain = Chain([gain_processor], name="vocal")   # doctest: +SKIP
    >>> chain.prepare(48000, 512, 2); chain.process(block)   # doctest: +SKIP
    """

    def __init__(self, slots: list[Slot | Processor] | None = None, name: str = "chain") -> None:
        self.name = name
        self._slots: list[Slot] = []
        self.sample_rate = 0.0
        self.max_block = 0
        self.channels = 0
        for s in slots or []:
            self.append(s)

    # -- list behaviour: every edit swaps in a new list in one assignment ---------
    def _swap(self, slots: list[Slot]) -> None:
        labels = [s.label for s in slots]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ParameterError(f"chain {self.name!r}: duplicate slot labels {sorted(dup)}")
        if self.max_block:
            for s in slots:
                if s.processor.sample_rate != self.sample_rate or not s.dry.shape[1]:
                    s.prepare(self.sample_rate, self.max_block, self.channels)
        self._slots = slots

    def unique_label(self, name: str) -> str:
        """``name``, or ``name2``, ``name3``... if a slot already has it."""
        taken = {s.label for s in self._slots}
        label, n = name, 2
        while label in taken:
            label, n = f"{name}{n}", n + 1
        return label

    def _as_slot(self, item: Slot | Processor) -> Slot:
        if isinstance(item, Slot):
            return item
        return Slot(item, label=self.unique_label(item.name))

    def append(self, item: Slot | Processor) -> None:
        self._swap([*self._slots, self._as_slot(item)])

    def insert(self, index: int, item: Slot | Processor) -> None:
        slots = list(self._slots)
        slots.insert(index, self._as_slot(item))
        self._swap(slots)

    def remove(self, key: int | str) -> Slot:
        slot = self.slot(key)
        self._swap([s for s in self._slots if s is not slot])
        return slot

    def __len__(self) -> int:
        return len(self._slots)

    def __iter__(self) -> Iterator[Slot]:
        return iter(self._slots)

    def __getitem__(self, key: int | str) -> Slot:
        return self.slot(key)

    def slot(self, key: int | str) -> Slot:
        """A slot by index (int or digit string) or by label."""
        slots = self._slots
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            i = int(key)
            if not 0 <= i < len(slots):
                raise ParameterError(f"chain {self.name!r}: no slot {i} (it has {len(slots)})")
            return slots[i]
        for s in slots:
            if s.label == key:
                return s
        names = ", ".join(s.label for s in slots) or "none"
        raise ParameterError(f"chain {self.name!r}: no slot {key!r} (slots: {names})")

    # -- properties -----------------------------------------------------------------
    @property
    def latency(self) -> int:
        """Total latency in samples (constant whatever is bypassed)."""
        return sum(s.processor.latency for s in self._slots)

    @property
    def sidechain_inputs(self) -> set[str]:
        """Names of the sidechain sources this chain's slots listen to."""
        return {s.sidechain for s in self._slots if s.sidechain}

    @property
    def realtime(self) -> bool:
        return all(s.processor.realtime for s in self._slots)

    def check_realtime(self) -> None:
        """Raise RealtimeError naming any offline-only processor."""
        off = [s.label for s in self._slots if not s.processor.realtime]
        if off:
            raise RealtimeError(
                f"chain {self.name!r} cannot run live: {', '.join(off)} "
                "is offline only (use `mixbridge render`)"
            )

    # -- audio ----------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block: int, channels: int) -> None:
        """Prepare every slot; allocation happens here, never in process()."""
        self.sample_rate, self.max_block, self.channels = float(sample_rate), max_block, channels
        for s in self._slots:
            s.prepare(sample_rate, max_block, channels)

    def reset(self) -> None:
        for s in self._slots:
            s.reset()

    def process(
        self, audio: np.ndarray, sidechains: Mapping[str, np.ndarray] | None = None
    ) -> None:
        """Run every slot over ``audio`` (float32, (channels, frames)) in place."""
        if audio.shape[1] > self.max_block:
            raise ValueError(
                f"chain {self.name!r}: block of {audio.shape[1]} frames exceeds "
                f"prepared max_block {self.max_block}"
            )
        if sidechains:
            for s in self._slots:
                s.process(audio, sidechains.get(s.sidechain) if s.sidechain else None)
        else:
            for s in self._slots:
                s.process(audio, None)

    def process_offline(
        self,
        audio: np.ndarray,
        sample_rate: float,
        block: int,
        sidechains: Mapping[str, np.ndarray] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Prepare the chain and run it over a whole ``audio`` (float32, (channels, frames)) in place.

        The one offline block loop: every offline path (render, mix planner,
        mastering) runs through it. Slots run one after the other over the whole
        track, each block by block with the block sizes the live engine would use;
        for causal processors that is sample-for-sample what a block-major loop
        gives. Whole-track stages (``Processor.whole_track``: the vocoder, pitch
        correction) get the whole track in one call. ``sidechains`` are whole,
        already-processed tracks by name. ``on_progress`` is told the share done.

        Examples
        --------
        >>> chain.process_offline(x, 48000, 512)   # doctest: +SKIP
        """
        self.prepare(sample_rate, block, audio.shape[0])
        frames = audio.shape[1]
        slots = self._slots
        for k, s in enumerate(slots):
            side = sidechains.get(s.sidechain) if (sidechains and s.sidechain) else None
            if s.processor.whole_track:
                if not s.bypass:
                    dry = audio.copy() if s.mix < 1.0 else None
                    s.processor.process(audio)
                    if dry is not None:
                        audio[...] = dry + np.float32(s.mix) * (audio - dry)
            else:
                for start, n in blocks(frames, block):
                    s.process(audio[:, start : start + n], None if side is None else side[:, start : start + n])
            if on_progress is not None:
                on_progress((k + 1) / len(slots))
        return audio

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "latency": self.latency,
            "slots": [s.describe() for s in self._slots],
        }
