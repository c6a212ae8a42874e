"""The image: its port and bind address agree with the daemon's default and the Kubernetes examples,
and its filesystem, built the way the Dockerfile builds it, runs `reconciler demo`."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from reconciler.daemon.settings import DaemonSettings
from tests.installs import assert_plain_demo, clean_env, fresh_venv, pip_install, run_demo

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_exposes_the_port_the_daemon_and_the_examples_use() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    exposed = {int(p) for p in re.findall(r"^EXPOSE (\d+)", dockerfile, re.M)}
    default = DaemonSettings.model_fields["port"].default
    assert exposed == {default}
    assert re.search(rf"RECONCILER_PORT={default}\b", dockerfile) and "RECONCILER_HOST=0.0.0.0" in dockerfile
    for manifest in (ROOT / "examples" / "deploy").glob("kubernetes*.yaml"):
        ports = {int(p) for p in re.findall(r"containerPort: (\d+)", manifest.read_text())}
        assert ports <= {default, 2379, 2380}, (manifest.name, ports)


def _stages(dockerfile: str) -> list[list[str]]:
    """Instructions per stage (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    stages: list[list[str]] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def _copy(instruction: str, context: Path, into: Path, workdir: str) -> list[Path]:
    """`COPY SRC... DST` from the build context, as Docker does: a directory's contents, symlinks as links."""
    *sources, dest = instruction.split()[1:]
    target = into / (dest if dest.startswith("/") else f"{workdir}/{dest}").lstrip("/")
    out = []
    for source in sources:
        src = context / source
        if src.is_dir():
            shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
            out.append(target)
        else:
            dst = target / src.name if dest.endswith("/") or len(sources) > 1 else target
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)
            out.append(dst)
    return out


@pytest.mark.e2e
def test_the_image_filesystem_built_as_the_dockerfile_does_runs_the_demo(tmp_path: Path) -> None:
    """No docker here: the build stage's COPYs and `pip install --prefix=/install .` are replayed in a
    temporary directory, /install is laid over a fresh interpreter's prefix (the final stage's
    `COPY --from=build /install /usr/local`), and `reconciler demo` runs from it with the image's ENV."""
    started = time.monotonic()
    build, final = _stages((ROOT / "Dockerfile").read_text())
    workdir = next(i.split()[1] for i in build if i.upper().startswith("WORKDIR "))
    for instruction in build:
        if instruction.upper().startswith("COPY "):
            _copy(instruction, ROOT, tmp_path / "build", workdir)
    (pip_line,) = [i for i in build if i.upper().startswith("RUN ") and "pip install" in i]
    options = pip_line.split("pip install", 1)[1].split()
    assert options[-1] == "." and "--prefix=/install" in options, pip_line
    install = tmp_path / "build" / "install"
    options = [o.replace("=/install", f"={install}") for o in options[:-1]]

    usr_local = tmp_path / "usr-local"  # the base image's Python: its prefix is /usr/local
    python = fresh_venv(usr_local)
    installed = pip_install(python, tmp_path / "build" / workdir.lstrip("/"), *options)

    (from_build,) = [i for i in final if i.upper().startswith("COPY --FROM=")]
    assert from_build.split()[2:] == ["/install", "/usr/local"], from_build
    shutil.copytree(install, usr_local, symlinks=True, dirs_exist_ok=True)
    image = tmp_path / "image"
    for instruction in final:
        if instruction.upper().startswith("COPY ") and "--from=" not in instruction:
            for copied in _copy(instruction, ROOT, image, "/"):
                dangling = [p for p in [copied, *copied.rglob("*")] if p.is_symlink() and not p.exists()]
                assert not dangling, f"{instruction}: symlinks that point outside the image: {dangling}"
    assert (image / "opt/stoa-reconciler/examples/repo/reconciler.yaml").is_file()

    image_env = dict(pair.split("=", 1) for i in final if i.upper().startswith("ENV ") for pair in i.split()[1:])
    home = tmp_path / "home" / "reconciler"
    home.mkdir(parents=True)
    done, demo = run_demo([str(usr_local / "bin" / "reconciler")], home, clean_env(home, **image_env))
    assert_plain_demo(done)
    print(f"\nimage filesystem: pip install --prefix {installed:.1f}s, reconciler demo {demo:.1f}s, "
          f"test {time.monotonic() - started:.1f}s")
