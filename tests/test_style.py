"""House rules of the test suite itself, checked on its source."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _compound_asserts(source: str) -> list[int]:
    """Lines of ``assert a and b``: when it fails, pytest cannot say which part broke."""
    tree = ast.parse(source)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And)
    ]


def test_the_check_finds_a_compound_assert():
    assert _compound_asserts("def f(a, b):\n    assert a\n    assert a and b\n") == [3]
    assert _compound_asserts("assert a or b\n") == []


def test_no_compound_asserts():
    found = [f"{path.name}:{line}" for path in sorted(TESTS.glob("*.py")) for line in _compound_asserts(path.read_text())]
    assert not found, f"split these into one assert per condition: {found}"
