"""No function in `reconciler/` runs over 80 lines: a longer one is split into named steps.

Length counts from the `def` line to the function's last line (`end_lineno`), decorators aside;
nested functions are measured on their own as well as inside their parent.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reconciler"
MAX_LINES = 80


def long_functions(source: str, file: str) -> list[str]:
    """`file:function (N lines)` for every function of `source` longer than MAX_LINES."""
    found = []
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_LINES:
                found.append(f"{file}:{node.name} ({length} lines)")
    return found


def test_no_function_in_the_package_is_longer_than_80_lines() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50  # the walk really reached the package
    offenders = [hit for path in files
                 for hit in long_functions(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())]
    assert offenders == [], "split these into named steps:\n" + "\n".join(offenders)


def _function(name: str, lines: int, *, is_async: bool = False, indent: str = "") -> str:
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))
    return f"{indent}{'async ' if is_async else ''}def {name}() -> None:\n{body}"


def test_the_check_names_a_function_of_81_lines_and_spares_one_of_80() -> None:
    source = _function("fits", 80) + "\n\n" + _function("too_long", 81)
    assert long_functions(source, "pkg/mod.py") == ["pkg/mod.py:too_long (81 lines)"]


def test_the_check_sees_methods_and_async_functions() -> None:
    source = "class C:\n" + _function("method", 90, indent="    ") + "\n\n" + _function("job", 85, is_async=True)
    assert sorted(long_functions(source, "m.py")) == ["m.py:job (85 lines)", "m.py:method (90 lines)"]
