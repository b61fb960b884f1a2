from pathlib import Path

import pytest

from core.errors import SessionError
from core.session import Session

GOOD = """
[session]
name = "song"
sample_rate = 48000
genre = "rock"
key = "E minor"
bpm = 120

[[tracks]]
name = "vocals"
source = "v.wav"
pan = -0.2
processors = [{ plugin = "gain", params = { gain_db = -3.0 } }]

[[tracks]]
name = "music"
source = "m.wav"
chain = "trim"

[master.loudness]
target_lufs = -16.0

[output]
path = "out/song.wav"
bit_depth = "float"
"""


def test_load_save_round_trip(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text(GOOD)
    s = Session.load(f)
    assert (s.name, s.genre, s.bpm, s.master.loudness.target_lufs) == ("song", "rock", 120.0, -16.0)
    assert s.tracks[0].processors[0]["params"]["gain_db"] == -3.0
    assert s.resolve(s.output_path) == tmp_path / "out" / "song.wav"
    s.save(tmp_path / "copy.toml")
    assert Session.load(tmp_path / "copy.toml") == s


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("sample_rate = 48000", "sample_rate = 47000"), r"session.sample_rate = 47000: use one of"),
        (("bpm = 120", "bpm = 'fast'"), r"session.bpm = 'fast': expected int or float"),
        (("bpm = 120", "bpm = 1000"), r"session.bpm = 1000: must lie in \[20, 300\]"),
        (("pan = -0.2", "pan = -2"), r"tracks\[0\].pan = -2: must lie in \[-1, 1\]"),
        (('name = "music"', 'name = "vocals"'), r"tracks\[1\].name = 'vocals': track names must be unique"),
        (('source = "m.wav"', ""), r"tracks\[1\]: missing 'source'"),
        (("plugin = \"gain\"", "plug = \"gain\""), r"tracks\[0\].processors\[0\]: unknown key\(s\) \['plug'\]"),
        (("target_lufs = -16.0", "target_lufs = 3.0"), r"master.loudness.target_lufs = 3: must lie in"),
        (('bit_depth = "float"', 'bit_depth = "8"'), r"output.bit_depth = '8'"),
        (("[output]", "[outputs]"), r"unknown key\(s\) \['outputs'\]"),
        (("genre = \"rock\"", "genre = \"rock\"\ntempo = 3"), r"\[session\]: unknown key\(s\) \['tempo'\]"),
        (("[[tracks]]\nname = \"music\"", "[[trackz]]\nname = \"music\""), r"unknown key\(s\) \['trackz'\]"),
        (("[session]", "[session"), "not valid TOML"),
        (('genre = "rock"', 'genre = "polka-step"'), r"session.genre: .*polka-step"),
        (('bit_depth = "float"', "bit_depth = 24"), r"output.bit_depth = 24: expected str"),
        (("pan = -0.2", "pan = -0.2\ngain_db = true"), r"tracks\[0\].gain_db = True: expected int or float"),
        (("bpm = 120", "bpm = true"), r"session.bpm = True: expected int or float"),
    ],
)
def test_malformed_sessions_name_the_key(tmp_path: Path, edit: tuple[str, str], match: str) -> None:
    f = tmp_path / "s.toml"
    f.write_text(GOOD.replace(*edit, 1))
    with pytest.raises(SessionError, match=match):
        Session.load(f)


def test_missing_file_and_no_tracks(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="session file not found"):
        Session.load(tmp_path / "nope.toml")
    f = tmp_path / "empty.toml"
    f.write_text("[session]\nname = 'x'\n")
    with pytest.raises(SessionError, match="needs at least one track"):
        Session.load(f)
