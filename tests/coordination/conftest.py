"""A real etcd (the Debian `etcd-server` binary) on 127.0.0.1 free ports, one per test, and a timed proxy.

`tls_etcd` is the production shape: https only, server certificate from a CA made for the test,
and `--client-cert-auth` (mutual TLS). `enable_auth` turns on etcd's RBAC with a root user.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.requests import Request
from starlette.responses import Response

from tests.conftest import IN_CI, free_port
from tests.faults import FaultProxy, Faults

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


@dataclass(frozen=True)
class Pki:
    """A CA, etcd's server certificate (SAN IP:127.0.0.1) and a client certificate, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def make_pki(root: Path) -> Pki:
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def write_key(name: str) -> tuple[ec.EllipticCurvePrivateKey, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        path = root / f"{name}.key"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return key, path

    def subject(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, _ = write_key("ca")
    ca = (x509.CertificateBuilder().subject_name(subject("test etcd CA")).issuer_name(subject("test etcd CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(name: str, usage: list[x509.ObjectIdentifier], san: x509.SubjectAlternativeName | None,
             name_of: x509.Name | None = None) -> tuple[Path, Path]:
        key, key_path = write_key(name)
        builder = (x509.CertificateBuilder().subject_name(name_of or subject(name)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage(usage), critical=False))
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        cert_path = root / f"{name}.pem"
        cert_path.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path

    # client auth too: etcd's JSON gateway connects to its own gRPC port with the server certificate
    server_cert, server_key = leaf("server", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                                   x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]))
    # no CommonName: with auth on, etcd's JSON gateway refuses client certificates that carry one
    client_cert, client_key = leaf("client", [ExtendedKeyUsageOID.CLIENT_AUTH], None,
                                   x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stoa-reconciler")]))
    return Pki(root / "ca.pem", server_cert, server_key, client_cert, client_key)


class EtcdServer:
    """One single-member etcd cluster with its data in `data_dir`; `stop()` and `start()` again at will.

    With `pki`: https only, and every client must show a certificate signed by its CA."""

    def __init__(self, data_dir: Path, pki: Pki | None = None) -> None:
        self.data_dir = data_dir
        self.pki = pki
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"{'https' if pki else 'http'}://127.0.0.1:{self.client_port}"
        self.log_path = data_dir.parent / "etcd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def client(self, **kwargs: object) -> httpx.Client:
        """A plain client of the JSON gateway (with the test's client certificate under TLS)."""
        verify: ssl.SSLContext | bool = self.pki.client_context() if self.pki else True
        return httpx.Client(base_url=self.url, verify=verify, timeout=5, **kwargs)  # type: ignore[arg-type]

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        tls = [] if self.pki is None else [
            "--cert-file", str(self.pki.server_cert), "--key-file", str(self.pki.server_key),
            "--trusted-ca-file", str(self.pki.ca), "--client-cert-auth"]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "test", "--data-dir", str(self.data_dir),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"test={peer}", *tls],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        with self.client() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"etcd exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
                try:
                    if client.get("/health", timeout=1).json().get("health") == "true":
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.05)
        raise AssertionError(f"etcd did not become healthy:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def enable_auth(self, password: str) -> None:
        """etcd's RBAC on: user `root` (role root) with `password`; every call now needs a token."""
        with self.client() as client:
            for path, body in (("auth/user/add", {"name": "root", "password": password}),
                               ("auth/role/add", {"name": "root"}),
                               ("auth/user/grant", {"user": "root", "role": "root"}),
                               ("auth/enable", {})):
                answer = client.post(f"/v3/{path}", json=body)
                assert answer.status_code == 200, f"{path}: {answer.text}"

    def add_user(self, name: str, password: str, root_password: str) -> None:
        """Another user (as root): the auth store's revision moves, so every token issued before is stale."""
        with self.client() as client:
            token = client.post("/v3/auth/authenticate", json={"name": "root", "password": root_password}).json()
            answer = client.post("/v3/auth/user/add", json={"name": name, "password": password},
                                 headers={"Authorization": token["token"]})
            assert answer.status_code == 200, answer.text


def _need_etcd() -> None:
    if not Path(ETCD).is_file():
        if IN_CI:
            pytest.fail(f"{ETCD} is missing; CI must run the coordination tests (apt-get install -y etcd-server)")
        pytest.skip(f"{ETCD} is absent: install the Debian package etcd-server to run the coordination tests")


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    _need_etcd()
    server = EtcdServer(tmp_path / "etcd-data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tls_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    """etcd on https with `--client-cert-auth`; its CA and certificates are in `server.pki`."""
    _need_etcd()
    server = EtcdServer(tmp_path / "etcd-tls-data", make_pki(tmp_path / "pki"))
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Write:
    method: str
    path: str
    start: float
    end: float


class TimedProxy(FaultProxy):
    """A FaultProxy (same delays) that records when each write entered and left it (monotonic clock)."""

    def __init__(self, upstream: str, delays: list[tuple[str, str, float]]) -> None:
        super().__init__(upstream, Faults(delays=delays))
        self.spans: list[Write] = []

    async def _forward(self, request: Request) -> Response:
        start = time.monotonic()
        try:
            return await super()._forward(request)
        finally:
            if request.method not in ("GET", "HEAD"):
                self.spans.append(Write(request.method, request.url.path, start, time.monotonic()))
