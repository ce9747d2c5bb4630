"""The web client: static files (HTML, CSS, ES modules) shipped in the package, served at `/` and
`/static/*` with a strict Content-Security-Policy. The client speaks only the public HTTP and
WebSocket API, like any other client; nothing here knows about rooms or messages."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..api.docs import Answer, documented

STATIC_ROOT = Path(__file__).parent / "static"

# No inline script or style, no eval, nothing from another origin; Trusted Types make any
# innerHTML-style sink throw, so user text can only ever reach the page as text.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The microphone records voice messages (views/voice.js), from this origin only.
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(self), payment=()",
    # No build step, so no content-hashed names: revalidate every time (ETag answers 304).
    "Cache-Control": "no-cache",
}

routes = web.RouteTableDef()


def _file(path: Path) -> web.FileResponse:
    return web.FileResponse(path, headers=SECURITY_HEADERS)


@routes.get("/")
@documented("The web client's page", responses={200: Answer("text/html", "HTML")}, tags=("web client",))
async def index(request: web.Request) -> web.FileResponse:
    return _file(STATIC_ROOT / "index.html")


@routes.get("/static/{path:.+}")
@documented(
    "A file of the web client (scripts, styles, images)",
    responses={200: Answer("*/*", "the file")},
    tags=("web client",),
)
async def static(request: web.Request) -> web.FileResponse:
    root = STATIC_ROOT.resolve()
    target = (root / request.match_info["path"]).resolve()
    # resolve() folds `..` and symlinks: whatever the path says, only files under the root are served.
    if not target.is_relative_to(root) or not target.is_file():
        raise web.HTTPNotFound()
    return _file(target)
