"""The viewer page: ``/`` and ``/jobs/{id}`` serve fixed files from ``service/static`` (never a client-named path).

With API keys configured, a page needs a key too; ``?key=...`` once stores it in an HttpOnly,
SameSite=Strict cookie, which the page's own API calls then carry.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from ..deps import KEY_COOKIE, SettingsDep, check_key, presented_key
from ..errors import ApiError

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

router = APIRouter(include_in_schema=False)


def _page(request: Request, settings: SettingsDep, filename: str) -> Response:
    key = presented_key(request, allow_query=True)
    check_key(settings, key)
    if "key" in request.query_params and key:
        # Move the key out of the address bar (and out of history and logs) into a cookie.
        target = request.url.remove_query_params("key")
        redirect = RedirectResponse(str(target.path) + (f"?{target.query}" if target.query else ""), 303)
        redirect.set_cookie(KEY_COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return redirect
    path = STATIC_DIR / filename
    if not path.is_file():
        raise ApiError("not_found", f"the viewer page {filename} is not installed")
    return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/")
def index(request: Request, settings: SettingsDep) -> Response:
    return _page(request, settings, "index.html")


@router.get("/jobs/{job_id}")
def job_page(job_id: str, request: Request, settings: SettingsDep) -> Response:
    return _page(request, settings, "job.html")
