"""The package has no import cycle: the graph of its ``import nobptt...`` / ``from nobptt...
import`` statements is acyclic. Every statement counts, at module level and inside functions alike
(the learner registry used to import the learners inside a function while each learner imported the
registry: the cycle issue 37 removed). The registries load their catalogs by name
(``importlib.import_module``), a load on first use that no module imports back."""
import ast
from pathlib import Path

import nobptt

ROOT = Path(nobptt.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, name: str, modules: set[str], is_package: bool) -> set[str]:
    """The package modules a module imports, anywhere in it."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            # "from a.b import c" imports a.b, and a.b.c when c is a module
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in modules:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = imported(tree, name, modules, path.name == "__init__.py") - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "nobptt.learners.sab" in graph and "nobptt.learners.registry" in graph["nobptt.learners.sab"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    tree = ast.parse("import nobptt.x\nfrom nobptt.y import z\ndef f():\n    from . import w\n")
    assert imported(tree, "nobptt.v", {"nobptt.x", "nobptt.y", "nobptt.y.z", "nobptt.w", "nobptt.q"}, False) == \
        {"nobptt.x", "nobptt.y", "nobptt.y.z", "nobptt.w"}


def test_the_registries_import_no_learner_or_task():
    graph = import_graph()
    for registry, family in (("nobptt.learners.registry", "nobptt.learners."),
                             ("nobptt.tasks.registry", "nobptt.tasks.")):
        assert not {m for m in graph[registry] if m.startswith(family) and m != "nobptt.tasks.base"}
