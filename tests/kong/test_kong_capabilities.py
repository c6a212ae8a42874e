"""What Kong would refuse or lose is a validation error before any request; its side effects are plan notes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters.kong.adapter import KongAdapter
from reconciler.cli import main
from reconciler.emulators.kong import KongEmulator
from reconciler.model.records import make_record

TOKEN = "kong-admin-token-123"
LOSSY = "https://user:pw@Pets.Example.com:443/v1/?region=eu#frag"


@pytest.fixture
def kong(monkeypatch: pytest.MonkeyPatch) -> Iterator[KongEmulator]:
    monkeypatch.setenv("KONG_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("MOBILE_APP_API_KEY", "mobile-key-0123456789")
    monkeypatch.setenv("PARTNER_PORTAL_API_KEY", "partner-key-0123456789")
    with KongEmulator(mode="postgres", admin_token=TOKEN) as emulator:
        yield emulator  # type: ignore[misc]


@pytest.fixture
def repo(example_repo: Path) -> Path:
    return example_repo


def run(repo: Path, kong: KongEmulator, *args: str) -> int:
    return main([args[0], str(repo), "--gateway", "kong-dev", "--endpoint", f"kong-dev={kong.url}", *args[1:]])


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_backend_kong_cannot_store_is_a_validation_error_and_nothing_is_sent(
        repo: Path, kong: KongEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo / "apis" / "pets.yaml", "https://petstore.example.com/v1", LOSSY)
    assert main(["validate", str(repo)]) == 1
    assert run(repo, kong, "apply", "--auto-approve") == 1
    err = capsys.readouterr().err
    assert "apis/pets.yaml:" in err and "spec.backend" in err and "gateway kong-dev (kong)" in err
    assert "user info" in err and "query string '?region=eu'" in err and "fragment '#frag'" in err
    assert kong.requests == []


def test_two_rate_limits_on_one_api_are_refused_naming_both(repo: Path, kong: KongEmulator,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "policies" / "extra.yaml").write_text(
        "apiVersion: gostoa.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: pets-burst\nspec:\n  api: pets\n"
        "  type: rate_limit\n  rateLimit:\n    requests: 5\n    period: second\n")
    assert run(repo, kong, "plan") == 1
    err = capsys.readouterr().err
    assert "policies/pets.yaml:" in err or "policies/extra.yaml:" in err
    assert "one rate-limiting plugin per service" in err and "see " in err
    assert kong.requests == []


def test_two_apis_on_one_base_path_are_refused_on_every_gateway(example_repo: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _edit(example_repo / "apis" / "orders.yaml", "basePath: /orders", "basePath: /pets/")
    _edit(example_repo / "apis" / "orders.yaml", "gateways: [stoa-dev]", "gateways: [stoa-dev, kong-dev]")
    assert main(["validate", str(example_repo)]) == 1
    err = capsys.readouterr().err
    assert "apis/pets.yaml:" in err and "spec.basePath" in err and "already used by API 'orders'" in err
    assert "gateway stoa-dev (stoa)" in err and "gateway kong-dev (kong)" in err
    assert "apis/orders.yaml:" in err  # the other place is named


def test_side_effects_show_as_plan_notes(repo: Path, kong: KongEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, kong, "plan", "--no-color") == 0
    out = capsys.readouterr().out
    assert out.count("key-auth and an acl plugin") == 1  # one API on kong-dev: pets
    notes = KongAdapter({"options": {"protectApis": "false"}}).plan_notes("API", {"backend": "https://a.b/c"})
    assert notes == []


def test_check_is_pure_and_quiet_on_what_kong_stores_exactly() -> None:
    records = [make_record("API", "a", {"backend": "https://a.example.com:8443/v1/", "basePath": "/a"}),
               make_record("Policy", "r", {"api": "a", "type": "rate_limit"}),
               make_record("Policy", "c", {"api": "a", "type": "cors"})]
    assert KongAdapter.check(records, {}) == []
