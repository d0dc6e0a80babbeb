"""The house rules of the import graph (README "How the code is laid out"): the data flows
SMTP in → parse → extract → detect → decide → act → log → review, and a module imports only
what comes before it. The model depends on nothing; the store on the model alone; no stage
imports a later one; the SMTP front knows the next hop only by its contract in the model.
Read from the source with ast, so an import inside a function or under TYPE_CHECKING counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"

# Lower first. A module may import modules of a lower rank, and its own package.
RANKS: dict[str, int] = {
    "gateway.model": 0,
    "gateway.privatefiles": 0,
    "gateway.cleantext": 0,
    "gateway.spelling": 1,
    "gateway.domains": 1,
    "gateway.dsn": 1,
    "gateway.rawmail": 1,
    "gateway.metrics": 1,
    "gateway.connections": 1,
    "gateway.nexthop": 2,
    "gateway.logsetup": 1,
    "gateway.store": 2,
    "gateway.parse": 3,
    "gateway.security": 3,
    "gateway.authentication": 3,
    "gateway.extract": 4,
    "gateway.detect": 5,
    "gateway.reading": 6,
    "gateway.decide": 6,
    "gateway.reader_pool": 7,
    "gateway.facts": 7,
    "gateway.act": 8,
    "gateway.stages": 9,
    "gateway.messagelog": 9,
    "gateway.pipeline": 10,
    "gateway.smtp": 11,
    "gateway.web": 11,
    "gateway.health": 11,
    "gateway.scan": 11,
    "gateway.settings": 11,
    "gateway.server": 12,
    "gateway.doctor": 12,
    "gateway.cli": 13,
    "gateway.__main__": 14,
    "gateway": 0,  # the package's own __init__: its version only
}


def unit(module: str) -> str:
    """The ranked unit a module belongs to: its top package under gateway, or itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    parts = path.relative_to(GATEWAY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    """``name``, dotted: a module or package of ours (gateway.web.views)."""
    path = GATEWAY.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or path.is_dir()


def gateway_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "gateway":
                # from gateway.web import views: the submodule counts, not the package
                found.update(
                    f"{node.module}.{a.name}"
                    if _is_module(f"{node.module}.{a.name}")
                    else node.module
                    for a in node.names
                )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "gateway")
    return found


MODULES = sorted(GATEWAY.rglob("*.py"))


def test_every_module_has_a_rank():
    unranked = {unit(module_name(p)) for p in MODULES} - RANKS.keys()
    assert not unranked, f"place these in RANKS (tests/test_layers.py): {sorted(unranked)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_go_down_only(path: Path):
    here = unit(module_name(path))
    upward = sorted(
        target
        for target in gateway_imports(path)
        if unit(target) != here and RANKS.get(unit(target), 99) >= RANKS[here]
    )
    assert not upward, f"{module_name(path)} (rank {RANKS[here]}) imports upward: {upward}"


def test_the_model_depends_on_nothing_of_ours():
    assert gateway_imports(GATEWAY / "model.py") == set()


def test_the_store_knows_only_the_model():
    for path in (GATEWAY / "store").rglob("*.py"):
        outside = {t for t in gateway_imports(path) if unit(t) != "gateway.store"}
        # privatefiles is a leaf (it imports nothing of ours): how files of mail are written.
        allowed = {"gateway.model", "gateway.privatefiles"}
        assert outside <= allowed, f"{module_name(path)} imports {sorted(outside)}"


def test_the_smtp_front_does_not_import_act():
    assert not {t for t in gateway_imports(GATEWAY / "smtp.py") if unit(t) == "gateway.act"}


def test_the_rule_catches_an_upward_import(tmp_path: Path):
    """The check itself: a store module importing act/ is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("from gateway.act.reply import ReplyPlan\n", encoding="utf-8")
    (target,) = gateway_imports(bad)
    assert RANKS[unit(target)] >= RANKS["gateway.store"]


def import_graph() -> dict[str, set[str]]:
    """Each module of ours and the modules of ours it imports, anywhere in it."""
    graph = {module_name(p): gateway_imports(p) for p in MODULES}
    return {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle of imports, as the way round it (a → b → a): one per group of modules
    that reach each other (Tarjan's strongly connected components), the shortest way round
    from the group's first module. Between ranked units the ranks already rule circles out,
    so each is inside one package."""
    groups = [g for g in _strongly_connected(graph) if len(g) > 1]
    return sorted(_way_round(graph, min(g), g) for g in groups)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

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
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _way_round(graph: dict[str, set[str]], start: str, group: set[str]) -> list[str]:
    """A shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in a group it cannot leave and come back to")


def test_no_package_imports_in_a_circle():
    """Inside a package a module imports only modules that do not import it back, directly
    or round a circle (an import inside a function counts: the circle is still there)."""
    circles = [" → ".join(c) for c in import_circles(import_graph())]
    assert not circles, "imports in a circle:\n" + "\n".join(circles)


def test_the_circle_check_finds_and_shows_a_circle():
    """The check itself, on a made-up graph: views → work → views inside one package, and
    a longer circle a → b → c → a, are found and shown; imports one way only are not."""
    graph = {
        "gateway.web.views": {"gateway.web.work", "gateway.store.review"},
        "gateway.web.work": {"gateway.web.views"},
        "gateway.store.review": set(),
        "gateway.x.a": {"gateway.x.b"},
        "gateway.x.b": {"gateway.x.c"},
        "gateway.x.c": {"gateway.x.a"},
        "gateway.y.one": {"gateway.z.two"},
        "gateway.z.two": set(),
    }
    assert import_circles(graph) == [
        ["gateway.web.views", "gateway.web.work", "gateway.web.views"],
        ["gateway.x.a", "gateway.x.b", "gateway.x.c", "gateway.x.a"],
    ]
