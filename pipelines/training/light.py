"""Stage 2, light: the light encoder learns from video labels on centre frames (or loads a user's trunk).

Single frames cannot tell *which* activity it is, but the encoder learns *where* something class-related
happens; its per-frame classifier (``light_fc.pt``) later guides which snippets the heavy stage trains on.
"""

from __future__ import annotations

import itertools
import random

import torch
import torch.nn.functional as F

from ..cache import CachedVideo, centre_frames
from ..transforms import light_input
from .context import Context
from .instances import Instances, MilClassifier, fit_instances, validation_score, video_scores
from .work import Stage, stage_figures


def train_light(ctx: Context) -> None:
    stage = Stage(ctx.work, "light")
    model = ctx.model
    if ctx.config.light_weights:  # loaded when the run was set up (`weights.load_trunk_weights`)
        ctx.log("light: pretrained weights, no light stage")
        return
    if stage.done():
        state = stage.load()
        model.light.load_state_dict(state["light"])
        ctx.figures["light"] = state.get("validation", {})
        ctx.log("light: done earlier, loaded from the work folder")
        return

    def centre_frames_of(i: int, rng: random.Random) -> Instances:
        video = ctx.videos["train"][i]
        chosen = spread(video.snippets, ctx.config.light_frames_per_video, rng)
        times = (torch.tensor(chosen, dtype=torch.float32) + 0.5) / video.snippets
        return light_input(centre_frames(video)[chosen], ctx.model_config), times

    net = fit_instances(
        ctx,
        stage,
        model.light,
        model.light.num_features,
        ctx.config.light_epochs,
        centre_frames_of,
        seed_offset=0,
        score=lambda net: light_accuracy(ctx, net),
    )
    torch.save(net.fc.state_dict(), ctx.work / "light_fc.pt")
    ctx.figures["light"] = stage_figures(stage, "val_frame_accuracy")
    stage.finish({"light": model.light.state_dict(), "validation": ctx.figures["light"]})


def spread(snippets: int, most: int, rng: random.Random) -> list[int]:
    """At most ``most`` snippet indices of ``snippets``, one drawn at random from each of ``most`` equal stretches
    of the video (all of them when ``most`` is 0 or the video has no more): every part of a long video is seen
    each epoch, at a cost that does not grow with its length."""
    if not most or snippets <= most:
        return list(range(snippets))
    bounds = [round(k * snippets / most) for k in range(most + 1)]
    return [rng.randrange(a, b) for a, b in itertools.pairwise(bounds)]


def light_classifier(ctx: Context) -> MilClassifier | None:
    """The light encoder with its per-frame classifier from the light stage (None with pretrained weights)."""
    if not (ctx.work / "light_fc.pt").exists():
        return None
    net = MilClassifier(ctx.model.light, ctx.model.light.num_features, ctx.model_config.num_classes)
    net.fc.load_state_dict(torch.load(ctx.work / "light_fc.pt", map_location="cpu", weights_only=True))
    return net.to(ctx.device)


@torch.no_grad()
def light_salience(ctx: Context, net: MilClassifier | None, video: CachedVideo, target: torch.Tensor) -> torch.Tensor:
    """Each snippet's salience to the light classifier ``(T,)``: its centre frame's log-probability of the video's
    own labels (0 everywhere without the light stage's classifier)."""
    if net is None:
        return torch.zeros(video.snippets)
    net.eval()
    logits = net.instance_logits(light_input(centre_frames(video), ctx.model_config).to(ctx.device))
    log_probs = F.logsigmoid(logits) if ctx.model_config.multi_label else F.log_softmax(logits, -1)
    return log_probs.cpu()[:, target.bool()].max(1).values


@torch.no_grad()
def light_accuracy(ctx: Context, net: MilClassifier) -> float | None:
    """Validation score of the centre-frame classifier: video accuracy (mean log-probability over the
    centre frames), ties broken by the true label's mean log-probability; None without validation videos."""
    if not ctx.videos.get("val"):
        return None
    net.eval()
    scores = []
    for video in ctx.videos["val"]:
        x = light_input(centre_frames(video), ctx.model_config).to(ctx.device)
        scores.append(video_scores(net.instance_logits(x), ctx.model_config.multi_label).cpu())
    return validation_score(torch.stack(scores), ctx.targets["val"])
