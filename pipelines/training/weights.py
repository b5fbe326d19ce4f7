"""Pretrained trunks of a training run: loaded when the run is set up, before any stage decodes a frame.

A file that does not fit its backbone (under 95% of the trunk's tensors match, `models.checkpoint`) stops the
run there with ``bad_weights``, naming the keys that did not match; ``allow_partial_weights`` loads it anyway.
Each load is logged and kept for the training summary (the checkpoint's training notes).
"""

from __future__ import annotations

from typing import Any

from models import CheckpointError, WeightsMismatch, load_pretrained

from ..errors import ModelError
from .context import Context


def load_trunk_weights(ctx: Context) -> dict[str, dict[str, Any]]:
    """Load ``light_weights`` / ``heavy_weights`` into the model's trunks; returns what loaded, per role.

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
        except WeightsMismatch as exc:
            raise ModelError(f"{flag}: {exc} (--allow-partial-weights)", code="bad_weights") from None
        except CheckpointError as exc:
            raise ModelError(f"{flag}: {exc}", code="bad_weights") from None
        ctx.log(f"{role} pretrained: {report.summary()}")
        loads[role] = {"file": report.source, "backbone": backbone, "layout": report.layout,
                       "loaded": report.loaded, "trunk": report.trunk, "exact": report.exact}
    return loads
