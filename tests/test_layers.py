"""The layering rule holds: imports point down only (README, Architecture)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {  # package -> the packages it may import
    "core": {"core"},
    "plugins": {"core", "plugins"},
    "rt": {"core", "rt"},
    "bridge": {"core", "bridge"},
    "memory": {"core", "memory"},
    "app": {"app", "core", "rt", "bridge", "memory"},
}
BENCH_EXCEPTION = "plugins"  # app/bench_*.py time a plugin's own kernels (README, Architecture)


def imports(path: Path) -> set[str]:
    """Top-level package names of everything ``path`` imports (module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_only(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        allowed = ALLOWED[package] | ({BENCH_EXCEPTION} if path.name.startswith("bench_") else set())
        bad = imports(path) - allowed
        if bad:
            wrong.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from app.song import Services\n    import plugins.eq\n")
    assert imports(f) == {"app", "plugins"}
