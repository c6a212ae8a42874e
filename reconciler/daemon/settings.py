"""Daemon settings: a YAML file overlaid by `RECONCILER_*` environment variables, validated at start.

Why a table (`fields.FIELDS`) instead of pydantic-settings: the same rows drive parsing, error messages
and the README's environment-variable table, so the documentation cannot drift from the code.
Precedence: command-line flags (`fields.FLAGS`) > environment > file > defaults.
Secrets (Git token, SSH key passphrase, webhook secret, API token) are read from an environment
variable or from a file (`<NAME>_FILE`), never from the command line, and are held as `SecretStr`
so they never show up in a repr, a log line or an error.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from reconciler.coordination.connection import Connection, EtcdSettingsError
from reconciler.coordination.rendezvous import ordinal
from reconciler.daemon.fields import BY_NAME, ENV_PREFIX, FIELDS, FLAG_BY_NAME, parse_raw
from reconciler.daemon.fields import env_table as env_table  # re-exported: callers read the table here
from reconciler.daemon.windows import SyncWindow


class SettingsError(Exception):
    """Settings are invalid; `problems` holds one clear line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid daemon settings:\n  " + "\n  ".join(problems))
        self.problems = problems


class DaemonSettings(BaseModel):
    """Everything the daemon needs; see `FIELDS` for the documentation of each attribute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # source of desired state
    git_url: str | None = None
    git_branch: str = "main"
    git_path: str = ""
    git_username: str = "x-access-token"
    git_token: SecretStr | None = None
    git_ssh_key_file: Path | None = None
    git_ssh_public_key_file: Path | None = None
    git_ssh_key_passphrase: SecretStr | None = None
    git_ssh_known_hosts_file: Path | None = None
    git_ca_file: Path | None = None
    local_path: Path | None = None
    cache_dir: Path = Path("~/.cache/stoa-reconciler").expanduser()
    # triggers and schedules
    poll_interval: float = Field(default=60.0, ge=0)
    poll_jitter: float = Field(default=0.1, ge=0, le=1)
    rescan_interval: float = Field(default=60.0, ge=0)
    drift_interval: float = Field(default=300.0, ge=0)
    drift_mode: Literal["detect", "heal"] = "detect"
    heartbeat_interval: float = Field(default=30.0, ge=0)
    webhook_secret: SecretStr | None = None
    webhook_debounce: float = Field(default=1.0, ge=0, le=300)
    webhook_rate_limit: int = Field(default=60, ge=0)
    # what to reconcile
    gateways: tuple[str, ...] = ()
    endpoints: dict[str, str] = Field(default_factory=dict)
    adopt: bool = False
    max_deletes: int | None = Field(default=None, ge=-1)
    prune: bool | None = None
    # HTTP server and process
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_token: SecretStr | None = None
    shutdown_timeout: float = Field(default=30.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "text", "json"] = "auto"
    # several replicas
    etcd_url: str | None = None
    etcd_prefix: str = "/stoa-reconciler"
    etcd_ca: Path | None = None
    etcd_cert: Path | None = None
    etcd_key: Path | None = None
    etcd_user: str | None = None
    etcd_password: SecretStr | None = None
    member_id: str = Field(default_factory=socket.gethostname, min_length=1)
    member_ttl: int = Field(default=5, ge=1, le=300)
    lock_timeout: float = Field(default=30.0, ge=0)
    shards: int = Field(default=0, ge=0)
    # notifications, pause and sync windows (see notify.py, pause.py, windows.py)
    notify_webhook_url: SecretStr | None = None
    notify_slack_url: SecretStr | None = None
    notify_events: tuple[str, ...] = ("drift_found", "drift_healed", "apply_failed", "invalid_commit")
    notify_retries: int = Field(default=5, ge=0, le=20)
    notify_backoff: float = Field(default=1.0, gt=0)
    notify_timeout: float = Field(default=10.0, gt=0)
    sync_windows: tuple[SyncWindow, ...] = ()

    @model_validator(mode="after")
    def _notify(self) -> DaemonSettings:
        known = {"drift_found", "drift_healed", "apply_failed", "invalid_commit", "sync_succeeded"}
        unknown = sorted(set(self.notify_events) - known)
        if unknown:
            raise ValueError(f"notify_events: unknown event(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for name, url in (("notify_webhook_url", self.notify_webhook_url), ("notify_slack_url", self.notify_slack_url)):
            if url is not None and not url.get_secret_value().startswith(("http://", "https://")):
                raise ValueError(f"{name} ({ENV_PREFIX}{name.upper()}) must be an http(s):// URL")
        return self

    @model_validator(mode="after")
    def _one_coordination(self) -> DaemonSettings:
        if self.etcd_url is not None and self.shards:
            raise ValueError("set etcd_url (RECONCILER_ETCD_URL) or shards (RECONCILER_SHARDS), not both")
        if self.etcd_url is not None and not self.etcd_url.startswith(("http://", "https://")):
            raise ValueError("etcd_url must be an http(s):// URL of etcd's client endpoint")
        connection = self.etcd_connection()
        if connection is None:
            if self.etcd_ca or self.etcd_cert or self.etcd_key or self.etcd_user or self.etcd_password:
                raise ValueError("the RECONCILER_ETCD_CA/_CERT/_KEY/_USER/_PASSWORD settings need RECONCILER_ETCD_URL")
        else:
            problems = connection.problems()
            if problems:
                raise ValueError("; ".join(problems))
            try:
                connection.ssl_context()  # the files are readable and are a certificate and its key
            except EtcdSettingsError as exc:
                raise ValueError(str(exc)) from None
        if self.shards:
            try:
                index = ordinal(self.member_id)
            except ValueError as exc:
                raise ValueError(f"shards needs a StatefulSet pod name as member id: {exc}") from None
            if index >= self.shards:
                raise ValueError(f"pod ordinal {index} is not below shards ({self.shards})")
        return self

    def etcd_connection(self) -> Connection | None:
        """How to reach etcd (URL, TLS files, user and password), or None without etcd."""
        if self.etcd_url is None:
            return None
        return Connection(self.etcd_url, ca_file=self.etcd_ca, cert_file=self.etcd_cert, key_file=self.etcd_key,
                          user=self.etcd_user,
                          password=None if self.etcd_password is None else self.etcd_password.get_secret_value())

    @property
    def shard_index(self) -> int | None:
        return ordinal(self.member_id) if self.shards else None

    @model_validator(mode="after")
    def _one_source(self) -> DaemonSettings:
        if (self.git_url is None) == (self.local_path is None):
            raise ValueError("set exactly one of git_url (RECONCILER_GIT_URL) or local_path (RECONCILER_LOCAL_PATH)")
        if self.git_path.startswith("/") or ".." in Path(self.git_path).parts:
            raise ValueError("git_path must be a relative path inside the repository")
        return self

    @property
    def subpath(self) -> str:
        return self.git_path.strip("/")


def _read_secret_file(path: str) -> str:
    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


def load_settings(config_file: Path | None = None, env: Mapping[str, str] | None = None,
                  flags: Mapping[str, str] | None = None) -> DaemonSettings:
    """Read the file (optional), overlay the environment, then the command-line flags (`FLAGS`: flag ->
    raw value), validate; raise SettingsError with every problem, each naming where the value came from."""
    environ = os.environ if env is None else env
    problems: list[str] = []
    values: dict[str, Any] = {}
    given_by: dict[str, str] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError([f"{config_file}: cannot read settings: {exc}"]) from None
        if not isinstance(loaded, dict):
            raise SettingsError([f"{config_file}: expected a mapping of setting names to values"])
        for key, value in loaded.items():
            name = str(key)
            if name.endswith("_file") and name[:-5] in BY_NAME and BY_NAME[name[:-5]].secret:
                try:
                    values[name[:-5]] = _read_secret_file(str(value))
                except ValueError as exc:
                    problems.append(f"{config_file}: {name}: {exc}")
                continue
            field = BY_NAME.get(name)
            if field is None:
                problems.append(f"{config_file}: {name}: unknown setting")
            elif field.secret:
                problems.append(f"{config_file}: {name}: secrets are not allowed in the file; use "
                                f"{field.env} or {name}_file")
            else:
                values[name] = value
    if "LOG_LEVEL" in environ and ENV_PREFIX + "LOG_LEVEL" not in environ:
        values["log_level"] = environ["LOG_LEVEL"].strip().upper()
    for field in FIELDS:
        raw = environ.get(field.env)
        if field.secret and environ.get(field.env + "_FILE"):
            try:
                raw = _read_secret_file(environ[field.env + "_FILE"])
            except ValueError as exc:
                problems.append(f"{field.env}_FILE: {exc}")
                continue
        if raw is None or (raw == "" and not field.secret):
            continue
        try:
            values[field.name] = parse_raw(field, raw)
        except ValueError as exc:
            problems.append(f"{field.env}: {exc}")
    for flag_name, raw in (flags or {}).items():
        flag = FLAG_BY_NAME[flag_name]
        try:
            parsed = flag.parse(raw)
        except ValueError as exc:
            problems.append(f"{flag.flag}: {exc}")
            continue
        for key, value in parsed.items():
            values[key] = value
            given_by[key] = flag.flag
    if problems:
        raise SettingsError(problems)
    try:
        return DaemonSettings(**values)
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            field = BY_NAME.get(name.split(".")[0])
            where = f"{name} ({given_by.get(field.name, field.env)})" if field else "settings"
            # never echo the input: it may be a secret
            problems.append(f"{where}: {err['msg']}")
        raise SettingsError(problems) from None
