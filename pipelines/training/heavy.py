"""Stage 3, heavy: the heavy backbone learns from video labels on a few snippets per video (TSN-style).

Per video and epoch it sees ``heavy_snippets_per_video`` snippets: three quarters where the light
classifier sees most evidence for the video's label, the rest at random. Pretrained ``heavy_weights``
only initialise the backbone; this stage still trains it on the data set.
"""

from __future__ import annotations

import random

import torch

from models import load_pretrained

from ..cache import load_clips
from ..transforms import heavy_input
from .context import Context
from .instances import fit_instances
from .light import light_classifier, light_evidence
from .work import Stage


def train_heavy(ctx: Context) -> None:
    stage = Stage(ctx.work, "heavy")
    model = ctx.model
    if ctx.config.heavy_weights:
        load_pretrained(model.heavy.net, ctx.config.heavy_weights)
        ctx.log(f"heavy backbone: pretrained weights from {ctx.config.heavy_weights}")
    if stage.done():
        model.heavy.load_state_dict(stage.load()["heavy"])
        ctx.log("heavy: done earlier, loaded from the work folder")
        return
    light_net = light_classifier(ctx)
    salient = [
        light_evidence(ctx, light_net, v, ctx.targets["train"][i]).argsort(descending=True)
        for i, v in enumerate(ctx.videos["train"])
    ]
    k = ctx.config.heavy_snippets_per_video

    def snippets_of(i: int, rng: random.Random) -> torch.Tensor:
        order = salient[i].tolist()
        chosen = order[: (3 * k) // 4]  # where the light encoder sees evidence, plus random ones
        rest = order[len(chosen) :]
        chosen = sorted(chosen + rng.sample(rest, min(len(rest), k - len(chosen))))
        return heavy_input(load_clips(ctx.videos["train"][i])[chosen], ctx.model_config)

    net = fit_instances(
        ctx,
        stage,
        model.heavy,
        model.heavy.num_features,
        ctx.config.heavy_epochs,
        snippets_of,
        seed_offset=100,
    )
    torch.save(net.fc.state_dict(), ctx.work / "heavy_fc.pt")
    stage.finish({"heavy": model.heavy.state_dict()})
