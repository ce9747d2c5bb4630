"""`/openapi.json`, `/asyncapi.json` and `/docs`: the API documents, built once from the running
app's router and schemas (openapi.py, asyncapi.py), and a page rendered from them (docpage.py)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from ..keys import STATE
from . import docpage
from .asyncapi import build_asyncapi
from .docs import Answer, documented
from .openapi import build_openapi
from .schemas import AnyObject
from .util import json

routes = web.RouteTableDef()
# The page has no script; its stylesheet is ours (the API's own policy allows nothing at all).
PAGE_CSP = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
STYLESHEET = "docs.css"


def documents(app: web.Application) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The two documents and the page, built at the first request (the router is frozen by then)."""
    state = app[STATE]
    if "api_documents" not in state:
        openapi, asyncapi = build_openapi(app), build_asyncapi()
        state["api_documents"] = (openapi, asyncapi, docpage.render(openapi, asyncapi))
    built: tuple[dict[str, Any], dict[str, Any], str] = state["api_documents"]
    return built


@routes.get("/openapi.json")
@documented("This document: OpenAPI 3.1 of the HTTP API", responses={200: AnyObject}, tags=("service",))
async def openapi_json(request: web.Request) -> web.Response:
    return json(documents(request.app)[0])


@routes.get("/asyncapi.json")
@documented("AsyncAPI 3.0 of the WebSocket protocol", responses={200: AnyObject}, tags=("service",))
async def asyncapi_json(request: web.Request) -> web.Response:
    return json(documents(request.app)[1])


@routes.get("/docs")
@documented("The API documents as a page", responses={200: Answer("text/html", "HTML")}, tags=("service",))
async def docs_page(request: web.Request) -> web.Response:
    resp = web.Response(text=documents(request.app)[2], content_type="text/html")
    resp.headers["Content-Security-Policy"] = PAGE_CSP
    return resp


@routes.get("/docs/docs.css")
@documented("The page's stylesheet", responses={200: Answer("text/css", "CSS")}, tags=("service",))
async def docs_stylesheet(request: web.Request) -> web.Response:
    css = resources.files("gochat").joinpath("static", STYLESHEET).read_text()
    return web.Response(text=css, content_type="text/css", headers={"Cache-Control": "public, max-age=3600"})
