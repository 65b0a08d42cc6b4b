"""The package layout is the data flow: no import cycle, and no stage imports a stage above it.

Walks every `import`/`from` statement (including those inside functions) with `ast`, so a lazy
import cannot hide an upward dependency. The checker is also run on small synthetic packages, so a
deliberately added upward import or cycle is shown to fail.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "logsleuth"

# Lowest first. A module may import its own layer and the layers before it, never one after it.
# `read` and `ruleset` are the two independent inputs of `match`; `authoring` (rule proofs) and
# `gitlab` sit at the edge beside `cli`, and only `__main__` may import `cli`.
LAYERS: list[set[str]] = [
    {"errors", "model"},
    {"read"},
    {"ruleset"},
    {"match"},
    {"findings"},
    {"report"},
    {"pipeline"},
    {"authoring", "gitlab"},
    {"cli"},
    {"__main__"},
]
# Top-level modules allowed outside the stage folders.
TOP_LEVEL = {"__init__.py", "__main__.py", "model.py", "errors.py", "pipeline.py"}


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `root` (the package folder)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path], package: str) -> set[str]:
    """The package's modules that `name` imports (a `from X import Y` of a submodule Y names X.Y)."""
    is_pkg = path.name == "__init__.py"
    base = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                src = f"{anchor}.{node.module}" if node.module else anchor
            else:
                src = node.module or ""
            names = [a.name for a in node.names]
            subs = [f"{src}.{n}" for n in names if f"{src}.{n}" in modules]
            found.update(subs)
            if len(subs) < len(names):
                # Importing `__version__` from the root facade is the one allowed way up: the facade
                # defines it before anything else and imports the rest lazily (PEP 562).
                if not (src == package and names == ["__version__"]):
                    found.add(src)
    return {m for m in found if m in modules and m != name}


def layer_of(name: str, package: str) -> int | None:
    parts = name.split(".")
    if len(parts) < 2:
        return None  # the root facade
    top = parts[1]
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"{name}: not in any layer; add its folder to LAYERS")


def problems(root: Path, package: str) -> list[str]:
    """Every upward import and every import cycle in the package at `root`."""
    modules = module_names(root, package)
    graph = {name: imports_of(name, path, modules, package) for name, path in modules.items()}
    graph[package] = set()  # the facade's lazy imports are the public API, not a dependency
    out = []
    for name, targets in sorted(graph.items()):
        here = layer_of(name, package)
        for target in sorted(targets):
            there = layer_of(target, package)
            if target == package:
                out.append(f"{name} imports the root package (only `__version__` may be taken from it)")
            elif here is not None and there is not None and there > here:
                out.append(f"{name} imports {target}, a stage above it")
    out.extend(f"import cycle: {' -> '.join(c)}" for c in cycles(graph))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_upward_import_and_no_cycle():
    assert problems(PACKAGE, "logsleuth") == []


def test_only_the_shared_vocabulary_and_entry_points_live_outside_the_stage_folders():
    loose = {p.name for p in PACKAGE.glob("*.py")} - TOP_LEVEL
    assert loose == set()
    for folder in {d for layer in LAYERS for d in layer if (PACKAGE / d).is_dir()}:
        assert (PACKAGE / folder / "__init__.py").is_file(), folder


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "__version__ = '1'\n", "read/__init__.py": "", "match/__init__.py": "",
                      "report/__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("files, expected", [
    # a lazy upward import inside a function still counts
    ({"read/inputs.py": "def f():\n    from pkg.match.engine import Engine\n", "match/engine.py": "Engine = 1\n"},
     ["pkg.read.inputs imports pkg.match.engine, a stage above it"]),
    ({"read/inputs.py": "from pkg.report import render\n", "report/render.py": ""},
     ["pkg.read.inputs imports pkg.report.render, a stage above it"]),
    ({"match/a.py": "from pkg.match import b\n", "match/b.py": "from pkg.match.a import x\n"},
     ["import cycle: pkg.match.a -> pkg.match.b -> pkg.match.a"]),
    ({"match/a.py": "from . import b\n", "match/b.py": "from .a import x\n"},
     ["import cycle: pkg.match.a -> pkg.match.b -> pkg.match.a"]),
    ({"report/render.py": "from pkg import something\n"},
     ["pkg.report.render imports the root package (only `__version__` may be taken from it)"]),
    ({"report/render.py": "from pkg import __version__\nfrom pkg.match import engine\n", "match/engine.py": ""}, []),
])
def test_the_checker_fails_on_a_deliberate_upward_import_or_cycle(tmp_path, files, expected):
    assert problems(_package(tmp_path, files), "pkg") == expected
