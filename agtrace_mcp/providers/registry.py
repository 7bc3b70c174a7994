"""The registry: every provider, found through the `agtrace_mcp.providers` entry-point group.

The six built-in agents register there like any plugin (pyproject.toml), so a package that declares

    [project.entry-points."agtrace_mcp.providers"]
    toyagent = "agtrace_toyagent:ToyAgentProvider"

adds an agent without a change to agtrace-mcp. The entry points are loaded once per process, on first use
(parse workers, which are spawned processes, load them the same way). A plugin that cannot be imported, or
whose object does not make a provider, is skipped and reported (`problems`, shown by `doctor`); it never stops
the others.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.shapes import GENERIC, ToolShapes
from .base import BaseProvider, Provider, SourceFile
from .files import open_regular
from .jsonl import decode_values

if TYPE_CHECKING:
    from importlib import metadata

GROUP = "agtrace_mcp.providers"
DIST = "agtrace-mcp"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# what a provider must have; the rest has defaults in BaseProvider, filled in here for a provider without it
_REQUIRED = ("name", "label", "default_roots", "discover", "parse")
_DEFAULTS: dict[str, Any] = {
    "aliases": (), "order": 100, "root_env": (), "incremental": True, "partial": False, "exit_pattern": None,
    "slash_parent": None, "stamp": None, "present": None, "may_hold": None, "project_from_known": None,
}
log = logging.getLogger("agtrace_mcp.providers")


@dataclass(frozen=True)
class PluginProblem:
    """A provider entry point that was skipped, and why (shown by `doctor`)."""

    entry_point: str  # `name = module:object`
    package: str | None  # the distribution that declares it
    error: str


class Registry(Mapping[str, Provider]):
    """Provider name → provider, in a stable order: by each provider's `order` (the built-in agents first),
    then by name. Loads the entry points on first use."""

    def __init__(self) -> None:
        self._by_name: dict[str, Provider] = {}
        self._names: dict[str, str] = {}  # every name and alias a user may type, lower case -> name
        self._problems: list[PluginProblem] = []
        self._loaded = False
        self._lock = threading.Lock()

    # -- Mapping ----------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Provider:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    # -- what the rest of agtrace-mcp asks --------------------------------------------------------

    @property
    def problems(self) -> list[PluginProblem]:
        """The entry points that were skipped."""
        self._load()
        return list(self._problems)

    def resolve(self, name: str) -> str | None:
        """The provider a user means by `name` (its name or an alias, any case); None when none."""
        self._load()
        return self._names.get(name.strip().lower())

    def tool_shapes(self, name: str) -> ToolShapes:
        """How the tools of the agent `name` spell their arguments; the generic shapes for an agent no provider
        knows any more (its plugin was uninstalled)."""
        prov = self._load().get(name)
        return prov.tool_shapes if prov is not None else GENERIC

    def aliases(self) -> dict[str, str]:
        """Every alias (not the names themselves) -> provider name."""
        self._load()
        return {a: n for a, n in self._names.items() if a != n}

    def register(self, provider: Any, origin: str = "(registered in code)", package: str | None = None) -> bool:
        """Add one provider (a provider object, or a class or factory making one); False when it was refused,
        the reason then being in `problems`."""
        self._load()
        with self._lock:
            return self._add(provider, origin, package)

    # -- loading ------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Provider]:
        if self._loaded:
            return self._by_name
        with self._lock:
            if not self._loaded:
                self._load_entry_points()
                ranked = sorted(self._by_name.values(), key=lambda p: (_order(p), p.name))
                self._by_name = {p.name: p for p in ranked}
                self._loaded = True
        return self._by_name

    def _load_entry_points(self) -> None:
        eps = _scan_entry_points(GROUP)
        if not any(ep.package == DIST for ep in eps):  # installed some other way (a zip, an egg): ask importlib
            from importlib import metadata

            try:
                eps = [_EntryPoint(ep.name, ep.value, _package(ep)) for ep in metadata.entry_points(group=GROUP)]
            except Exception as e:  # a broken distribution's metadata: report it, run with what loads
                self._problems.append(PluginProblem(GROUP, None, f"entry points could not be listed: {e}"))
        ours = [ep for ep in eps if ep.package == DIST]
        theirs = sorted((ep for ep in eps if ep.package != DIST), key=lambda ep: (ep.name, ep.value))
        if not ours:  # run from a source tree, or installed before its entry points were declared
            self._problems.append(PluginProblem(
                GROUP, DIST, "agtrace-mcp's own providers are not registered (its package metadata is missing or "
                             "stale), so they were found in its source folder: reinstall it (pip install -e .)"))
            self._load_builtin_modules()
        seen: set[tuple[str, str]] = set()
        for ep in [*ours, *theirs]:
            key = (ep.name, ep.value)
            if key in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(key)
            origin = f"{ep.name} = {ep.value}"
            try:
                obj = ep.load()
            except Exception as e:  # a plugin that cannot be imported never stops the others
                self._problem(origin, ep.package, f"cannot be imported: {type(e).__name__}: {e}")
                continue
            self._add(obj, origin, ep.package)

    def _load_builtin_modules(self) -> None:
        """The providers defined in this package's own modules, found without entry points."""
        import pkgutil

        for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
            try:
                mod = importlib.import_module(f"{__package__}.{info.name}")
            except Exception as e:
                self._problem(info.name, DIST, f"cannot be imported: {type(e).__name__}: {e}")
                continue
            for obj in vars(mod).values():
                if (isinstance(obj, type) and issubclass(obj, BaseProvider) and obj is not BaseProvider
                        and obj.__module__ == mod.__name__):
                    self._add(obj, f"{obj.__module__}:{obj.__qualname__}", DIST)

    def _add(self, obj: Any, origin: str, package: str | None) -> bool:
        try:
            prov = _instance(obj)
        except Exception as e:
            self._problem(origin, package, f"does not make a provider: {type(e).__name__}: {e}")
            return False
        missing = [a for a in _REQUIRED if not hasattr(prov, a)]
        if missing:
            self._problem(origin, package, f"is not a provider: it has no {', '.join(missing)}")
            return False
        name = prov.name
        if not isinstance(name, str) or not _NAME.match(name):
            self._problem(origin, package, f"its name {name!r} is not lower-case letters, digits and _ (at most 40)")
            return False
        if name in self._by_name or name in self._names:
            self._problem(origin, package, f"the name {name!r} is taken by another provider; skipped")
            return False
        _fill_defaults(prov)
        self._by_name[name] = prov
        self._names[name] = name
        for alias in (_short(prov), *prov.aliases):
            a = alias.strip().lower() if isinstance(alias, str) else ""
            if not a or a in self._names:
                if a and self._names[a] != name:
                    self._problem(origin, package, f"the alias {alias!r} is taken by {self._names[a]}; not used")
                continue
            self._names[a] = name
        return True

    def _problem(self, origin: str, package: str | None, error: str) -> None:
        log.warning("provider plugin %s skipped: %s", origin, error)
        self._problems.append(PluginProblem(origin, package, error))


@dataclass(frozen=True)
class _EntryPoint:
    name: str
    value: str  # module:attribute
    package: str | None  # the distribution's normalised name

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            obj = getattr(obj, part)
        return obj


def _scan_entry_points(group: str) -> list[_EntryPoint]:
    """The entry points of `group` declared by the distributions on sys.path, read straight from their
    `entry_points.txt`: importing importlib.metadata costs ~30 ms at every start of the server, of each parse
    worker and of each CLI command, for what a folder listing and a few small files tell."""
    out: list[_EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path:
        folder = os.path.abspath(entry or ".")
        if folder in seen or not os.path.isdir(folder):
            continue
        seen.add(folder)
        try:
            names = [n for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        for name in sorted(names):
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            package = name.rsplit(".", 1)[0].split("-", 1)[0].replace("_", "-").lower()
            out += [_EntryPoint(n, v, package) for n, v in _section(text, group)]
    return out


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """(name, value) of the entries of one `[group]` of an entry_points.txt (an INI file)."""
    out, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line.strip("[]").strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _package(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return name.replace("_", "-").lower() if isinstance(name, str) else None


def _instance(obj: Any) -> Any:
    """The provider an entry point names: an instance, or a class (or factory) called without arguments."""
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "parse")):
        return obj()
    return obj


def _order(prov: Any) -> int:
    order = getattr(prov, "order", 100)
    return order if isinstance(order, int) else 100


def _short(prov: Any) -> str:
    return str(getattr(prov, "short", "") or prov.name)


def _fill_defaults(prov: Any) -> None:
    """A provider that does not subclass BaseProvider gets the defaults of the members it leaves out."""
    if isinstance(prov, BaseProvider):
        return
    for attr, value in {**_DEFAULTS, "tool_shapes": GENERIC}.items():
        if not hasattr(prov, attr):
            setattr(prov, attr, value)
    short = _short(prov)
    var = f"AGTRACE_MCP_{re.sub(r'[^A-Za-z0-9]', '_', short).upper()}_DIR"
    for attr, value in (("short", short), ("root_var", var),
                        ("root_flag", f"--{re.sub(r'[^a-z0-9]', '-', short.lower())}-dir"),
                        ("describe", lambda path: SourceFile(path, prov.name)), ("claims", lambda path: 0),
                        ("sniff", lambda path, first: 0), ("read_output", lambda src, offset, call_id: None)):
        if not hasattr(prov, attr):
            setattr(prov, attr, value)


REGISTRY = Registry()


def get(name: str) -> Provider:
    """The provider of this name (KeyError when there is none)."""
    return REGISTRY[name]


def may_hold(src: SourceFile, ref: str) -> bool:
    """Whether the file's location says it may hold the session `ref` (an id or a prefix of one of 6+
    characters): most agents put the session id in the file or folder name. A provider whose names hold
    only part of the id, or none of it, says so with its own `may_hold(path, ref)`."""
    prov = REGISTRY.get(src.provider)
    own = prov.may_hold if prov is not None else None
    if own is not None:
        return bool(own(src.path, ref))
    return ref in src.path


def detect_provider(path: str) -> str | None:
    """Which agent wrote the file at `path`: the provider most sure of it by its location, else by its first
    JSON value; ties go to the earlier provider. None when no provider knows it."""
    best, score = None, 0
    for name, prov in REGISTRY.items():
        try:
            s = prov.claims(path)
        except Exception:  # a plugin's rule must not break detection for the others
            continue
        if s > score:
            best, score = name, s
    if best is not None:
        return best
    first = _first_value(path)
    for name, prov in REGISTRY.items():
        try:
            s = prov.sniff(path, first)
        except Exception:
            continue
        if s > score:
            best, score = name, s
    return best


def _first_value(path: str) -> Any:
    """The first JSON value of a file's first line (None when it is not JSON or cannot be read)."""
    try:
        with open_regular(path) as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    values, _ = decode_values(head.split(b"\n", 1)[0])
    return values[0] if values else None
