import pytest

from core.errors import SessionError
from core.settings import EnhancementSettings

ALL = [
    "ENABLE_VOICE_ENHANCEMENT", "ENABLE_NEURAL_VOCODER", "ENABLE_PROSODY_ENHANCEMENT",
    "ENABLE_AUTO_TUNE", "ENABLE_INTELLIGENT_MIXING", "ENABLE_FREQUENCY_BALANCING",
    "ENABLE_SIDECHAIN_COMPRESSION", "ENABLE_STEREO_IMAGING", "ENABLE_GENRE_SPECIFIC_MIXING",
    "ENABLE_MEMORY_LEARNING", "ENABLE_QUALITY_TRACKING", "ENABLE_CACHING", "CACHE_TTL_SECONDS",
    "FALLBACK_ON_ERROR", "LOG_LEVEL",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL:
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_reference_design() -> None:
    s = EnhancementSettings.from_env()
    on = {k for k, v in vars(s).items() if v is True}
    off = {k for k, v in vars(s).items() if v is False}
    assert off == {"enable_auto_tune"}
    assert len(on) == 12  # 11 ENABLE_* switches on + FALLBACK_ON_ERROR
    assert s.cache_ttl_seconds == 3600 and s.fallback_on_error and s.log_level == "INFO"


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL:
        monkeypatch.setenv(name, "false")
    monkeypatch.setenv("CACHE_TTL_SECONDS", "60")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    s = EnhancementSettings.from_env()
    assert not any(v for v in vars(s).values() if isinstance(v, bool))
    assert s.cache_ttl_seconds == 60 and s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [("ENABLE_AUTO_TUNE", "maybe", "ENABLE_AUTO_TUNE='maybe'"),
     ("CACHE_TTL_SECONDS", "soon", "whole seconds"),
     ("CACHE_TTL_SECONDS", "-5", ">= 0"),
     ("LOG_LEVEL", "LOUD", "LOG_LEVEL")],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, match: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SessionError, match=match):
        EnhancementSettings.from_env()
