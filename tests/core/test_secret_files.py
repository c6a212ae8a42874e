"""`{file: ...}` secret references are confined to the repository and RECONCILER_SECRET_DIRS."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.manifests.loader import ValidationFailed, load
from reconciler.manifests.secret_files import SECRET_DIRS_ENV, SecretPathError, confined
from reconciler.runner import RunOptions, loaded, plan_state, resolve_ref

GATEWAY = """apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: gw}
spec:
  displayName: gw
  gatewayType: stoa
  environment: dev
  baseUrl: http://127.0.0.1:9
  credentials:
    token:
      file: TOKEN_FILE
"""
API = """apiVersion: gostoa.dev/v1alpha1
kind: API
metadata: {name: pets}
spec: {tenant: acme, version: '1', basePath: /pets, backend: 'https://b.example.com', gateways: [gw]}
"""
CONSUMER = """apiVersion: gostoa.dev/v1alpha1
kind: Consumer
metadata: {name: app}
spec:
  credential:
    type: apiKey
    secretRef:
      file: KEY_FILE
  subscriptions: [pets]
"""


def write_repo(root: Path, *, token: str = "secrets/token", key: str = "secrets/key") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "gw.yaml").write_text(GATEWAY.replace("TOKEN_FILE", token))
    (root / "api.yaml").write_text(API)
    (root / "consumer.yaml").write_text(CONSUMER.replace("KEY_FILE", key))
    return root


@pytest.fixture(autouse=True)
def no_secret_dirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_DIRS_ENV, raising=False)


def errors_of(root: Path) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        load(root)
    return [str(e) for e in caught.value.errors]


def test_a_file_inside_the_repo_validates_even_before_it_exists(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    state = load(repo)
    assert set(state.of_kind("Consumer")) == {"app"}


@pytest.mark.parametrize("key", ["/etc/shadow", "../../outside", "secrets/../../outside"])
def test_a_consumer_key_file_outside_the_repo_is_a_located_validation_error(tmp_path: Path, key: str) -> None:
    repo = write_repo(tmp_path / "repo", key=key)
    assert errors_of(repo) == [
        f"{repo}/consumer.yaml:8: spec.credential.secretRef.file: secret file {key!r} is outside the repository "
        f"and the directories of {SECRET_DIRS_ENV}"]


def test_a_gateway_credential_file_outside_the_repo_is_an_error_too(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", token="/etc/passwd")
    (errors,) = errors_of(repo)
    assert errors.startswith(f"{repo}/gw.yaml:11: spec.credentials.token.file: secret file '/etc/passwd' is outside")


def test_an_extended_kind_secret_is_confined(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    (repo / "wm.yaml").write_text(
        "apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {name: wm}\n"
        "spec: {displayName: wm, gatewayType: webmethods, environment: dev, baseUrl: 'http://127.0.0.1:9'}\n"
        "---\napiVersion: gostoa.dev/v1alpha1\nkind: AuthServer\nmetadata: {name: kc}\n"
        "spec:\n  clientId: x\n  clientSecret: {file: /root/.ssh/id_rsa}\n  gateways: [wm]\n")
    (error,) = errors_of(repo)
    assert error.startswith(f"{repo}/wm.yaml:11: spec.clientSecret.file: secret file '/root/.ssh/id_rsa' is outside")


def test_a_symlink_in_the_repo_that_points_outside_is_outside(tmp_path: Path) -> None:
    outside = tmp_path / "host-secret"
    outside.write_text("not for gateways")
    repo = write_repo(tmp_path / "repo", key="secrets/link")
    (repo / "secrets").mkdir()
    (repo / "secrets" / "link").symlink_to(outside)
    (error,) = errors_of(repo)
    assert "consumer.yaml:8: spec.credential.secretRef.file: secret file 'secrets/link' is outside" in error


def test_secret_dirs_allow_mounted_secrets_but_not_escapes_from_them(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    mounted, other = tmp_path / "mounted", tmp_path / "other"
    mounted.mkdir()
    other.mkdir()
    monkeypatch.setenv(SECRET_DIRS_ENV, os.pathsep.join([str(other), str(mounted)]))
    repo = write_repo(tmp_path / "repo", key=str(mounted / "app-key"), token=str(other / "nested" / "token"))
    assert load(repo).gateways["gw"].spec.credentials.token is not None
    write_repo(repo, key=f"{mounted}/../elsewhere/key")
    (error,) = errors_of(repo)
    assert "consumer.yaml:8: spec.credential.secretRef.file" in error and "is outside" in error


def test_resolve_ref_checks_again_when_reading(tmp_path: Path) -> None:
    """A link swapped after validation is refused at read time, as a path error, not a missing secret."""
    repo = write_repo(tmp_path / "repo")
    (repo / "secrets").mkdir()
    (repo / "secrets" / "key").write_text("the-app-key\n")
    (repo / "secrets" / "token").write_text("the-token\n")
    state = loaded(load(repo), repo)
    from reconciler.manifests.models import SecretRef

    assert resolve_ref(SecretRef(file="secrets/key"), repo, {}) == "the-app-key"
    outside = tmp_path / "host-secret"
    outside.write_text("host secret value")
    (repo / "secrets" / "key").unlink()
    (repo / "secrets" / "key").symlink_to(outside)
    with pytest.raises(SecretPathError):
        resolve_ref(SecretRef(file="secrets/key"), repo, {})
    with pytest.raises(ValidationFailed) as caught:
        asyncio.run(plan_state(state, RunOptions(env={})))
    assert "secret file 'secrets/key' is outside" in str(caught.value)
    assert "host secret value" not in str(caught.value)


def test_confined_resolves_relative_paths_against_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert confined("a/b", repo, {}) == (repo / "a" / "b").resolve()
    assert confined("a/b", repo / "file.yaml", {}) == (repo / "a" / "b").resolve()  # a single-file root
    with pytest.raises(SecretPathError):
        confined(str(tmp_path / "x"), repo, {})


def test_validate_and_apply_refuse_before_contacting_any_gateway(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.adapters.stoa.emulator import StoaEmulator

    repo = write_repo(tmp_path / "repo", key="/etc/hostname")
    assert main(["validate", str(repo)]) == 1
    assert "consumer.yaml:8: spec.credential.secretRef.file: secret file '/etc/hostname' is outside" in \
        capsys.readouterr().err
    with StoaEmulator(admin_token="t0ken-value") as stoa:
        for command in ("plan", "apply"):
            args = [command, str(repo), "--endpoint", f"gw={stoa.url}"]
            assert main([*args, "--auto-approve"] if command == "apply" else args) == 1
        assert stoa.requests == []
    assert "nothing was planned or applied" in capsys.readouterr().err


def _every_ref(value: object, loc: tuple[int | str, ...] = ()) -> list[tuple[tuple[int | str, ...], object]]:
    """The walk `refs_of` prunes: every field of every model, every item of every container."""
    from pydantic import BaseModel

    from reconciler.manifests.models import SecretRef

    if isinstance(value, SecretRef):
        return [(loc, value)]
    if isinstance(value, BaseModel):
        return [found for name in type(value).model_fields for found in _every_ref(getattr(value, name), (*loc, name))]
    if isinstance(value, list | tuple):
        return [found for i, item in enumerate(value) for found in _every_ref(item, (*loc, i))]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _every_ref(item, (*loc, str(key)))]
    return []


def test_the_pruned_walk_finds_every_reference_the_full_walk_finds() -> None:
    from reconciler.manifests.secret_files import refs_of

    state = load(Path(__file__).resolve().parents[2] / "examples" / "repo")
    found = 0
    for docs in state.documents.values():
        for doc in docs.values():
            assert list(refs_of(doc.model)) == _every_ref(doc.model), f"{doc.kind} {doc.name}"
            found += len(_every_ref(doc.model))
    assert found >= 8  # gateway credentials, consumer keys and the AuthServer's client secret
