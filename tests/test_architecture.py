"""The layering of docs/architecture.md, read from the source: no import loop, none against the layers, short files."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("vlm_ocr", "data_tools")
MAX_LINES = 300

# Bottom to top. A module may import only from its own part or from a strictly lower floor; two parts on the
# same floor never import each other. Every part of the package must be placed here (a new one fails the test).
FLOORS: dict[str, int] = {
    "vlm_ocr": 0,  # the package root: version string only
    "vlm_ocr.errors": 0,
    "vlm_ocr.redaction": 0,
    "vlm_ocr.verbs": 1,
    "vlm_ocr.config_errors": 1,
    "vlm_ocr.pages": 1,
    "vlm_ocr.katex": 1,
    "vlm_ocr.prep": 2,
    "vlm_ocr.bench": 2,
    "vlm_ocr.eval": 2,
    "data_tools": 3,
    "vlm_ocr.data": 3,
    "vlm_ocr.model": 4,
    "vlm_ocr.checkpointing": 5,
    "vlm_ocr.export": 5,
    "vlm_ocr.strategies": 6,
    "vlm_ocr.callbacks": 6,
    "vlm_ocr.experiment_cli": 7,
    "vlm_ocr.commands": 8,
    "vlm_ocr.cli": 9,
    "vlm_ocr.__main__": 10,
}


def module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules imported anywhere in the file (function-level imports too), resolved to files."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def part_of(module: str) -> str:
    """The longest FLOORS key that is the module or a package above it."""
    candidates = [key for key in FLOORS if module == key or module.startswith(key + ".")]
    return max(candidates, key=len)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def test_every_part_has_a_floor(graph):
    unplaced = sorted(m for m in graph if part_of(m) == "vlm_ocr" and m != "vlm_ocr")
    assert not unplaced, f"place these in FLOORS and docs/architecture.md: {unplaced}"


def test_no_import_against_the_layers(graph):
    wrong = []
    for module, imports in graph.items():
        mine = part_of(module)
        for target in imports:
            theirs = part_of(target)
            if theirs != mine and FLOORS[theirs] >= FLOORS[mine]:
                wrong.append(f"{module} (floor {FLOORS[mine]}) imports {target} (floor {FLOORS[theirs]})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_loop_between_modules(graph):
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path + [module, target]
            if target not in state and (loop := visit(target, path + [module])):
                return loop
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            loop = visit(module, [])
            assert loop is None, " -> ".join(loop[loop.index(loop[-1]) :])


def test_no_module_over_the_line_limit():
    long = {
        str(p.relative_to(REPO)): n
        for p in module_files().values()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_data_tools_and_light_verbs_start_without_the_training_stack():
    """The data tools stand on the ground floor and prep/, and so do the verbs that need no model (make-sample-data,
    bench scoring): importing them, and the command line's entry, loads no torch/Lightning/transformers."""
    code = (
        "import sys, data_tools.__main__ as m; m.tool_mains(); import vlm_ocr.cli as cli; "
        "[cli.verb(name) for name in ('make-sample-data', 'bench')]; "
        "heavy = sorted({'torch', 'lightning', 'transformers'} & set(sys.modules)); print(heavy); sys.exit(bool(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
