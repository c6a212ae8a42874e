"""The image's port and bind address agree with the daemon's default and the Kubernetes examples."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.daemon.settings import DaemonSettings

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
