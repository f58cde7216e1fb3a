"""The layering contract in pyproject.toml holds, and it does catch an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data", "stats", "training", "quality", "xai", "figures")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("lint-imports")
    command = [str(script)] if script.exists() else [shutil.which("lint-imports") or "lint-imports"]
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(command + ["--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_contract_holds():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def _copy_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("sample", "__pycache__", "*.png", "*.jpeg", "*.csv"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_upward_import_breaks_the_contract(tmp_path):
    """A copy of the tree plus one module in ``data`` importing ``figures`` must fail the same contract."""
    tree = _copy_tree(tmp_path)
    (tree / "data" / "upward_probe.py").write_text("from figures import style  # deliberately upward\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "data is not allowed to import figures" in result.stdout
    assert "data.upward_probe -> figures.style" in result.stdout


def test_a_library_module_importing_a_command_breaks_the_contract(tmp_path):
    tree = _copy_tree(tmp_path)
    (tree / "xai" / "command_probe.py").write_text("from training.train import main  # a command, not a library\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "xai.command_probe -> training.train" in result.stdout


def _command_modules() -> set[str]:
    """Modules of the packages that are commands: they define ``main`` and run it under ``__main__``."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if "def main(" in text and '__name__ == "__main__"' in text:
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_every_command_is_declared_in_the_contract():
    """A new ``python -m`` command must be declared as one (top layer), and nothing else may be."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python >= 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["id"] == "layers")
    commands = next(c for c in config if c["id"] == "commands")
    ignored = {rule.split(" -> ")[0] for rule in layers["ignore_imports"] if rule.endswith("-> **")}
    assert ignored == set(commands["forbidden_modules"]) == _command_modules()
