"""Errors a person can act on: the field's own line, a did-you-mean, unknown gateway options listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import ValidationFailed, load

ROOT = Path(__file__).resolve().parents[2]


def _errors(repo: Path) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        load(repo)
    return [str(e) for e in info.value.errors]


def test_misspellings_get_a_did_you_mean_at_the_line_of_the_field(example_repo: Path) -> None:
    def edit(rel: str, old: str, new: str) -> None:
        path = example_repo / rel
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))

    edit("apis/orders.yaml", "gateways: [stoa-dev]", "gateways: [stoa-dve]")
    edit("gateways/kong-dev.yaml", "    mode: dbless", "    mdoe: dbless")
    edit("policies/pets.yaml", "  api: orders", "  api: ordres")
    errors = _errors(example_repo)
    shown = str(example_repo)
    assert f"{shown}/apis/orders.yaml:12: spec.gateways: unknown gateway 'stoa-dve'; did you mean 'stoa-dev'?" in errors
    assert any(e.startswith(f"{shown}/gateways/kong-dev.yaml:") and "spec.options.mdoe: unknown option for a kong "
               "gateway; did you mean 'mode'? (known: mode, protectApis)" in e for e in errors)
    assert any(e.startswith(f"{shown}/policies/pets.yaml:") and "spec.api: unknown API 'ordres'; did you mean "
               "'orders'?" in e and not e.startswith(f"{shown}/policies/pets.yaml:1:") for e in errors)
    assert len(errors) == 3  # one error per cause, no cascade


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`reconciler schema | head -1`: the reader is gone; no BrokenPipeError traceback, exit 1."""
    import os
    import subprocess
    import sys

    cli = str(Path(sys.executable).parent / "reconciler")
    read, write = os.pipe()
    os.close(read)  # the reader left before the first byte: every write fails with EPIPE
    try:
        done = subprocess.run([cli, "schema"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 1
