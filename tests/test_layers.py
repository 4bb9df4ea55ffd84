"""Imports point down only: a package imports from its own layer's foundations or lower, never up.

Every module under src/bbjcoder/ is parsed with `ast`, imports inside functions included (a lazy
import is still a dependency, only a later one). `bbj/` and `data/` also import no heavy library
at all, so checking and data work stay fast and light.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "bbjcoder"

# Low -> high. A unit is a top-level module or package of bbjcoder (`data` is all of data/).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("fileio",),
    ("integrity",),
    ("config",),
    ("records",),  # the typed files stages exchange (data.build returns one): errors, fileio, pydantic
    ("loopback",),  # the local-page server both review apps (data, evaluate) use
    ("render",),  # the jinja2 templates every report and page is rendered through
    ("bbj",),
    ("data",),
    ("runs",),
    ("train", "evaluate", "export"),
    # `models` (fetch a real model, GGUF -> HF dir) imports only errors and export.gguf's tensor
    # name table, and only the CLI imports it: a user-facing tool beside serve, above the stages.
    # `report_html` renders the eval report for the demo (imports evaluate; pipeline imports it).
    ("serve", "models", "report_html"),
    # The demo: where it runs (demo_setup), the stage runner with its resume rule (recipe), the recipe.
    ("pipeline", "demo_setup", "recipe"),
    ("cli", "__main__"),
)
# Stages of one layer that must not import one another (they talk through files).
SIBLINGS = frozenset({"train", "evaluate", "export"})
HEAVY = ("torch", "transformers", "peft", "trl", "llama_cpp", "accelerate", "bitsandbytes")
LIGHT_UNITS = ("bbj", "data")

# Upward (or sibling) imports tolerated for now: none are left (issue 12 removed the last).
# The list only shrinks: a test fails when a listed import is gone, so a fix deletes its line.
KNOWN_UPWARD: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Edge:
    source: Path
    line: int
    importer: str  # bbjcoder.x.y
    imported: str  # bbjcoder.a.b (as written, resolved when relative)

    def __str__(self) -> str:
        return f"{self.source.relative_to(SRC.parent)}:{self.line}: {self.importer} imports {self.imported}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, text: str | None = None) -> list[Edge]:
    """Every import of a bbjcoder module in `path` (or in `text`, read as if it stood at `path`),
    wherever it stands: functions included."""
    importer = _module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8") if text is None else text)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # `from bbjcoder import data` imports the unit `data`, not the package root
            targets = [f"{module}.{a.name}" for a in node.names] if module == "bbjcoder" else [module]
        edges += [Edge(path, node.lineno, importer, t) for t in targets if t.split(".")[0] == "bbjcoder"]
    return edges


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(unit: str) -> int:
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    raise AssertionError(f"bbjcoder.{unit} has no layer: add it to LAYERS in tests/test_layers.py")


def _all_edges() -> list[Edge]:
    return [e for p in sorted(PACKAGE.rglob("*.py")) for e in _imports(p)]


def _is_upward(edge: Edge) -> bool:
    a, b = _unit(edge.importer), _unit(edge.imported)
    if not a or not b or a == b:
        return False
    if _layer(b) > _layer(a):
        return True
    return _layer(a) == _layer(b) and a in SIBLINGS and b in SIBLINGS


def _known(edge: Edge) -> bool:
    return any(
        edge.importer == src and (edge.imported == dst or edge.imported.startswith(dst + "."))
        for src, dst in KNOWN_UPWARD
    )


def test_every_module_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {""}
    for unit in sorted(units):
        _layer(unit)


def test_imports_point_down_only() -> None:
    bad = [str(e) + " (upward)" for e in _all_edges() if _is_upward(e) and not _known(e)]
    assert bad == [], "\n".join(bad)


def test_known_upward_imports_still_exist_so_the_list_only_shrinks() -> None:
    edges = [e for e in _all_edges() if _is_upward(e)]
    gone = [
        f"{src} -> {dst}"
        for src, dst in sorted(KNOWN_UPWARD)
        if not any(
            e.importer == src and (e.imported == dst or e.imported.startswith(dst + ".")) for e in edges
        )
    ]
    assert gone == [], "fixed: remove from KNOWN_UPWARD: " + ", ".join(gone)


def test_the_rule_reads_lazy_relative_and_package_imports() -> None:
    """The parser itself: an import inside a function, a relative one and `from bbjcoder import x`."""
    fake = SRC / "bbjcoder" / "data" / "_probe_for_test.py"
    text = (
        "from .schema import TYPES\n"
        "def f():\n"
        "    from bbjcoder.evaluate.suite import load_suite\n"
        "    from bbjcoder import serve\n"
        "    import bbjcoder.bbj.lexer\n"
    )
    tree_edges = _imports(fake, text)
    assert [(e.line, e.imported) for e in tree_edges] == [
        (1, "bbjcoder.data.schema"),
        (3, "bbjcoder.evaluate.suite"),
        (4, "bbjcoder.serve"),
        (5, "bbjcoder.bbj.lexer"),
    ]
    assert [_is_upward(e) for e in tree_edges] == [False, True, True, False]
    assert (
        str(tree_edges[1])
        == "src/bbjcoder/data/_probe_for_test.py:3: bbjcoder.data._probe_for_test imports bbjcoder.evaluate.suite"
    )


def test_bbj_and_data_import_no_heavy_library_even_lazily() -> None:
    bad = []
    for unit in LIGHT_UNITS:
        for path in sorted((PACKAGE / unit).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and not node.level
                    else []
                )
                bad += [
                    f"{path.relative_to(SRC.parent)}:{node.lineno}: imports {n}"
                    for n in names
                    if n.split(".")[0] in HEAVY
                ]
    assert bad == [], "\n".join(bad)
