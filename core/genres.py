"""The one genre registry: canonical names, aliases and what each genre selects.

Every part of mixbridge that speaks of a genre (the mix presets, the instrumental
generator's styles, the genre classifier's labels, sessions, the HTTP API) uses the
canonical names below and resolves what a person typed through :func:`resolve`,
so ``rnb``, ``R&B`` and ``soul`` mean the same thing everywhere and an unknown genre
is one error, worded the same everywhere.

``neutral`` is the genre a mix falls back to when the classifier is not sure: a
gentle preset that cannot be badly wrong for any music.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UnknownGenreError


@dataclass(frozen=True)
class Genre:
    """A genre: its canonical ``name`` (preset, music style and classifier label) and aliases."""

    name: str
    aliases: tuple[str, ...]
    description: str
    classified: bool = True  # the classifier can answer it (neutral is only a fallback)


GENRES: dict[str, Genre] = {
    g.name: g
    for g in (
        Genre("pop", ("pop music", "synthpop"), "vocal-forward, bright, controlled"),
        Genre("rock", ("indie", "metal", "punk", "hard rock", "alternative", "grunge"), "guitars and drums"),
        Genre("hip-hop", ("hiphop", "hip hop", "rap", "trap"), "sub-heavy beat, dry upfront vocal"),
        Genre("electronic", ("edm", "house", "techno", "dance", "electro", "trance"), "synths and programmed drums"),
        Genre("jazz", ("swing", "blues", "bebop"), "acoustic band, natural dynamics"),
        Genre("classical", ("orchestral", "orchestra", "baroque", "chamber"), "orchestral, wide dynamics"),
        Genre("r&b", ("rnb", "r and b", "rhythm and blues", "soul", "r-and-b"), "smooth vocal, warm low end"),
        Genre("country", ("americana", "bluegrass"), "twang, acoustic and electric guitars"),
        Genre("acoustic", ("folk", "singer-songwriter", "unplugged"), "voice and acoustic instruments"),
        Genre("neutral", ("none", "unknown", "other"), "gentle, genre-free settings", classified=False),
    )
}

_LOOKUP: dict[str, str] = {}
for _g in GENRES.values():
    for _n in (_g.name, *_g.aliases):
        _LOOKUP[" ".join(_n.lower().replace("_", " ").split())] = _g.name


def _norm(text: str) -> str:
    return " ".join(str(text).lower().replace("_", " ").split())


def resolve(name: str) -> str:
    """The canonical name of ``name`` (any case, any alias); UnknownGenreError otherwise.

    Examples
    --------
    >>> resolve("R&B"), resolve("rnb"), resolve("Hip Hop")
    ('r&b', 'r&b', 'hip-hop')
    """
    key = _norm(name)
    if key in _LOOKUP:
        return _LOOKUP[key]
    raise UnknownGenreError(
        f"unknown genre {name!r}; use one of {', '.join(GENRES)} "
        f"(aliases: {', '.join(sorted(a for g in GENRES.values() for a in g.aliases))})"
    )


def get(name: str) -> Genre:
    """The :class:`Genre` for ``name`` (resolved through aliases)."""
    return GENRES[resolve(name)]


def classified() -> tuple[str, ...]:
    """The genres a classifier may answer, in registry order."""
    return tuple(g.name for g in GENRES.values() if g.classified)
