"""Pretrained trunks of a training run: loaded when the run is set up, before any stage decodes a frame.

A file that does not fit its backbone (under 95% of the trunk's tensors match, `models.checkpoint`) stops the
run there with ``bad_weights``, naming the keys that did not match; ``allow_partial_weights`` loads it anyway.
Each load is logged and kept for the training summary (the checkpoint's training notes).

A trunk that starts from published weights sees its input normalised as its publisher trained it (the mean
and std of `models.published`; a vidgate checkpoint's trunk: that checkpoint's): the model's config records
them, so training and recognition normalise alike. With ``freeze_trunks`` both trunks stay as loaded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models import CheckpointError, WeightsMismatch, load_pretrained
from models.checkpoint import read_config
from models.config import PIXEL_MEAN, PIXEL_STD
from models.published import PUBLISHED

from ..errors import ModelError
from .context import Context

Normalisation = tuple[tuple[float, float, float], tuple[float, float, float]]  # mean, std


def load_trunk_weights(ctx: Context) -> dict[str, dict[str, Any]]:
    """Load ``light_weights`` / ``heavy_weights`` into the model's trunks and record each one's normalisation
    in the model's config; returns what loaded, per role.

    Raises:
        ModelError: ``bad_weights``: a file that is missing, unreadable or does not fit its backbone.
    """
    config, model = ctx.config, ctx.model
    loads: dict[str, dict[str, Any]] = {}
    for role, flag, path, module, backbone in (
        ("light", "--light-weights", config.light_weights, model.light.trunk, config.light),
        ("heavy", "--heavy-weights", config.heavy_weights, model.heavy.net, config.heavy),
    ):
        if not path:
            continue
        try:
            report = load_pretrained(module, path, backbone=backbone, allow_partial=config.allow_partial_weights)
            mean, std = normalisation(role, backbone, path, report.layout)
        except WeightsMismatch as exc:
            raise ModelError(f"{flag}: {exc} (--allow-partial-weights)", code="bad_weights") from None
        except CheckpointError as exc:
            raise ModelError(f"{flag}: {exc}", code="bad_weights") from None
        preprocessing: dict[str, Any] = {f"{role}_mean": mean, f"{role}_std": std}
        model.config = dataclasses.replace(model.config, **preprocessing)
        ctx.log(f"{role} pretrained: {report.summary()}; input normalised with mean {_shown(mean)}, std {_shown(std)}")
        loads[role] = {"file": report.source, "backbone": backbone, "layout": report.layout,
                       "loaded": report.loaded, "trunk": report.trunk, "exact": report.exact,
                       "mean": list(mean), "std": list(std)}
    if config.freeze_trunks:
        for trunk in (model.light, model.heavy):
            trunk.requires_grad_(False)
        ctx.log("trunks frozen: only the concept kernels, the gate and the head train")
    return loads


def normalisation(role: str, backbone: str, path: str, layout: str) -> Normalisation:
    """The mean and std a trunk loaded from ``path`` expects: a vidgate checkpoint's own for that network, else
    the publisher's (`models.published`), else the values vidgate trains its own trunks with."""
    if layout.startswith("vidgate checkpoint"):
        source = read_config(path)
        return getattr(source, f"{role}_mean"), getattr(source, f"{role}_std")
    published = PUBLISHED.get(backbone)
    if published is None or published.mean is None or published.std is None:
        return PIXEL_MEAN, PIXEL_STD
    return published.mean, published.std


def _shown(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
