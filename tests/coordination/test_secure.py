"""etcd as production runs it: mutual TLS on the client port, and RBAC users (a real etcd each time).

What is checked: a session and a lock work over TLS with a client certificate and with a user and
password (tokens renewed when etcd invalidates them); a missing certificate, an untrusted server or
a wrong password fail with a message that names the setting to fix and never holds the password;
the daemon and `reconciler apply` read the same RECONCILER_ETCD_* settings.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.coordination.connection import Connection
from reconciler.coordination.errors import CoordinationError
from reconciler.coordination.etcd import Etcd, EtcdUnreachable
from reconciler.coordination.locks import Locks, apply_locks, read_locks
from reconciler.coordination.session import Session
from tests.coordination.conftest import EtcdServer
from tests.coordination.test_locks import start_apply, write_repo
from tests.daemon.conftest import ADMIN_TOKEN, API_TOKEN, DaemonProcess, Origin, manifests, start_daemon, wait_until

pytestmark = pytest.mark.e2e
__all__ = ["start_daemon"]  # the fixture, shared with the daemon tests

PASSWORD = "s3cret-root-pw-0f9a"
PREFIX = "/stoa-reconciler"


def mtls(server: EtcdServer, *, cert: bool = True, ca: bool = True) -> Connection:
    assert server.pki is not None
    return Connection(server.url, ca_file=server.pki.ca if ca else None,
                      cert_file=server.pki.client_cert if cert else None,
                      key_file=server.pki.client_key if cert else None)


async def lock_once(connection: Connection, *, ttl: int = 2, hold_for: float = 0.0) -> tuple[dict[str, str], bool]:
    """Open a session, hold one gateway's lock (`hold_for` seconds, the loop free), read the locks back."""
    etcd = Etcd(connection)
    session = await Session.open(etcd, ttl)
    try:
        async with Locks(session, PREFIX, "tester", timeout=5).hold(frozenset({"gw-1"}), None):
            await asyncio.sleep(hold_for)
            held = {g: i.holder for g, i in (await read_locks(etcd, PREFIX)).items()}
            return held, session.valid()
    finally:
        await session.close()
        await etcd.close()


# ---------------------------------------------------------------------------------------------- TLS
def test_a_session_and_a_lock_work_over_mutual_tls(tls_etcd: EtcdServer) -> None:
    held, valid = asyncio.run(lock_once(mtls(tls_etcd), ttl=2, hold_for=3.0))  # longer than the TTL: keepalives
    assert held == {"gw-1": "tester"}
    assert valid, "the keepalive thread did not renew the lease over TLS"
    with tls_etcd.client() as client:  # released and revoked: nothing left
        assert client.post("/v3/kv/range", json={"key": "Lw==", "range_end": "AA=="}).json().get("kvs") is None


def test_without_a_client_certificate_the_error_names_the_setting(tls_etcd: EtcdServer) -> None:
    with pytest.raises(EtcdUnreachable) as caught:
        asyncio.run(lock_once(mtls(tls_etcd, cert=False)))
    message = str(caught.value)
    assert "RECONCILER_ETCD_CERT" in message and "client certificate" in message, message


def test_an_untrusted_server_certificate_names_the_ca_setting(tls_etcd: EtcdServer) -> None:
    with pytest.raises(EtcdUnreachable, match="RECONCILER_ETCD_CA"):
        asyncio.run(lock_once(mtls(tls_etcd, ca=False)))


def test_reconciler_apply_reads_the_tls_settings(tls_etcd: EtcdServer, tmp_path: Path) -> None:
    assert tls_etcd.pki is not None
    repo = write_repo(tmp_path / "repo", ["alpha"])
    tls = {"RECONCILER_ETCD_CA": str(tls_etcd.pki.ca), "RECONCILER_ETCD_CERT": str(tls_etcd.pki.client_cert),
           "RECONCILER_ETCD_KEY": str(tls_etcd.pki.client_key)}
    with StoaEmulator(admin_token=ADMIN_TOKEN) as emu:
        ok = start_apply(repo, emu.url, tls_etcd.url, settings=tls)
        out, err = ok.communicate(timeout=60)
        assert ok.returncode == 0, f"{out}\n{err}"
        assert len(emu.writes) > 0
        refused = start_apply(repo, emu.url, tls_etcd.url, settings={"RECONCILER_ETCD_CA": str(tls_etcd.pki.ca)})
        out, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and out == ""
    assert "error: cannot reach etcd (RECONCILER_ETCD_URL)" in err and "RECONCILER_ETCD_CERT" in err, err
    half = start_apply(repo, "http://127.0.0.1:9", tls_etcd.url,
                       settings={"RECONCILER_ETCD_CERT": str(tls_etcd.pki.client_cert)})
    out, err = half.communicate(timeout=60)
    assert half.returncode == 1 and "RECONCILER_ETCD_CERT and RECONCILER_ETCD_KEY go together" in err, err


# ---------------------------------------------------------------------------------------------- auth
def test_a_lock_works_with_the_right_password_and_a_renewed_token(etcd: EtcdServer) -> None:
    etcd.enable_auth(PASSWORD)
    connection = Connection(etcd.url, user="root", password=PASSWORD)

    async def scenario() -> tuple[dict[str, str], bool]:
        client = Etcd(connection)
        session = await Session.open(client, 2)
        try:
            locks = Locks(session, PREFIX, "tester", timeout=5)
            async with locks.hold(frozenset({"gw-1"}), None):
                pass
            # the auth store changes (a user added): every token issued before is refused as stale
            etcd.add_user("ci", "ci-password", PASSWORD)
            await asyncio.sleep(2.5)  # keepalives with a stale token, past the TTL
            async with locks.hold(frozenset({"gw-2"}), None):
                held = {g: i.holder for g, i in (await read_locks(client, PREFIX)).items()}
            return held, session.valid()
        finally:
            await session.close()
            await client.close()

    held, valid = asyncio.run(scenario())
    assert held == {"gw-2": "tester"}
    assert valid, "the keepalive did not re-authenticate"


def test_a_wrong_password_fails_clearly_without_showing_it(etcd: EtcdServer) -> None:
    etcd.enable_auth(PASSWORD)
    wrong = "not-the-pw-7c1e"

    async def attempt() -> None:
        async with apply_locks(Connection(etcd.url, user="root", password=wrong), prefix=PREFIX, ttl=2, timeout=0):
            pass

    with pytest.raises(CoordinationError) as caught:
        asyncio.run(attempt())
    message = str(caught.value)
    assert "authentication failed" in message and "RECONCILER_ETCD_PASSWORD" in message, message
    assert wrong not in message and PASSWORD not in message


def test_auth_on_and_no_user_says_which_settings(etcd: EtcdServer) -> None:
    etcd.enable_auth(PASSWORD)
    with pytest.raises(CoordinationError, match="user name is empty.*set RECONCILER_ETCD_USER"):
        asyncio.run(lock_once(Connection(etcd.url)))


def test_reconciler_apply_reads_the_password_file(etcd: EtcdServer, tmp_path: Path) -> None:
    etcd.enable_auth(PASSWORD)
    repo = write_repo(tmp_path / "repo", ["alpha"])
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "bad").write_text("wrong-one-9d2b\n")
    with StoaEmulator(admin_token=ADMIN_TOKEN) as emu:
        ok = start_apply(repo, emu.url, etcd.url, settings={"RECONCILER_ETCD_USER": "root",
                                                             "RECONCILER_ETCD_PASSWORD_FILE": str(tmp_path / "pw")})
        out, err = ok.communicate(timeout=60)
        assert ok.returncode == 0, f"{out}\n{err}"
        bad = start_apply(repo, emu.url, etcd.url, settings={"RECONCILER_ETCD_USER": "root",
                                                              "RECONCILER_ETCD_PASSWORD_FILE": str(tmp_path / "bad")})
        out, err = bad.communicate(timeout=60)
    assert bad.returncode == 1 and "authentication failed" in err, err
    assert "wrong-one-9d2b" not in out + err


# ---------------------------------------------------------------------------------------------- the daemon
def test_the_daemon_joins_over_tls_with_a_password_and_never_shows_it(
        tmp_path: Path, tls_etcd: EtcdServer, start_daemon: Callable[..., DaemonProcess]) -> None:
    assert tls_etcd.pki is not None
    tls_etcd.enable_auth(PASSWORD)
    (tmp_path / "etcd-pw").write_text(PASSWORD)
    with StoaEmulator(admin_token=ADMIN_TOKEN) as emu:
        origin = Origin(tmp_path)
        origin.push(manifests(["alpha"], gateway_url=emu.url))
        daemon = start_daemon({
            "RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_POLL_INTERVAL": "0.5", "RECONCILER_POLL_JITTER": "0",
            "RECONCILER_ETCD_URL": tls_etcd.url, "RECONCILER_MEMBER_ID": "d0", "RECONCILER_MEMBER_TTL": "2",
            "RECONCILER_ETCD_CA": str(tls_etcd.pki.ca), "RECONCILER_ETCD_CERT": str(tls_etcd.pki.client_cert),
            "RECONCILER_ETCD_KEY": str(tls_etcd.pki.client_key), "RECONCILER_ETCD_USER": "root",
            "RECONCILER_ETCD_PASSWORD_FILE": str(tmp_path / "etcd-pw")})
        wait_until(lambda: daemon.health()["coordination"]["ready"], timeout=20)
        wait_until(lambda: len(emu.writes) > 0, timeout=20)  # applied under the lock
        time.sleep(2.5)  # keepalives past the TTL
        assert daemon.health()["coordination"]["ready"]
        seen = [daemon.logs(), daemon.client.get("/metrics").text,
                httpx.get(f"{daemon.url}/health", headers={"Authorization": f"Bearer {API_TOKEN}"}).text,
                httpx.get(f"{daemon.url}/status", headers={"Authorization": f"Bearer {API_TOKEN}"}).text]
    assert all(PASSWORD not in text for text in seen), "the etcd password leaked into logs, metrics or status"
    # etcd's simple tokens look like `ybjisKynFmhdzZDA.10` (16 letters, a dot, an index)
    assert not any(re.search(r"\b[A-Za-z]{16}\.\d+\b", text) for text in seen), "an etcd token leaked"
    assert "coordinating on etcd" in seen[0]
