"""The bad-input corpus (issue 11): every case is a small repo that must fail `reconciler validate` and
`reconciler plan` with exit 1, name `file:line: field` (or the file, for file-level problems) in
stderr, send no request to the gateway and finish in bounded time.

Each case is a valid base repo plus a few changed, added, removed or linked files (the table below),
so the case says exactly what breaks it; `test_the_base_repo_is_valid_and_reaches_the_gateway` keeps
the "0 requests" assertion meaningful. One STOA emulator serves the whole module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.manifests.files import MAX_FILE_BYTES
from tests.conftest import run_cli

TOKEN = "corpus-admin-token"
APP_KEY = "corpus-app-key-0123456789"
LITERAL = "literal-s3cr3t-0123456789"
TIME_LIMIT = 10.0

BASE = {
    "reconciler.yaml": """\
apiVersion: gostoa.dev/v1alpha1
kind: ReconcilerSettings
spec:
  owner: platform
""",
    "gateways/stoa-dev.yaml": """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata:
  name: stoa-dev
  labels: {env: dev}
spec:
  displayName: STOA dev
  gatewayType: stoa
  environment: dev
  baseUrl: http://127.0.0.1:9
  credentials:
    token: {env: CORPUS_STOA_TOKEN}
""",
    "apis/pets.yaml": """\
apiVersion: gostoa.dev/v1alpha1
kind: API
metadata:
  name: pets
spec:
  displayName: Pet store
  tenant: acme
  version: "1.0.0"
  basePath: /pets
  backend: https://petstore.example.com/v1
  methods: [GET, POST]
  openapi: ../openapi/pets.yaml
  gateways: [stoa-dev]
""",
    "openapi/pets.yaml": """\
openapi: 3.0.3
info:
  title: Pet store
  version: 1.0.0
paths:
  /pets:
    get:
      responses:
        "200":
          description: A list of pets
""",
    "policies/pets-rl.yaml": """\
apiVersion: gostoa.dev/v1alpha1
kind: Policy
metadata:
  name: pets-rl
spec:
  api: pets
  type: rate_limit
  rateLimit:
    requests: 100
    period: minute
""",
    "consumers/mobile-app.yaml": """\
apiVersion: gostoa.dev/v1alpha1
kind: Consumer
metadata:
  name: mobile-app
spec:
  displayName: Mobile app
  credential:
    type: apiKey
    secretRef: {env: CORPUS_APP_KEY}
  subscriptions: [pets]
""",
}


@dataclass(frozen=True)
class Link:
    """A symlink to `target` (relative to the link, or absolute under the case's outside folder)."""

    target: str


Content = str | bytes | Link | None  # None removes the base file


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, Content]
    expect: list[str]
    """Prefixes of stderr lines after `error: <repo>/`: `file:line: field: message...` or `file: message`."""
    env: dict[str, str] = field(default_factory=dict)


def sub(rel: str, old: str, new: str) -> dict[str, Content]:
    assert old in BASE[rel], (rel, old)
    return {rel: BASE[rel].replace(old, new)}


def doc(kind: str, name: str, spec: str) -> str:
    return f"apiVersion: gostoa.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"


def bomb(indent: str) -> str:
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * 10)}]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


BOMB = "aliases expand the document by more than 1,000,000 nodes and characters"
STRAY = "not a manifest (no apiVersion or kind)"
OUTSIDE = "symlink to a path outside the repository"
API = "apis/pets.yaml"
GW = "gateways/stoa-dev.yaml"
POLICY = "policies/pets-rl.yaml"
CONSUMER = "consumers/mobile-app.yaml"
SETTINGS = "reconciler.yaml"

CASES = [
    # -- files that used to be skipped silently (their objects became deletes)
    Case("non-utf8-byte-in-a-comment", {API: BASE[API].encode() + b"# caf\xe9\n"},
         [f"{API}:14: not valid UTF-8: byte 0xE9 at column 6"]),
    Case("non-utf8-byte-in-a-value", {API: BASE[API].encode().replace(b"Pet store", b"Pet \xff store")},
         [f"{API}:6: not valid UTF-8: byte 0xFF at column 20"]),
    Case("latin1-file", {CONSUMER: BASE[CONSUMER].replace("Mobile app", "Appli café").encode("latin-1")},
         [f"{CONSUMER}:6: not valid UTF-8: byte 0xE9"]),
    Case("file-over-the-size-limit", {API: BASE[API] + "#" * MAX_FILE_BYTES + "\n"},
         [f"{API}: file is {len(BASE[API]) + MAX_FILE_BYTES + 1:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes "
          "(set RECONCILER_MAX_FILE_BYTES"]),
    Case("size-limit-setting-not-a-number", {}, ["RECONCILER_MAX_FILE_BYTES='5MB' is not a number of bytes"],
         env={"RECONCILER_MAX_FILE_BYTES": "5MB"}),
    Case("symlinked-file-outside-the-repo", {API: Link("outside/pets.yaml")}, [f"{API}: {OUTSIDE}"]),
    Case("symlinked-folder-outside-the-repo", {"policies": None, "more": Link("outside")}, [f"more: {OUTSIDE}"]),
    Case("broken-symlink", {"apis/orders.yaml": Link("orders-gone.yaml")},
         ["apis/orders.yaml: broken symlink (its target does not exist)"]),
    Case("symlink-loop", {"apis/again": Link("..")}, ["apis/again: symlink loop"]),
    Case("list-of-manifests", {POLICY: "- " + BASE[POLICY].replace("\n", "\n  ").rstrip() + "\n"},
         [f"{POLICY}:1: document is a list: write each manifest as its own document"]),
    Case("misspelled-api-version", sub(API, "gostoa.dev/v1alpha1", "gostao.dev/v1alpha1"),
         [f"{API}:1: apiVersion: unsupported apiVersion 'gostao.dev/v1alpha1' (did you mean 'gostoa.dev/v1alpha1'?)"]),
    Case("missing-api-version", sub(CONSUMER, "apiVersion: gostoa.dev/v1alpha1\n", ""),
         [f"{CONSUMER}:1: apiVersion: required field missing (use gostoa.dev/v1alpha1)"]),
    Case("api-version-key-in-lowercase", sub(POLICY, "apiVersion:", "apiversion:"),
         [f"{POLICY}:1: apiversion: unknown field (did you mean 'apiVersion'?)"]),
    Case("kubernetes-manifest-in-the-repo", {"deploy/app.yaml": "apiVersion: apps/v1\nkind: Deployment\n"},
         ["deploy/app.yaml:1: apiVersion: unsupported apiVersion 'apps/v1' (use gostoa.dev/v1alpha1; list files"]),
    Case("unknown-kind-with-a-suggestion", sub(CONSUMER, "kind: Consumer", "kind: Consumr"),
         [f"{CONSUMER}:2: kind: unknown kind 'Consumr' (did you mean 'Consumer'?"]),
    Case("missing-kind", sub(POLICY, "kind: Policy\n", ""), [f"{POLICY}:1: kind: required field missing"]),
    Case("stray-yaml-file", {"notes/todo.yaml": "- write docs\n- add tests\n"}, [f"notes/todo.yaml:1: {STRAY}"]),
    Case("stray-json-file", {"package.json": '{"name": "gitops", "private": true}\n'}, [f"package.json:1: {STRAY}"]),
    Case("stray-document-in-a-manifest-file", {API: BASE[API] + "---\nnotes: keep cats out\n"},
         [f"{API}:15: document has no apiVersion or kind"]),
    Case("scalar-document-in-a-manifest-file", {API: BASE[API] + "---\njust some text\n"},
         [f"{API}:15: document is not a mapping"]),
    # -- YAML itself
    Case("invalid-yaml", sub(API, "methods: [GET, POST]", "methods: [GET, POST"), [f"{API}:12: invalid YAML: "]),
    Case("tab-indentation", sub(API, "  tenant: acme", "\ttenant: acme"), [f"{API}:7: invalid YAML: "]),
    Case("duplicate-key", sub(API, "  tenant: acme\n", "  tenant: acme\n  tenant: other\n"),
         [f"{API}:8: invalid YAML: duplicate key 'tenant'"]),
    Case("unsupported-tag", sub(API, "displayName: Pet store", "displayName: !!binary UGV0"),
         [f"{API}:6: invalid YAML: unsupported tag 'tag:yaml.org,2002:binary'"]),
    Case("custom-tag", sub(CONSUMER, "{env: CORPUS_APP_KEY}", "!vault secret/app"),
         [f"{CONSUMER}:9: invalid YAML: unsupported tag '!vault'"]),
    Case("undefined-alias", sub(API, "methods: [GET, POST]", "methods: *default-methods"),
         [f"{API}:11: invalid YAML: undefined alias *default-methods"]),
    Case("recursive-alias", sub(API, "methods: [GET, POST]", "methods: &m [GET, *m]"),
         [f"{API}:11: invalid YAML: recursive alias *m"]),
    Case("collection-as-key", sub(API, "methods: [GET, POST]", "[GET, POST]: methods"),
         [f"{API}:11: invalid YAML: a mapping key must be a scalar"]),
    Case("alias-bomb-in-a-manifest", {"config/errors.yaml": doc(
        "GatewayConfig", "error-processing", "  key: errorProcessing\n  gateways: [stoa-dev]\n  value:\n" + bomb("    "))},
         ["config/errors.yaml:14: invalid YAML: " + BOMB]),
    Case("alias-bomb-in-an-openapi-file", {"openapi/pets.yaml": BASE["openapi/pets.yaml"] + "x-lol:\n" + bomb("  ")},
         ["openapi/pets.yaml:17: invalid YAML: " + BOMB]),
    Case("aliased-long-string", {"openapi/pets.yaml": BASE["openapi/pets.yaml"]
                                 + "x-a: &a " + "x" * 200_000 + "\nx-b: [" + ", ".join(["*a"] * 6) + "]\n"},
         ["openapi/pets.yaml:12: invalid YAML: " + BOMB]),
    Case("deep-flow-nesting", sub(API, "displayName: Pet store", "displayName: " + "[" * 5000 + "]" * 5000),
         [f"{API}:6: invalid YAML: "]),
    Case("deep-block-nesting", {"openapi/pets.yaml": BASE["openapi/pets.yaml"] + "x-deep:\n"
                                + "".join("  " * i + f"  k{i}:\n" for i in range(120)) + "  " * 121 + "leaf\n"},
         ["openapi/pets.yaml:111: invalid YAML: nesting deeper than 100 levels"]),
    Case("deep-json-nesting", {"openapi/pets.yaml": None, "openapi/pets.json": '{"openapi": "3.0.3", "x": '
                               + "[" * 150 + "]" * 150 + "}\n"}
         | sub(API, "pets.yaml", "pets.json"), ["openapi/pets.json:1: invalid JSON: nesting deeper than 100 levels"]),
    Case("invalid-json-manifest", {"apis/orders.json": '{"apiVersion": "gostoa.dev/v1alpha1",\n "kind": "API",,\n}'},
         ["apis/orders.json:2: invalid JSON: Expecting property name"]),
    Case("json-duplicate-key", {"apis/orders.json": '{"apiVersion": "gostoa.dev/v1alpha1",\n "kind": "API",\n'
                                                     ' "kind": "Policy"}\n'},
         ["apis/orders.json:3: invalid JSON: duplicate key 'kind'"]),
    # -- wrong types and values
    Case("methods-not-a-list", sub(API, "methods: [GET, POST]", "methods: GET"),
         [f"{API}:11: spec.methods: Input should be a valid list"]),
    Case("unknown-method", sub(API, "methods: [GET, POST]", "methods: [GET, FETCH]"), [f"{API}:11: spec.methods[1]: "]),
    Case("requests-not-a-number", sub(POLICY, "requests: 100", "requests: many"), [f"{POLICY}:9: spec.rateLimit.requests: "]),
    Case("requests-zero", sub(POLICY, "requests: 100", "requests: 0"), [f"{POLICY}:9: spec.rateLimit.requests: "]),
    Case("backend-not-a-url", sub(API, "https://petstore.example.com/v1", "petstore"), [f"{API}:10: spec.backend: not a URL"]),
    Case("base-path-without-slash", sub(API, "basePath: /pets", "basePath: pets"), [f"{API}:9: spec.basePath: "]),
    Case("misspelled-field", sub(API, "  tenant: acme", "  tennant: acme"),
         [f"{API}:5: spec.tenant: required field missing", f"{API}:7: spec.tennant: unknown field"]),
    Case("uppercase-name", sub(API, "name: pets", "name: Pets"), [f"{API}:4: metadata.name: not a valid name"]),
    Case("unicode-name", sub(CONSUMER, "name: mobile-app", "name: mobile-appé"), [f"{CONSUMER}:4: metadata.name: "]),
    Case("label-value-a-list", sub(GW, "labels: {env: dev}", "labels: {env: [dev]}"), [f"{GW}:5: metadata.labels.env: "]),
    Case("unknown-gateway-type", sub(GW, "gatewayType: stoa", "gatewayType: nginx"), [f"{GW}:8: spec.gatewayType: "]),
    Case("prune-not-a-boolean", sub(GW, "  environment: dev\n", "  environment: dev\n  prune: maybe\n"),
         [f"{GW}:10: spec.prune: "]),
    # -- duplicates
    Case("same-api-in-two-files", {"apis/pets-copy.yaml": BASE[API]},
         ["apis/pets.yaml:4: metadata.name: duplicate API 'pets' (first defined at"]),
    Case("same-policy-twice-in-one-file", {POLICY: BASE[POLICY] + "---\n" + BASE[POLICY]},
         [f"{POLICY}:15: metadata.name: duplicate Policy 'pets-rl'"]),
    Case("two-reconciler-settings", {"more-settings.yaml": BASE[SETTINGS]},
         [f"{SETTINGS}:1: kind: more than one ReconcilerSettings"]),
    # -- broken references
    Case("policy-naming-a-missing-api", sub(POLICY, "api: pets", "api: cats"), [f"{POLICY}:6: spec.api: unknown API 'cats'"]),
    Case("consumer-subscribing-to-a-missing-api", sub(CONSUMER, "subscriptions: [pets]", "subscriptions: [pets, cats]"),
         [f"{CONSUMER}:10: spec.subscriptions: unknown API 'cats'"]),
    Case("api-bound-to-an-unknown-gateway", sub(API, "gateways: [stoa-dev]", "gateways: [stoa-prod]"),
         [f"{API}:13: spec.gateways: unknown gateway 'stoa-prod'; did you mean 'stoa-dev'?"]),
    Case("selector-matching-no-gateway", sub(API, "gateways: [stoa-dev]", "gatewaySelector: {matchLabels: {env: prod}}"),
         [f"{API}:13: spec.gatewaySelector: matches no GatewayInstance"]),
    Case("kind-the-gateway-cannot-take", {"aliases/backend.yaml": doc(
        "Alias", "backend", "  endpointUri: https://b.example.com\n  gateways: [stoa-dev]\n")},
         ["aliases/backend.yaml:7: spec.gateways: Alias is not supported by gateway 'stoa-dev'"]),
    # -- file references
    Case("openapi-path-traversal", sub(API, "../openapi/pets.yaml", "../../../etc/passwd"),
         [f"{API}:1: spec.openapi: path '../../../etc/passwd' escapes the repository"]),
    Case("openapi-absolute-path", sub(API, "../openapi/pets.yaml", "/etc/hosts"),
         [f"{API}:1: spec.openapi: path '/etc/hosts' escapes the repository"]),
    Case("openapi-file-missing", {"openapi/pets.yaml": None}, [f"{API}:1: spec.openapi: file 'openapi/pets.yaml' not found"]),
    Case("openapi-file-ignored", {".reconcilerignore": "openapi/\n"},
         [f"{API}:1: spec.openapi: file 'openapi/pets.yaml' is excluded by .reconcilerignore"]),
    Case("openapi-file-not-openapi", {"openapi/pets.yaml": "title: pets\n"},
         [f"{API}:1: spec.openapi: openapi/pets.yaml: not an OpenAPI document"]),
    # -- secrets
    Case("literal-token", sub(GW, "token: {env: CORPUS_STOA_TOKEN}", f"token: {LITERAL}"),
         [f"{GW}:11: spec.credentials: token: literal credentials are not allowed"]),
    Case("literal-api-key", sub(CONSUMER, "secretRef: {env: CORPUS_APP_KEY}", f"secretRef: {LITERAL}"),
         [f"{CONSUMER}:9: spec.credential.secretRef: "]),
    Case("secret-ref-with-env-and-file", sub(CONSUMER, "{env: CORPUS_APP_KEY}", "{env: CORPUS_APP_KEY, file: key.txt}"),
         [f"{CONSUMER}:9: spec.credential.secretRef: set exactly one of 'env' or 'file'"]),
    Case("secret-env-name-invalid", sub(CONSUMER, "{env: CORPUS_APP_KEY}", "{env: app-key}"),
         [f"{CONSUMER}:9: spec.credential.secretRef.env: "]),
    Case("secret-file-path-traversal", sub(CONSUMER, "{env: CORPUS_APP_KEY}", "{file: ../../etc/hostname}"),
         [f"{CONSUMER}:9: spec.credential.secretRef.file: secret file '../../etc/hostname' is outside"]),
    Case("secret-file-absolute-elsewhere", sub(CONSUMER, "{env: CORPUS_APP_KEY}", "{file: /etc/shadow}"),
         [f"{CONSUMER}:9: spec.credential.secretRef.file: secret file '/etc/shadow' is outside"]),
    Case("gateway-token-file-outside", sub(GW, "token: {env: CORPUS_STOA_TOKEN}", "token: {file: /etc/hostname}"),
         [f"{GW}:"]),
    # -- what the target gateway would refuse (capability checks)
    Case("two-apis-on-one-base-path", {"apis/orders.yaml": doc(
        "API", "orders", '  tenant: acme\n  version: "1"\n  basePath: /pets/\n  backend: https://o.example.com\n'
        "  methods: [GET]\n  gateways: [stoa-dev]\n")},
         [f"{API}:1: spec.basePath: gateway stoa-dev (stoa): base path"]),
]


def build(root: Path, case: Case) -> Path:
    repo = root / "repo"
    outside = root / "outside"
    outside.mkdir()
    (outside / "pets.yaml").write_text(BASE[API])
    for rel, text in BASE.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, content in case.files.items():
        path = repo / rel
        if content is None:
            if path.is_dir():
                for child in sorted(path.rglob("*"), reverse=True):
                    child.unlink() if child.is_file() else child.rmdir()
                path.rmdir()
            else:
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() or path.is_symlink():
            path.unlink()
        if isinstance(content, Link):
            target = root / content.target if content.target.startswith("outside") else Path(content.target)
            path.symlink_to(target)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return repo


@pytest.fixture(scope="module")
def stoa() -> Iterator[StoaEmulator]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CORPUS_STOA_TOKEN", TOKEN)
        patch.setenv("CORPUS_APP_KEY", APP_KEY)
        with StoaEmulator(admin_token=TOKEN) as emulator:
            yield emulator  # type: ignore[misc]


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


def test_the_base_repo_is_valid_and_reaches_the_gateway(stoa: StoaEmulator, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    repo = build(tmp_path, Case("base", {}, []))
    assert run_cli("validate", repo, {}) == 0
    stoa.clear_log()
    assert run_cli("plan", repo, {"stoa-dev": stoa.url}) == 0
    assert stoa.requests, "the plan of a valid repo reads the gateway"
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_repo_fails_with_a_located_error_and_touches_no_gateway(
        case: Case, stoa: StoaEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    repo = build(tmp_path, case)
    stoa.clear_log()
    for command, endpoints in (("validate", {}), ("plan", {"stoa-dev": stoa.url})):
        started = time.perf_counter()
        code = run_cli(command, repo, endpoints)
        elapsed = time.perf_counter() - started
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        assert code == 1, (command, captured.out, captured.err)
        for expected in case.expect:
            assert any(line.startswith((f"error: {repo}/{expected}", f"error: {repo}: {expected}"))
                       for line in lines), (command, expected, captured.err)
        assert lines[-1].endswith("nothing was planned or applied."), captured.err
        assert all(secret not in captured.err + captured.out for secret in (LITERAL, TOKEN, APP_KEY))
        assert elapsed < TIME_LIMIT, (command, elapsed)
    assert stoa.requests == []
