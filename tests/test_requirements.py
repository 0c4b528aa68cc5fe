"""requirements.txt lists exactly the third-party packages the code imports; requirements-test.txt adds the test
runner."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: distribution name -> the top-level module it installs, where the two differ
MODULE_OF: dict[str, str] = {"opencv-python-headless": "cv2", "pyyaml": "yaml"}
#: imports that need another distribution too: torch.utils.tensorboard needs the tensorboard package
IMPLIES: dict[str, str] = {"torch.utils.tensorboard": "tensorboard"}
#: the optional detector backend (script/install_mmdet.sh installs it; the code imports it only when chosen)
OPTIONAL: set[str] = {"mmdet", "mmcv", "mmengine"}


def requirement_modules(path: Path) -> set[str]:
    """Top-level modules of the distributions a requirements file lists (``-r`` lines followed)."""
    modules = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            modules |= requirement_modules(path.parent / line[3:].strip())
        elif line:
            name = re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower()
            modules.add(MODULE_OF.get(name, name.replace("-", "_")))
    return modules


def imported_modules(files: list[Path]) -> set[str]:
    """Third-party top-level modules imported (anywhere, also inside functions) by ``files``."""
    local = {p.stem for p in REPO_ROOT.glob("*.py")} | {p.name for p in REPO_ROOT.iterdir() if p.is_dir()}
    local |= {p.stem for p in (REPO_ROOT / "tests").glob("*.py")}
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found |= {m for prefix, m in IMPLIES.items() if name == prefix or name.startswith(prefix + ".")}
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.add(top)
    return found - OPTIONAL


def python_files(tests: bool) -> list[Path]:
    """The project's .py files (hidden folders such as .venv left out): the tests' or the others."""
    parts = [p.relative_to(REPO_ROOT).parts for p in REPO_ROOT.rglob("*.py")]
    return [REPO_ROOT.joinpath(*q) for q in parts
            if not any(part.startswith(".") for part in q) and (q[0] == "tests") == tests]


def test_requirements_are_what_the_code_imports():
    assert requirement_modules(REPO_ROOT / "requirements.txt") == imported_modules(python_files(tests=False))


def test_test_requirements_add_what_the_tests_import():
    runtime = requirement_modules(REPO_ROOT / "requirements.txt")
    tests = requirement_modules(REPO_ROOT / "requirements-test.txt")
    assert tests - runtime == {"pytest"}
    assert imported_modules(python_files(tests=True)) <= tests


def test_requirement_parsing():
    assert MODULE_OF["pyyaml"] == "yaml" and "pandas" not in requirement_modules(REPO_ROOT / "requirements.txt")
