"""Daemon settings: a YAML file overlaid by `RECONCILER_*` environment variables, validated at start.

Why a table (`FIELDS`) instead of pydantic-settings: the same rows drive parsing, error messages and
the README's environment-variable table, so the documentation cannot drift from the code.
Secrets (Git token, SSH key passphrase, webhook secret, API token) are read from an environment
variable or from a file (`<NAME>_FILE`), never from the command line, and are held as `SecretStr`
so they never show up in a repr, a log line or an error.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from reconciler.coordination.rendezvous import ordinal
from reconciler.daemon.windows import SyncWindow

ENV_PREFIX = "RECONCILER_"


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
    # several replicas
    etcd_url: str | None = None
    etcd_prefix: str = "/stoa-reconciler"
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
        if self.shards:
            try:
                index = ordinal(self.member_id)
            except ValueError as exc:
                raise ValueError(f"shards needs a StatefulSet pod name as member id: {exc}") from None
            if index >= self.shards:
                raise ValueError(f"pod ordinal {index} is not below shards ({self.shards})")
        return self

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


@dataclass(frozen=True)
class Field_:
    name: str
    kind: str
    """str | path | float | int | bool | list | map | secret | choice"""
    default: str
    doc: str
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


FIELDS: tuple[Field_, ...] = (
    Field_("git_url", "str", "", "Git remote of the desired state: `https://…`, `ssh://…`, `git://…`, or a local path. "
           "Exactly one of this or `LOCAL_PATH`."),
    Field_("git_branch", "str", "main", "Branch to follow; a force-push is handled like any new head."),
    Field_("git_path", "str", "", "Sub-directory of the repository that holds the manifests."),
    Field_("git_username", "str", "x-access-token", "User name sent with the HTTPS token (`oauth2` for GitLab)."),
    Field_("git_token", "secret", "", "HTTPS token (or `RECONCILER_GIT_TOKEN_FILE`).", secret=True),
    Field_("git_ssh_key_file", "path", "", "Private key for `ssh://` remotes."),
    Field_("git_ssh_public_key_file", "path", "", "Public key (default: the private key path + `.pub`)."),
    Field_("git_ssh_key_passphrase", "secret", "", "Passphrase of the SSH key (or `…_FILE`).", secret=True),
    Field_("git_ssh_known_hosts_file", "path", "", "known_hosts used to verify the SSH host key (unknown hosts are refused)."),
    Field_("git_ca_file", "path", "", "CA bundle for an HTTPS remote with a private CA."),
    Field_("local_path", "path", "", "Local directory instead of Git (development): watched, plus a periodic full rescan."),
    Field_("cache_dir", "path", "~/.cache/stoa-reconciler", "Where the clone and the per-commit snapshots live."),
    Field_("poll_interval", "float", "60", "Seconds between fetches of the remote (0: webhooks only)."),
    Field_("poll_jitter", "float", "0.1", "Random extra delay, as a fraction of each interval."),
    Field_("rescan_interval", "float", "60", "Seconds between full rescans of `LOCAL_PATH` (inotify can miss events)."),
    Field_("drift_interval", "float", "300", "Seconds between drift checks of every gateway (0: off)."),
    Field_("drift_mode", "choice", "detect", "`detect`: report and count drift; `heal`: apply the plan."),
    Field_("heartbeat_interval", "float", "30", "Seconds between `health_check` calls to every gateway (0: off)."),
    Field_("webhook_secret", "secret", "", "GitHub HMAC secret / GitLab token for `POST /webhook` (or `…_FILE`); "
           "unset: the webhook is disabled.", secret=True),
    Field_("gateways", "list", "", "Comma-separated gateway names to reconcile (default: all in the repo)."),
    Field_("endpoints", "map", "", "Comma-separated `NAME=URL` overrides of gateways' `baseUrl`."),
    Field_("adopt", "bool", "false", "Take over unowned objects that have a desired name."),
    Field_("max_deletes", "int", "", "Refuse a plan with more deletes than this (overrides the repo setting; -1: no limit)."),
    Field_("prune", "bool", "", "Delete owned objects that are no longer desired (overrides the repo setting)."),
    Field_("host", "str", "127.0.0.1", "Bind address of the HTTP server (`0.0.0.0` in a container)."),
    Field_("port", "int", "8080", "Port of the HTTP server."),
    Field_("api_token", "secret", "", "Bearer token for `GET /status` and `POST /sync` (or `…_FILE`); unset: both are "
           "disabled.", secret=True),
    Field_("shutdown_timeout", "float", "30", "On SIGTERM, how long a running apply may take to finish."),
    Field_("log_level", "choice", "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR` (`LOG_LEVEL` also works)."),
    Field_("etcd_url", "str", "", "etcd v3 client URL (`http://etcd:2379`): several daemons share the gateways "
           "(rendezvous hashing over live members), fail over, and lock every apply. Unset: one replica."),
    Field_("etcd_prefix", "str", "/stoa-reconciler", "Key prefix in etcd (members, locks)."),
    Field_("member_id", "str", "hostname", "This daemon's member name (unique among live members; with `SHARDS`, "
           "a StatefulSet pod name `name-N`)."),
    Field_("member_ttl", "int", "5", "Seconds of the member lease: a dead daemon's gateways move after about this."),
    Field_("lock_timeout", "float", "30", "Seconds an apply waits for a gateway's write lock (etcd only)."),
    Field_("shards", "int", "0", "Static sharding without etcd: total shards of a StatefulSet; the shard is the "
           "pod ordinal of `MEMBER_ID` (0: off)."),
    Field_("notify_webhook_url", "secret", "", "Receiver of JSON notifications (drift found/healed, apply failed, "
           "invalid commit); a credential: env or `…_FILE` only, never logged.", secret=True),
    Field_("notify_slack_url", "secret", "", "Slack incoming-webhook URL for the same notifications (or `…_FILE`).",
           secret=True),
    Field_("notify_events", "list", "drift_found,drift_healed,apply_failed,invalid_commit",
           "Events that notify; `sync_succeeded` (an apply that changed something) is opt-in."),
    Field_("notify_retries", "int", "5", "Retries of a notification on 5xx, 429 or a connection error (backoff)."),
    Field_("notify_backoff", "float", "1", "Seconds before the first retry; doubles each time (max 60 s)."),
    Field_("notify_timeout", "float", "10", "Seconds one notification request may take."),
    Field_("sync_windows", "windows", "", "Argo CD-style sync windows: a list of `{kind: allow|deny, schedule: "
           "'<cron>', duration: 1h, gateways: [glob], manualSync: false, timeZone: UTC}` (YAML in the file, JSON "
           "in the variable). While applies are denied, drift is detected, not healed."),
)
_BY_NAME = {f.name: f for f in FIELDS}


def _parse(field: Field_, raw: str) -> Any:
    """Turn an environment string into the value pydantic validates (which gives the error)."""
    if field.kind == "list":
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    if field.kind == "map":
        out: dict[str, str] = {}
        for item in (x.strip() for x in raw.split(",") if x.strip()):
            name, sep, url = item.partition("=")
            if not sep or not name or not url:
                raise ValueError(f"expected NAME=URL, got {item!r}")
            out[name.strip()] = url.strip()
        return out
    if field.kind == "windows":
        try:
            return yaml.safe_load(raw) or ()
        except yaml.YAMLError:
            raise ValueError("expected a JSON (or YAML) list of windows") from None
    if field.kind == "bool":
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if field.kind == "choice" and field.name == "log_level":
        return raw.strip().upper()
    return raw.strip() if field.kind != "secret" else raw


def _read_secret_file(path: str) -> str:
    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


def load_settings(config_file: Path | None = None, env: Mapping[str, str] | None = None) -> DaemonSettings:
    """Read the file (optional), overlay the environment, validate; raise SettingsError with every problem."""
    environ = os.environ if env is None else env
    problems: list[str] = []
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError([f"{config_file}: cannot read settings: {exc}"]) from None
        if not isinstance(loaded, dict):
            raise SettingsError([f"{config_file}: expected a mapping of setting names to values"])
        for key, value in loaded.items():
            name = str(key)
            if name.endswith("_file") and name[:-5] in _BY_NAME and _BY_NAME[name[:-5]].secret:
                try:
                    values[name[:-5]] = _read_secret_file(str(value))
                except ValueError as exc:
                    problems.append(f"{config_file}: {name}: {exc}")
                continue
            field = _BY_NAME.get(name)
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
            values[field.name] = _parse(field, raw)
        except ValueError as exc:
            problems.append(f"{field.env}: {exc}")
    if problems:
        raise SettingsError(problems)
    try:
        return DaemonSettings(**values)
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            field = _BY_NAME.get(name.split(".")[0])
            where = f"{name} ({field.env})" if field else "settings"
            # never echo the input: it may be a secret
            problems.append(f"{where}: {err['msg']}")
        raise SettingsError(problems) from None


def env_table() -> str:
    """The README table of environment variables, generated from `FIELDS`."""
    rows = ["| Variable | Default | Description |", "|---|---|---|"]
    for field in FIELDS:
        default = f"`{field.default}`" if field.default else ""
        rows.append(f"| `{field.env}` | {default} | {field.doc} |")
    rows.append("| `LOG_LEVEL` | `INFO` | Same as `RECONCILER_LOG_LEVEL` (the prefixed one wins). |")
    return "\n".join(rows)
