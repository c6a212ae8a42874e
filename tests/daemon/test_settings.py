"""Settings: file + environment, secrets only from env or files, clear errors that never echo values."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.daemon.settings import FIELDS, SettingsError, env_table, load_settings


def test_environment_overrides_file_and_parses_types(tmp_path: Path) -> None:
    cfg = tmp_path / "daemon.yaml"
    cfg.write_text("git_url: https://git.example.com/acme/gitops.git\ngit_branch: prod\npoll_interval: 120\n"
                   "drift_mode: heal\ngateways: [stoa-dev]\n")
    settings = load_settings(cfg, {"RECONCILER_POLL_INTERVAL": "15", "RECONCILER_ENDPOINTS": "a=http://x:1, b=http://y:2",
                                   "RECONCILER_ADOPT": "yes", "RECONCILER_MAX_DELETES": "3", "LOG_LEVEL": "debug"})
    assert settings.git_branch == "prod" and settings.poll_interval == 15.0 and settings.drift_mode == "heal"
    assert settings.endpoints == {"a": "http://x:1", "b": "http://y:2"}
    assert settings.adopt is True and settings.max_deletes == 3 and settings.log_level == "DEBUG"
    assert settings.gateways == ("stoa-dev",)


def test_secrets_come_from_env_or_files_and_never_show(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-123\n")
    settings = load_settings(None, {"RECONCILER_LOCAL_PATH": str(tmp_path), "RECONCILER_API_TOKEN_FILE": str(token_file),
                                    "RECONCILER_WEBHOOK_SECRET": "hook-secret-456"})
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "file-token-123"
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == "hook-secret-456"
    assert "file-token-123" not in repr(settings) and "hook-secret-456" not in repr(settings)


def test_a_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "daemon.yaml"
    cfg.write_text("local_path: /tmp\napi_token: literal-token-789\n")
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, {})
    assert "api_token: secrets are not allowed in the file" in str(err.value)
    assert "literal-token-789" not in str(err.value)


def test_every_problem_is_reported_with_its_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(None, {"RECONCILER_GIT_URL": "https://x", "RECONCILER_LOCAL_PATH": "/tmp",
                             "RECONCILER_ADOPT": "maybe", "RECONCILER_ENDPOINTS": "nourl"})
    problems = err.value.problems
    assert any(p.startswith("RECONCILER_ADOPT: expected true or false") for p in problems)
    assert any(p.startswith("RECONCILER_ENDPOINTS: expected NAME=URL") for p in problems)
    with pytest.raises(SettingsError) as err2:
        load_settings(None, {"RECONCILER_GIT_URL": "https://x", "RECONCILER_LOCAL_PATH": "/tmp"})
    assert "exactly one of git_url" in str(err2.value)
    with pytest.raises(SettingsError) as err3:
        load_settings(None, {"RECONCILER_LOCAL_PATH": "/tmp", "RECONCILER_POLL_INTERVAL": "-1",
                             "RECONCILER_DRIFT_MODE": "fix"})
    text = str(err3.value)
    assert "poll_interval (RECONCILER_POLL_INTERVAL)" in text and "drift_mode (RECONCILER_DRIFT_MODE)" in text
    with pytest.raises(SettingsError, match="unknown setting"):
        cfg = tmp_path / "bad.yaml"
        cfg.write_text("local_path: /tmp\npoll_intervall: 3\n")
        load_settings(cfg, {})
    with pytest.raises(SettingsError, match="git_path must be a relative path"):
        load_settings(None, {"RECONCILER_GIT_URL": "https://x", "RECONCILER_GIT_PATH": "../etc"})


def test_env_table_documents_every_setting() -> None:
    table = env_table()
    for field in FIELDS:
        assert f"`{field.env}`" in table
    assert table.count("\n") == len(FIELDS) + 2


def test_etcd_tls_and_auth_settings_are_checked_and_the_password_never_shows(tmp_path: Path) -> None:
    from tests.coordination.conftest import make_pki

    pki = make_pki(tmp_path / "pki")
    (tmp_path / "etcd-pw").write_text("etcd-pw-31337\n")
    base = {"RECONCILER_LOCAL_PATH": str(tmp_path), "RECONCILER_ETCD_URL": "https://etcd:2379"}
    settings = load_settings(None, {**base, "RECONCILER_ETCD_CA": str(pki.ca), "RECONCILER_ETCD_CERT": str(pki.client_cert),
                                    "RECONCILER_ETCD_KEY": str(pki.client_key), "RECONCILER_ETCD_USER": "stoa",
                                    "RECONCILER_ETCD_PASSWORD_FILE": str(tmp_path / "etcd-pw")})
    connection = settings.etcd_connection()
    assert connection is not None and connection.user == "stoa" and connection.password == "etcd-pw-31337"
    assert connection.cert_file == pki.client_cert and "etcd-pw-31337" not in repr(connection) + repr(settings)

    def problems(env: dict[str, str]) -> str:
        with pytest.raises(SettingsError) as caught:
            load_settings(None, env)
        return str(caught.value)

    assert "RECONCILER_ETCD_CERT and RECONCILER_ETCD_KEY go together" in problems(
        {**base, "RECONCILER_ETCD_CERT": str(pki.client_cert)})
    assert "need an https://" in problems({**base, "RECONCILER_ETCD_URL": "http://etcd:2379",
                                           "RECONCILER_ETCD_CA": str(pki.ca)})
    assert "need RECONCILER_ETCD_URL" in problems({"RECONCILER_LOCAL_PATH": str(tmp_path),
                                                   "RECONCILER_ETCD_USER": "stoa"})
    missing = problems({**base, "RECONCILER_ETCD_USER": "stoa", "RECONCILER_ETCD_PASSWORD": "pw-not-shown-1",
                        "RECONCILER_ETCD_CERT": str(pki.ca), "RECONCILER_ETCD_KEY": str(tmp_path / "nope.key")})
    assert "cannot load the client certificate" in missing and "pw-not-shown-1" not in missing
    assert "RECONCILER_ETCD_USER and RECONCILER_ETCD_PASSWORD" in problems({**base, "RECONCILER_ETCD_USER": "stoa"})
