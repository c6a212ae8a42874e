"""Lazy `module:Class` loading shared by the adapter registry and the emulator table.

Registration by import path keeps start-up fast and lets one gateway type fail to import without
breaking the others; a missing module becomes a LookupError with a message a user can act on.
"""

from __future__ import annotations

import importlib
from typing import Any


def load_class(path: str, base: type[Any], *, missing: str) -> type[Any]:
    """Import `module:Class`, check it subclasses `base`; LookupError(`missing`) if the module is absent."""
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise LookupError(missing) from None
        raise
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{path} is not a {base.__name__}")
    return cls
