"""The layering of docs/architecture.md, read from the source: no import loop, none against the layers, short files."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("vlm_ocr", "data_tools")
MAX_LINES = 300

# Bottom to top. A module may import only from its own part or from a strictly lower floor; two parts on the
# same floor never import each other. Every part of the package must be placed here (a new one fails the test).
FLOORS: dict[str, float] = {
    "vlm_ocr": 0,  # the package root: version string only
    "vlm_ocr.errors": 0,
    "vlm_ocr.redaction": 0,
    "vlm_ocr.log_config": 0,
    "vlm_ocr.verbs": 1,
    "vlm_ocr.config_errors": 1,
    "vlm_ocr.pages": 1,
    "vlm_ocr.katex": 1,
    "vlm_ocr.prep": 2,
    "vlm_ocr.bench": 2,
    "vlm_ocr.eval": 2,
    "vlm_ocr.synth": 2.5,  # between the scorer and prep it stands on and the data tool that runs it
    "vlm_ocr.model.families": 2,  # below the data side and the model: both ask the checkpoint's family
    "data_tools": 3,
    "vlm_ocr.data": 3,
    "vlm_ocr.optim": 3,
    "vlm_ocr.model": 4,
    "vlm_ocr.checkpointing": 5,
    "vlm_ocr.export": 5,
    "vlm_ocr.rl": 5,
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


FAMILY_MODULES = REPO / "vlm_ocr" / "model" / "families"
FAMILY_SPECIFIC = re.compile(
    r"Qwen2_5|Qwen3|Qwen2VL"  # transformers' class names of the families (and Qwen3.5, Qwen3-VL in prose)
    r"|<\|(im_start|im_end|endoftext|vision_start|vision_end|image_pad|video_pad)\|>"  # special tokens
    r"|\.visual\b|\bvisual\.|merger\.|deepstack|language_model\.layers"  # attribute paths of parts
)


def test_only_the_family_modules_name_a_family():
    """Classes, special tokens and attribute paths of a model family live in vlm_ocr/model/families/ only: every
    other module asks the checkpoint's family (model_type) for them."""
    found = []
    for path in module_files().values():
        if FAMILY_MODULES in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FAMILY_SPECIFIC.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "ask vlm_ocr.model.families instead:\n" + "\n".join(found)
