import os
import time
from pathlib import Path

import pytest

from app.enhanced_cache import EnhancedAudioCache, cache_key
from bridge.auth import AuthError, issue_token, verify_token
from bridge.media import PathRefused, resolve_media

KEY = "k" * 32


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "media"
    (r / "songs").mkdir(parents=True)
    (r / "songs" / "v.wav").write_bytes(b"RIFF")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", r / "songs" / "escape.wav")
    os.symlink(r / "songs" / "v.wav", r / "inside.wav")
    return r


def test_paths_inside_resolve(root: Path) -> None:
    assert resolve_media(root, "songs/v.wav") == (root / "songs" / "v.wav").resolve()
    assert resolve_media(root, "inside.wav") == (root / "songs" / "v.wav").resolve()  # symlink inside is fine
    assert resolve_media(root, "songs/%76.wav").name == "v.wav"
    with pytest.raises(FileNotFoundError):
        resolve_media(root, "songs/none.wav")


@pytest.mark.parametrize(
    "raw",
    ["../secret.txt", "songs/../../secret.txt", "/etc/passwd", "%2e%2e/secret.txt", "%252e%252e%252fsecret.txt",
     "songs/%2E%2E/%2E%2E/secret.txt", "..%2fsecret.txt", "songs\\..\\..\\secret.txt", "songs/escape.wav",
     "C:/windows/win.ini", "songs/v.wav\x00.txt", "%00", "", "   "],
)
def test_escapes_are_refused(root: Path, raw: str) -> None:
    with pytest.raises(PathRefused):
        resolve_media(root, raw)


def test_tokens_round_trip_and_refusals() -> None:
    tok = issue_token("alice", key=KEY)
    assert verify_token(tok, key=KEY)["sub"] == "alice"
    with pytest.raises(AuthError, match="invalid token: Signature verification failed"):
        verify_token(tok, key="x" * 32)
    import jwt

    expired = jwt.encode({"sub": "alice", "iss": "mixbridge", "exp": int(time.time()) - 10}, KEY, algorithm="HS256")
    with pytest.raises(AuthError, match="token expired"):
        verify_token(expired, key=KEY)
    with pytest.raises(AuthError, match="invalid token"):
        verify_token("not.a.token", key=KEY)


def test_cache_hits_and_evicts_least_recently_used(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    src.write_bytes(b"a" * 100)
    cache = EnhancedAudioCache(tmp_path / "cache", max_bytes=2500)
    calls = []

    def make(n: int):  # type: ignore[no-untyped-def]
        def _make(out: Path) -> None:
            calls.append(n)
            out.write_bytes(b"x" * 1000)
        return _make

    k1 = cache_key([src], {"vocoder": True})
    assert k1 == cache_key([src], {"vocoder": True}) != cache_key([src], {"vocoder": False})
    p1, hit = cache.get_or_make(k1, make(1))
    assert not hit and p1.stat().st_size == 1000
    p1b, hit = cache.get_or_make(k1, make(99))
    assert hit and p1b == p1 and calls == [1]
    k2, k3 = cache_key([src], {"n": 2}), cache_key([src], {"n": 3})
    cache.get_or_make(k2, make(2))
    time.sleep(0.02)
    os.utime(p1)  # k1 used again: k2 is now the oldest
    cache.get_or_make(k3, make(3))
    assert cache.get(k2) is None and cache.get(k1) and cache.get(k3)
    assert cache.size_bytes() <= 2500
    src.write_bytes(b"b" * 100)
    assert cache_key([src], {"vocoder": True}) != k1  # different audio, different key
