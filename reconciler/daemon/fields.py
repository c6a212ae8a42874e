"""The daemon's settings as tables: every setting (`FIELDS`) and the command-line flags (`FLAGS`).

Plain data and pure functions, no pydantic: the CLI registers `reconciler daemon`'s flags on every
start, and `reconciler --help` must not pay for the settings model. The same rows generate the
argparse options, the `--help` epilog and the README tables, so the documentation cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "RECONCILER_"


@dataclass(frozen=True)
class Field_:
    name: str
    kind: str
    """str | path | float | int | bool | list | map | secret | choice | windows"""
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
    Field_("webhook_debounce", "float", "1", "Seconds over which webhook deliveries coalesce: the first fetches at once, "
           "the others of the window cause one fetch at its end (0: every delivery fetches)."),
    Field_("webhook_rate_limit", "int", "60", "Webhook deliveries accepted per minute from one source address; more "
           "get HTTP 429 (0: no limit)."),
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
    Field_("log_format", "choice", "auto", "`json` (one object per line), `text` (for people), or `auto`: text when "
           "stderr is a terminal, JSON otherwise (containers, systemd)."),
    Field_("etcd_url", "str", "", "etcd v3 client URL (`http://etcd:2379`): several daemons share the gateways "
           "(rendezvous hashing over live members), fail over, and lock every apply. Unset: one replica."),
    Field_("etcd_prefix", "str", "/stoa-reconciler", "Key prefix in etcd (members, locks)."),
    Field_("etcd_ca", "path", "", "CA bundle that signed etcd's server certificate (`https://` etcd with a private CA)."),
    Field_("etcd_cert", "path", "", "Client certificate (PEM) for etcd's `--client-cert-auth` (mutual TLS); with "
           "`ETCD_KEY`."),
    Field_("etcd_key", "path", "", "Private key of `ETCD_CERT`."),
    Field_("etcd_user", "str", "", "etcd user (RBAC, `auth enable`); with `ETCD_PASSWORD`."),
    Field_("etcd_password", "secret", "", "Password of `ETCD_USER` (or `RECONCILER_ETCD_PASSWORD_FILE`); never "
           "logged, nor the token etcd gives for it.", secret=True),
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
BY_NAME = {f.name: f for f in FIELDS}


def parse_raw(field: Field_, raw: str) -> Any:
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
        import yaml  # only for this setting: the flags table must stay light

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
    if field.kind == "choice":
        return raw.strip().lower()
    return raw.strip() if field.kind != "secret" else raw


def env_table() -> str:
    """The README table of environment variables, generated from `FIELDS`."""
    rows = ["| Variable | Default | Description |", "|---|---|---|"]
    for field in FIELDS:
        default = f"`{field.default}`" if field.default else ""
        rows.append(f"| `{field.env}` | {default} | {field.doc} |")
    rows.append("| `LOG_LEVEL` | `INFO` | Same as `RECONCILER_LOG_LEVEL` (the prefixed one wins). |")
    return "\n".join(rows)


@dataclass(frozen=True)
class Flag:
    """One command-line flag of `reconciler daemon`: a short name for one setting (two for `--listen`)."""

    flag: str
    keys: tuple[str, ...]
    metavar: str
    does: str
    """Which part of the daemon it drives: source, poll, webhook, drift, http, logs."""
    doc: str = ""
    """Overrides the setting's own documentation (needed when a flag sets two settings)."""

    @property
    def fields(self) -> tuple[Field_, ...]:
        return tuple(BY_NAME[k] for k in self.keys)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return " + ".join(f.env for f in self.fields)

    @property
    def default(self) -> str:
        return ":".join(f.default for f in self.fields if f.default)

    @property
    def help(self) -> str:
        return self.doc or self.fields[0].doc

    def parse(self, raw: str) -> dict[str, Any]:
        """Raw flag text -> setting values, validated later with the rest (the error then names the flag)."""
        if self.keys == ("host", "port"):
            host, sep, port = raw.strip().rpartition(":")
            if not sep or not port.isdigit():
                raise ValueError(f"expected HOST:PORT (e.g. 0.0.0.0:8080), got {raw!r}")
            return {"host": host.strip("[]") or "0.0.0.0", "port": int(port)}
        return {self.keys[0]: parse_raw(self.fields[0], raw)}


FLAGS: tuple[Flag, ...] = (
    Flag("--repo", ("git_url",), "URL", "source"),
    Flag("--branch", ("git_branch",), "BRANCH", "source"),
    Flag("--path", ("git_path",), "DIR", "source"),
    Flag("--local-path", ("local_path",), "DIR", "source"),
    Flag("--interval", ("poll_interval",), "SECONDS", "poll"),
    Flag("--drift-interval", ("drift_interval",), "SECONDS", "drift"),
    Flag("--drift-mode", ("drift_mode",), "MODE", "drift"),
    Flag("--webhook-debounce", ("webhook_debounce",), "SECONDS", "webhook"),
    Flag("--listen", ("host", "port"), "HOST:PORT", "http",
         "Address of the HTTP server (webhook, health, metrics, status); `:8080` binds every interface."),
    Flag("--log-format", ("log_format",), "FORMAT", "logs"),
    Flag("--log-level", ("log_level",), "LEVEL", "logs"),
)
"""The one source of the daemon's flags: argparse options, the `--help` table and the README table."""
FLAG_BY_NAME = {f.dest: f for f in FLAGS}


def flags_table() -> str:
    """The README table of the daemon's flags, generated from `FLAGS` (precedence: flag > env > file)."""
    rows = ["| Flag | Settings file key | Environment variable | Default | What it does |", "|---|---|---|---|---|"]
    for flag in FLAGS:
        default = f"`{flag.default}`" if flag.default else ""
        keys = ", ".join(f"`{k}`" for k in flag.keys)
        env = " + ".join(f"`{f.env}`" for f in flag.fields)
        rows.append(f"| `{flag.flag} {flag.metavar}` | {keys} | {env} | {default} | {flag.help} |")
    return "\n".join(rows)


def flags_epilog() -> str:
    """The `reconciler daemon --help` epilog: what the daemon does, then the flags with their env and key."""
    lines = [
        "What it does:",
        "  source   follows a Git branch (--repo, --branch, --path) or a local directory (--local-path);",
        "           each new valid commit is applied to every gateway, an invalid one is reported, not applied",
        "  poll     fetches the remote every --interval seconds (0: webhooks only)",
        "  webhook  POST /webhook (GitHub/GitLab push, signed) fetches at once; deliveries coalesce",
        "           over --webhook-debounce seconds",
        "  drift    every --drift-interval seconds each gateway is planned; --drift-mode detect reports",
        "           the drifted objects, heal applies them",
        "  http     --listen serves /webhook, /health, /livez, /metrics, /status, /sync",
        "",
        "Precedence: flags > RECONCILER_* environment > --config file > defaults.",
        "",
        f"  {'flag':<28} {'environment variable':<34} {'file key':<18} default",
    ]
    for flag in FLAGS:
        lines.append(f"  {flag.flag + ' ' + flag.metavar:<28} {flag.env:<34} {','.join(flag.keys):<18} "
                     f"{flag.default or '-'}")
    lines += ["", "Every other setting (credentials, secrets, gateways, coordination) comes from the environment",
              "or the file; see the README. Secrets are never accepted on the command line.",
              "", "Exit codes: 0 stopped cleanly (--check: all OK), 1 an error (--check: the source or a gateway",
              "failed; a shutdown timed out), 3 invalid settings or the listen address cannot be bound."]
    return "\n".join(lines)
