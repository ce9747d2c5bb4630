"""`/docs`: a readable page rendered on the server from the two API documents (no script, no CDN;
its stylesheet ships in the package, gochat/static/docs.css)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _prose(text: Any) -> str:
    """Escaped text whose `backticked` parts show as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def _type_of(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " | ".join(_e(k) for k in kinds)
    if "array" in kinds and isinstance(schema.get("items"), Mapping):
        text = f"array of {_type_of(schema['items'])}" + (" | null" if "null" in kinds else "")
    if "format" in schema:
        text += f" <small>({_e(schema['format'])})</small>"
    if "enum" in schema:
        text += " <small>one of " + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"]) + "</small>"
    return text


def _properties(schema: Mapping[str, Any]) -> str:
    props: Mapping[str, Any] = schema.get("properties", {})
    if not props:
        return "<p><em>no fields</em></p>" if schema.get("type") == "object" else f"<p>{_type_of(schema)}</p>"
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{_e(name)}</code>{' <b>*</b>' if name in required else ''}</td>"
        f"<td>{_type_of(prop)}</td><td>{_e(prop.get('description', ''))}</td></tr>"
        for name, prop in props.items()
    )
    return f"<table><tr><th>field</th><th>type</th><th></th></tr>{rows}</table>"


def _operation(method: str, path: str, op: Mapping[str, Any]) -> str:
    anchor = _e(op.get("operationId", f"{method}-{path}"))
    parts = [
        f'<section class="op" id="{anchor}"><h3><span class="m {method}">{method.upper()}</span> '
        f"<code>{_e(path)}</code> {_prose(op.get('summary', ''))}</h3>"
    ]
    if op.get("security") == []:
        parts.append('<p class="public">public: no token needed</p>')
    if op.get("description"):
        parts.append(f"<p>{_prose(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code>{' <b>*</b>' if p.get('required') else ''}</td><td>{_e(p['in'])}</td>"
            f"<td>{_type_of(p.get('schema', {}))}</td><td>{_e(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(f"<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th></tr>{rows}</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        parts.append(f"<h4>Body</h4><p>{_type_of(body)}</p>")
    answers: list[str] = []
    for status, answer in op.get("responses", {}).items():
        content = answer.get("content", {})
        shown = ", ".join(
            _type_of(c.get("schema", {})) if ctype == "application/json" else _e(ctype) for ctype, c in content.items()
        )
        answers.append(
            f"<tr><td>{_e(status)}</td><td>{_prose(answer.get('description', ''))}</td><td>{shown}</td></tr>"
        )
    parts.append(f"<h4>Answers</h4><table><tr><th>status</th><th></th><th>body</th></tr>{''.join(answers)}</table>")
    parts.append("</section>")
    return "".join(parts)


def _by_tag(paths: Mapping[str, Any]) -> dict[str, list[tuple[str, str, Mapping[str, Any]]]]:
    out: dict[str, list[tuple[str, str, Mapping[str, Any]]]] = {}
    for path, operations in paths.items():
        for method, op in operations.items():
            out.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
    return out


def _schemas(schemas: Iterable[tuple[str, Mapping[str, Any]]], prefix: str) -> str:
    return "".join(
        f'<section class="schema" id="{prefix}-{_e(name)}"><h3>{_e(name)}</h3>{_properties(schema)}</section>'
        for name, schema in schemas
    )


def render(openapi: Mapping[str, Any], asyncapi: Mapping[str, Any]) -> str:
    info = openapi["info"]
    groups = _by_tag(openapi.get("paths", {}))
    nav = "".join(f'<li><a href="#tag-{_e(tag)}">{_e(tag)}</a></li>' for tag in sorted(groups))
    body = [
        f'<section id="tag-{_e(tag)}"><h2>{_e(tag)}</h2>' + "".join(_operation(*op) for op in ops) + "</section>"
        for tag, ops in sorted(groups.items())
    ]
    ws_info = asyncapi["info"]
    messages = asyncapi["components"]["messages"]
    ws = "".join(
        f'<section class="schema" id="frame-{_e(name)}"><h3>{_e(name)}</h3>{_properties(m["payload"])}</section>'
        for name, m in messages.items()
    )
    schemas = openapi.get("components", {}).get("schemas", {})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(info["title"])} API {_e(info["version"])}</title><link rel="stylesheet" href="/docs/docs.css"></head>
<body><nav><h1>{_e(info["title"])} <small>{_e(info["version"])}</small></h1>
<p><a href="/openapi.json">openapi.json</a> · <a href="/asyncapi.json">asyncapi.json</a></p>
<ul>{nav}<li><a href="#websocket">WebSocket</a></li><li><a href="#schemas">schemas</a></li></ul></nav>
<main><p>{_prose(info.get("description", ""))}</p>{"".join(body)}
<section id="websocket"><h2>WebSocket <code>/ws</code></h2><p>{_prose(ws_info["description"])}</p>{ws}</section>
<section id="schemas"><h2>Schemas</h2>{_schemas(sorted(schemas.items()), "schema")}</section></main></body></html>
"""
