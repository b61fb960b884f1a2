"""Learning from ratings: propose the next mixing configuration from the rated ones.

The search space is a declared set of mixing parameters, each normalised to 0..1
by its range. The proposal is the rating-weighted mean of the best-rated
configurations plus Gaussian exploration that shrinks as ratings accumulate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# (plugin, parameter) -> (min, max, default): the knobs the optimiser may turn
SPACE: dict[tuple[str, str], tuple[float, float, float]] = {
    ("compressor", "threshold_db"): (-40.0, 0.0, -18.0),
    ("compressor", "ratio"): (1.0, 10.0, 4.0),
    ("stereo_width", "width"): (0.5, 2.0, 1.2),
    ("reverb", "room_size"): (0.0, 1.0, 0.5),
    ("reverb", "wet"): (0.0, 0.6, 0.25),
    ("delay", "feedback"): (0.0, 0.7, 0.35),
    ("delay", "wet"): (0.0, 0.6, 0.25),
    ("ducker", "depth_db"): (0.0, 12.0, 4.0),
}
MIN_RATINGS = 3


def to_vector(config: dict[str, dict[str, float]]) -> np.ndarray:
    """A configuration ({plugin: {param: value}}) as normalised 0..1 coordinates (defaults fill gaps)."""
    out = np.empty(len(SPACE))
    for i, ((plugin, param), (lo, hi, default)) in enumerate(SPACE.items()):
        v = float(config.get(plugin, {}).get(param, default))
        out[i] = (min(max(v, lo), hi) - lo) / (hi - lo)
    return out


def from_vector(x: np.ndarray) -> dict[str, dict[str, float]]:
    config: dict[str, dict[str, float]] = {}
    for xi, ((plugin, param), (lo, hi, _)) in zip(np.clip(x, 0.0, 1.0), SPACE.items(), strict=True):
        config.setdefault(plugin, {})[param] = round(float(lo + xi * (hi - lo)), 4)
    return config


def propose(rated: list[tuple[dict[str, dict[str, float]], float]], rng: np.random.Generator,
            elite: int = 3) -> dict[str, Any]:
    """The next configuration to try from (configuration, overall rating 1-5) pairs, oldest first.

    An evolution strategy: the centre is the rating-weighted mean of the ``elite``
    best-rated configurations (the newer one wins a tie, so the search moves on),
    and the next try is drawn around it with a spread that shrinks as ratings
    accumulate (exploration early, refinement later).
    """
    if len(rated) < MIN_RATINGS:
        raise ValueError(f"need at least {MIN_RATINGS} ratings, have {len(rated)}")
    order = sorted(range(len(rated)), key=lambda i: (rated[i][1], i), reverse=True)[:elite]
    xs = np.array([to_vector(rated[i][0]) for i in order])
    r = np.array([float(rated[i][1]) for i in order])
    w = np.exp(3.0 * (r - r.max()))
    w /= w.sum()
    centre = (w[:, None] * xs).sum(axis=0)
    model = "elite"
    peak = _quadratic_peak(np.array([to_vector(c) for c, _ in rated]), np.array([float(s) for _, s in rated]))
    if peak is not None:
        centre, model = 0.5 * centre + 0.5 * peak, "elite+quadratic"
    sigma = max(0.04, 0.3 / np.sqrt(len(rated)))
    x = np.clip(centre + rng.normal(0.0, sigma, centre.shape), 0.0, 1.0)
    return {"config": from_vector(x), "model": model, "exploration_sigma": sigma, "elite": [int(i) for i in order],
            "weights": [round(float(v), 4) for v in w], "ratings_used": len(rated)}


def _quadratic_peak(x: np.ndarray, r: np.ndarray) -> np.ndarray | None:
    """Where an isotropic quadratic fitted to the ratings peaks: r ~ a + b|x|^2 + c.x, peak -c / 2b.

    Needs more ratings than unknowns and a fit that curves down (b < 0); None otherwise.
    """
    n, d = x.shape
    if n < d + 4:
        return None
    design = np.column_stack([np.ones(n), (x**2).sum(axis=1), x])
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    b, c = coef[1], coef[2:]
    if b >= -1e-6:
        return None
    return np.clip(-c / (2.0 * b), 0.0, 1.0)
