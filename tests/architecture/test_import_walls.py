"""The import-linter contracts of `pyproject.toml` hold, and a back-arrow really breaks them.

`make test` runs `lint-imports` on the tree; these tests make sure the walls are not decorative:
a copy of the package with one forbidden import added must fail, naming the broken contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "reconciler", tmp_path / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append_import(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")


def test_the_tree_keeps_every_contract(copy: Path) -> None:
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("engine/diff.py", "import reconciler.adapters.base", "Layers: every package imports downwards only"),
    ("model/changes.py", "import reconciler.manifests.models", "Layers: every package imports downwards only"),
    ("output/render.py", "import reconciler.runner", "Layers: every package imports downwards only"),
    ("adapters/kong/mappers.py", "import reconciler.manifests.models", "never the manifests"),
    ("emulators/kong/emulator.py", "import reconciler.adapters.kong.mappers", "Layers: every package imports downwards"),
    ("adapters/stoa/emulator.py", "import reconciler.adapters.stoa.mappers", "never imports the adapter it serves"),
    ("daemon/http.py", "import reconciler.daemon.runner", "Daemon: one-way inside too"),
])
def test_a_back_import_breaks_its_contract(copy: Path, module: str, line: str, contract: str) -> None:
    target = copy / "reconciler" / module
    assert target.exists(), target
    _append_import(target, line)
    result = _lint(copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
