import shutil

import numpy as np
import pytest

from core.host import PluginHost, PluginsConfig

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
SR = 16000


def test_spoken_lines_start_on_every_other_bar() -> None:
    host = PluginHost(PluginsConfig(modules=["plugins.speech"], entry_points=False))
    bpm, lyrics = 120.0, "hello there\nthe city sleeps"
    v = host.pm.hook.mixbridge_generate_vocals(
        lyrics=lyrics, key="C major", bpm=bpm, duration=10.0, sample_rate=SR, style="spoken"
    )
    assert v.shape == (1, 10 * SR) and v.dtype == np.float32
    assert np.max(np.abs(v)) == pytest.approx(10 ** (-3 / 20), rel=1e-4)
    # energy in 50 ms frames: speech starts at 0 s, 4 s, 8 s (two 4/4 bars at 120 bpm = 4 s)
    frames = v[0, : 10 * SR].reshape(-1, SR // 20)
    active = np.sqrt((frames**2).mean(axis=1)) > 0.01
    assert active[:10].any()  # the first line starts within 0.5 s
    onsets = [i / 20 for i in range(1, len(active)) if active[i] and not active[i - 1 : i].any()]
    starts = [t for t in onsets if all(abs(t - u) > 1.0 for u in onsets if u < t)]
    assert [round(t) for t in [0.0, *starts]][:3] == [0, 4, 8]


def test_sung_style_is_left_to_the_singer() -> None:
    host = PluginHost(PluginsConfig(modules=["plugins.speech"], entry_points=False))
    assert (
        host.pm.hook.mixbridge_generate_vocals(
            lyrics="la", key="C major", bpm=100.0, duration=1.0, sample_rate=SR, style="sung"
        )
        is None
    )
