"""Liveness and readiness probes (always open, no API key)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.json_response import JsonResponse
from service.api.model_holder import ModelHolder
from service.api.schemas import Readiness, Status


def health_router(holder: ModelHolder) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Status, summary="Liveness: the process serves HTTP")
    async def liveness() -> Status:
        return Status()

    @router.get("/health", response_model=Status, summary="Liveness (the course's path)")
    async def course_liveness() -> Status:
        return Status()

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "no model yet, or shutting down"}},
        summary="Readiness: a model is loaded and the server is not shutting down",
    )
    async def readiness() -> JsonResponse:
        served = holder.served
        if holder.draining:
            body = Readiness(status="unready", reason="shutting down")
        elif served is None:
            body = Readiness(status="unready", reason=holder.unready_reason)
        else:
            body = Readiness(status="ready", model_version=served.version)
        status = 200 if body.status == "ready" else 503
        return JsonResponse(body.model_dump(exclude_none=True), status_code=status)

    return router
