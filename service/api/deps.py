"""Request dependencies as ``Annotated[..., Depends()]`` aliases: the app's services and the caller's identity;
`find_job`, the caller's own job.

Auth: when ``VIDGATE_API_KEYS`` is set, every ``/v1`` and page route needs a key, sent as ``X-API-Key``,
``Authorization: Bearer <key>`` or (set by the page after ``?key=``) the ``vidgate_key`` cookie.
A job belongs to the hash of the key that created it; other keys see it as 404.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from service.config import Settings
from service.jobs import Job, JobKind

from .errors import ApiError
from .services import Services

KEY_COOKIE = "vidgate_key"
ANONYMOUS = "anonymous"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def owner_of(key: str) -> str:
    """The owner id of an API key: a hash, so the store never holds the key itself."""
    return hashlib.sha256(b"vidgate-owner:" + key.encode()).hexdigest()[:32]


def presented_key(request: Request, *, allow_query: bool = False) -> str | None:
    """The key the request carries: header, bearer token, ``?key=`` (pages only) or cookie, in that order."""
    key = request.headers.get("x-api-key")
    if not key:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            key = token.strip()
    if not key and allow_query:
        key = request.query_params.get("key")
    return key or request.cookies.get(KEY_COOKIE) or None


def check_key(settings: Settings, key: str | None) -> str:
    """The owner for ``key``; raises 401 when a key is needed and missing, 403 when it is wrong."""
    if not settings.api_keys:
        return ANONYMOUS
    if not key:
        raise ApiError(
            "unauthorized",
            "an API key is required (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Compare against every key in constant time so timing does not reveal a prefix.
    valid = False
    for candidate in settings.api_keys:
        valid |= hmac.compare_digest(candidate.encode(), key.encode())
    if not valid:
        raise ApiError("forbidden", "the API key is not valid")
    return owner_of(key)


def require_owner(request: Request, settings: SettingsDep) -> str:
    return check_key(settings, presented_key(request))


OwnerDep = Annotated[str, Depends(require_owner)]


async def find_job(services: Services, owner: str, job_id: str) -> Job:
    """The caller's job, or 404 (also for another owner's job, whose existence is not revealed, and for the
    API's own evidence jobs)."""
    if len(job_id) > 100:
        raise ApiError("not_found", "no such job")
    job = await run_in_threadpool(services.get_job, job_id)
    if job is None or job.owner != owner or job.kind is not JobKind.RECOGNIZE:
        raise ApiError("not_found", "no such job")
    return job
