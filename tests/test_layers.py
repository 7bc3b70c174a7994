"""The package's imports run one way (DESIGN §1): model/types ← engine ← providers ← store ← api ← server, cli.

Every import statement of every module is read from its source, at any depth (inside functions and
TYPE_CHECKING blocks too: a lazy import must not hide a cycle or a dependency that runs upward), and
checked against the layers below. A module may import its own layer and the layers beneath it; the
imports of one layer may not close a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "agtrace_mcp"
ROOT = "agtrace_mcp"

# Lowest first. A module belongs to the first entry that names it or a package above it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("types", ("errors", "jsontext", "paths", "redact", "model")),
    ("engine", ("engine",)),
    ("providers", ("providers",)),
    ("load", ("load",)),  # one bare log file, no index: above providers and engine
    ("config", ("config",)),
    ("store", ("store",)),
    ("api", ("views", "arguments", "rowviews", "api")),
    ("surface", ("server", "cli", "render", "terminal", "watch", "__main__")),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def layer_of(module: str) -> int | None:
    """The layer index of a module of the package (None: the package itself, the public facade)."""
    if module == ROOT:
        return None
    name = module.removeprefix(ROOT + ".")
    for i, (_label, heads) in enumerate(LAYERS):
        if any(name == h or name.startswith(h + ".") for h in heads):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def _package_of(module: str) -> str:
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def imports_of(module: str) -> list[tuple[str, int, list[str]]]:
    """(imported module, line, names taken) for every import of the package's own modules in `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, []) for a in node.names if a.name.split(".")[0] == ROOT]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module).split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != ROOT:
                continue
            names = [a.name for a in node.names]
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            rest = [n for n in names if f"{target}.{n}" not in MODULES]
            out += [(s, node.lineno, []) for s in subs]
            if rest:
                out.append((target, node.lineno, rest))
    return out


def edges() -> dict[str, set[str]]:
    """module -> the modules whose code runs when it imports them: the module itself, and the packages above
    it that the importer is not inside (their __init__ runs first)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _line, _names in imports_of(m):
            if target not in MODULES or target == m:
                continue
            graph[m].add(target)
            parts = target.split(".")
            for k in range(2, len(parts)):
                pkg = ".".join(parts[:k])
                if not (m == pkg or m.startswith(pkg + ".")):
                    graph[m].add(pkg)
    return graph


def test_every_module_has_a_layer():
    for m in MODULES:
        layer_of(m)


def test_no_import_runs_upward():
    upward = []
    for m in MODULES:
        mine = layer_of(m)
        for target, line, names in imports_of(m):
            if target not in MODULES:
                continue
            theirs = layer_of(target)
            if theirs is None:  # the package itself: only its version (the facade imports everything)
                if mine is not None and set(names) - {"__version__"}:
                    upward.append(f"{m}:{line} takes {names} from the public facade")
                continue
            if mine is not None and theirs > mine:
                upward.append(f"{m}:{line} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


# Who may read the agents' logs: the providers (parsing), `load` (one bare file) and the store (the index, and
# the full texts it keeps only previews of). Above the store nothing does: the API asks the store, and the
# views only shape rows.
READS_LOGS = ("agtrace_mcp.load", "agtrace_mcp.providers.jsonl", "agtrace_mcp.providers.files")
NEVER_READ_LOGS = ("agtrace_mcp.api", "agtrace_mcp.views", "agtrace_mcp.rowviews", "agtrace_mcp.arguments")


def test_views_and_the_api_never_read_logs():
    readers = []
    for m in NEVER_READ_LOGS:
        for target, line, _names in imports_of(m):
            if target in READS_LOGS or (target.startswith("agtrace_mcp.providers.")
                                        and target != "agtrace_mcp.providers.registry"):
                readers.append(f"{m}:{line} imports {target}")
        if m in ("agtrace_mcp.views", "agtrace_mcp.rowviews"):
            readers += [f"{m}:{line} imports {t}" for t, line, _ in imports_of(m) if t.startswith("agtrace_mcp.providers")]
    assert not readers, "modules above the store that read logs:\n" + "\n".join(readers)


def test_the_api_asks_the_store_and_writes_no_sql():
    """The API reads through the store's query interface (`store.queries`, or a team database's): SQL written in
    the API would only work on one backend."""
    sql = re.compile(r"\.execute(?:many)?\(|\bSELECT\s+\S|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b")
    found = [f"{m}:{i}" for m in NEVER_READ_LOGS for i, line in enumerate(MODULES[m].read_text().splitlines(), 1)
             if sql.search(line)]
    assert not found, "SQL above the store:\n" + "\n".join(found)


def test_no_import_closes_a_cycle():
    graph = edges()
    graph.pop(ROOT, None)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if n == ROOT:
                continue
            if state.get(n) == 1:
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("source, problem", [
    ("from ..store import Store\n", "runs upward"),
    ("from . import REGISTRY\n", "cycle"),
])
def test_the_walk_sees_what_it_guards_against(tmp_path: Path, source: str, problem: str):
    """The checks above fail on a provider module that imports the store, or the registry it is loaded by
    (also when the import hides inside a function)."""
    hidden = "def later():\n" + "".join("    " + line + "\n" for line in source.splitlines())
    fake = "agtrace_mcp.providers._probe"
    MODULES[fake] = tmp_path / "_probe.py"
    MODULES[fake].write_text(hidden, encoding="utf-8")
    try:
        if problem == "runs upward":
            with pytest.raises(AssertionError, match="_probe"):
                test_no_import_runs_upward()
        else:
            init = MODULES["agtrace_mcp.providers"]
            MODULES["agtrace_mcp.providers"] = tmp_path / "__init__.py"
            MODULES["agtrace_mcp.providers"].write_text(init.read_text() + "\nfrom . import _probe\n")
            try:
                with pytest.raises(AssertionError, match="cycle"):
                    test_no_import_closes_a_cycle()
            finally:
                MODULES["agtrace_mcp.providers"] = init
    finally:
        del MODULES[fake]
