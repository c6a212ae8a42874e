"""Install the project, non-editable and without extras, into a fresh interpreter; run what it installed.

Used by the plain-install test (tests/e2e/test_install.py) and the image test (tests/daemon/test_image.py).
Fast on purpose: the venv is made without pip (the test's own pip installs into it with `--python`),
nothing is byte-compiled, and the dependencies come from a wheelhouse kept between runs
(`$RECONCILER_TEST_WHEELHOUSE`, default `~/.cache/stoa-reconciler/test-wheels`) with `--no-index`.
The project itself is always built afresh from the given source directory, as `pip install DIR` does.
When the wheelhouse lacks something (first run, a new dependency), it is filled with `pip wheel` from
the configured index and the install is tried once more.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = Path(os.environ.get("RECONCILER_TEST_WHEELHOUSE",
                                 Path.home() / ".cache" / "stoa-reconciler" / "test-wheels"))
ANSI = re.compile(r"\x1b\[")
ACCESS_LOG = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S* HTTP/\d(\.\d)?"')
"""A werkzeug (moto) or uvicorn access-log line: `... "GET /restapis HTTP/1.1" 200 -`."""


def fresh_venv(path: Path) -> Path:
    """`python -m venv --without-pip PATH` from the base interpreter: none of the test venv's packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *args],
                          capture_output=True, text=True, timeout=600)


def pip_install(python: Path, source: Path, *extra: str) -> float:
    """`pip install SOURCE` (a directory, built non-editable) into `python`'s environment; seconds taken."""
    started = time.monotonic()
    args = ("install", "--quiet", "--no-compile", "--no-index", "--find-links", str(WHEELHOUSE), *extra, str(source))
    done = _pip(python, *args)
    if done.returncode != 0:
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        # the dependencies and the build backend, from the configured index; then offline again
        fill = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(WHEELHOUSE),
                               str(ROOT), "setuptools>=68", "wheel"], capture_output=True, text=True, timeout=900)
        assert fill.returncode == 0, f"cannot fill the wheelhouse {WHEELHOUSE}:\n{fill.stderr[-3000:]}"
        for own in WHEELHOUSE.glob("stoa_reconciler-*.whl"):  # never install a stale copy of the project
            own.unlink()
        done = _pip(python, *args)
    assert done.returncode == 0, f"pip install {source} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return time.monotonic() - started


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of the test run: no PYTHONPATH, no venv, no RECONCILER_*, a fresh HOME."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"HOME": str(home), "PYTHONNOUSERSITE": "1", **extra})
    return env


def run_demo(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `reconciler demo` with its output redirected (pipes, not a tty); returns it and its duration."""
    started = time.monotonic()
    done = subprocess.run([*command, "demo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - started


def assert_plain_demo(done: subprocess.CompletedProcess[str]) -> None:
    """What every redirected demo run without moto shows: success, AWS skipped in one line, the daemon
    act, no access-log line and no colour code."""
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    skipped = [line for line in out.splitlines() if "aws-dev" in line and "skipped" in line]
    assert skipped == ["  aws-dev: skipped, its emulator needs moto (pip install 'stoa-reconciler[demo]')"], skipped
    assert "Gateway aws-dev: " not in done.stdout and "Gateway kong-dev: " in done.stdout
    assert "webhook answered 202" in done.stdout and "drift found and healed" in done.stdout
    assert "demo succeeded" in done.stdout
    assert not [line for line in out.splitlines() if ACCESS_LOG.search(line)]
    assert not ANSI.search(out)
    assert "Traceback" not in out


def site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
