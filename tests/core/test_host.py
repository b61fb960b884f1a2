import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.errors import MixbridgeError, SessionError, UnknownProcessorError
from core.host import PluginHost, PluginsConfig

EXT = '''
import numpy as np
from numba import njit
from core.hookspecs import hookimpl
from core.params import Param
from core.processor import Processor

@njit(cache=False)
def _invert(audio, sidechain, targets, current, coefs):
    for c in range(audio.shape[0]):
        for i in range(audio.shape[1]):
            audio[c, i] = -audio[c, i] * targets[0]

class Invert(Processor):
    """Polarity inversion with a level."""
    name = "ext_invert"
    params = (Param("level", 1.0, 0.0, 2.0),)
    kernel = _invert

@hookimpl
def mixbridge_processors():
    return [Invert]
'''


@pytest.fixture
def outside_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package installed only as files + dist-info with a `mixbridge` entry point."""
    name = f"mbx_ext_{tmp_path.name[-8:].replace('-', '_')}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(EXT)
    dist = tmp_path / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[mixbridge]\nexternal = {name}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_outside_plugin_from_entry_point_is_discovered_and_runs(outside_package: str) -> None:
    host = PluginHost(PluginsConfig(modules=["plugins.gain"], entry_points=True))
    assert host.origin["ext_invert"] == "external"
    p = host.create("ext_invert", level=0.5)
    p.prepare(48000, 16, 1)
    x = np.ones((1, 16), np.float32)
    p.process(x)
    np.testing.assert_array_equal(x, -0.5)


def test_entry_points_off_means_none_loaded(outside_package: str) -> None:
    host = PluginHost(PluginsConfig(modules=["plugins.gain"], entry_points=False))
    assert "ext_invert" not in host.processors


def test_blocked_plugin_is_not_loaded(outside_package: str) -> None:
    host = PluginHost(PluginsConfig(modules=["plugins.gain"], entry_points=True, block=["external"]))
    assert "ext_invert" not in host.processors and not host.failures


def test_failing_plugin_is_reported_and_others_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mbx_broken.py").write_text("import numpy\nraise RuntimeError('no licence file')\n")
    (tmp_path / "mbx_badhook.py").write_text(textwrap.dedent("""
        from core.hookspecs import hookimpl
        @hookimpl
        def mixbridge_processors():
            return [int]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost(PluginsConfig(
        modules=["mbx_broken", "plugins.gain", "mbx_missing_module", "mbx_badhook"], entry_points=False
    ))
    assert "gain" in host.processors
    assert host.failures["mbx_broken"] == "RuntimeError: no licence file"
    assert "ModuleNotFoundError" in host.failures["mbx_missing_module"]
    assert "not a named Processor subclass" in host.failures["mbx_badhook"]


def test_unknown_plugin_and_parameter_errors(host: PluginHost) -> None:
    with pytest.raises(UnknownProcessorError, match=r"unknown plugin 'fuzz' \(available: .*gain"):
        host.create("fuzz")
    with pytest.raises(ValueError, match=r"gain: unknown parameter 'volume' \(parameters: gain_db, pan, trim_db\)"):
        host.create("gain", volume=3)
    with pytest.raises(MixbridgeError, match="unknown chain 'nope'"):
        host.chain("nope")


def test_named_chain_from_toml(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(textwrap.dedent("""
        [plugins]
        modules = ["plugins.gain"]
        entry_points = false
        [[chains.vox]]
        plugin = "gain"
        label = "pad"
        params = { gain_db = -6.0 }
        [[chains.vox]]
        plugin = "gain"
        bypass = true
        mix = 0.5
    """))
    host = PluginHost.from_toml(tmp_path / "plugins.toml")
    ch = host.chain("vox")
    assert [s.label for s in ch] == ["pad", "gain"]
    assert ch["pad"].processor.get("gain_db") == -6.0
    assert ch[1].bypass and ch[1].mix == 0.5


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[plugins]\nmodules = 'plugins.gain'\n", "plugins.modules must be a list of strings"),
        ("[plugins]\nentry_point = true\n", r"unknown key\(s\) in \[plugins\]: \['entry_point'\]"),
        ("[[chains.v]]\nparams = {}\n", r"chains.v\[0\]: missing 'plugin'"),
        ("[[chains.v]]\nplugin = 'gain'\nwet = 1\n", r"chains.v\[0\]: unknown key\(s\) \['wet'\]"),
        ("[plugins\n", "not valid TOML"),
    ],
)
def test_malformed_plugins_toml(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "plugins.toml"
    f.write_text(text)
    with pytest.raises(SessionError, match=match):
        PluginsConfig.load(f)


def test_bad_param_in_named_chain_names_the_slot(tmp_path: Path) -> None:
    f = tmp_path / "plugins.toml"
    f.write_text("[plugins]\nmodules = ['plugins.gain']\n[[chains.v]]\nplugin = 'gain'\nparams = { gain_db = 99 }\n")
    host = PluginHost(PluginsConfig.load(f))
    with pytest.raises(SessionError, match=r"chains.v\[0\]: gain_db: 99 is outside \[-60, 24\] dB"):
        host.chain("v")


def test_every_hook_is_documented() -> None:
    from core import hookspecs

    hooks = [n for n in dir(hookspecs) if n.startswith("mixbridge_")]
    assert len(hooks) >= 6
    for n in hooks:
        assert getattr(hookspecs, n).__doc__, n
