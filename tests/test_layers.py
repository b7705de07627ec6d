"""The package's shape: layers as folders, imports only downward, no cycles, Streamlit only in the UI.

The imports are read from the source (every ``import`` statement, also those inside functions), not from a running
interpreter, so an import hidden in a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "advdemo"

#: The layers, lowest first: a module may import from its own layer and the layers below it. Within a layer, the
#: folders are independent of each other, except where ``SIDEWAYS`` allows an import.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("advdemo",),  # the package's root: its paths
    ("advdemo.configs",),  # settings: frozen dataclasses
    ("advdemo.data", "advdemo.models"),  # MNIST and the gallery; the CNN, its files, cards and the roster
    ("advdemo.attacks", "advdemo.certificates"),  # the attacks; the proofs (interval bounds)
    ("advdemo.evaluation",),  # the figures of a model card
    ("advdemo.training",),  # adversarial regularization, the training job
    ("advdemo.demo",),  # the app's logic, without Streamlit
    ("advdemo.ui",),  # the page, with Streamlit
    ("advdemo.train", "advdemo.evaluate", "advdemo.gallery", "advdemo.report"),  # the command lines
    ("app",),  # the Streamlit page script
)
SIDEWAYS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    if path == ROOT / "app.py":
        return "app"
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py")) + [ROOT / "app.py"]


MODULES = {module_name(path): path for path in source_files()}


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """(the advdemo modules ``path`` imports, the top-level names of the other packages it imports)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    ours, theirs = set(), set()

    def add(target: str) -> None:
        if target == "advdemo" or target.startswith("advdemo."):
            ours.add(target)
        else:
            theirs.add(target.split(".")[0])

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # ``from advdemo.attacks import losses`` imports the module advdemo.attacks.losses
                submodule = f"{module}.{alias.name}"
                add(submodule if submodule in MODULES else module)
    return {target for target in ours if target in MODULES and target != name}, theirs


GRAPH = {name: imports_of(path)[0] for name, path in MODULES.items()}
THIRD_PARTY = {name: imports_of(path)[1] for name, path in MODULES.items()}


def layer_of(name: str) -> tuple[int, str]:
    """(the layer's rank, the folder) of module ``name``: the longest prefix listed in ``LAYERS``."""
    best = None
    for rank, folders in enumerate(LAYERS):
        for folder in folders:
            if (name == folder or name.startswith(folder + ".")) and (best is None or len(folder) > len(best[1])):
                best = (rank, folder)
    if best is None:
        raise AssertionError(f"{name} is in no layer: add its folder to LAYERS")
    return best


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (one path for each strongly connected group of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer to a higher one, or sideways between two folders of a layer."""
    wrong = []
    for source, targets in graph.items():
        rank, folder = layer_of(source)
        for target in targets:
            target_rank, target_folder = layer_of(target)
            if target_rank > rank or (target_rank == rank and target_folder != folder
                                      and (folder, target_folder) not in SIDEWAYS):
                wrong.append(f"{source} -> {target}")
    return sorted(wrong)


def test_the_package_has_no_import_cycle():
    assert cycles(GRAPH) == []


def test_imports_only_go_down_the_layers():
    assert upward_imports(GRAPH) == []


def test_the_checks_catch_a_cycle_and_an_upward_import():
    """The two checks above, on a graph with the faults they exist to catch."""
    graph = {**GRAPH, "advdemo.models.registry": GRAPH["advdemo.models.registry"] | {"advdemo.models.network"},
             "advdemo.models.network": GRAPH["advdemo.models.network"] | {"advdemo.models.registry"}}
    assert any({"advdemo.models.network", "advdemo.models.registry"} <= set(cycle) for cycle in cycles(graph))
    graph = {**GRAPH, "advdemo.attacks.norms": GRAPH["advdemo.attacks.norms"] | {"advdemo.ui.keys"}}
    assert upward_imports(graph) == ["advdemo.attacks.norms -> advdemo.ui.keys"]
    graph = {**GRAPH, "advdemo.data.mnist": GRAPH["advdemo.data.mnist"] | {"advdemo.models.network"}}
    assert upward_imports(graph) == ["advdemo.data.mnist -> advdemo.models.network"]


def reachable(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for target in GRAPH[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_only_the_ui_and_the_page_script_import_streamlit():
    users = {name for name, packages in THIRD_PARTY.items() if packages & {"streamlit", "streamlit_drawable_canvas"}}
    assert users and all(name == "app" or layer_of(name)[1] == "advdemo.ui" for name in users), users


@pytest.mark.parametrize("name", ["advdemo.configs", "advdemo.training.child"])
def test_light_modules_do_not_import_tensorflow(name):
    """Settings need no TensorFlow, and the training child lowers its priority before it imports any."""
    heavy = {"tensorflow", "keras"}
    for module in {name} | reachable(name):
        assert not THIRD_PARTY[module] & heavy, f"{name} imports {module}, which imports TensorFlow"
