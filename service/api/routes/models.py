"""``GET /v1/models``: the model the workers run, with its card; ``GET /v1/models/{name}/concepts/{k}``: what a
concept looks like."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from models.card import ModelCard
from pipelines.options import Options

from ..deps import OwnerDep, ServicesDep
from ..errors import AUTH_ERRORS, ApiError, error_responses

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
    synthetic: bool | None = Field(None, description="Its card says the training data was generated: the classes "
                                   "mean nothing on real footage (null: not known).")
    card: ModelCard = Field(description="The model card: the classes, the training data (path, videos per split, "
                            "how it was made), the recipe, validation and test figures, the calibration rule, "
                            "intended use and limits; `unknown` lists what the checkpoint does not record.")


class ModelList(BaseModel):
    models: list[ModelInfo]
    default_options: dict[str, Any] = Field(
        description="The options a job runs with when it gives none (gated at the learned threshold).",
        examples=[{"mode": "gated", "budget": None, "top_k": 5}],
    )


@router.get("/models", response_model=ModelList, responses=error_responses(*AUTH_ERRORS, "not_ready"))
def list_models(services: ServicesDep, owner: OwnerDep) -> ModelList:
    info = services.model_info
    if info is None:
        raise ApiError("not_ready", services.model_error or "the model is still loading")
    card = services.model_card
    assert card is not None  # read with the model's description
    return ModelList(models=[ModelInfo(**info, card=card)], default_options=Options().to_dict())


class ConceptExample(BaseModel):
    image: str = Field(description="A small JPEG as a data: URL (the crop the light encoder saw).",
                       examples=["data:image/jpeg;base64,/9j/4AAQ..."])
    video: str | None = Field(None, description="The training video it comes from.", examples=["train/v012.mp4"])
    time: float | None = Field(None, description="Seconds into that video.", examples=[12.5])
    activation: float | None = Field(None, description="The kernel's activation on it.", examples=[4.62])


class ConceptBody(BaseModel):
    model: str
    kernel: int
    examples: list[ConceptExample] = Field(description="The training frames that activate it most, best first.")


@router.get(
    "/models/{name}/concepts/{kernel}",
    response_model=ConceptBody,
    summary="A concept kernel's examples: the training frames that activate it most",
    responses=error_responses(*AUTH_ERRORS, "not_found", "not_ready"),
)
async def concept(
    name: str, kernel: Annotated[int, Path(ge=0)], services: ServicesDep, owner: OwnerDep
) -> JSONResponse:
    from models.checkpoint import read_concept_examples

    info = services.model_info
    if info is None:
        raise ApiError("not_ready", services.model_error or "the model is still loading")
    if name != info["name"]:
        raise ApiError("not_found", f"no model {name!r} (this server runs {info['name']!r})")
    try:
        examples = await run_in_threadpool(read_concept_examples, services.settings.checkpoint, kernel)
    except IndexError as exc:
        raise ApiError("not_found", str(exc)) from None
    if examples is None:
        raise ApiError("not_found", f"the model {name!r} stores no concept examples")
    body = ConceptBody(model=name, kernel=kernel, examples=[
        ConceptExample(image="data:image/jpeg;base64," + base64.b64encode(e["jpeg"]).decode(),
                       video=e.get("video"), time=e.get("time"), activation=e.get("activation"))
        for e in examples
    ])
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "private, max-age=3600"})
