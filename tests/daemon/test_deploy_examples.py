"""The examples under examples/deploy stay loadable and point at endpoints that exist."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.daemon.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"


def test_settings_file_and_configmap_load(tmp_path: Path) -> None:
    assert load_settings(DEPLOY / "daemon.yaml", {}).drift_mode == "detect"
    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())}
    cfg = tmp_path / "daemon.yaml"
    cfg.write_text(docs["ConfigMap"]["data"]["daemon.yaml"])
    settings = load_settings(cfg, {})
    assert settings.host == "0.0.0.0" and settings.port == 8080


def test_deployment_probes_and_secret_references() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    env = {e["name"]: e for e in container["env"]}
    assert env["STOA_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "stoa-reconciler"
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for key in ("RECONCILER_GIT_TOKEN_FILE", "RECONCILER_WEBHOOK_SECRET_FILE", "RECONCILER_API_TOKEN_FILE"):
        assert env[key]["value"].startswith(mounted["secrets"])
    assert docs["Deployment"]["spec"]["replicas"] == 1
    assert pod["terminationGracePeriodSeconds"] > float(env["RECONCILER_SHUTDOWN_TIMEOUT"]["value"])


def test_systemd_unit_runs_the_daemon_and_reloads_with_sighup() -> None:
    unit = (DEPLOY / "stoa-reconciler.service").read_text()
    assert "reconciler daemon --config /etc/stoa-reconciler/daemon.yaml" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "KillSignal=SIGTERM" in unit


def _pod_env(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    container = doc["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    return {e["name"]: e for e in container["env"]}


def test_statefulset_shards_match_the_replicas_and_each_pod_gets_its_share(tmp_path: Path) -> None:
    from reconciler.coordination.membership import StaticShards
    from reconciler.daemon.runner import make_coordination

    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes-statefulset.yaml").read_text())}
    sts = docs["StatefulSet"]
    env = _pod_env(sts)
    assert sts["spec"]["replicas"] == 3 == int(env["RECONCILER_SHARDS"]["value"])  # type: ignore[call-overload]
    assert env["RECONCILER_MEMBER_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    gateways = [f"gw-{i}" for i in range(30)]
    shares = []
    for n in range(3):
        settings = load_settings(None, {"RECONCILER_LOCAL_PATH": str(tmp_path), "RECONCILER_SHARDS": "3",
                                        "RECONCILER_MEMBER_ID": f"stoa-reconciler-{n}"})
        coordination = make_coordination(settings)
        assert isinstance(coordination, StaticShards) and coordination.member == str(n)
        shares.append(coordination.owned(gateways))
    assert sum(len(s) for s in shares) == 30 and frozenset().union(*shares) == frozenset(gateways)


def test_shard_settings_are_checked(tmp_path: Path) -> None:
    import pytest

    from reconciler.daemon.settings import SettingsError

    base = {"RECONCILER_LOCAL_PATH": str(tmp_path), "RECONCILER_SHARDS": "3"}
    with pytest.raises(SettingsError, match="StatefulSet pod name"):
        load_settings(None, {**base, "RECONCILER_MEMBER_ID": "laptop"})
    with pytest.raises(SettingsError, match="not below shards"):
        load_settings(None, {**base, "RECONCILER_MEMBER_ID": "stoa-reconciler-3"})
    with pytest.raises(SettingsError, match="not both"):
        load_settings(None, {**base, "RECONCILER_MEMBER_ID": "r-0", "RECONCILER_ETCD_URL": "http://127.0.0.1:2379"})
    single = load_settings(None, {"RECONCILER_LOCAL_PATH": str(tmp_path)})
    from reconciler.daemon.runner import make_coordination

    assert make_coordination(single) is None


def test_etcd_deployment_runs_three_coordinated_replicas() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes-etcd.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = _pod_env(deployment)
    assert deployment["spec"]["replicas"] == 3
    url = env["RECONCILER_ETCD_URL"]["value"]
    etcd = next(d for d in docs if d["kind"] == "Service" and str(url).startswith(f"https://{d['metadata']['name']}:"))
    assert etcd["spec"]["ports"][0]["port"] == 2379
    server = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == etcd["metadata"]["name"])
    assert "--client-cert-auth" in server["spec"]["template"]["spec"]["containers"][0]["command"]


def test_etcd_credentials_come_from_secrets_never_inline() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes-etcd.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = _pod_env(deployment)
    assert "value" not in env["RECONCILER_ETCD_PASSWORD"]
    assert env["RECONCILER_ETCD_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]  # type: ignore[index]
    pod = deployment["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    for key in ("RECONCILER_ETCD_CA", "RECONCILER_ETCD_CERT", "RECONCILER_ETCD_KEY"):
        path = Path(str(env[key]["value"]))
        assert mounts.get(str(path.parent)) in secret_volumes, f"{key} is not read from a mounted Secret"
    settings = load_settings(None, {"RECONCILER_LOCAL_PATH": "/tmp", **{k: str(v["value"]) for k, v in env.items()
                                    if k.startswith("RECONCILER_ETCD") and k not in (
                                        "RECONCILER_ETCD_CA", "RECONCILER_ETCD_CERT", "RECONCILER_ETCD_KEY",
                                        "RECONCILER_ETCD_PASSWORD")}, "RECONCILER_ETCD_PASSWORD": "x"})
    assert settings.etcd_user == "stoa-reconciler" and str(settings.etcd_url).startswith("https://")
