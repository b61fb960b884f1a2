"""Genre presets (every value within its parameter's range) and the synthetic-genre classifier."""

import numpy as np
import pytest

from core.errors import SessionError
from plugins.genre import GENRES, classify, load_model, load_preset, presets, synth_clip

REQUIRED = {"pop", "rock", "hip-hop", "electronic", "jazz", "classical", "r&b", "country", "acoustic"}


def test_presets_cover_the_genres_and_reach_the_hook(host) -> None:  # type: ignore[no-untyped-def]
    assert REQUIRED <= set(presets())
    from_hook: dict = {}
    for part in host.pm.hook.mixbridge_genre_presets():
        from_hook.update(part)
    assert REQUIRED <= set(from_hook)


@pytest.mark.parametrize("genre", sorted(REQUIRED))
def test_every_preset_value_lies_within_its_parameter_range(host, genre: str) -> None:  # type: ignore[no-untyped-def]
    p = presets()[genre]
    stages = {s["plugin"] for section in ("vocal", "music", "master") for s in p[section]}
    # the preset covers EQ, compression, width, reverb, delay and sidechain settings
    assert {"eq", "compressor", "stereo_width", "reverb", "delay", "ducker", "dynamic_eq"} <= stages
    checked = 0
    for section in ("vocal", "music", "master"):
        for spec in p[section]:
            cls = host.processor_class(spec["plugin"])
            declared = {q.name: q for q in cls.params}
            for name, value in spec.get("params", {}).items():
                assert name in declared, f"{genre}.{section}.{spec['plugin']}: unknown parameter {name}"
                v = declared[name].validate(value)
                assert declared[name].min <= v <= declared[name].max
                checked += 1
            cls(**spec.get("params", {}))  # the processor accepts the whole set
            if "sidechain" in spec:
                assert spec["sidechain"] == "vocals" and cls.accepts_sidechain
    assert checked >= 20
    assert -30.0 <= p["mix"]["target_lufs"] <= -8.0 and 0.0 <= p["mix"]["vocal_offset_lu"] <= 6.0


def test_a_malformed_preset_is_refused_with_its_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nvocal = []\nmusic = []\nmaster = []\n[mix]\nloud = 1\n')
    with pytest.raises(SessionError, match="unknown key"):
        load_preset(bad)


def test_classifier_on_fresh_synthetic_clips() -> None:
    # clips from a seed the model was not trained on (training used seed 2026)
    rng = np.random.default_rng(99)
    hits = 0
    for genre in GENRES:
        name, conf = classify(synth_clip(genre, rng, seconds=4.0), 22050)
        assert name in GENRES and 0.0 < conf <= 1.0
        hits += name == genre
    assert hits >= 8
    assert load_model()["heldout_accuracy"] >= 0.9
