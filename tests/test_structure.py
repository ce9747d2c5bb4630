"""The shape of the package, read from its source: no import cycles, one home for the driver, event
types named by their enumeration, the live side below the request layers, the WebSocket layer on
api/'s edge only, membership decided by services, small modules on the live side."""

from __future__ import annotations

import ast
from pathlib import Path

import gochat
from gochat.events import EventType

ROOT = Path(gochat.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(gochat modules, outside top-level packages) that a module imports anywhere in its body,
    imports inside functions included: deferring one hides a cycle, it does not remove it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != "gochat":
                external.add(target.split(".")[0])
                continue
            while target not in modules:
                target = target.rpartition(".")[0]
            if target != name:
                internal.add(target)
    return internal, external


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    internal, external = {}, {}
    for name, path in modules.items():
        internal[name], external[name] = _imports(name, path, modules)
    return internal, external


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others() -> None:
    internal, _ = _graph()
    assert "gochat.tools.run" in internal["gochat.cli"]  # the reader sees edges, lazy ones too
    assert _cycles(internal) == []


def test_only_db_talks_to_the_driver() -> None:
    _, external = _graph()
    assert {name for name, packages in external.items() if packages & {"psycopg2", "aiopg"}} == {"gochat.db"}


def test_event_types_are_named_by_the_enumeration() -> None:
    values = {t.value for t in EventType}
    spelled_out = {
        name
        for name, path in _modules().items()
        if name != "gochat.events.types"
        and any(
            isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values
            for node in ast.walk(ast.parse(path.read_text()))
        )
    }
    assert spelled_out == set()


def _package(prefix: str, modules: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: targets for name, targets in modules.items() if name == prefix or name.startswith(prefix + ".")}


def test_the_live_side_knows_neither_http_nor_the_layers_above_it() -> None:
    """gochat/live/ (fan-out, ordering, publishing, presence, backends) sees a socket only as the
    Protocol of live/connection.py: no aiohttp, no views, no endpoint, no use cases."""
    internal, external = _graph()
    live = _package("gochat.live", internal)
    assert "gochat.live.relay" in live
    assert "gochat.live.sequencer" in live
    assert {name for name in live if "aiohttp" in external[name]} == set()
    above = ("gochat.api", "gochat.ws", "gochat.app", "gochat.services")
    assert {(name, t) for name, targets in live.items() for t in targets if t.startswith(above)} == set()


# What the WebSocket layer may take from api/: the HTTP edge both request layers share
# (authentication, route documentation, client addresses behind proxies, the protocol's JSON
# objects), never a view module or its helpers.
HTTP_EDGE = {"gochat.api.authn", "gochat.api.docs", "gochat.api.limits", "gochat.api.schemas", "gochat.api.shapes"}


def test_the_websocket_layer_uses_only_the_http_edge_of_api() -> None:
    internal, _ = _graph()
    ws = _package("gochat.ws", internal)
    assert "gochat.ws.endpoint" in ws
    used = {t for targets in ws.values() for t in targets if t.startswith("gochat.api")}
    assert "gochat.api.authn" in used
    assert used <= HTTP_EDGE


def test_membership_is_decided_in_the_service_layer() -> None:
    """Who may read or post in a room is services/access.py's answer, asked by use cases only: the
    request layers call a service (RoomService.ensure_member for a subscription)."""
    internal, _ = _graph()
    askers = {name for name, targets in internal.items() if "gochat.services.access" in targets}
    assert "gochat.services.rooms" in askers
    assert {name for name in askers if name.startswith(("gochat.api", "gochat.ws", "gochat.live"))} == set()


def test_live_and_websocket_modules_stay_small() -> None:
    """One job per module: the live side and the WebSocket endpoint were two files of 20-30 KB."""
    sizes = {
        name: path.stat().st_size
        for name, path in _modules().items()
        if name.startswith(("gochat.live.", "gochat.ws."))
    }
    assert len(sizes) > 10
    assert {name: size for name, size in sizes.items() if size > 12_500} == {}


def test_modules_are_imported_under_names_that_say_what_they_are() -> None:
    """`from ..projections import rooms as room_queries`, not `as q`: a reader meets `q.member(...)`
    far from the import. (Outside libraries keep their customary names: `pyarrow as pa`.)"""
    short = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            ours = isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("gochat"))
            if ours or (isinstance(node, ast.Import) and any(a.name.startswith("gochat") for a in node.names)):
                assert isinstance(node, ast.Import | ast.ImportFrom)
                short += [f"{name}: {a.name} as {a.asname}" for a in node.names if a.asname and len(a.asname) <= 2]
    assert short == []
