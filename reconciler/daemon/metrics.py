"""Prometheus metrics of one daemon, in their own registry (tests run several daemons per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reconciler.model.changes import GatewayReport, Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Every series the daemon exports; names follow Prometheus conventions (units in the name)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconcile_duration = Histogram(
            "reconciler_reconcile_duration_seconds", "Duration of one gateway reconcile (plan or apply).",
            ["gateway", "mode"], registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.changes_applied = Counter(
            "reconciler_changes_applied_total", "Changes applied successfully.", ["gateway", "kind", "op"], registry=r)
        self.drift_objects = Gauge(
            "reconciler_drift_objects", "Objects that differ from the desired state at the last drift check.",
            ["gateway"], registry=r)
        self.failures = Counter(
            "reconciler_reconcile_failures_total", "Failed reconciles, by reason.", ["gateway", "reason"], registry=r)
        self.last_success = Gauge(
            "reconciler_last_successful_sync_timestamp_seconds", "Unix time of the last successful reconcile.",
            ["gateway"], registry=r)
        self.gateway_up = Gauge(
            "reconciler_gateway_up", "1 when the last health_check of the gateway succeeded.", ["gateway"], registry=r)
        self.source_fetches = Counter(
            "reconciler_source_fetches_total", "Fetches of the desired-state source.", ["result"], registry=r)
        self.invalid_commits = Counter(
            "reconciler_invalid_commits_total", "Commits rejected by validation (nothing was applied).", registry=r)
        self.webhooks = Counter(
            "reconciler_webhooks_total", "Webhook deliveries.", ["provider", "result"], registry=r)
        self.reconciles = Counter(
            "reconciler_reconciles_total", "Gateway reconciles run, by trigger mode.", ["gateway", "mode"], registry=r)
        self.coordination: CoordinationMetrics | None = None
        """Registered only when replicas coordinate: a single replica's metrics stay as they were."""

    def coordinated(self) -> CoordinationMetrics:
        if self.coordination is None:
            self.coordination = CoordinationMetrics(self.registry)
        return self.coordination

    def record_report(self, gateway: str, report: GatewayReport | None) -> None:
        if report is None:
            return
        for item in report.results:
            if item.status is Status.APPLIED:
                self.changes_applied.labels(gateway, item.kind, str(item.op)).inc()

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class CoordinationMetrics:
    """Series of coordinated replicas: what this member owns, how many members, who holds which lock."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.owned_gateways = Gauge(
            "reconciler_owned_gateways", "Gateways this member reconciles (coordinated replicas).", registry=r)
        self.members = Gauge("reconciler_members", "Live members seen in etcd, this one included.", registry=r)
        self.lock_age = Gauge(
            "reconciler_gateway_lock_age_seconds", "How long the gateway's write lock has been held, by holder.",
            ["gateway", "holder"], registry=r)
