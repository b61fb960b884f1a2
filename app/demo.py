"""The demo session: a synthetic sung vocal over a procedural instrumental, rendered offline."""

from __future__ import annotations

from pathlib import Path

from core import audio_io
from core.errors import MixbridgeError
from core.host import PluginHost
from core.session import Loudness, Master, Session, Track

LYRICS = """Light on the water, we drift into blue
every small echo is singing of you
hold on the evening, the city below
carries our voices wherever we go"""


def write_demo(
    folder: str | Path,
    host: PluginHost,
    duration: float = 30.0,
    key: str = "A minor",
    bpm: float = 96.0,
    genre: str = "pop",
    sample_rate: int = 48000,
) -> Path:
    """Generate vocals.wav and music.wav through the generator hooks and write session.toml.

    Examples
    --------
    >>> path = write_demo("mixbridge-demo", PluginHost.from_toml())   # doctest: +SKIP
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    hook = host.pm.hook
    vocals = hook.mixbridge_generate_vocals(
        lyrics=LYRICS, key=key, bpm=bpm, duration=duration, sample_rate=sample_rate, style="sung"
    )
    music = hook.mixbridge_generate_music(
        genre=genre, key=key, bpm=bpm, duration=duration, sample_rate=sample_rate
    )
    if vocals is None or music is None:
        raise MixbridgeError(
            "no generator plugin answered: add 'plugins.generators' to [plugins] modules in plugins.toml"
        )
    audio_io.write(out / "vocals.wav", vocals, sample_rate, "float")
    audio_io.write(out / "music.wav", music, sample_rate, "float")
    chains = host.config.chains

    def pick(*names: str) -> str | None:
        return next((n for n in names if n in chains), None)

    session = Session(
        name="demo",
        sample_rate=sample_rate,
        genre=genre,
        key=key,
        bpm=bpm,
        tracks=[
            Track("vocals", "vocals.wav", gain_db=0.0, chain=pick("vocal")),
            Track("music", "music.wav", gain_db=-3.0, chain=pick(f"music_{genre}", "music")),
        ],
        master=Master(chain=pick("master"), loudness=Loudness(True, -14.0, -1.0)),
        output_path="demo.wav",
        base_dir=out.resolve(),
    )
    return session.save(out / "session.toml")
