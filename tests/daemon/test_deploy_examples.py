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
