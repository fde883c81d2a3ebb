"""The package's import graph and the homes of its concerns, checked statically (no module is run).

Layers, lowest first; a module may import its own layer and the layers below, never one above:

    0  utils, labels
    1  paths, data          (paths generates the synthetic set: it belongs with data)
    2  transforms
    3  models, evaluation   (scores need only labels and images: the trainer validates with the book's Dice,
                             prediction applies the post-processing rules before saving)
    4  training
    5  inference
    6  viz                  (draws only; below benchmark, so that a benchmark report can use its figures)
    7  benchmark, nnunet    (every measurement of the package)
    9  cli, notebook        (entry points)

evaluation and viz sit where their imports put them (measured): evaluation needs only data, labels, transforms and
utils; viz imports nothing from training, inference or benchmark.

Every import counts, function-local ones included: a lazy import hides a circle, it does not break it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "amos_tutorial"

LAYERS = {
    "utils": 0, "labels": 0, "_meta": 0,
    "paths": 1, "data": 1,
    "transforms": 2,
    "models": 3, "evaluation": 3,
    "training": 4,
    "inference": 5,
    "viz": 6,
    "benchmark": 7, "nnunet": 7,
    "cli": 9, "notebook": 9, "exercises": 9, "publish": 9,
}  # fmt: skip

# What "writes files" and "times code" look like in source text.
WRITES = re.compile(r"\b(open\(|write_text|write_bytes|to_csv|to_parquet|savefig|save_nifti|atomic_path|atomic_write_\w+|mkdir|np\.save)")
TIMES = re.compile(r"\b(import time|from time import|perf_counter|time\.time\(|timeit|utils\.timing|synchronize\()")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Package modules imported anywhere in the file (module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("amos_tutorial"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("amos_tutorial"):
            found.add(node.module)
            # ``from amos_tutorial.x import y`` may import the sub-module x.y.
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (REPO / Path(*candidate.split("."))).with_suffix(".py").is_file() or (
                    REPO / Path(*candidate.split(".")) / "__init__.py"
                ).is_file():
                    found.add(candidate)
    return found


GRAPH = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # A package's __init__ re-exports its modules; importing a sibling through it is not a circle of code.
    packages = {m for m in graph if (REPO / Path(*m.split(".")) / "__init__.py").is_file()}
    return {m: {t for t in targets if t not in packages} for m, targets in graph.items() if m not in packages}


def test_the_graph_sees_every_module():
    assert "amos_tutorial.benchmark.bench" in GRAPH
    assert "amos_tutorial.benchmark.results" in GRAPH["amos_tutorial.benchmark.bench"]
    assert all(_layer(m) is not None for m in GRAPH if m.count(".") >= 1), "a sub-package without a layer"


def test_no_import_circle():
    assert _cycles(_without_package_inits(GRAPH)) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_upward_import():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(module) is not None and _layer(target) is not None and _layer(target) > _layer(module)
    ]
    assert upward == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "viz").glob("*.py")), ids=lambda p: p.name)
def test_viz_only_draws(path):
    text = path.read_text(encoding="utf-8")
    assert WRITES.findall(text) == [], f"{path.name} writes files: move that to the package that computes it"
    assert TIMES.findall(text) == [], f"{path.name} times code: measurements belong to amos_tutorial.benchmark"


def test_the_static_checks_catch_writing_and_timing():
    assert WRITES.search("frame.to_csv(path)")
    assert WRITES.search("save_nifti(a, b, c)")
    assert TIMES.search("start = time.perf_counter()")
    assert not WRITES.search("anatomical directions")
    assert not TIMES.search("runtime table")


def test_scripts_hold_no_python():
    assert sorted(p.name for p in (REPO / "scripts").glob("*.py")) == []
