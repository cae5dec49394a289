"""The house's directions (shared/ARCHITECTURE.md), read from the imports of medusa_auth/ itself."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "medusa_auth"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The medusa_auth modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("medusa_auth")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.startswith("medusa_auth"):
                found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names}
    return found - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    paths = list(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_graph_is_read_from_the_real_package():
    graph = import_graph()
    assert "medusa_auth.extension" in graph["medusa_auth.guard"]
    assert "medusa_auth.settings" in graph["medusa_auth.keys.config"]


def test_no_module_imports_itself_back():
    assert cycles(import_graph()) == []


def test_no_package_imports_another_that_imports_it_back():
    """keys/ and settings.py, auth/ and admin/: the direction between packages is one way."""
    graph = import_graph()

    def area(module: str) -> str:
        return ".".join(module.split(".")[:2])

    between: dict[str, set[str]] = {}
    for module, targets in graph.items():
        between.setdefault(area(module), set()).update(area(t) for t in targets if area(t) != area(module))
    assert cycles(between) == []


def test_settings_imports_nothing_of_the_service():
    assert import_graph()["medusa_auth.settings"] == set()


def test_keys_and_tokens_know_nothing_of_requests():
    """keys/ and tokens.py run at startup, in the CLI and per request alike: no request machinery."""
    for path in [*PACKAGE.joinpath("keys").glob("*.py"), PACKAGE / "tokens.py", PACKAGE / "token_cache.py"]:
        source = path.read_text(encoding="utf-8")
        assert "from flask import" not in source and "import flask" not in source, path.name
