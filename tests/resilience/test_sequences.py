"""Seeded random sequences of desired states converge on every gateway type (issue 13).

Per gateway type, a repo written by the test (three APIs, two rate limits, two consumers) goes
through steps drawn at a fixed seed from a small pool: rename an API (its policies and consumers
follow), rename a policy, rename a consumer, swap the base paths of two APIs of one gateway, move an
API (and its policies) between the gateway under test and another one (stoa-dev; kong-db for STOA),
prune off (an API dropped from the repo is kept) then on (it is deleted), and adopt: objects made
by hand on the gateway under test (tests/importer's seeding: the admin API as an operator uses it,
no ownership marker), one of their APIs declared in the repo; the plan must show it as a conflict
(never a silent overwrite), `apply --adopt` takes it over and it stays in the sequence. After each
step at most 3 applies make the plan clean, and one more apply (without --adopt) sends zero writes.
(A prune-on is followed by a new API, so the sequence keeps three.) `make soak` runs longer
sequences at other seeds. Each test starts its own emulators (the hand-made objects stay there);
moto's state is process-wide, so AWS's sequence uses the shared moto and resets it afterwards.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.demo import start_gateways
from reconciler.emulators.server import Emulator
from reconciler.runner import RunOptions, apply_repo, plan_repo
from tests.importer import (
    test_import_apigee,
    test_import_aws,
    test_import_gravitee,
    test_import_kong,
    test_import_stoa,
    test_import_webmethods,
)
from tests.resilience.conftest import GATEWAYS

pytestmark = pytest.mark.faults
RUNS = [(7, 0), pytest.param(8, 8, marks=pytest.mark.soak)]
"""(seed, random steps after the pool, each kind once in a seeded order): `make test` runs the short
sequence, `make soak` a longer one."""


@dataclass(frozen=True)
class Api:
    name: str
    path: str
    gateway: str


@dataclass(frozen=True)
class HandMade:
    """Objects a human made on one gateway type, as tests/importer seeds them, and the API of theirs
    the repo declares (named as the importer names it)."""

    seed: Callable[[Any], object]
    """Called with the running emulator of the gateway under test."""
    api: str
    path: str
    credentials: dict[str, str]
    """Environment the gateway manifest's credentials read: what the seeding authenticates with."""
    manifest: tuple[str, str] = ("", "")
    """(old, new) text of the gateway manifest, where the seeding addresses a fixed place."""


HAND_MADE = {
    "stoa": HandMade(test_import_stoa.seed, "orders", "/orders", {"STOA_ADMIN_TOKEN": test_import_stoa.TOKEN}),
    "kong": HandMade(test_import_kong.seed, "orders", "/orders", {"KONG_ADMIN_TOKEN": test_import_kong.TOKEN}),
    "gravitee": HandMade(test_import_gravitee.seed, "orders-api", "/orders",
                         {"GRAVITEE_USERNAME": test_import_gravitee.USER,
                          "GRAVITEE_PASSWORD": test_import_gravitee.PASSWORD}),
    "webmethods": HandMade(test_import_webmethods.seed, "orders", "/orders",
                           {"WEBMETHODS_USERNAME": test_import_webmethods.USER,
                            "WEBMETHODS_PASSWORD": test_import_webmethods.PASSWORD}),
    "apigee": HandMade(test_import_apigee.seed, "orders", "/orders", {"APIGEE_TOKEN": test_import_apigee.TOKEN},
                       ("organization: acme-dev", f"organization: {test_import_apigee.ORG.rsplit('/', 1)[1]}")),
    "aws_apigateway": HandMade(lambda moto: test_import_aws.seed(moto.url), "orders", "/orders", {}),
}
CREDENTIALS = {k: v for h in HAND_MADE.values() for k, v in h.credentials.items()}


def gateway_type(source: Path, gateway: str) -> str:
    return str(yaml.safe_load((source / "gateways" / f"{gateway}.yaml").read_text())["spec"]["gatewayType"])


@dataclass(frozen=True)
class State:
    apis: tuple[Api, ...]
    policies: tuple[tuple[str, str], ...]  # (name, api)
    consumers: tuple[tuple[str, tuple[str, ...]], ...]  # (name, subscribed APIs)
    prune: bool = True
    dropped: tuple[Api, ...] = field(default=())
    adopted: tuple[Api, ...] = field(default=())
    """The hand-made API the last step adopts (once per sequence: the seeding makes fixed names)."""


def start(gateway: str) -> State:
    return State(apis=(Api("alpha", "/seq-alpha", gateway), Api("beta", "/seq-beta", gateway),
                       Api("gamma", "/seq-gamma", OTHER[0])),
                 policies=(("alpha-limit", "alpha"), ("beta-limit", "beta")),
                 consumers=(("app-one", ("alpha",)), ("app-two", ("beta", "gamma"))))


def renamed(name: str) -> str:
    return name[:-2] if name.endswith("-2") else f"{name}-2"


def ours(state: State) -> list[Api]:
    """The APIs a step may delete (rename, move, drop): not the adopted hand-made one, which the human's
    neighbours (a webMethods application, an Apigee product, Kong ACL groups) still refer to; deleting it
    would fail on the gateway (webMethods: `use forceDelete=true`) or break objects that are not ours."""
    return [a for a in state.apis if a.name not in ADOPTED]


def rename_api(state: State, rng: random.Random) -> tuple[str, State]:
    old = rng.choice(ours(state)).name
    new = renamed(old)
    apis = tuple(replace(a, name=new) if a.name == old else a for a in state.apis)
    policies = tuple((n, new if a == old else a) for n, a in state.policies)
    consumers = tuple((n, tuple(new if s == old else s for s in subs)) for n, subs in state.consumers)
    return f"rename API {old} -> {new}", replace(state, apis=apis, policies=policies, consumers=consumers)


def rename_policy(state: State, rng: random.Random) -> tuple[str, State]:
    if not state.policies:
        return rename_api(state, rng)
    old, api = rng.choice(state.policies)
    policies = tuple((renamed(n), a) if n == old else (n, a) for n, a in state.policies)
    return f"rename Policy {old} -> {renamed(old)}", replace(state, policies=policies)


def rename_consumer(state: State, rng: random.Random) -> tuple[str, State]:
    if not state.consumers:
        return rename_api(state, rng)
    old, _ = rng.choice(state.consumers)
    consumers = tuple((renamed(n), s) if n == old else (n, s) for n, s in state.consumers)
    return f"rename Consumer {old} -> {renamed(old)}", replace(state, consumers=consumers)


def swap_paths(state: State, rng: random.Random) -> tuple[str, State]:
    by_gateway: dict[str, list[Api]] = {}
    for api in state.apis:
        by_gateway.setdefault(api.gateway, []).append(api)
    pairs = [apis for g, apis in sorted(by_gateway.items(), key=lambda i: i[0] != GATEWAY_UNDER_TEST[0])
             if len(apis) >= 2][:1]  # the gateway under test's, when it holds two
    if not pairs:
        return move(state, rng)
    a, b = rng.sample(pairs[0], 2)
    apis = tuple(replace(x, path=b.path) if x == a else replace(x, path=a.path) if x == b else x for x in state.apis)
    return f"swap basePaths of {a.name} and {b.name}", replace(state, apis=apis)


def move(state: State, rng: random.Random) -> tuple[str, State]:
    api = rng.choice(ours(state))
    target = next(g for g in {a.gateway for a in state.apis} | {OTHER[0], GATEWAY_UNDER_TEST[0]} if g != api.gateway)
    apis = tuple(replace(a, gateway=target) if a == api else a for a in state.apis)
    return f"move API {api.name} {api.gateway} -> {target}", replace(state, apis=apis)


def prune_off(state: State, rng: random.Random) -> tuple[str, State]:
    """Prune off and one API (with its policies and subscriptions) dropped: it stays on the gateway."""
    if len(state.apis) < 3:
        return rename_api(state, rng)
    api = rng.choice(ours(state))
    return f"prune off, drop API {api.name}", replace(
        state, prune=False, dropped=(api,), apis=tuple(a for a in state.apis if a != api),
        policies=tuple(p for p in state.policies if p[1] != api.name),
        consumers=tuple((n, tuple(s for s in subs if s != api.name)) for n, subs in state.consumers))


def adopt(state: State, rng: random.Random) -> tuple[str, State]:
    """Objects made by hand on the gateway under test; the repo declares one of their APIs."""
    if ADOPTED:
        return rename_api(state, rng)
    hand_made = HAND_MADE[GATEWAY_UNDER_TEST[1]]
    api = Api(hand_made.api, hand_made.path, GATEWAY_UNDER_TEST[0])
    return f"adopt hand-made API {api.name}", replace(state, apis=(*state.apis, api), adopted=(api,))


POOL = [rename_api, rename_policy, rename_consumer, swap_paths, move, prune_off, adopt]
GATEWAY_UNDER_TEST: list[str] = []
"""(name, type) of the gateway under test."""
OTHER: list[str] = []
"""The gateway APIs move to and from: stoa-dev, or kong-db when STOA is under test."""
ADOPTED: list[str] = []
"""Set once the sequence adopted (seeded) its hand-made objects."""


def write_repo(root: Path, source: Path, gateway: str, state: State) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "gateways").mkdir(parents=True)
    for name in {gateway, OTHER[0]}:
        old, new = HAND_MADE[gateway_type(source, name)].manifest
        text = (source / "gateways" / f"{name}.yaml").read_text()
        assert old in text, (name, old)
        (root / "gateways" / f"{name}.yaml").write_text(text.replace(old, new) if old else text)
    settings = {"apiVersion": "gostoa.dev/v1alpha1", "kind": "ReconcilerSettings",
                "spec": {"owner": "platform", "prune": state.prune, "maxDeletes": 50}}
    docs: list[dict[str, Any]] = [settings]
    for api in state.apis:
        docs.append({"apiVersion": "gostoa.dev/v1alpha1", "kind": "API", "metadata": {"name": api.name},
                     "spec": {"tenant": "acme", "version": "1.0.0", "basePath": api.path,
                              "backend": f"https://{api.name}.example.com/v1", "methods": ["GET", "POST"],
                              "gateways": [api.gateway]}})
    for index, (name, api_name) in enumerate(state.policies):
        docs.append({"apiVersion": "gostoa.dev/v1alpha1", "kind": "Policy", "metadata": {"name": name},
                     "spec": {"api": api_name, "type": "rate_limit",
                              "rateLimit": {"requests": 50 + index, "period": "minute"}}})
    for name, subs in state.consumers:
        if subs:
            docs.append({"apiVersion": "gostoa.dev/v1alpha1", "kind": "Consumer", "metadata": {"name": name},
                         "spec": {"credential": {"type": "apiKey", "secretRef": {"env": key_var(name)}},
                                  "subscriptions": list(subs)}})
    (root / "reconciler.yaml").write_text(yaml.safe_dump(docs[0], sort_keys=False))
    (root / "objects.yaml").write_text(yaml.safe_dump_all(docs[1:], sort_keys=False))


def key_var(consumer: str) -> str:
    return "SEQ_KEY_" + consumer.upper().replace("-", "_")


def changes_of(plan: Any) -> list[tuple[str, str, str, str]]:
    return [(g.name, c.kind, c.name, c.op.value) for g in plan.gateways.values() for c in g.changes
            if c.op.value != "no-op"]


def converge(repo: Path, options: RunOptions, label: str, *, adopting: bool = False) -> int:
    """Applies (with --adopt when `adopting`) until one succeeds, at most 3; then an apply without
    --adopt plans nothing and writes nothing."""
    for runs in range(1, 4):  # noqa: B007 - the count is returned
        outcome = asyncio.run(apply_repo(repo, replace(options, adopt=adopting)))
        if not outcome.failed and not outcome.plan.errors:
            break
    else:
        failures = [(r.kind, r.name, r.error) for g in outcome.reports.values() for r in g.results
                    if r.status.value != "applied"]
        raise AssertionError(f"{label}: no convergence in 3 applies: {outcome.plan.errors} {failures}")
    again = asyncio.run(apply_repo(repo, options))  # its plan is what a plan of its own would read
    assert not again.failed and changes_of(again.plan) == [], (label, changes_of(again.plan))
    assert sum(r.writes for r in again.reports.values()) == 0, label
    return runs


def own_gateways(source: Path, root: Path, names: list[str], env: dict[str, str]
                 ) -> tuple[dict[str, str], dict[str, Emulator], Callable[[], None]]:
    """Fresh emulators for `names` (their manifests as the sequence writes them), credentials from `env`."""
    write_repo(root, source, names[0], replace(start(names[0]), apis=(), policies=(), consumers=()))
    for manifest in (root / "gateways").iterdir():
        if manifest.stem not in names:
            manifest.unlink()
    return start_gateways(root, env)


@pytest.mark.parametrize(("seed", "steps"), RUNS)
@pytest.mark.parametrize("gateway", [pytest.param(g, marks=pytest.mark.soak) if g == "aws-dev" else g
                                     for g in GATEWAYS])  # moto's sequence (≈ 40 s): `make soak`
def test_a_random_sequence_of_desired_states_converges(running: Any, gateway: str, seed: int, steps: int) -> None:
    source, shared, _, env = running
    other = "kong-db" if gateway == "stoa-dev" else "stoa-dev"
    GATEWAY_UNDER_TEST[:] = [gateway, gateway_type(source, gateway)]
    OTHER[:] = [other]
    ADOPTED.clear()
    env = {**env, **CREDENTIALS, **{key_var(n): f"seq-{seed}-{n}-key-0123456789abcdef" for n in
                                    ("app-one", "app-two", "app-one-2", "app-two-2")}}
    fresh = [g for g in (gateway, other) if g != "aws-dev"]
    own, started, stop = own_gateways(source, source.parent / f"emulators-{gateway}", fresh, env)
    endpoints, emulators = dict(own), dict(started)  # `stop` stops what `started` holds: not the shared moto
    try:
        if gateway == "aws-dev":
            endpoints[gateway], emulators[gateway] = shared[gateway], running[2][gateway]
            emptied = asyncio.run(apply_repo(source.parent / "empty", RunOptions(
                gateways=frozenset({gateway}), endpoints={gateway: shared[gateway]}, env=env, max_deletes=-1)))
            assert not emptied.failed, emptied.reports
        sequence(source, gateway, other, seed, steps, endpoints, emulators, env)
    finally:
        stop()
        if gateway == "aws-dev":  # the hand-made objects would conflict with examples/repo's
            httpx.post(f"{shared[gateway]}/moto-api/reset", timeout=10)


def sequence(source: Path, gateway: str, other: str, seed: int, steps: int, endpoints: dict[str, str],
             emulators: dict[str, Emulator], env: dict[str, str]) -> None:
    options = RunOptions(gateways=frozenset({gateway, other}), endpoints={g: endpoints[g] for g in (gateway, other)},
                         env=env, max_deletes=-1)
    repo = source.parent / f"sequence-{gateway}"
    rng = random.Random(f"{gateway}/{seed}")
    state = start(gateway)
    write_repo(repo, source, gateway, state)
    log = [f"start: {converge(repo, options, 'start')} apply(ies)"]
    order = rng.sample(POOL, len(POOL)) + [rng.choice(POOL) for _ in range(steps)]
    for step, kind in enumerate(order):
        label, state = kind(state, rng)
        write_repo(repo, source, gateway, state)
        if label.startswith("swap") and gateway == "gravitee-dev":  # the plan says how the swap is applied
            notes = [n for g in asyncio.run(plan_repo(repo, options)).gateways.values() for c in g.changes
                     for n in c.notes]
            assert any("temporary path" in n for n in notes), notes
        if state.adopted:
            HAND_MADE[GATEWAY_UNDER_TEST[1]].seed(emulators[gateway])
            ADOPTED.append(state.adopted[0].name)
            plain = asyncio.run(plan_repo(repo, options))
            ops = {(kind, name): op for g, kind, name, op in changes_of(plain) if g == gateway}
            assert ops.get(("API", state.adopted[0].name)) == "conflict", (label, changes_of(plain))
            refused = asyncio.run(apply_repo(repo, options))  # without --adopt the hand-made API is not taken
            assert refused.failed or any(r.status.value != "applied" for g in refused.reports.values()
                                         for r in g.results), label
            still = {(kind, name): op for g, kind, name, op in changes_of(asyncio.run(plan_repo(repo, options)))}
            assert still.get(("API", state.adopted[0].name)) == "conflict", (label, still)
            log.append(f"{label}: {converge(repo, options, f'{gateway} step {step}: {label}', adopting=True)} "
                       "apply(ies) with --adopt")
            state = replace(state, adopted=())
            continue
        log.append(f"{label}: {converge(repo, options, f'{gateway} step {step}: {label}')} apply(ies)")
        if not state.prune:
            kept = asyncio.run(plan_repo(repo, options))
            names = {c.name for g in kept.gateways.values() for c in g.changes if c.kind == "API"}
            assert state.dropped[0].name in names, "prune off: the dropped API must still be live"
            # Prune on: the dropped API is deleted; a new API on the gateway under test takes its place.
            fresh = Api(f"delta-{step}", f"/seq-delta-{step}", gateway)
            state = replace(state, prune=True, dropped=(), apis=(*state.apis, fresh))
            write_repo(repo, source, gateway, state)
            log.append(f"prune on: {converge(repo, options, f'{gateway} step {step}: prune on')} apply(ies)")
    print(f"\n{gateway} seed {seed}: " + "; ".join(log))
