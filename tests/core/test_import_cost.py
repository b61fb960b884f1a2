"""`import core` stays cheap: no numba, scipy, torch or audio libraries until used."""

import subprocess
import sys

HEAVY = ["numba", "scipy", "torch", "librosa", "soundfile", "sounddevice", "chromadb", "sqlalchemy", "pedalboard",
         "fastapi"]


def test_import_core_loads_no_heavy_module() -> None:
    code = (
        "import sys, core, core.params, core.errors, core.settings, core.session\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_loads_no_heavy_module() -> None:
    code = (
        "import sys, contextlib, io\nfrom app.cli import build_parser\nbuild_parser()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
