"""Where a `{file: PATH}` secret reference may point: inside the repository, or inside a directory named
by `RECONCILER_SECRET_DIRS` (mounted Kubernetes Secrets, for example).

Why: manifests come from whoever can push to the repository. Without this rule `{file: /etc/shadow}`
or `{file: ../../.git-credentials}` would validate, and `apply` would send that file to a gateway as
an API key; in the daemon a commit could make it send its own Git token. The rule is checked twice:
at load time on the path alone (so `validate` refuses it before any gateway is contacted, and a file
that does not exist yet is no excuse), and again when the file is read (a symlink may have changed).
Symlinks are resolved (`Path.resolve`) before the comparison, so a link inside the repository that
points outside is outside.
"""

from __future__ import annotations

import enum
import functools
import os
import posixpath
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from reconciler.manifests.loader import DesiredState, Document, LoadError, _field_path, _line_of
from reconciler.manifests.models import SecretRef
from reconciler.manifests.parsing import node_tree

SECRET_DIRS_ENV = "RECONCILER_SECRET_DIRS"


class SecretPathError(LookupError):
    """A file reference that leaves the allowed directories (a validation error, never "missing")."""


def base_dir(root: Path) -> Path:
    """The repository directory of a run (a single manifest file's directory)."""
    return root if root.is_dir() else root.parent


def allowed_dirs(root: Path, env: Mapping[str, str]) -> tuple[Path, ...]:
    """The repository directory and every `RECONCILER_SECRET_DIRS` entry, symlinks resolved."""
    dirs = [base_dir(root).resolve()]
    for entry in env.get(SECRET_DIRS_ENV, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry.strip()).expanduser().resolve())
    return tuple(dirs)


def confined(file: str, root: Path, env: Mapping[str, str]) -> Path:
    """The resolved path of a file reference; raises SecretPathError when it is outside every allowed
    directory. The file need not exist (only its existing parents' links are followed)."""
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = base_dir(root) / path
    resolved = path.resolve()
    if not any(resolved.is_relative_to(d) for d in allowed_dirs(root, env)):
        raise SecretPathError(f"secret file {file!r} is outside the repository and the directories of "
                              f"{SECRET_DIRS_ENV}")
    return resolved


_NO_REFS = (str, int, float, bool, bytes, type(None))
_CONTAINERS = (list, tuple, dict)
"""What `refs_of` walks into besides models (a SecretRef subclass is a model)."""


def _may_hold_ref(annotation: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether a field of this annotation can hold a SecretRef once validated. Only scalars, enums and
    models without such a field say no; anything not understood (Any, a forward reference) says yes."""
    if annotation is SecretRef or annotation is Any:  # Any: a class on Python 3.11, said yes to all the same
        return True
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return annotation not in seen and any(
                _may_hold_ref(info.annotation, seen | {annotation}) for info in annotation.model_fields.values())
        if issubclass(annotation, _NO_REFS + (enum.Enum,)) or not issubclass(annotation, _CONTAINERS):
            return False  # a scalar, an enum, a URL: not a SecretRef and nothing refs_of walks into
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _may_hold_ref(args[0], seen)
    if args:  # list[X], dict[K, V], X | None, Literal[...], Annotated[X, ...]: what the arguments may hold
        return any(not isinstance(a, str | int | float | bool | types.NoneType) and _may_hold_ref(a, seen)
                   for a in args)
    return True


@functools.cache
def _ref_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model class a secret reference may be found under (a 90,000-document repo walks
    only those, not every scalar of every document)."""
    return tuple(name for name, info in model.model_fields.items() if _may_hold_ref(info.annotation))


def refs_of(value: Any, loc: tuple[int | str, ...] = ()) -> Iterator[tuple[tuple[int | str, ...], SecretRef]]:
    """Every secret reference inside a document model, with its location (field path)."""
    if isinstance(value, SecretRef):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in _ref_fields(type(value)):
            yield from refs_of(getattr(value, name), (*loc, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from refs_of(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from refs_of(item, (*loc, str(key)))


def _line(doc: Document, files: Mapping[str, str], loc: tuple[int | str, ...]) -> int:
    text = files.get(doc.file)
    if text is None or doc.file.endswith(".json"):
        return doc.line
    return _line_of(node_tree(text, doc.line), loc, doc.line)


def check(state: DesiredState, files: Mapping[str, str], root: Path,
          env: Mapping[str, str] | None = None) -> list[LoadError]:
    """A located error for every file reference of the desired state that leaves the allowed directories."""
    environ = os.environ if env is None else env
    errors: list[LoadError] = []
    for _, docs in sorted(state.documents.items()):
        for _, doc in sorted(docs.items()):
            for loc, ref in refs_of(doc.model):
                if ref.file is None:
                    continue
                try:
                    confined(ref.file, root, environ)
                except SecretPathError as exc:
                    where = (*loc, "file")
                    shown = doc.file if state.display_root in ("", ".") else posixpath.join(state.display_root, doc.file)
                    errors.append(LoadError(shown, _line(doc, files, where), _field_path(where), str(exc)))
    return errors
