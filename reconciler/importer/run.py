"""`reconciler import`: read one live gateway and write its objects as manifests (the imperative shell).

The gateway comes from the repo's own GatewayInstance manifest (its URL and credential references),
so an import needs what a plan needs and nothing more. All or nothing: a gateway that cannot be read
writes no file, and files written into the repo are removed again when the repo would not load with
them (a name collision the report could not foresee), so a failed import leaves the repo as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.importer.documents import ImportResult, Item, Selection, build
from reconciler.manifests.errors import ValidationFailed
from reconciler.manifests.loader import load
from reconciler.model.errors import GatewayError
from reconciler.model.kinds import KINDS, level_of
from reconciler.runner import RunOptions, loaded, state_adapters


class ImportFailed(Exception):
    """The import wrote nothing: the message says why (no secret value in it)."""


@dataclass(frozen=True)
class ImportRequest:
    repo: Path
    gateway: str
    out: Path | None = None
    """Where the documents go; default `<repo>/imported/<gateway>`."""
    selection: Selection = Selection()
    force: bool = False
    """Overwrite files that exist already."""

    @property
    def target(self) -> Path:
        return self.out if self.out is not None else self.repo / "imported" / self.gateway


async def read_items(request: ImportRequest, options: RunOptions) -> tuple[ImportResult, Path]:
    """Read the gateway and build the documents (nothing written yet)."""
    state = load(request.repo)
    if request.gateway not in state.gateways:
        known = ", ".join(sorted(state.gateways)) or "none"
        raise ImportFailed(f"unknown gateway {request.gateway!r}: the repo declares {known}")
    scoped = RunOptions(gateways=frozenset({request.gateway}), endpoints=options.endpoints, env=options.env,
                        timeout=options.timeout)
    try:
        adapter = state_adapters(loaded(state, request.repo), scoped)[request.gateway]
    except LookupError as exc:
        raise ImportFailed(f"cannot configure gateway {request.gateway}: {exc}") from None
    items: list[Item] = []
    try:
        await adapter.connect()
        for kind in sorted((k for k in adapter.supported_kinds if k in KINDS), key=lambda k: (level_of(k), k)):
            for record in await adapter.fetch(kind):
                items.append((record, adapter.import_spec(kind, record)))
    except GatewayError as exc:
        raise ImportFailed(f"cannot read gateway {request.gateway}: {exc.message}") from None
    finally:
        await adapter.disconnect()
    declared = {(kind, name): f"{state.display_root.rstrip('/')}/{doc.file}"
                for kind, docs in state.documents.items() for name, doc in docs.items()}
    return build(request.gateway, items, declared=declared, selection=request.selection), request.target


def write(result: ImportResult, request: ImportRequest) -> list[Path]:
    """Write the files; refuses (writing nothing) when one exists and `force` is not set."""
    target = request.target
    paths = [target / f.path for f in result.files]
    existing = [p for p in paths if p.exists()]
    if existing and not request.force:
        raise ImportFailed(f"{existing[0]} exists (and {len(existing) - 1} more); pass --force to overwrite")
    written: list[Path] = []
    for path, imported in zip(paths, result.files, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(imported.text, encoding="utf-8")
        written.append(path)
    if _inside(target, request.repo):
        try:
            load(request.repo)
        except ValidationFailed as exc:
            for path in written:
                path.unlink(missing_ok=True)
            first = exc.errors[0] if exc.errors else "invalid"
            raise ImportFailed(f"the repo would not load with the imported files (removed again): {first}") from None
    return written


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return root.is_dir()


async def import_gateway(request: ImportRequest,
                         options: RunOptions | None = None) -> tuple[ImportResult, list[Path]]:
    """Read, build and write one gateway's import; raises ImportFailed (nothing written) or ValidationFailed."""
    result, _ = await read_items(request, options or RunOptions())
    return result, write(result, request)
