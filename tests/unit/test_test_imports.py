"""Test modules share helpers through tests/support/ only: none imports another
test module or a conftest (pytest hands conftest fixtures over by name)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_test_code_imports_from_tests_support_only() -> None:
    wrong = {
        f"{path.relative_to(TESTS)}: {name}"
        for path in TESTS.rglob("*.py")
        for name in imported_modules(path)
        if name.startswith(".")
        or (name.startswith("tests.") and not name.startswith("tests.support."))
        or name in ("tests", "conftest")
    }
    assert not wrong, sorted(wrong)
