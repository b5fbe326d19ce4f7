"""Stage 6, gate: concept kernels, gate and head train end to end on the cached snippet features.

Gumbel-sigmoid hard decisions with a straight-through gradient and an annealed temperature; the task
loss on the gated selection and on all snippets; distillation of the dense head into the gated one; a
sparsity term toward the target budget; the batch-shaping term; and the snippets most salient to the
heavy network (its cached per-snippet logits for the video's labels) as a target for the gate's logits.
Light encoder and heavy backbone stay frozen.

Validation picks the epoch (gated accuracy at the target budget, then dense accuracy); every epoch
runs (they are cheap on cached features, and the temperature anneals over all of them). Then
:func:`calibrate_threshold` chooses the learned threshold on validation by a stated rule, stored with
the model (``threshold_rule``).

:func:`train_gate` runs the stage ``gate_runs`` times from different seeds (fresh kernels from a
seeded k-means, fresh gate and head): the seed alone moves what the stage learns by several points,
and validation sees much of it (``python -m bench.ablate --knob gate-runs``). :func:`keep_run` keeps, of
the runs within ``gate_run_tolerance`` of the best by the same criterion and by dense accuracy, the one
whose calibrated threshold selects least: runs that tie on accuracy can differ tenfold in what their
threshold saves (docs/training.md, "gate").
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models import SelectionRule, VidGate, batch_shaping_loss, beta_prior, centre_times, sparsity_loss

from .calibration import calibrate_threshold
from .context import Context
from .features import Features, correct, init_kernels, load_features, pad_batch, pad_rows
from .instances import video_loss
from .segments import snippet_coverage
from .work import Stage


def salience_targets(heavy_logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, budget: float,
                     annotated: torch.Tensor | None = None, mode: str = "heavy") -> torch.Tensor:
    """1 for the snippets the gate should learn to find from the light features alone, else 0 ``(B, T)``.

    The heavy network's: per video the top ``ceil(budget × snippets)`` snippets by its per-snippet logit of
    the video's own label(s). With ``annotated`` (1 where a snippet shows an event of segments.csv,
    ``(B, T)``), ``mode`` ``segments`` marks those instead and ``both`` marks either; a video without
    annotated snippets keeps the heavy network's.
    """
    own = heavy_logits.masked_fill(~targets.bool().unsqueeze(1), -1e9).max(-1).values  # (B, T)
    own = own.masked_fill(~valid, -1e9)
    k = torch.ceil(valid.sum(1).float() * budget).long().clamp_min(1)  # (B,)
    rank = own.argsort(1, descending=True).argsort(1)
    wanted = ((rank < k.unsqueeze(1)) & valid).float()
    if annotated is None or mode == "heavy":
        return wanted
    truth = (annotated > 0).float() * valid  # (B, T)
    marked = truth if mode == "segments" else torch.maximum(truth, wanted)
    return torch.where(truth.sum(1, keepdim=True) > 0, marked, wanted)


def task_mask(mask: torch.Tensor, gradient: str) -> torch.Tensor:
    """The selection the head reads in training: ``mask`` (hard 0/1 values, straight-through gradient)
    as it is (``all``: every snippet's gradient), or with the gradient of the snippets left out removed
    (``selected``); the values are the same either way (``TrainConfig.gate_gradient``)."""
    if gradient == "selected":
        return mask * (mask.detach() > 0.5).to(mask.dtype)
    return mask


def validation_score(figures: dict[str, Any]) -> float:
    """How the gate stage ranks epochs and runs on validation: gated accuracy at the target budget, then dense."""
    return float(figures["budget_accuracy"] + 0.5 * figures["dense_accuracy"])


class GateTrainer:
    """Trains ``model.concepts``, ``model.gate`` and ``model.head``; light and heavy stay frozen.

    ``stage`` names the work-folder stage its epochs and result are saved under.
    """

    def __init__(self, ctx: Context, stage: str = "gate") -> None:
        self.ctx = ctx
        self.stage = stage
        self.model = ctx.model
        self.config = ctx.config
        self.device = ctx.device
        self.alpha, self.beta = beta_prior(ctx.config.target_budget)
        # The trained parts, under the model's own key prefixes (``concepts.``, ``gate.``, ``head.``).
        self.trained = nn.ModuleDict(
            {"concepts": self.model.concepts, "gate": self.model.gate, "head": self.model.head}
        )

    def _temperature(self, epoch: int) -> float:
        c = self.config
        progress = epoch / max(1, c.gate_epochs - 1)
        return float(c.temperature_start * (c.temperature_end / c.temperature_start) ** progress)

    def _step(self, batch: tuple[torch.Tensor, ...], targets: torch.Tensor, epoch: int,
              covered: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        light, heavy, heavy_logits, valid = (t.to(self.device) for t in batch)
        out = self.model.select(light, valid, temperature=self._temperature(epoch), sample=True)
        times = centre_times(valid)
        gated = self.model.classify(heavy, task_mask(out.mask, c.gate_gradient), times)
        dense = self.model.classify(heavy, valid.float(), times)
        multi = self.model.config.multi_label
        loss = video_loss(gated, targets, multi) + video_loss(dense, targets, multi)
        if c.distill_weight:
            teacher = torch.sigmoid(dense.detach()) if multi else F.softmax(dense.detach(), -1)
            student = F.logsigmoid(gated) if multi else F.log_softmax(gated, -1)
            loss = loss + c.distill_weight * F.kl_div(student, teacher, reduction="batchmean")
        shaping_weight = c.shaping_weight * (1 - 0.8 * epoch / max(1, c.gate_epochs - 1))  # annealed
        loss = loss + c.sparsity_weight * sparsity_loss(out.gate_scores, valid, c.target_budget)
        loss = loss + shaping_weight * batch_shaping_loss(out.gate_scores, valid, self.alpha, self.beta)
        if c.salience_weight:
            wanted = salience_targets(heavy_logits, targets, valid, c.target_budget,
                                      None if covered is None else covered.to(self.device), c.segment_targets)
            bce = F.binary_cross_entropy_with_logits(out.logits, wanted, reduction="none")
            loss = loss + c.salience_weight * bce[valid].mean()
        return loss

    @torch.no_grad()
    def evaluate(self, features: Features, targets: torch.Tensor, batch: int = 64) -> dict[str, float]:
        """Accuracy dense / gated at the learned threshold / at the target budget, and selection; ``batch``
        videos at a time (padding changes no video's figures)."""
        if not features:
            return {}
        self.model.eval()
        rules = {"threshold": None, "budget": SelectionRule(budget=self.config.target_budget)}
        per_video: dict[str, list[torch.Tensor]] = defaultdict(list)  # (B,) per batch
        for start in range(0, len(features), batch):
            index = list(range(start, min(len(features), start + batch)))
            light, heavy, _, valid = (t.to(self.device) for t in pad_batch(features, index))
            wanted, times = targets[index].to(self.device), centre_times(valid)
            for name, rule in rules.items():
                out = self.model.select(light, valid, rule)
                per_video[f"{name}_accuracy"].append(correct(self.model.classify(heavy, out.mask, times), wanted))
                per_video[f"{name}_selected"].append(out.mask.sum(1) / valid.sum(1))
            per_video["dense_accuracy"].append(correct(self.model.classify(heavy, valid.float(), times), wanted))
        return {k: float(torch.cat(v).float().mean()) for k, v in per_video.items()}

    def fit(self) -> dict[str, Any]:
        """Train (or resume, or load when done) the stage on the cached features, read a batch at a time."""
        ctx = self.ctx
        stage = Stage(ctx.work, self.stage)
        if stage.done():
            state = stage.load()
            self.trained.load_state_dict(state["model"])
            calibration = state["summary"].get("calibration", {})
            if "threshold" in calibration:
                set_threshold(self.model, calibration["threshold"], calibration["rule"])
            return dict(state["summary"])
        features: dict[str, Features] = {s: load_features(ctx, s) for s in ctx.videos}
        self.model.to(self.device)
        optimiser = torch.optim.AdamW(
            self.trained.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        start = stage.resume(self.trained, optimiser)
        if start:
            ctx.log(f"gate: resuming after epoch {start}")
        train, train_targets = features["train"], ctx.targets["train"]
        coverage = snippet_coverage(ctx, "train")
        val, val_targets = features.get("val", []), ctx.targets.get("val")
        bar = ctx.bar(range(start, self.config.gate_epochs), "gate", self.config.gate_epochs - start)
        for epoch in bar:
            self.model.train()
            order = list(range(len(train)))
            random.Random(self.config.seed + epoch).shuffle(order)
            for i in range(0, len(order), self.config.batch_videos):
                idx = order[i : i + self.config.batch_videos]
                covered = None if coverage is None else pad_rows([coverage[j] for j in idx])
                loss = self._step(pad_batch(train, idx), train_targets[idx].to(self.device), epoch, covered)
                optimiser.zero_grad()
                torch.autograd.backward(loss)
                torch.nn.utils.clip_grad_norm_(self.trained.parameters(), self.config.clip_grad)
                optimiser.step()
            if not val or val_targets is None:
                stage.save_epoch(self.trained, optimiser, epoch + 1)
                continue
            metrics = self.evaluate(val, val_targets)
            # Epoch selection on validation: gated accuracy at the target budget, then dense accuracy.
            score = validation_score(metrics)
            bar.set_postfix(acc=f"{metrics['budget_accuracy']:.2f}", dense=f"{metrics['dense_accuracy']:.2f}")
            stage.save_epoch(self.trained, optimiser, epoch + 1, score)
        stage.restore_best(self.trained)
        summary: dict[str, Any] = {}
        if val and val_targets is not None:
            calibration = calibrate_threshold(self.model, val, val_targets, self.config.threshold_tolerance,
                                              self.config.threshold_band, self.config.threshold_precision)
            set_threshold(self.model, calibration["threshold"], calibration["rule"])
            summary = {f"val_{k}": v for k, v in self.evaluate(val, val_targets).items()}
            summary["calibration"] = calibration
            summary["gate_epoch"] = stage.best_epoch
            ctx.log(f"{self.stage}: " + ", ".join(
                f"{k} {v:.3f}" for k, v in summary.items() if isinstance(v, float)))
            ctx.log(f"{self.stage}: threshold {calibration['threshold']:.4g} — {calibration['rule']}")
        else:
            ctx.log("gate: no validation videos; the threshold stays at 0.5, not calibrated")
        stage.finish({"model": self.trained.state_dict(), "summary": summary})
        return summary


def train_gate(ctx: Context) -> dict[str, Any]:
    """Stages 5 and 6: concept kernels and the gate stage, ``gate_runs`` times; keeps one by validation.

    Run ``r`` (1-based) trains with seed ``seed + r - 1`` from scratch: concept kernels from k-means
    with that seed, gate and head initialised as a model built with that seed would be. Each run is a
    stage of its own in the work folder (``gate.runR``), the kept one is copied to ``gate``, so an
    interrupted run resumes where it stopped. The summary lists every run's validation figures
    (``gate_runs``) and which run :func:`keep_run` kept (``gate_run``). One run (or no validation videos) is the
    plain stage, ``gate``, as before.
    """
    final = Stage(ctx.work, "gate")
    runs = ctx.config.gate_runs
    if final.done() or runs == 1 or not ctx.videos.get("val"):
        if not final.done():
            if runs > 1:
                ctx.log(f"gate: no validation videos to choose among {runs} runs; training one")
            init_kernels(ctx)
        return GateTrainer(ctx).fit()
    parts = ("concepts", "gate", "head")
    figures: list[dict[str, Any]] = []
    for run in range(1, runs + 1):
        seed = ctx.config.seed + run - 1
        run_ctx = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, seed=seed))
        name = f"gate.run{run}"
        if not Stage(ctx.work, name).done():
            torch.manual_seed(seed)
            fresh = VidGate(ctx.model_config)  # the parts as a model built with this seed has them
            for part in parts:
                getattr(ctx.model, part).load_state_dict(getattr(fresh, part).state_dict())
            del fresh
            init_kernels(run_ctx)
            torch.manual_seed(seed)
        summary = GateTrainer(run_ctx, stage=name).fit()
        figures.append({"run": run, "seed": seed, "gate_epoch": summary["gate_epoch"],
                        "val_dense_accuracy": summary["val_dense_accuracy"],
                        "val_budget_accuracy": summary["val_budget_accuracy"],
                        "score": validation_score({k[4:]: v for k, v in summary.items() if k.startswith("val_")}),
                        "val_selected": summary["calibration"]["val_selected"], "summary": summary})
    best = keep_run(figures, ctx.config.gate_run_tolerance)
    trained = nn.ModuleDict({part: getattr(ctx.model, part) for part in parts})
    trained.load_state_dict(Stage(ctx.work, f"gate.run{best['run']}").load()["model"])
    summary = dict(best["summary"])
    calibration = summary["calibration"]
    set_threshold(ctx.model, calibration["threshold"], calibration["rule"])
    summary["gate_runs"] = [{k: v for k, v in f.items() if k != "summary"} for f in figures]
    summary["gate_run"] = best["run"]
    ctx.log(f"gate: kept run {best['run']} of {runs} (seed {best['seed']}): validation dense "
            f"{best['val_dense_accuracy']:.3f}, gated {best['val_budget_accuracy']:.3f}, its threshold selects "
            f"{100 * best['val_selected']:.1f}%")
    final.finish({"model": trained.state_dict(), "summary": summary})
    return summary


def keep_run(figures: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """The gate run to keep: of the runs within ``tolerance`` of the best-scoring run on validation, both
    by ``score`` and by dense accuracy, the one whose calibrated threshold selects least on validation
    (``val_selected``); then the higher score, then the lower run number. ``tolerance`` 0 keeps the best
    score. Dense accuracy too, since the calibrated threshold promises a run its own dense accuracy: a
    run that saves more by being less accurate dense delivers less at its threshold."""
    best = max(figures, key=lambda f: (f["score"], -f["run"]))
    near = [f for f in figures if f["score"] >= best["score"] - tolerance - 1e-9
            and f["val_dense_accuracy"] >= best["val_dense_accuracy"] - tolerance - 1e-9]
    return min(near, key=lambda f: (f["val_selected"], -f["score"], f["run"]))


def set_threshold(model: VidGate, threshold: float, rule: str) -> None:
    """Give ``model`` a calibrated learned threshold and the rule that chose it (saved in its checkpoint)."""
    model.config = dataclasses.replace(model.config, threshold=float(threshold), threshold_rule=rule)
