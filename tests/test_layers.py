"""The project's imports run one way: a walk over every module's imports (module level and inside functions) finds
no circle and no import of a higher layer than the importer's (docs/ARCHITECTURE.md); npy2csv starts without torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (layer, module prefixes), lowest first. A module may import its own group and any lower layer; groups that share
#: a layer (the predictor and the validator) do not import each other.
LAYERS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("util",)),
    (1, ("metrics",)),
    (1, ("net",)),
    (1, ("detection",)),
    (2, ("feature",)),
    (2, ("seld_decoding",)),
    (3, ("synth",)),
    (3, ("seld_data_loader",)),
    (4, ("seld_model",)),
    (5, ("seld_inference",)),
    (6, ("object_detection", "render_video", "resize_video", "npy2csv", "wav_convertor", "resample",
         "synthesize_dataset", "benchmarks")),
    (7, ("seld_predictor",)),
    (7, ("seld_validator",)),
    (8, ("seld_trainer",)),
    (9, ("seld",)),
)


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file of every .py of the project (tests and hidden folders left out)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "tests" or any(p.startswith(".") for p in rel.parts):
            continue
        name = ".".join(rel.with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports anywhere in its code (``from a import b`` counts ``a.b`` when it is a
    module; relative imports are resolved against the package)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in _run_time_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([base] if base else [])])
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def _run_time_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def group_of(module: str) -> tuple[int, int]:
    """(layer, group index) of a module from :data:`LAYERS`; AssertionError for a module the table lacks."""
    for index, (layer, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer, index
    raise AssertionError(f"module {module} is in no layer of tests/test_layers.py LAYERS: add it")


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports. A module's import of its own package (``feature.base`` importing
    ``feature`` so that the package registers its extractors) is left out: the package's ``__init__`` importing its
    plugins is the registry, not a dependency between layers."""
    modules = project_modules()
    return {name: {t for t in imports_of(path, modules) if t != name and not name.startswith(t + ".")}
            for name, path in modules.items()}


def test_the_walk_sees_the_known_imports():
    graph = import_graph()
    assert "seld_decoding" in graph["npy2csv"]
    assert "seld_validator" in graph["seld_trainer"]          # a function-level import
    assert "util.runtime" in graph["seld_predictor"]
    assert {"seld_model", "seld_decoding"} <= graph["seld_inference"]


def test_no_upward_import():
    upward = []
    for module, targets in import_graph().items():
        layer, group = group_of(module)
        for target in sorted(targets):
            t_layer, t_group = group_of(target)
            if t_group != group and t_layer >= layer:
                upward.append(f"{module} (layer {layer}) imports {target} (layer {t_layer})")
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    graph = import_graph()
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)


def test_validator_and_predictor_never_import_the_trainer():
    graph = import_graph()
    assert "seld_trainer" not in graph["seld_validator"] | graph["seld_predictor"]


def test_npy2csv_imports_without_torch():
    code = "import sys, npy2csv; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
