"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from local files: nothing is fetched from the network.

FastAPI's own pages load their scripts from a CDN and stay blank offline. The scripts and styles come
from the ``fastapi-offline`` package (a maintained wheel that ships both bundles), served under
``/docs-assets``; ReDoc is told not to load web fonts.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# The browser may load nothing from elsewhere: ReDoc's bundle hard-codes a logo on a CDN, and Swagger UI
# would ask an online validator about the spec; this keeps both pages to this server (inline scripts are
# FastAPI's page set-up).
POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")


def assets_dir() -> Path:
    """Where the installed ``fastapi-offline`` keeps the Swagger UI and ReDoc bundles."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` (create the app with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        return _local(get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — API",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        ))

    @router.get(OAUTH2_REDIRECT_URL)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return _local(get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} — API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        ))

    app.include_router(router)


def _local(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page
