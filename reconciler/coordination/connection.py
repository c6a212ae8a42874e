"""How to reach etcd: its URL, TLS (a private CA, a client certificate) and user/password auth.

Production etcd always has both: mutual TLS on the client port and RBAC users. The password is held
with `repr=False` and never enters a message; errors name the setting to fix (`RECONCILER_ETCD_*`),
since the daemon and `reconciler apply` read them under the same names.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.coordination.errors import CoordinationError


class EtcdSettingsError(CoordinationError):
    """A TLS file that cannot be used, or settings that do not fit together (the message names the setting)."""


@dataclass(frozen=True)
class Connection:
    url: str
    ca_file: Path | None = None
    """CA bundle that signed etcd's server certificate (default: the system's)."""
    cert_file: Path | None = None
    """Client certificate (PEM) for etcd's `--client-cert-auth`; with `key_file`."""
    key_file: Path | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @property
    def tls(self) -> bool:
        return self.url.startswith("https://")

    def problems(self) -> list[str]:
        """What does not fit together, one line each (no file is read here)."""
        out = []
        if not self.url.startswith(("http://", "https://")):
            out.append("RECONCILER_ETCD_URL must be an http(s):// URL of etcd's client endpoint")
        if (self.cert_file is None) != (self.key_file is None):
            out.append("RECONCILER_ETCD_CERT and RECONCILER_ETCD_KEY go together (a client certificate and its key)")
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            out.append("RECONCILER_ETCD_CA, _CERT and _KEY need an https:// RECONCILER_ETCD_URL")
        if (self.user is None) != (self.password is None):
            out.append("RECONCILER_ETCD_USER and RECONCILER_ETCD_PASSWORD (or _PASSWORD_FILE) go together")
        return out

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS context for httpx (True: plain http, or the system defaults); raises EtcdSettingsError."""
        if not self.tls:
            return True
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise EtcdSettingsError(f"RECONCILER_ETCD_CA {self.ca_file}: cannot load the CA bundle: {_reason(exc)}") \
                from None
        if self.cert_file is not None and self.key_file is not None:
            try:
                context.load_cert_chain(str(self.cert_file), str(self.key_file))
            except (OSError, ssl.SSLError) as exc:
                raise EtcdSettingsError(f"RECONCILER_ETCD_CERT {self.cert_file} / RECONCILER_ETCD_KEY {self.key_file}: "
                                       f"cannot load the client certificate: {_reason(exc)}") from None
        return context

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Connection:
        """`reconciler apply`'s view of the daemon's settings of the same names (RECONCILER_ETCD_*)."""
        environ = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = environ.get(f"RECONCILER_ETCD_{name}", "").strip()
            return value or None

        password = environ.get("RECONCILER_ETCD_PASSWORD") or None
        password_file = get("PASSWORD_FILE")
        if password_file is not None:
            try:
                password = Path(password_file).expanduser().read_text().strip()
            except OSError as exc:
                raise EtcdSettingsError(f"RECONCILER_ETCD_PASSWORD_FILE {password_file}: {exc.strerror}") from None
        paths = {name: Path(v).expanduser() if (v := get(name)) else None for name in ("CA", "CERT", "KEY")}
        connection = cls(get("URL") or "", ca_file=paths["CA"], cert_file=paths["CERT"], key_file=paths["KEY"],
                         user=get("USER"), password=password)
        problems = connection.problems()
        if problems:
            raise EtcdSettingsError("; ".join(problems))
        return connection


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__


def tls_hint(text: str) -> str:
    """Which setting a TLS failure points at, from the error text of ssl/httpx ('' if it is not TLS)."""
    low = text.lower()
    if "certificate_verify_failed" in low or "certificate verify failed" in low:
        return ("etcd's server certificate is not trusted: set RECONCILER_ETCD_CA to the CA that signed it "
                "(its SAN must match the host of RECONCILER_ETCD_URL)")
    if any(s in low for s in ("certificate required", "certificate_required", "bad certificate", "bad_certificate",
                              "handshake failure", "unknown ca", "unknown_ca")):
        return ("etcd refused the TLS client: it requires a client certificate signed by its CA; "
                "set RECONCILER_ETCD_CERT and RECONCILER_ETCD_KEY")
    if "wrong version number" in low or "record layer failure" in low:
        return "etcd does not speak TLS there (or does): check http:// or https:// in RECONCILER_ETCD_URL"
    if "ssl" in low or "tls" in low:
        return "TLS failed: check RECONCILER_ETCD_CA, RECONCILER_ETCD_CERT and RECONCILER_ETCD_KEY"
    return ""
