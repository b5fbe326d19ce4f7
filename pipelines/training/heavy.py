"""Stage 3, heavy: the heavy backbone learns from video labels on a few snippets per video (TSN-style).

Per video and epoch it sees ``heavy_snippets_per_video`` snippets: three quarters the most salient to
the light classifier (its log-probability of the video's label per snippet), the rest at random. With
``heavy_warmup`` (the default, 8), after that many epochs the snippets most salient to the heavy network
itself choose instead (every training snippet scored once): a light stage that stays near chance picks
little better than random. Where single frames do point at the events (classes that share their objects,
as order and count pairs do) the light stage's picks serve better, and ``heavy_warmup=0`` keeps them
throughout (docs/training.md).
Validation: the heavy classifier's video accuracy on each validation video's most salient snippets
(by the light classifier, fixed for the run), averaged over the last 3 epochs, picks among the last 4
epochs.
Pretrained ``heavy_weights`` (loaded when the run is set up) only initialise the backbone; this stage still
trains it on the data set. With ``freeze_trunks`` :func:`train_heavy_classifier` replaces this stage: the
backbone stays as published and only its per-snippet classifier learns, on the cached features.

Beside the per-snippet loss, ``heavy_sequence_weight`` times a sequence loss: a head of the model's
kind, built for this stage only, reads each video's training snippets in time order with their times
and predicts the video's label. Per-snippet labels cannot teach the two events of an order pair apart
(each carries both classes of the pair equally often); the sequence loss can. On classes that are bags
of events it costs accuracy, so it is off by default (docs/training.md).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from models import build_head

from ..cache import CachedVideo, load_snippets
from ..transforms import heavy_input
from .context import Context
from .features import add_heavy_logits, load_features
from .instances import Instances, MilClassifier, fit_instances, instance_loss, validation_score, video_scores
from .light import light_classifier, light_salience
from .segments import snippet_coverage
from .work import Stage, stage_figures


def train_heavy(ctx: Context) -> None:
    stage = Stage(ctx.work, "heavy")
    model = ctx.model
    if stage.done():
        state = stage.load()
        model.heavy.load_state_dict(state["heavy"])
        ctx.figures["heavy"] = state.get("validation", {})
        ctx.log("heavy: done earlier, loaded from the work folder")
        return
    light_net = light_classifier(ctx)
    covered = {split: snippet_coverage(ctx, split) for split in ("train", "val")}
    if covered["train"] is not None:
        ctx.log("heavy: training snippets chosen where segments.csv says events are, then by the light stage")
    salient = [
        ranked(light_salience(ctx, light_net, v, ctx.targets["train"][i]), covered["train"], i)
        for i, v in enumerate(ctx.videos["train"])
    ]
    k = ctx.config.heavy_snippets_per_video
    val_snippets = [
        ranked(light_salience(ctx, light_net, v, ctx.targets["val"][i]), covered["val"], i)[:k].sort().values
        for i, v in enumerate(ctx.videos["val"])
    ]
    ranked_by_heavy = False

    def rerank(net: MilClassifier, epoch: int) -> None:
        nonlocal ranked_by_heavy
        warmup = ctx.config.heavy_warmup
        if ranked_by_heavy or not warmup or epoch + 1 < warmup or covered["train"] is not None:
            return  # annotated segments say where the events are: the heavy network's own picks do not replace them
        for i, video in enumerate(ctx.bar(ctx.videos["train"], "heavy salience")):
            salient[i] = heavy_salience(ctx, net, video, ctx.targets["train"][i]).argsort(descending=True)
        ranked_by_heavy = True
        ctx.log(f"heavy: from epoch {epoch + 2} on, training snippets chosen by their salience to the heavy network")

    @torch.no_grad()
    def score(net: MilClassifier) -> float | None:
        if not val_snippets:
            return None
        net.eval()
        scores = [
            video_scores(net.instance_logits(heavy_input(load_snippets(v)[val_snippets[i]], ctx.model_config)
                                             .to(ctx.device)), ctx.model_config.multi_label).cpu()
            for i, v in enumerate(ctx.videos["val"])
        ]
        return validation_score(torch.stack(scores), ctx.targets["val"])

    def snippets_of(i: int, rng: random.Random) -> Instances:
        video = ctx.videos["train"][i]
        order = salient[i].tolist()
        chosen = order[: (3 * k) // 4]  # the most salient, plus random ones
        rest = order[len(chosen) :]
        chosen = sorted(chosen + rng.sample(rest, min(len(rest), k - len(chosen))))
        times = (torch.tensor(chosen, dtype=torch.float32) + 0.5) / video.snippets
        return heavy_input(load_snippets(video)[chosen], ctx.model_config), times

    sequence = None
    if ctx.config.heavy_sequence_weight:
        mc = ctx.model_config
        torch.manual_seed(ctx.config.seed + 100)
        sequence = build_head(mc.head, model.heavy.num_features, mc.num_classes, multi_label=mc.multi_label,
                              width=mc.head_width, events=mc.head_events, pooling=mc.head_pooling)

    net = fit_instances(
        ctx,
        stage,
        model.heavy,
        model.heavy.num_features,
        ctx.config.heavy_epochs,
        snippets_of,
        seed_offset=100,
        sequence=sequence,
        sequence_weight=ctx.config.heavy_sequence_weight,
        min_epochs=ctx.config.heavy_epochs - 3,
        smooth=3,
        score=score,
        on_epoch=rerank,
    )
    torch.save(net.fc.state_dict(), ctx.work / "heavy_fc.pt")
    ctx.figures["heavy"] = stage_figures(stage, "val_snippet_accuracy")
    stage.finish({"heavy": model.heavy.state_dict(), "validation": ctx.figures["heavy"]})


def train_heavy_classifier(ctx: Context) -> None:
    """Stage 3 with frozen trunks: the heavy network stays as published; its per-snippet classifier
    (``heavy_fc.pt``) learns on the cached heavy features of every training snippet, each its video's label.

    The gate stage needs no more of the heavy stage than that: the classifier's per-snippet logits (added to
    the cached features) mark the snippets most salient to the heavy network, the targets of the gate's
    salience term. Epochs, validation, patience and resumption as the heavy stage's; an epoch costs
    milliseconds per video.
    """
    stage = Stage(ctx.work, "heavy")
    if stage.done():
        ctx.figures["heavy"] = stage.load().get("validation", {})
        ctx.log("heavy: classifier on the frozen backbone's features done earlier, loaded from the work folder")
        add_heavy_logits(ctx)
        return
    c, device, multi = ctx.config, ctx.device, ctx.model_config.multi_label
    features = {split: load_features(ctx, split) for split in ("train", "val")}
    torch.manual_seed(c.seed + 100)
    fc = nn.Linear(ctx.model.heavy.num_features, ctx.model_config.num_classes).to(device)
    optimiser = torch.optim.AdamW(fc.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    start = stage.resume(fc, optimiser)

    @torch.no_grad()
    def score() -> float | None:
        if not features["val"]:
            return None
        scores = [video_scores(fc(f["heavy"].to(device)), multi).cpu() for f in features["val"]]
        return validation_score(torch.stack(scores), ctx.targets["val"])

    for epoch in ctx.bar(range(start, c.heavy_epochs), "heavy classifier", c.heavy_epochs - start):
        for batch in ctx.batches("train", True, epoch):
            heavy = [features["train"][i]["heavy"] for i in batch]  # (T_i, F) each
            x = torch.cat(heavy).to(device)  # (ΣT, F)
            bags = [h.shape[0] for h in heavy]
            loss = instance_loss(fc(x), ctx.targets["train"][batch].to(device), bags, multi)
            optimiser.zero_grad()
            torch.autograd.backward(loss)
            optimiser.step()
        value = score()
        if value is not None:
            stage.last = (epoch + 1, value)
        stage.save_epoch(fc, optimiser, epoch + 1, value)
        if value is not None and epoch + 1 - stage.best_epoch >= c.patience:
            break
    stage.restore_best(fc)
    torch.save(fc.state_dict(), ctx.work / "heavy_fc.pt")
    ctx.figures["heavy"] = stage_figures(stage, "val_snippet_accuracy")
    ctx.log("heavy: backbone frozen; its per-snippet classifier trained on the cached features"
            + (f", kept epoch {stage.best_epoch} (validation {stage.best_score:.3f})" if stage.best_epoch else ""))
    stage.finish({"validation": ctx.figures["heavy"]})
    add_heavy_logits(ctx)


def ranked(salience: torch.Tensor, coverage: list[torch.Tensor] | None, video: int) -> torch.Tensor:
    """Snippet indices, most salient first ``(T,)``: with annotated segments, the snippets they cover most come
    first, ties (the uncovered ones among them) in order of ``salience``."""
    order = salience.argsort(descending=True)
    if coverage is None:
        return order
    return order[coverage[video][order].argsort(descending=True, stable=True)]


@torch.no_grad()
def heavy_salience(ctx: Context, net: MilClassifier, video: CachedVideo, target: torch.Tensor) -> torch.Tensor:
    """Each snippet's salience to the heavy classifier ``(T,)``: its log-probability of the video's own labels."""
    net.eval()
    snippets = load_snippets(video)
    logits = torch.cat([
        net.instance_logits(heavy_input(snippets[i : i + 16], ctx.model_config).to(ctx.device)).cpu()
        for i in range(0, snippets.shape[0], 16)
    ])
    log_probs = F.logsigmoid(logits) if ctx.model_config.multi_label else F.log_softmax(logits, -1)
    return log_probs[:, target.bool()].max(1).values
