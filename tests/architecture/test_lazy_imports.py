"""`reconciler --help` and `validate` load no HTTP client, daemon or AWS SDK they do not use (issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("httpx", "botocore", "boto3", "reconciler.daemon.runner", "pygit2", "apscheduler", "starlette")


def loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(done.stdout.split())


def test_building_the_parser_loads_nothing_heavy() -> None:
    modules = loaded_after("from reconciler.cli import build_parser; build_parser()")
    assert [m for m in (*HEAVY, "asyncio") if m in modules] == []


def test_validate_loads_no_http_client_nor_aws_sdk() -> None:
    modules = loaded_after("from reconciler.cli import main\n"
                           "import contextlib, io\n"
                           "with contextlib.redirect_stdout(io.StringIO()): main(['validate', 'examples/repo'])")
    assert [m for m in ("botocore", "boto3", "reconciler.daemon.runner", "apscheduler") if m in modules] == []
