"""The layers contract (pyproject.toml, [tool.importlinter]) holds, and breaks when a module imports upward."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("prefstream", "processors", "producers", "sinks", "schemas")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's check of the packages under `root`, with the project's contracts."""
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": ""}, capture_output=True, text=True, timeout=120)


def test_the_contracts_are_kept() -> None:
    checked = lint_imports(ROOT)
    assert checked.returncode == 0, checked.stdout[-3000:]


def test_the_shared_core_importing_the_command_breaks_the_layers(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    settings = tmp_path / "prefstream" / "core" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport prefstream.cli.main  # an upward import\n")
    checked = lint_imports(tmp_path)
    assert checked.returncode == 1
    assert "Layers: the command and the local environment on top" in checked.stdout and "BROKEN" in checked.stdout
    assert "prefstream.core.settings -> prefstream.cli.main" in checked.stdout
