"""House rules checked on source text: the test suite's own, and the size of the package's modules and signatures."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
PACKAGE = TESTS.parent / "amos_tutorial"

MAX_MODULE_LINES = 700
MAX_PARAMETERS = 10


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


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Parameters a caller can pass: positional-only, ordinary and keyword-only ones, plus one for ``*args`` and
    one for ``**kwargs``; the ``self``/``cls`` of a method is not counted."""
    a = node.args
    count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    positional = a.posonlyargs + a.args
    return count - (1 if positional and positional[0].arg in ("self", "cls") else 0)


def _oversized(source: str, name: str) -> list[str]:
    """``name`` when the module has more than MAX_MODULE_LINES lines, and ``name:Class.function`` for each
    function with more than MAX_PARAMETERS parameters."""
    found = [name] if len(source.splitlines()) > MAX_MODULE_LINES else []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _parameters(child) > MAX_PARAMETERS:
                    found.append(f"{name}:{prefix}{child.name}")
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(source), "")
    return found


def test_the_size_check_counts_lines_and_parameters():
    wide = "def f(a, b, c, d, e, f, g, h, i, *args, **kwargs):\n    pass\n"
    assert _oversized(wide, "m.py") == ["m.py:f"]
    method = "class C:\n    def m(self, a, b, c, d, e, f, g, h, i, j):\n        pass\n"
    assert _oversized(method, "m.py") == []
    assert _oversized("x = 1\n" * (MAX_MODULE_LINES + 1), "m.py") == ["m.py"]


def test_no_module_too_long_and_no_signature_too_wide():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += _oversized(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix())
    assert found == [], (
        f"over {MAX_MODULE_LINES} lines or over {MAX_PARAMETERS} parameters: {found}; split the module along its "
        "seams, or gather settings into an options object (amos_tutorial.utils.options)"
    )
