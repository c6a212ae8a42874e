"""`pip install .` (non-editable, no extras) into a fresh venv, then `reconciler demo` from it.

The demo must not need the source tree (its repo is package data) nor moto (the `demo` extra): AWS
is skipped in one line, the other five gateways and the daemon act run. Runs in `make test` like
every test; about 10 s for the install (wheelhouse warm) and 10-15 s for the demo.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.installs import ROOT, assert_plain_demo, clean_env, fresh_venv, pip_install, run_demo, site_packages

pytestmark = pytest.mark.e2e


def test_a_plain_install_runs_the_demo_without_the_source_tree_or_moto(tmp_path: Path) -> None:
    started = time.monotonic()
    python = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, ROOT)
    work = tmp_path / "elsewhere"  # not the checkout: nothing can be imported or read from it
    work.mkdir()
    env = clean_env(work)

    probe = subprocess.run([str(python), "-c", "import importlib.util as u, reconciler\n"
                            "print(reconciler.__file__); print(u.find_spec('moto'))"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=60, check=True)
    where, moto = probe.stdout.splitlines()
    assert Path(where).is_relative_to(site_packages(tmp_path / "venv")), where
    assert moto == "None"

    packaged = site_packages(tmp_path / "venv") / "reconciler" / "examples" / "repo"
    source = ROOT / "examples" / "repo"
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    assert files and sorted(p.relative_to(packaged) for p in packaged.rglob("*") if p.is_file()) == files
    assert all((packaged / f).read_bytes() == (source / f).read_bytes() for f in files)

    done, demo = run_demo([str(tmp_path / "venv" / "bin" / "reconciler")], work, env)
    assert_plain_demo(done)
    print(f"\nfresh venv + pip install {installed:.1f}s, reconciler demo {demo:.1f}s, "
          f"test {time.monotonic() - started:.1f}s")
