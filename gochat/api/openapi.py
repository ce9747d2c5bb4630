"""The OpenAPI 3.1 document of the HTTP API, generated from the app's router and the marshmallow
schemas the routes declare with `docs.documented` (apispec's marshmallow plugin writes the JSON
Schemas). Every route of the router is in it; tests/test_openapi.py fails for one without a
declaration, and runs schemathesis against a real server with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import fields

from .. import __version__
from ..events.fields import Text
from .authn import PUBLIC_PATHS
from .docs import PATH_PARAMS, Answer, doc_of
from .limits import LIMIT_ATTR
from .schemas import Error

SKIP_METHODS = frozenset({"HEAD", "OPTIONS"})
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_PUBLIC = [re.compile(p) for p in PUBLIC_PATHS]
DESCRIPTION = (
    "The gochat HTTP API (PROTOCOL.md's contract and its extensions). Send `Authorization: Bearer "
    '<access_token>` except on public routes. Every refusal is `{"error": {"code", "message", '
    '"details"?}}`; 429 answers carry `Retry-After`. The WebSocket protocol is in /asyncapi.json.'
)


def _text_lengths(self: Any, field: fields.Field[Any], **kwargs: Any) -> dict[str, Any]:
    """gochat's Text fields check their length themselves: say so in the JSON Schema."""
    if not isinstance(field, Text):
        return {}
    out = {"maxLength": field.max_len}
    if field.min_len:
        out["minLength"] = field.min_len
    return out


def _name_resolver() -> Callable[[Any], str]:
    """Schemas by class name; a second class of the same name (each route module has its own
    `Strict`; bots and devices both a `RegisterBody`) is named after its module too, rather than
    apispec's numbered rename with a warning."""
    owners: dict[str, type] = {}

    def resolve(schema: Any) -> str:
        cls = resolve_schema_cls(schema)
        cls = cls[0] if isinstance(cls, list) else cls
        name = cls.__name__.removesuffix("Schema") or cls.__name__
        if owners.setdefault(name, cls) is not cls:
            name = f"{cls.__module__.rsplit('.', 1)[-1]}.{name}"
        return name

    return resolve


def new_spec(title: str, description: str) -> tuple[APISpec, MarshmallowPlugin]:
    plugin = MarshmallowPlugin(schema_name_resolver=_name_resolver())
    spec = APISpec(
        title=title,
        version=__version__,
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": description, "license": {"name": "MIT", "identifier": "MIT"}},
    )
    assert plugin.converter is not None
    plugin.converter.add_attribute_function(_text_lengths)  # type: ignore[no-untyped-call]
    return spec, plugin


def is_public(path: str) -> bool:
    return any(p.match(path) for p in _PUBLIC)


def documentable_routes(app: web.Application) -> list[tuple[str, str, web.AbstractRoute]]:
    """(METHOD, path pattern, route) of every route the document must describe."""
    out = []
    for route in app.router.routes():
        if route.method in SKIP_METHODS or route.resource is None:
            continue
        out.append((route.method, route.resource.canonical, route))
    return out


def build_openapi(app: web.Application) -> dict[str, Any]:
    spec, plugin = new_spec("gochat", DESCRIPTION)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Error", schema=Error)
    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for method, path, route in documentable_routes(app):
        op = paths.setdefault(path, {})[method.lower()] = _operation(plugin, method, path, route)
        # OpenAPI wants operation ids unique: a handler sharing its name with another module's
        # (commands' and devices' `register`) is named after its module too.
        if op["operationId"] in taken:
            module = getattr(route.handler, "__module__", "").rsplit(".", 1)[-1]
            op["operationId"] = f"{method.lower()}_{module}_{getattr(route.handler, '__name__', 'handler')}"
        assert op["operationId"] not in taken, op["operationId"]
        taken.add(op["operationId"])
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(plugin: MarshmallowPlugin, method: str, path: str, route: web.AbstractRoute) -> dict[str, Any]:
    handler = route.handler
    doc = doc_of(handler)
    name = getattr(handler, "__name__", "handler")
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}_{name}",
        "tags": list(doc.tags) if doc and doc.tags else [path.strip("/").split("/")[0] or "service"],
        "parameters": [],
        "responses": {},
    }
    refusal = {
        "description": "A refusal (PROTOCOL.md's error shape)",
        "content": {"application/json": {"schema": "Error"}},
    }
    if doc is None:
        op["summary"] = f"{method} {path} (undocumented)"
        op["responses"]["default"] = refusal
        return op
    op["summary"] = doc.summary
    if doc.description:
        op["description"] = doc.description
    for name_ in _PARAM.findall(path):
        field = doc.path.get(name_) or PATH_PARAMS.get(name_) or fields.String()
        op["parameters"].append({"in": "path", "name": name_, "required": True, "schema": _field_schema(plugin, field)})
    if doc.query is not None:
        op["parameters"].append({"in": "query", "schema": doc.query})
    if doc.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": doc.body}}}
    for status, answer in doc.responses.items():
        op["responses"][str(status)] = _response(answer)
    if getattr(handler, LIMIT_ATTR, None):
        op["responses"]["429"] = {
            "description": f"The caller's `{getattr(handler, LIMIT_ATTR)}` budget is spent",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
            "content": {"application/json": {"schema": "Error"}},
        }
    op["responses"]["default"] = refusal
    op["security"] = [] if is_public(path) else [{"bearer": []}]
    return op


def _response(answer: Any) -> dict[str, Any]:
    if isinstance(answer, Answer):
        out: dict[str, Any] = {"description": answer.description or "OK"}
        if answer.content_type:
            out["content"] = {answer.content_type: {"schema": {"type": "string"}}}
        return out
    return {"description": "OK", "content": {"application/json": {"schema": answer}}}


def _field_schema(plugin: MarshmallowPlugin, field: fields.Field[Any]) -> dict[str, Any]:
    assert plugin.converter is not None
    return dict(plugin.converter.field2property(field))
