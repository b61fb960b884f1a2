"""`mixbridge bench learning`: does the memory learn what a listener hears?

Simulated listeners HEAR each proposed mix: the mix is rendered and measured
(stereo width as the side/mid energy ratio, brightness as the spectral centroid,
the vocal's level against the music from the processed stems, wetness as the
share of the vocal's energy left once the dry voice has stopped). They never
read the settings. Each has a hidden taste, set as targets reachable from the
preset: one of the eight single directions (wider, narrower, brighter, darker,
vocal louder, vocal softer, wetter, drier; the other features stay as the preset
has them) or one of four mixed ones. Each rates every mix as people do: whole
stars 1-5, overall and per aspect, with noise, and says which way an aspect is off
("too narrow") when what it hears is off by more than a just-noticeable difference,
its hearing blurred by noise.

Four learners face the same listeners on the same clip, in the same run: the
memory service's learner through a real database (record, rate, recommend), with
the signed aspects (``new``) and from the stars alone (``new-stars``); the previous
learner (elite evolution strategy on the old eight-knob space, overall stars, kept
here as the baseline it was); and random search in the new space. The figure is
the listener's distance to its taste per round, relative to round 1, for every
listener, their mean and the worst of them.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.hookspecs import hookimpl
from core.keys import Settings

FEATURES = ("width_db", "brightness_oct", "vocal_lu", "wet_db")
# which measured feature each aspect rating judges
ASPECT_FEATURES = {"stereo_width": ("width_db",), "eq_quality": ("brightness_oct",),
                   "music_balance": ("vocal_lu",), "reverb_quality": ("wet_db",),
                   "vocals_clarity": ("vocal_lu", "wet_db")}
SIGNED = {"width_db": "stereo_width", "brightness_oct": "eq_quality", "vocal_lu": "music_balance",
          "wet_db": "reverb_quality"}  # the signed aspect (memory.learning.DIRECTIONS) each feature is heard as
TASTES = {  # direction of each feature a listener wants, against the preset: the eight single ones, four mixed
    "wider": (1, 0, 0, 0), "narrower": (-1, 0, 0, 0), "brighter": (0, 1, 0, 0), "darker": (0, -1, 0, 0),
    "vocal-louder": (0, 0, 1, 0), "vocal-softer": (0, 0, -1, 0), "wetter": (0, 0, 0, 1), "drier": (0, 0, 0, -1),
    "wider-brighter-louder-drier": (1, 1, 1, -1),
    "narrower-darker-softer-wetter": (-1, -1, -1, 1),
    "wider-darker-louder-wetter": (1, -1, 1, 1),
    "narrower-brighter-softer-drier": (-1, 1, -1, -1),
}
# how far each taste lies from the preset's mix, in what is measured; each is within what
# one knob of the space reaches on the synthetic clip (width 0.65-1.85: -5.7..+3.4 dB,
# master shelves: -0.47..+0.46 octave, vocal gain: -6.8..+6.8 LU, reverb/delay wet: -4.9..+5.9 dB)
SHIFT = {"width_db": 2.5, "brightness_oct": 0.3, "vocal_lu": 4.0, "wet_db": 3.0}
# the least difference a listener tells apart (about 1 dB in level, 3.5 % in spectral centroid): the
# listener says "too narrow / too wide" (and the like) only when what it hears is off by more than this,
# its hearing blurred by noise of half of it
JND = {"width_db": 1.0, "brightness_oct": 0.05, "vocal_lu": 1.0, "wet_db": 1.0}
RATING_NOISE = 0.4  # stars (standard deviation) before rounding
STARS_PER_SCALE = 2.5  # one target-distance away costs 2.5 stars


@dataclass
class Clip:
    """A short synthetic song, planned once into a mix session; each round only changes settings."""

    host: Any
    session: Any
    stems: dict[str, np.ndarray]
    sr: int


def make_clip(host: Any, folder: Path, seconds: float = 7.0, sr: int = 22050, genre: str = "pop") -> Clip:
    """Synthetic vocal + instrumental (plugins.generators through the host), planned as a mix session."""
    import soundfile as sf

    from app.planner import plan_mix

    voc = host.pm.hook.mixbridge_generate_vocals(lyrics="la la la, hold on to the night", key="A minor", bpm=100.0,
                                                 duration=seconds, sample_rate=sr, style="sung")
    mus = host.pm.hook.mixbridge_generate_music(genre=genre, key="A minor", bpm=100.0, duration=seconds,
                                                sample_rate=sr)
    sf.write(str(folder / "vocals.wav"), voc.T, sr)
    sf.write(str(folder / "music.wav"), mus.T, sr)
    plan = plan_mix(folder / "vocals.wav", folder / "music.wav", host, genre=genre, sample_rate=sr,
                    output=folder / "mix.wav", block_size=1024)
    return Clip(host, plan.session, {"vocals": np.asarray(voc, np.float32), "music": np.asarray(mus, np.float32)}, sr)


def hear(clip: Clip, settings: Settings) -> dict[str, float]:
    """What a listener hears of the mix made with ``settings``: measured from the rendered audio."""
    from app.planner import processed_stems
    from core import loudness
    from core.render import render

    session = copy.deepcopy(clip.session)
    session.apply_settings(settings)
    mix = render(session, clip.host).audio
    mid, side = (mix[0] + mix[1]) / 2, (mix[0] - mix[1]) / 2
    spec = np.abs(np.fft.rfft(mix.mean(axis=0) * np.hanning(mix.shape[1])))
    freqs = np.fft.rfftfreq(mix.shape[1], 1 / clip.sr)
    centroid = float((spec * freqs).sum() / spec.sum())
    stems = processed_stems(session, clip.host, clip.stems)
    gains = {t.name: 10 ** (t.gain_db / 20) for t in session.tracks}
    lufs = {k: float(loudness.integrated_lufs(gains[k] * v, clip.sr)) for k, v in stems.items()}
    return {"width_db": 10 * np.log10(np.mean(side**2) / np.mean(mid**2) + 1e-12),
            "brightness_oct": float(np.log2(centroid)),
            "vocal_lu": lufs["vocals"] - lufs["music"],
            "wet_db": _wetness(clip.stems["vocals"], stems["vocals"], clip.sr)}


def _wetness(dry: np.ndarray, wet: np.ndarray, sr: int) -> float:
    """dB of the processed vocal's energy in the frames where the dry voice is silent, against all of it."""
    hop = sr // 50
    n = min(dry.shape[1], wet.shape[1]) // hop * hop
    e_dry = (dry[:, :n].mean(axis=0).reshape(-1, hop) ** 2).mean(axis=1)
    e_wet = (wet[:, :n].mean(axis=0).reshape(-1, hop) ** 2).mean(axis=1)
    quiet = e_dry < 1e-4 * e_dry.max()  # 40 dB below the loudest frame: between notes and phrases
    return float(10 * np.log10(e_wet[quiet].sum() / e_wet.sum() + 1e-12))


@dataclass
class Listener:
    """A hidden taste (targets for the measured features) and a way of giving stars."""

    name: str
    target: np.ndarray
    scale: np.ndarray
    rng: np.random.Generator  # star noise
    hearing: np.random.Generator  # noise of the signed aspects

    def errors(self, heard: dict[str, float]) -> np.ndarray:
        return np.abs(np.array([heard[f] for f in FEATURES]) - self.target) / self.scale

    def directions(self, heard: dict[str, float]) -> dict[str, int]:
        """Which way each signed aspect is off, as the listener hears it: -1 too little, +1 too much, 0 right."""
        out = {}
        for f, t in zip(FEATURES, self.target, strict=True):
            off = heard[f] - t + self.hearing.normal(0, JND[f] / 2)
            out[SIGNED[f]] = int(np.sign(off)) if abs(off) > JND[f] else 0
        return out

    def distance(self, heard: dict[str, float]) -> float:
        return float(np.sqrt(np.mean(self.errors(heard) ** 2)))

    def rate(self, heard: dict[str, float]) -> dict[str, int]:
        e = dict(zip(FEATURES, self.errors(heard), strict=True))

        def stars(err: float) -> int:
            return int(np.clip(round(5 - STARS_PER_SCALE * err + self.rng.normal(0, RATING_NOISE)), 1, 5))

        out = {"overall": stars(float(np.sqrt(np.mean(np.square(list(e.values()))))))}
        for aspect, feats in ASPECT_FEATURES.items():
            out[aspect] = stars(float(np.mean([e[f] for f in feats])))
        return out


def listeners(clip: Clip, seed: int = 0, names: tuple[str, ...] = tuple(TASTES)) -> list[Listener]:
    """One listener per taste: its targets are SHIFT away from what the preset's mix measures."""
    base = hear(clip, {})
    m0 = np.array([base[f] for f in FEATURES])
    shift = np.array([SHIFT[f] for f in FEATURES])
    return [Listener(name, m0 + np.array(TASTES[name]) * shift, shift, np.random.default_rng(seed + i),
                     np.random.default_rng(seed + 1000 + i)) for i, name in enumerate(names)]


# -- the learners ------------------------------------------------------------------------
OLD_SPACE = {  # the previous learner's space, its plugin names placed on the mix session's chains
    "vocals/compressor/threshold_db": (-40.0, 0.0, -18.0), "vocals/compressor/ratio": (1.0, 10.0, 4.0),
    "master/stereo_width/width": (0.5, 2.0, 1.2), "vocals/reverb/room_size": (0.0, 1.0, 0.5),
    "vocals/reverb/wet": (0.0, 0.6, 0.25), "vocals/delay/feedback": (0.0, 0.7, 0.35),
    "vocals/delay/wet": (0.0, 0.6, 0.25), "music/ducker/depth_db": (0.0, 12.0, 4.0),
}


def old_propose(rated: list[tuple[Settings, float]], rng: np.random.Generator) -> Settings:
    """The previous learner (memory/learning.py before this change), unchanged but for the keys.

    Rating-weighted mean of the three best-rated configurations, half-blended with an
    isotropic quadratic's peak, plus Gaussian noise of 0.3/sqrt(n), over overall ratings only.
    """
    def vec(c: Settings) -> np.ndarray:
        return np.array([(min(max(float(c.get(k, d)), lo), hi) - lo) / (hi - lo)
                         for k, (lo, hi, d) in OLD_SPACE.items()])

    order = sorted(range(len(rated)), key=lambda i: (rated[i][1], i), reverse=True)[:3]
    xs = np.array([vec(rated[i][0]) for i in order])
    r = np.array([float(rated[i][1]) for i in order])
    w = np.exp(3.0 * (r - r.max()))
    centre = (w[:, None] * xs).sum(axis=0) / w.sum()
    x_all, r_all = np.array([vec(c) for c, _ in rated]), np.array([float(s) for _, s in rated])
    n, d = x_all.shape
    if n >= d + 4:
        design = np.column_stack([np.ones(n), (x_all**2).sum(axis=1), x_all])
        coef, *_ = np.linalg.lstsq(design, r_all, rcond=None)
        if coef[1] < -1e-6:
            centre = 0.5 * centre + 0.5 * np.clip(-coef[2:] / (2.0 * coef[1]), 0.0, 1.0)
    x = np.clip(centre + rng.normal(0.0, max(0.04, 0.3 / np.sqrt(n)), d), 0.0, 1.0)
    return {k: round(lo + xi * (hi - lo), 4) for xi, (k, (lo, hi, _)) in zip(x, OLD_SPACE.items(), strict=True)}


def run_new(clip: Clip, who: Listener, rounds: int, db: str, genre: str, signed: bool = True) -> list[float]:
    """The memory service's learner, through a real database: recommend, render, hear, rate.

    ``signed``: the listener also says which way each aspect is off ("too narrow"...).
    """
    from core.settings import EnhancementSettings
    from memory.service import MemoryService

    mem = MemoryService(url=db, chroma_path=Path(db.removeprefix("sqlite:///")).parent / "chroma",
                        host=clip.host, settings=EnhancementSettings(enable_memory_learning=True))
    out = []
    for _ in range(rounds):
        settings = mem.get_mixing_recommendations(who.name, genre)["config"]
        heard = hear(clip, settings)
        out.append(who.distance(heard))
        stars = who.rate(heard)
        directions = who.directions(heard) if signed else None
        rendered = {**clip.session.settings(), **settings}  # what was heard, as a render records it
        rid = mem.record_render({}, rendered, user=who.name, genre=genre)
        mem.rate(rid, user=who.name, directions=directions, **stars)
    return out


def run_old(clip: Clip, who: Listener, rounds: int, seed: int) -> list[float]:
    """The previous learner as it ran: the preset until three ratings, then one proposal per rating."""
    rng, rated, out = np.random.default_rng(seed), [], []
    settings: Settings = {}
    for _ in range(rounds):
        heard = hear(clip, settings)
        out.append(who.distance(heard))
        rated.append((settings, who.rate(heard)["overall"]))
        if len(rated) >= 3:
            settings = old_propose(rated, rng)
    return out


def run_random(clip: Clip, who: Listener, space: Any, rounds: int, seed: int) -> list[float]:
    """The preset, then uniform random settings in the new space (no learning at all)."""
    rng, out = np.random.default_rng(seed), []
    settings: Settings = {}
    for _ in range(rounds):
        out.append(who.distance(hear(clip, settings)))
        settings = space.to_settings(rng.uniform(0, 1, len(space.dims)))
    return out


LEARNERS = ("new", "new-stars", "old", "random")


def bench_learning(rounds: int = 12, seconds: float = 5.0, sr: int = 22050, genre: str = "pop",
                   learners: tuple[str, ...] = LEARNERS, seed: int = 0,
                   names: tuple[str, ...] = tuple(TASTES)) -> dict[str, Any]:
    """Every learner against every listener; distance per round relative to round 1.

    ``new``: the memory's learner, the listener rating stars and saying which way each aspect
    is off; ``new-stars``: the same learner from the stars alone; ``old``: the previous learner
    (overall stars); ``random``: random search in the new space.
    """
    from core.host import PluginHost
    from memory.space import space_for

    host = PluginHost.from_toml()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(host, Path(tmp), seconds, sr, genre)
        space = space_for(genre, host)
        people = listeners(clip, seed, names)
        results: dict[str, dict[str, list[float]]] = {}
        for learner in learners:
            results[learner] = {}
            for i, who in enumerate(people):
                # the same noise draws for every learner
                who.rng, who.hearing = np.random.default_rng(seed + 100 + i), np.random.default_rng(seed + 200 + i)
                if learner in ("new", "new-stars"):
                    d = run_new(clip, who, rounds, f"sqlite:///{tmp}/{learner}-{i}.db", genre, learner == "new")
                elif learner == "old":
                    d = run_old(clip, who, rounds, seed + i)
                else:
                    d = run_random(clip, who, space, rounds, seed + i)
                results[learner][who.name] = [round(v / d[0], 3) for v in d]
    return {"rounds": rounds, "clip_s": seconds, "sample_rate": sr, "genre": genre, "relative_distance": results,
            "summary": {lr: _summary(r) for lr, r in results.items()}, "seconds": round(time.perf_counter() - t0, 1),
            "targets": {p.name: dict(zip(FEATURES, np.round(p.target, 3).tolist(), strict=True)) for p in people}}


def _summary(per_listener: dict[str, list[float]]) -> dict[str, Any]:
    rel = np.array(list(per_listener.values()))
    by11 = rel[:, :11].min(axis=1)  # the closest any mix came within 10 ratings (rounds 1-11)
    return {"mean_per_round": np.round(rel.mean(axis=0), 3).tolist(),
            "worst_per_round": np.round(rel.max(axis=0), 3).tolist(),
            "best_by_round_11": np.round(by11, 3).tolist(),
            "worst_growth": round(float(rel.max() - 1.0), 3),
            "halved_for_all_by_round_11": bool((by11 <= 0.5).all()),
            "halved_by_round_11": int((by11 <= 0.5).sum()),
            "never_grew_over_10pct": bool((rel <= 1.1).all()),
            "grew_over_10pct": int((rel > 1.1).any(axis=1).sum())}


def format_table(res: dict[str, Any], per_listener: bool = True) -> str:
    rounds = res["rounds"]
    lines = [f"learning bench: {res['genre']}, {res['clip_s']:g} s clips at {res['sample_rate']} Hz, "
             f"{rounds} rounds, {res['seconds']:g} s", "distance to the listener's taste / round 1:",
             f"{'learner':<10} {'listener':<31} " + " ".join(f"{r + 1:>5}" for r in range(rounds))]
    for learner, per in res["relative_distance"].items():
        if per_listener:
            for name, d in per.items():
                lines.append(f"{learner:<10} {name:<31} " + " ".join(f"{v:5.2f}" for v in d))
        s = res["summary"][learner]
        for what in ("mean", "worst"):
            lines.append(f"{learner:<10} {what:<31} " + " ".join(f"{v:5.2f}" for v in s[f"{what}_per_round"]))
        n = len(per)
        lines.append(f"{'':<10} halved within 10 ratings: {s['halved_by_round_11']}/{n}; grew > 10 %: "
                     f"{s['grew_over_10pct']}/{n} (worst {s['worst_growth']:+.0%})")
    return "\n".join(lines)


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = bench.add_parser(
        "learning", help="simulated listeners who hear the mix: does the memory learn their taste?",
        description="Listeners with hidden tastes measure each rendered mix (width, brightness, vocal level, "
        "wetness) and rate it 1-5 with noise; the memory's learner, the previous learner and random search "
        "are compared on the distance to each taste per round.")
    p.add_argument("--rounds", type=int, default=12, help="ratings per listener (default 12)")
    p.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    p.add_argument("--rate", type=int, default=22050, help="sample rate (default 22050)")
    p.add_argument("--genre", default="pop")
    p.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS,
                   help="new: stars and signed aspects; new-stars: stars only; old: the previous learner; random")
    p.add_argument("--listeners", nargs="+", default=list(TASTES), choices=list(TASTES), metavar="TASTE",
                   help=f"hidden tastes (default all: {', '.join(TASTES)})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--brief", action="store_true", help="only the mean and worst listener per learner")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_bench_learning)


def cmd_bench_learning(args: argparse.Namespace) -> int:
    if args.rounds < 2 or not 1.0 <= args.seconds <= 60.0:
        print("mixbridge: error: --rounds must be >= 2 and --seconds within 1..60")
        return 2
    res = bench_learning(args.rounds, args.seconds, args.rate, args.genre, tuple(args.learners), args.seed,
                         tuple(args.listeners))
    print(json.dumps(res, indent=1) if args.json else format_table(res, not args.brief))
    return 0
