"""The learner on a real database (SQLite and PostgreSQL) and against a listener who hears the mix."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from core.host import PluginHost
from core.settings import EnhancementSettings
from memory import learning
from memory.models import LearningState, MixingFeedback
from memory.service import MemoryService
from memory.space import describe_space, space_for


def service(db: dict, tmp_path: Path, host: PluginHost, **kw) -> MemoryService:  # type: ignore[type-arg]
    return MemoryService(url=db["url"], schema=db["schema"], chroma_path=tmp_path / "chroma", host=host, **kw)


def test_space_ranges_come_from_the_declared_params(host: PluginHost) -> None:
    space = space_for("pop", host)
    width = next(d for d in space.dims if d.knob.key == "master/stereo_width/width")
    assert (width.native(0.0), width.native(1.0)) == pytest.approx((1.25 - 0.6, 1.25 + 0.6))  # Param 0..3, reach 0.2
    ratio = next(d for d in space.dims if d.knob.key == "vocals/compressor/ratio")
    assert ratio.native(0.5) == pytest.approx(4.0) and ratio.native(1.0) / 4.0 == pytest.approx(20 ** 0.2)  # log scale
    x = space.preset_unit()
    assert space.to_settings(x)["vocals/reverb/wet"] == 0.18  # the preset's own value sits inside
    described = {d["key"]: d for d in describe_space("classical", host)}
    assert "vocals/delay/wet" not in described and described["master/eq/b4_gain_db"]["unit"] == "dB"
    assert all(d["hears"] and d["aspects"] for d in described.values())


def test_added_slots_leave_the_render_unchanged_at_their_defaults(host: PluginHost, tmp_path: Path) -> None:
    """The vocal gain slot and the master tone eq are neutral until a listener moves them."""
    from app.bench_learning import make_clip
    from core.render import render

    clip = make_clip(host, tmp_path, seconds=2.0, sr=22050)
    with_slots = render(copy.deepcopy(clip.session), host).audio
    bare = copy.deepcopy(clip.session)
    bare.tracks[0].processors = [s for s in bare.tracks[0].processors if s["plugin"] != "gain"]
    bare.master.processors = [s for s in bare.master.processors if s["plugin"] != "eq"]
    plain = render(bare, host).audio
    assert np.max(np.abs(with_slots - plain)) < 1e-5  # float32 rounding of a 0 dB shelf, -100 dBFS


def test_aspect_ratings_point_the_way_with_two_ratings(host: PluginHost) -> None:
    """Wider was rated better on stereo_width: the next proposal is wider still, and says why."""
    space = space_for("pop", host)
    narrow, wide = dict(space.to_settings(space.preset_unit())), dict(space.to_settings(space.preset_unit()))
    narrow["master/stereo_width/width"], wide["master/stereo_width/width"] = 1.0, 1.4
    rated = [learning.Rated(narrow, 3, {"stereo_width": 2}, "ann"), learning.Rated(wide, 3, {"stereo_width": 4}, "ann")]
    p = learning.propose(space, rated, "ann", learning.State(), np.random.default_rng(0))
    assert p.settings["master/stereo_width/width"] > 1.4
    why = p.explanation["knobs"]["master/stereo_width/width"]
    assert why["from"] == 1.4 and "stereo_width" in why["why"] and why["slope_stars_per_window"]["stereo_width"] > 0


def test_signed_aspects_step_that_way_grow_while_ratings_improve_and_halve_on_overshoot(host: PluginHost) -> None:
    """"Too narrow" twice with better stars: the width steps up 0.1 then 0.15 of its window; "too wide": back 0.075."""
    space = space_for("pop", host)
    width = space.keys.index("master/stereo_width/width")
    x, rated, moves = space.preset_unit(), [], []
    for overall, stars, sign in ((2, 2, -1), (3, 2, -1), (4, 3, 1)):
        rated.append(learning.Rated(space.to_settings(x), overall, {"stereo_width": stars}, "ann", None,
                                    {"stereo_width": sign}))
        p = learning.propose(space, rated, "ann", learning.State(), np.random.default_rng(0))
        moves.append(p.x[width] - x[width])
        assert np.allclose(np.delete(p.x, width), np.delete(x, width), atol=1e-3)  # nothing else was asked to move
        x = p.x
    assert moves == pytest.approx([0.1, 0.15, -0.075], abs=2e-3)
    assert p.explanation["knobs"]["master/stereo_width/width"]["why"].startswith("stereo_width too wide (3 stars)")
    # content with the tone (5 stars) though called a touch bright: the shelves stay
    rated.append(learning.Rated(space.to_settings(x), 4, {"eq_quality": 5}, "ann", None, {"eq_quality": 1}))
    p = learning.propose(space, rated, "ann", learning.State(), np.random.default_rng(0))
    assert np.allclose(p.x, x, atol=1e-3)


def test_a_worse_step_from_stars_alone_is_mirrored(host: PluginHost) -> None:
    space = space_for("pop", host)
    x0 = space.preset_unit()
    x1 = np.clip(x0 + 0.1 * np.array([1, -1, 1, -1, 1, -1, 1, -1, 1]), 0, 1)
    rated = [learning.Rated(space.to_settings(x0), 3, {}, "ann"), learning.Rated(space.to_settings(x1), 2, {}, "ann")]
    p = learning.propose(space, rated, "ann", learning.State(), np.random.default_rng(0))
    assert np.allclose(p.x, 2 * x0 - x1, atol=1e-3) and p.explanation["search"]["step"].startswith("mirrored")


def test_signed_aspects_are_stored_and_bad_ones_refused(tmp_path: Path, host: PluginHost) -> None:
    from core.errors import ParameterError

    m = MemoryService(url=f"sqlite:///{tmp_path / 'm.db'}", chroma_path=tmp_path / "chroma", host=host)
    rid = m.record_render({}, {"master/stereo_width/width": 1.25}, user="ann", genre="pop")
    for bad in ({"stereo_width": 2}, {"vocals_clarity": 1}, {"stereo_width": True}, ["stereo_width"]):
        with pytest.raises(ParameterError):
            m.rate(rid, overall=3, user="ann", directions=bad)
    assert m.rate(rid, overall=3, stereo_width=2, user="ann", directions={"stereo_width": -1})["directions"] == {
        "stereo_width": -1}
    (r,) = m._rated("pop", "ann")
    assert r.directions == {"stereo_width": -1}
    rec = m.get_mixing_recommendations("ann", "pop")
    assert rec["config"]["master/stereo_width/width"] == pytest.approx(1.25 + 0.1 * 1.2, abs=1e-3)  # "too narrow"


def test_flat_ratings_widen_the_search(host: PluginHost) -> None:
    space = space_for("pop", host)
    rng = np.random.default_rng(1)
    rated = [learning.Rated(space.to_settings(rng.uniform(0.4, 0.6, len(space.dims))), 3,
                            dict.fromkeys(learning.ASPECTS, 3), "ann") for _ in range(4)]
    state = learning.State()
    radii = []
    for _ in range(3):
        p = learning.propose(space, rated, "ann", state, rng)
        state = p.state
        radii.append(state.radius)
        rated.append(learning.Rated(p.settings, 3, dict.fromkeys(learning.ASPECTS, 3), "ann"))
    assert radii[0] > learning.RADIUS[1] and radii[1] > radii[0] and radii[2] > radii[1]
    assert p.explanation["search"]["flat_ratings"] and p.explanation["search"]["flat_streak"] == 3


def test_ratings_from_8_concurrent_clients_all_count_and_learning_survives_a_restart(
        db: dict, tmp_path: Path, host: PluginHost) -> None:  # type: ignore[type-arg]
    m = service(db, tmp_path, host)
    space = space_for("pop", host)
    rids = {c: [m.record_render({}, space.to_settings(np.full(len(space.dims), 0.1 * i)), user=f"u{c % 2}",
                                genre="pop") for i in range(1, 5)] for c in range(8)}
    errors: list[Exception] = []

    def client(c: int) -> None:
        try:
            for i, rid in enumerate(rids[c]):
                m.rate(rid, overall=1 + (c + i) % 5, stereo_width=3, user=f"u{c % 2}")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with m.Session() as s:
        assert s.scalar(select(func.count()).select_from(MixingFeedback)) == 32
        assert s.scalar(select(func.count()).select_from(LearningState)) == 2  # one per user, no duplicate
    before = m.get_mixing_recommendations("u0", "pop")
    # u0's last learn saw all 16 of u0's ratings (u1's may still have been arriving)
    assert before["source"] == "learned" and before["explanation"]["search"]["own_ratings"] == 16
    assert 16 < before["explanation"]["ratings_used"] <= 32
    again = service(db, tmp_path, host)  # a restart: a new service on the same database
    after = again.get_mixing_recommendations("u0", "pop")
    assert after["config"] == before["config"] and after["explanation"] == before["explanation"]
    assert after["explanation"]["learner"]["proposals"] >= 1 and len(after["explanation"]["knobs"]) == 9


def test_learning_switched_off_learns_nothing(db: dict, tmp_path: Path, host: PluginHost) -> None:  # type: ignore[type-arg]
    m = service(db, tmp_path, host, settings=EnhancementSettings(enable_memory_learning=False))
    for stars in (2, 4, 5):
        rid = m.record_render({}, {"master/stereo_width/width": 1.0 + 0.2 * stars}, user="ann", genre="pop")
        assert "learned_config_id" not in m.rate(rid, overall=stars, user="ann")
    assert m.stats()["learned_configurations"] == 0 and m.learning_state("ann", "pop") is None
    assert m.get_mixing_recommendations("ann", "pop")["source"] == "genre_best"  # rated mixes, nothing learned


def test_a_new_user_starts_from_other_listeners_best(tmp_path: Path, host: PluginHost) -> None:
    m = MemoryService(url=f"sqlite:///{tmp_path / 'm.db'}", chroma_path=tmp_path / "chroma", host=host)
    assert m.get_mixing_recommendations("new", "pop")["source"] == "genre_preset"
    for width, stars in ((0.8, 2), (1.6, 5), (1.7, 4)):
        rid = m.record_render({}, {"master/stereo_width/width": width}, user="old", genre="pop")
        m.rate(rid, overall=stars, user="old")
    rec = m.get_mixing_recommendations("new", "pop")
    assert rec["source"] == "genre_best" and 1.6 <= rec["config"]["master/stereo_width/width"] <= 1.7
    assert [g["mean_overall"] for g in rec["explanation"]["genre_best"]] == [5.0, 4.0]


@pytest.mark.slow
def test_listeners_who_hear_the_mix_get_there_within_10_ratings(tmp_path: Path, host: PluginHost) -> None:
    """Wider and softer-vocal listeners measure each render, rate it in stars and say which way it is off."""
    from app.bench_learning import listeners, make_clip, run_new

    clip = make_clip(host, tmp_path, seconds=3.0, sr=22050)
    for who in listeners(clip, names=("wider", "vocal-softer", "narrower-darker-softer-wetter")):
        d = np.array(run_new(clip, who, 11, f"sqlite:///{tmp_path / who.name}.db", "pop"))
        print(f"\n{who.name}: distance per round / round 1:", np.round(d / d[0], 2).tolist())
        assert d.min() <= 0.5 * d[0] and d.max() <= 1.1 * d[0]


def test_the_gaussian_process_matches_scikit_learns() -> None:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel

    rng = np.random.default_rng(0)
    x, y, w = rng.uniform(size=(7, 3)), rng.normal(size=7), rng.uniform(0.1, 1.0, 7)
    ref = GaussianProcessRegressor(ConstantKernel(1.0, "fixed") * RBF(learning.LENGTH_SCALE, "fixed"),
                                   alpha=learning.NOISE_VAR / w, optimizer=None).fit(x, y)
    q = rng.uniform(size=(5, 3))
    mu, sd = learning._GP(x, y, w).predict(q)
    want_mu, want_sd = ref.predict(q, return_std=True)
    assert np.allclose(mu, want_mu, atol=1e-12) and np.allclose(sd, want_sd, atol=1e-12)


def test_a_recorded_session_is_stored_as_its_settings(tmp_path: Path, host: PluginHost) -> None:
    from core.session import Session

    s = Session.from_dict({"tracks": [{"name": "vocals", "source": "v.wav", "processors": [
        {"plugin": "compressor", "params": {"ratio": 3.0}},
        {"plugin": "eq", "bypass": True, "params": {"b1_gain_db": 2.0}}]}],
        "master": {"processors": [{"plugin": "stereo_width", "params": {"width": 1.5}}]}})
    m = MemoryService(url=f"sqlite:///{tmp_path / 'm.db'}", chroma_path=tmp_path / "chroma", host=host)
    rid = m.record_render({}, s.to_dict(), user="ann", genre="pop")  # a report's "session", as the song pipeline sends
    (cfg,) = m.list_configs(genre="pop")
    assert cfg["config"] == {"vocals/compressor/ratio": 3.0, "master/stereo_width/width": 1.5} and rid


def test_a_0001_database_with_rows_upgrades_to_head(tmp_path: Path) -> None:
    """A memory made before the settings key (configurations referenced by renders and ratings) upgrades."""
    import json
    import sqlite3

    from memory.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(make_engine(url), revision="0001")
    with sqlite3.connect(tmp_path / "old.db") as c:
        c.execute("PRAGMA foreign_keys=ON")
        c.execute("INSERT INTO users (id, created_at) VALUES ('ann', '2026-01-01')")
        c.execute("INSERT INTO mixing_configurations (id, user_id, config_type, genre, eq_settings, "
                  "compression_settings, stereo_width, reverb_settings, delay_settings, sidechain_settings, "
                  "is_default, usage_count, created_at) VALUES ('c1', 'ann', 'manual', 'pop', '{}', ?, 1.4, '{}', "
                  "'{}', '{}', 0, 0, '2026-01-01')", (json.dumps({"compressor": {"ratio": 3.0}}),))
        c.execute("INSERT INTO renders (id, user_id, configuration_id, genre, metrics, report, created_at) "
                  "VALUES ('r1', 'ann', 'c1', 'pop', '{}', '{}', '2026-01-01')")
        c.execute("INSERT INTO mixing_feedback (id, render_id, configuration_id, user_id, overall, created_at) "
                  "VALUES ('f1', 'r1', 'c1', 'ann', 4, '2026-01-01')")
    migrate(make_engine(url))
    m = MemoryService(url=url, chroma_path=tmp_path / "chroma")
    assert m.stats()["counts"]["mixing_feedback"] == 1
    config = m.get_config("c1")["config"]
    assert config and all("/" in k for k in config)  # the old per-kind columns became Settings
    with sqlite3.connect(tmp_path / "old.db") as c:
        assert c.execute("PRAGMA foreign_key_check").fetchall() == []
