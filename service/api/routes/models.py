"""``GET /v1/models``: the model the workers run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pipelines.options import Options

from ..deps import OwnerDep, ServicesDep
from ..errors import ApiError, error_responses

router = APIRouter(prefix="/v1", tags=["models"])


class ModelInfo(BaseModel):
    name: str = Field(examples=["vidgate-demo"])
    version: str | int = Field(examples=["1"])
    light: str = Field(description="Light 2D encoder (sees one centre frame per snippet).", examples=["tiny2d"])
    heavy: str = Field(description="Heavy 3D backbone (sees selected snippets only).", examples=["tiny3d"])
    head: str = Field(description="Head over the selected snippets: temporal (order-aware) or pool.",
                      examples=["temporal"])
    classes: list[str] = Field(examples=[["pour", "stir", "wait"]])
    snippet_frames: int = Field(examples=[8])
    multi_label: bool = False
    threshold: float = Field(description="The gate's learned threshold.", examples=[0.5])


class ModelList(BaseModel):
    models: list[ModelInfo]
    default_options: dict[str, Any] = Field(
        description="The options a job runs with when it gives none (gated at the learned threshold).",
        examples=[{"mode": "gated", "budget": None, "top_k": 5}],
    )


@router.get("/models", response_model=ModelList, responses=error_responses(401, 403, 503))
def list_models(services: ServicesDep, owner: OwnerDep) -> ModelList:
    info = services.model_info
    if info is None:
        raise ApiError("not_ready", services.model_error or "the model is still loading")
    return ModelList(models=[ModelInfo(**info)], default_options=Options().to_dict())
