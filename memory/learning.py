"""Learning from ratings: the next mix to propose, from every rating a listener gave.

Two kinds of rating, two ways to move.

**Signed aspects** (optional on any rating): besides its stars an aspect may say which
way it is off, ``{"stereo_width": -1}`` "too narrow", +1 "too wide", 0 "about right"
(:data:`DIRECTIONS`: width, tone dark/bright, vocal quiet/loud, dry/wet; a UI offers
two buttons beside each star row). Stars alone cannot say wider or narrower, so a
learner from stars must guess the sign of its first step, and a wrong guess makes the
mix worse for a round (the benchmark measures +30 to +100 %). With a direction the
learner follows it from the mix just heard: each knob that declares it turns that aspect
(:attr:`memory.space.Knob.pushes`) moves a step, a tenth of its window at first. The step
grows x1.5 while the listener keeps asking the same way *and* the ratings improve (overall
not lower, no more aspects off); it halves when the direction flips (overshot: the target
lies between, a bisection) and after "about right" (arrived: later corrections start
small). The stars say how far to go: an aspect rated 3 or less moves a whole step, 4
half, 5 none. So a proposal is never farther than 0.3 of a knob's window from the mix
the listener just heard and rated, and a knob no rating asks to move stays put.

**Stars only**: the model is additive, one Gaussian process per rating: the overall
rating over every knob of the genre's space (:mod:`memory.space`), and each aspect
rating (stereo_width, eq_quality, ...) over only the knobs that aspect speaks of. The
proposal maximises an upper confidence bound of the summed models inside a trust
region around the best mix so far (the incumbent). The region starts small (0.12 of
each window) and grows x1.5 after a rating better than all before, shrinks x0.7 after
one that is not; when the last move from the incumbent was rated worse, the mirrored
move (the same step the other way) is tried first.

What a rating carries is all used:

- *who*: each rater's ratings are centred on that rater's own mean (people use
  the stars differently); another listener's ratings count at a tenth of the
  listener's own (they shape the start, not the taste).
- *when*: a rating's weight halves every ``HALF_LIFE_DAYS`` (tastes move).
- *flat ratings*: when the last ratings are all the same, the proposals were too
  alike to tell apart; the trust region widens (x1.5 each time, up to the whole
  window) and the exploration bonus grows, instead of shrinking.
- *trust*: how well the models predict each rating when it is left out (leave-one-
  out residuals, in stars). Consistent ratings raise it and lower the exploration bonus.

Every proposal carries its explanation: per knob where it moved and why (which signed
aspect asked, how many times running, or which rating model pushed it), and the search state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.hookspecs import RATINGS
from core.keys import Settings
from memory.space import Space

ASPECTS = RATINGS[1:]
HALF_LIFE_DAYS = 60.0
OTHERS_WEIGHT = 0.1
LENGTH_SCALE = 0.4  # in the unit cube: a knob's window is about two and a half bumps wide
NOISE_VAR = 0.3  # stars^2: whole-star rounding (1/12) plus a listener's own spread
RADIUS = (0.04, 0.12, 0.6)  # trust region half-width: least, first, most
CANDIDATES = 2048
# signed aspects: -1 "too little", +1 "too much", 0 "about right" (vocals_clarity has no single direction)
DIRECTIONS = {"stereo_width": ("too narrow", "too wide"), "eq_quality": ("too dark", "too bright"),
              "music_balance": ("vocal too quiet", "vocal too loud"), "reverb_quality": ("too dry", "too wet")}
STEP = (0.02, 0.1, 0.3)  # a knob's step along a signed aspect, share of its window: least, first, most
GROW, SHRINK = 1.5, 0.5  # the step after the same direction again, after the direction flipped


@dataclass
class Rated:
    """One rated mix: its settings, the ratings (1-5; aspects may be missing), who and when."""

    settings: Settings
    overall: float
    aspects: dict[str, float] = field(default_factory=dict)
    user: str | None = None
    at: datetime | None = None
    directions: dict[str, int] | None = None  # signed aspects (DIRECTIONS); None: the rater gave none


@dataclass
class State:
    """What the learner carries between proposals (stored in the database)."""

    radius: float = RADIUS[1]
    flat_streak: int = 0
    trust: float = 0.0
    proposals: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> State:
        return cls(**{k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _weights(rated: list[Rated], user: str, now: datetime) -> np.ndarray:
    w = np.array([1.0 if r.user == user else OTHERS_WEIGHT for r in rated])
    for i, r in enumerate(rated):
        if r.at is not None:
            at = r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)
            w[i] *= 0.5 ** (max((now - at).total_seconds(), 0.0) / 86400.0 / HALF_LIFE_DAYS)
    return w


def _centred(values: np.ndarray, raters: list[str | None]) -> np.ndarray:
    """Each rater's ratings minus that rater's mean (nan stays nan)."""
    out = values.copy()
    for who in set(raters):
        rows = [i for i, r in enumerate(raters) if r == who]
        mean = np.nanmean(values[rows]) if np.isfinite(values[rows]).any() else 0.0
        out[rows] = values[rows] - mean
    return out


class _GP:
    """A Gaussian process with fixed, declared hyperparameters (few points: nothing to fit them on).

    RBF kernel with signal variance 1 star^2 and length LENGTH_SCALE, a per-rating
    noise of NOISE_VAR / weight; zero prior mean (ratings are centred). Written out
    in numpy (a Cholesky solve) because with fixed hyperparameters a library adds
    only its import time, which a rating sent live from a surface would wait for.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        self.x, self.y = x, y
        self.noise = NOISE_VAR / np.maximum(w, 1e-3)
        k = _rbf(x, x) + np.diag(self.noise)
        self.chol = np.linalg.cholesky(k)
        self.alpha = np.linalg.solve(self.chol.T, np.linalg.solve(self.chol, y))
        self.kinv = np.linalg.inv(k)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ks = _rbf(x, self.x)
        v = np.linalg.solve(self.chol, ks.T)
        return ks @ self.alpha, np.sqrt(np.maximum(1.0 - (v**2).sum(axis=0), 1e-12))

    def loo_residuals(self) -> np.ndarray:
        """Leave-one-out prediction errors (stars), in closed form: r_i = [K^-1 y]_i / [K^-1]_ii."""
        return np.asarray((self.kinv @ self.y) / np.diag(self.kinv))


def _rbf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
    return np.exp(-0.5 * d2 / LENGTH_SCALE**2)


@dataclass
class Proposal:
    settings: Settings
    x: np.ndarray
    state: State
    explanation: dict[str, Any]


def _models(space: Space, x: np.ndarray, rated: list[Rated], w: np.ndarray) -> dict[str, tuple[list[int], _GP]]:
    """One GP per rating that has values: overall over all knobs, each aspect over its own knobs."""
    raters = [r.user for r in rated]
    models: dict[str, tuple[list[int], _GP]] = {}
    overall = _centred(np.array([r.overall for r in rated], float), raters)
    models["overall"] = (list(range(len(space.dims))), _GP(x, overall, w))
    for aspect in ASPECTS:
        dims = space.aspect_dims(aspect)
        vals = np.array([r.aspects.get(aspect, np.nan) for r in rated], float)
        keep = np.isfinite(vals)
        if not dims or not keep.any():
            continue
        y = _centred(vals, raters)[keep]
        models[aspect] = (dims, _GP(x[keep][:, dims], y, w[keep]))
    return models


def _score(models: dict[str, tuple[list[int], _GP]], c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summed posterior mean and its standard deviation (the models taken as independent)."""
    mu, var = np.zeros(len(c)), np.zeros(len(c))
    for dims, gp in models.values():
        m, s = gp.predict(c[:, dims])
        mu, var = mu + m, var + s**2
    return mu, np.sqrt(var)


def _discontent(space: Space, best: Rated) -> np.ndarray:
    """Per knob, how unhappy the best mix's aspect ratings were with what it changes (0.25..1).

    An aspect rated 5 says its knobs are right: they move a quarter as far as those
    of an aspect rated 1. A knob no rating speaks of moves by the overall rating.
    """
    out = np.empty(len(space.dims))
    for i, d in enumerate(space.dims):
        stars = [best.aspects[a] for a in d.knob.aspects if a in best.aspects] or [best.overall]
        out[i] = max(0.25, (5.0 - float(np.mean(stars))) / 4.0)
    return out


def _flat(rated: list[Rated], user: str, last: int = 3) -> bool:
    """The user's last ``last`` ratings were identical in every field they gave."""
    mine = [r for r in rated if r.user == user][-last:]
    if len(mine) < 2:
        return False
    rows = [(r.overall, *(r.aspects.get(a) for a in ASPECTS)) for r in mine]
    return all(len(set(col)) == 1 for col in zip(*rows, strict=True))


def check_directions(directions: Any) -> dict[str, int]:
    """A rating's signed aspects, validated: ``{"stereo_width": -1}`` says "too narrow"."""
    from core.errors import ParameterError

    if not isinstance(directions, dict):
        raise ParameterError(f"directions must map an aspect to -1, 0 or 1, got {directions!r}")
    bad = set(directions) - set(DIRECTIONS)
    if bad:
        raise ParameterError(f"directions: no direction for {sorted(bad)} (use {', '.join(DIRECTIONS)})")
    for aspect, v in directions.items():
        if isinstance(v, bool) or v not in (-1, 0, 1):
            lo, hi = DIRECTIONS[aspect]
            raise ParameterError(f"directions: {aspect} must be -1 ({lo}), 0 (about right) or 1 ({hi}), got {v!r}")
    return {a: int(v) for a, v in directions.items()}


def _wanted(space: Space, directions: dict[str, int]) -> np.ndarray:
    """Per knob -1, 0 or +1: which way one rating's signed aspects ask it to move."""
    g = np.zeros(len(space.dims))
    for aspect, sign in directions.items():
        for i, push in space.pushes(aspect).items():
            g[i] -= sign * push
    return np.sign(g)


def _steps(space: Space, mine: list[Rated]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replay the user's signed ratings, oldest first: per knob the step, the way to go now, the run length.

    A knob asked the same way again steps GROW times farther (the target is farther
    than thought), but only while the ratings improve (overall not lower, no more
    aspects off than before): a move that made something else worse keeps its step.
    Asked the other way, the knob has overshot and steps back SHRINK times as far (the
    target lies between: a bisection). "About right" after moving ends the run, so a
    later correction starts from a smaller step.
    """
    n = len(space.dims)
    step, last, run = np.full(n, STEP[1]), np.zeros(n), np.zeros(n, int)
    want, before = np.zeros(n), None
    for r in mine:
        if r.directions is None:
            continue
        want = _wanted(space, r.directions)
        off = sum(1 for v in r.directions.values() if v)
        better = before is None or (r.overall >= before[0] and off <= before[1])
        for i in range(n):
            if not want[i]:
                if last[i] and any(i in space.pushes(a) for a in r.directions):  # arrived
                    step[i], last[i], run[i] = max(step[i] * SHRINK, STEP[0]), 0, 0
            elif last[i] == want[i]:
                step[i], run[i] = min(step[i] * GROW, STEP[2]) if better else step[i], run[i] + 1
            else:
                step[i], run[i] = max(step[i] * SHRINK, STEP[0]) if last[i] else step[i], 1
                last[i] = want[i]
        before = (r.overall, off)
    return step, want, run


def _directed(space: Space, mine: list[Rated], x_last: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """The next mix from the latest signed rating: each knob it names moves its step that way.

    The stars say how far off: an aspect rated 3 or less moves a whole step, 4 half a
    step, 5 none (the listener is content, whatever the direction says). An aspect
    turned by several knobs (three for the tone) moves each by 1/sqrt(n) of that, so
    the aspect as a whole moves about one step.
    """
    step, want, run = _steps(space, mine)
    latest = mine[-1]
    share = np.ones(len(space.dims))
    for aspect in DIRECTIONS:
        knobs = space.pushes(aspect)
        off = float(np.clip((5.0 - latest.aspects.get(aspect, 1.0)) / 2.0, 0.0, 1.0))
        for i in knobs:
            share[i] = off / np.sqrt(len(knobs))
    move = want * step * share
    new = np.clip(x_last + move, 0.0, 1.0)
    why = {}
    for i in np.flatnonzero(want):
        heard = [f"{a} {DIRECTIONS[a][(v + 1) // 2]} ({latest.aspects.get(a, '?')} stars)"
                 for a, v in (latest.directions or {}).items() if v and i in space.pushes(a)]
        why[space.dims[i].knob.key] = (f"{', '.join(heard)}, {run[i]} time{'s' if run[i] > 1 else ''} running: "
                                       f"{'up' if want[i] > 0 else 'down'} {abs(move[i]):.3f} of its window")
    return new, why


def propose(space: Space, rated: list[Rated], user: str, state: State, rng: np.random.Generator,
            now: datetime | None = None) -> Proposal:
    """The next mix for ``user`` to hear, from ``rated`` (the user's and other listeners', oldest first).

    Examples
    --------
    >>> p = propose(space, [Rated({"master/stereo_width/width": 1.2}, 3, {"stereo_width": 2}, "ann")],
    ...             "ann", State(), np.random.default_rng(0))      # doctest: +SKIP
    >>> p.explanation["knobs"]["master/stereo_width/width"]["from"]   # doctest: +SKIP
    1.2
    """
    if not any(r.user == user for r in rated):
        raise ValueError(f"no ratings from {user!r} to learn from")
    now = now or datetime.now(UTC)
    x = np.array([space.to_unit(r.settings) for r in rated])
    w = _weights(rated, user, now)
    models = _models(space, x, rated, w)
    mine = [i for i, r in enumerate(rated) if r.user == user]

    flat = _flat(rated, user)
    state = State(**state.to_dict())
    state.flat_streak = state.flat_streak + 1 if flat else 0
    resid = models["overall"][1].loo_residuals()[mine]
    state.trust = float(1.0 / (1.0 + np.mean(resid**2))) if len(mine) >= 3 else 0.0
    own = [rated[i].overall for i in mine]
    improved = len(own) > 1 and own[-1] > max(own[:-1])
    # the region grows while ratings improve and after flat ones, and shrinks after a move that did not help
    state.radius = float(np.clip(state.radius * (1.5 if flat or improved else 0.7 if len(own) > 1 else 1.0),
                                 RADIUS[0], RADIUS[2]))
    kappa = (0.2 + 0.5 * (1.0 - state.trust)) * (1.0 + 0.5 * state.flat_streak)

    mu_rated, _ = _score(models, x[mine])
    best = mine[int(np.argmax(mu_rated))]
    if rated[mine[-1]].directions is not None:  # the listener said which way: follow it from the mix just heard
        new, why = _directed(space, [rated[i] for i in mine], x[mine[-1]])
        state.proposals += 1
        mu, sd = _score(models, new[None])
        return Proposal(space.to_settings(new), new, state, _explain(space, models, x[mine[-1]], new, rated[mine[-1]], {
            "ratings_used": len(rated), "own_ratings": len(mine), "signed_aspects": rated[mine[-1]].directions,
            "predicted_gain": round(float(mu[0] - mu_rated[-1]), 3), "uncertainty": round(float(sd[0]), 3)},
            why, "signed aspects: a step per knob that grows while the direction holds and halves when it flips"))
    centre = x[best]
    mirror = np.clip(2 * centre - x[mine[-1]], 0.0, 1.0)
    if own[-1] < rated[best].overall and np.abs(x[mine] - mirror).max(axis=1).min() > 0.02:
        # the last move from the best mix made it worse: try the opposite move (stars carry no direction)
        cands, how = mirror[None], "mirrored: the last move from the best mix was rated worse"
    else:
        reach = state.radius * _discontent(space, rated[best])
        cands = np.clip(centre + rng.uniform(-1.0, 1.0, (CANDIDATES, centre.size)) * reach, 0.0, 1.0)
        how = "upper confidence bound in the trust region"
    mu, sd = _score(models, cands)
    pick = int(np.argmax(mu + kappa * sd))
    new = cands[pick]
    state.proposals += 1
    settings = space.to_settings(new)
    return Proposal(settings, new, state, _explain(space, models, centre, new, rated[best], {
        "ratings_used": len(rated), "own_ratings": len(mine), "step": how,
        "trust_region_radius": round(state.radius, 3),
        "exploration_kappa": round(kappa, 3), "trust": round(state.trust, 3), "flat_ratings": flat,
        "flat_streak": state.flat_streak, "predicted_gain": round(float(mu[pick] - mu_rated.max()), 3),
        "uncertainty": round(float(sd[pick]), 3)}))


def _explain(space: Space, models: dict[str, tuple[list[int], _GP]], centre: np.ndarray, new: np.ndarray,
             best: Rated, search: dict[str, Any], directed: dict[str, str] | None = None,
             method: str = "additive GP-UCB (overall + aspect models) in a trust region") -> dict[str, Any]:
    """Per knob: from the starting mix's value to the new one, and why (signed aspects, or the rating models)."""
    knobs: dict[str, Any] = {}
    for i, d in enumerate(space.dims):
        step = float(new[i] - centre[i])
        push: dict[str, float] = {}
        for name, (dims, gp) in models.items():
            if i not in dims:
                continue
            j = dims.index(i)
            pts = np.repeat(centre[dims][None], 2, axis=0)
            pts[0, j], pts[1, j] = max(centre[i] - 0.05, 0.0), min(centre[i] + 0.05, 1.0)
            m, _ = gp.predict(pts)
            slope = float(m[1] - m[0]) / max(pts[1, j] - pts[0, j], 1e-9)
            if abs(slope) > 0.05:
                push[name] = round(slope, 2)
        agree = [n for n, s in push.items() if s * step > 0]
        why = (f"{', '.join(agree)} rated {'higher' if step > 0 else 'lower'} values better" if agree and
               abs(step) > 1e-3 else "exploring: the ratings do not yet say which way" if abs(step) > 1e-3
               else "kept")
        if directed is not None:
            why = directed.get(d.knob.key, "kept: no signed aspect asks it to move")
        knobs[d.knob.key] = {"from": round(d.native(centre[i]), 4), "to": round(d.native(new[i]), 4),
                             "unit": d.param.unit, "slope_stars_per_window": push, "why": why,
                             "hears": d.knob.hears}
    return {"method": method, "from_rating": {"overall": best.overall, **best.aspects}, "search": search,
            "knobs": knobs}


def blend(space: Space, weighted: list[tuple[Settings, float]]) -> Settings:
    """Per knob, the weighted mean (in the space's coordinates) of the settings that name it.

    For a cold start from other listeners' mixes; knobs none of them name are left out.
    """
    out: Settings = {}
    for d in space.dims:
        have = [(d.unit(float(s[d.knob.key])), w) for s, w in weighted if d.knob.key in s]
        if have:
            x = sum(u * w for u, w in have) / sum(w for _, w in have)
            out[d.knob.key] = round(d.native(x), 4)
    return out
