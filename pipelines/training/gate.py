"""Stage 6, gate: concept kernels, gate and head train end to end on the cached snippet features.

Gumbel-sigmoid hard decisions with a straight-through gradient and an annealed temperature; the task
loss on the gated selection and on all snippets; distillation of the dense head into the gated one; a
sparsity term toward the target ratio; the batch-shaping term; and the heavy network's per-snippet
evidence as a target for the gate's logits. Light encoder and heavy backbone stay frozen.
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models import Budget, batch_shaping_loss, beta_prior, sparsity_loss

from .context import Context
from .features import Features, load_features
from .work import Stage


def pad_batch(features: Features, indices: list[int]) -> tuple[torch.Tensor, ...]:
    """Stack videos of different lengths: light (B, T, D), heavy (B, T, F), evidence (B, T, C), valid (B, T)."""
    longest = max(features[i]["light"].shape[0] for i in indices)

    def pad(name: str) -> torch.Tensor:
        rows = [features[i][name] for i in indices]
        return torch.stack([F.pad(r, (0, 0, 0, longest - r.shape[0])) for r in rows])

    valid = torch.stack([torch.arange(longest) < features[i]["light"].shape[0] for i in indices])
    return pad("light"), pad("heavy"), pad("evidence"), valid


def evidence_targets(evidence: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, ratio: float) -> torch.Tensor:
    """1 for the snippets where the heavy network sees most evidence for the video's labels, else 0.

    Per video the top ``ceil(ratio × snippets)`` snippets by the heavy per-snippet logit of its own
    label(s) are marked: this is what the gate should learn to find from the light features alone.
    """
    own = evidence.masked_fill(~targets.bool().unsqueeze(1), -1e9).max(-1).values  # (B, T)
    own = own.masked_fill(~valid, -1e9)
    k = torch.ceil(valid.sum(1).float() * ratio).long().clamp_min(1)  # (B,)
    rank = own.argsort(1, descending=True).argsort(1)
    return ((rank < k.unsqueeze(1)) & valid).float()


def _task_loss(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool) -> torch.Tensor:
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, targets)
    return F.cross_entropy(logits, targets.argmax(1))


def _correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return targets.gather(1, logits.argmax(1, keepdim=True)).squeeze(1)


class GateTrainer:
    """Trains ``model.concepts``, ``model.gate`` and ``model.head``; light and heavy stay frozen."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.model = ctx.model
        self.config = ctx.config
        self.device = ctx.device
        self.alpha, self.beta = beta_prior(ctx.config.target_ratio)
        # The trained parts, under the model's own key prefixes (``concepts.``, ``gate.``, ``head.``).
        self.trained = nn.ModuleDict(
            {"concepts": self.model.concepts, "gate": self.model.gate, "head": self.model.head}
        )

    def _temperature(self, epoch: int) -> float:
        c = self.config
        progress = epoch / max(1, c.gate_epochs - 1)
        return float(c.temperature_start * (c.temperature_end / c.temperature_start) ** progress)

    def _step(self, batch: tuple[torch.Tensor, ...], targets: torch.Tensor, epoch: int) -> torch.Tensor:
        c = self.config
        light, heavy, evidence, valid = (t.to(self.device) for t in batch)
        out = self.model.select(light, valid, temperature=self._temperature(epoch), sample=True)
        gated = self.model.classify(heavy, out.mask)
        dense = self.model.classify(heavy, valid.float())
        multi = self.model.config.multi_label
        loss = _task_loss(gated, targets, multi) + _task_loss(dense, targets, multi)
        if c.distill_weight:
            teacher = torch.sigmoid(dense.detach()) if multi else F.softmax(dense.detach(), -1)
            student = F.logsigmoid(gated) if multi else F.log_softmax(gated, -1)
            loss = loss + c.distill_weight * F.kl_div(student, teacher, reduction="batchmean")
        shaping_weight = c.shaping_weight * (1 - 0.8 * epoch / max(1, c.gate_epochs - 1))  # annealed
        loss = loss + c.sparsity_weight * sparsity_loss(out.gate_scores, valid, c.target_ratio)
        loss = loss + shaping_weight * batch_shaping_loss(out.gate_scores, valid, self.alpha, self.beta)
        if c.evidence_weight:
            wanted = evidence_targets(evidence, targets, valid, c.target_ratio)
            bce = F.binary_cross_entropy_with_logits(out.logits, wanted, reduction="none")
            loss = loss + c.evidence_weight * bce[valid].mean()
        return loss

    @torch.no_grad()
    def evaluate(self, features: Features, targets: torch.Tensor) -> dict[str, float]:
        """Accuracy dense / gated at the learned threshold / at the target budget, and selection."""
        self.model.eval()
        if not features:
            return {}
        light, heavy, _, valid = (t.to(self.device) for t in pad_batch(features, list(range(len(features)))))
        targets = targets.to(self.device)
        result: dict[str, float] = {}
        budgets = {"threshold": None, "budget": Budget(fraction=self.config.target_ratio)}
        for name, budget in budgets.items():
            out = self.model.select(light, valid, budget)
            result[f"{name}_accuracy"] = float(_correct(self.model.classify(heavy, out.mask), targets).mean())
            result[f"{name}_selected"] = float((out.mask.sum(1) / valid.sum(1)).mean())
        result["dense_accuracy"] = float(_correct(self.model.classify(heavy, valid.float()), targets).mean())
        return result

    def fit(self) -> dict[str, Any]:
        ctx = self.ctx
        stage = Stage(ctx.work, "gate")
        if stage.done():
            state = stage.load()
            self.trained.load_state_dict(state["model"])
            return dict(state["summary"])
        features = {s: load_features(ctx, s) for s in ctx.videos}
        self.model.to(self.device)
        optimiser = torch.optim.AdamW(
            self.trained.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        start = stage.resume(self.trained, optimiser)
        if start:
            ctx.log(f"gate: resuming after epoch {start}")
        train, train_targets = features["train"], ctx.targets["train"]
        val_split = "val" if features.get("val") else "train"
        bar = ctx.bar(range(start, self.config.gate_epochs), "gate", self.config.gate_epochs - start)
        for epoch in bar:
            self.model.train()
            order = list(range(len(train)))
            random.Random(self.config.seed + epoch).shuffle(order)
            for i in range(0, len(order), self.config.batch_videos):
                idx = order[i : i + self.config.batch_videos]
                loss = self._step(pad_batch(train, idx), train_targets[idx].to(self.device), epoch)
                optimiser.zero_grad()
                torch.autograd.backward(loss)
                optimiser.step()
            metrics = self.evaluate(features[val_split], ctx.targets[val_split])
            # Model selection on held-out data: gated accuracy first, fewer snippets breaks ties.
            score = metrics["threshold_accuracy"] - 0.01 * metrics["threshold_selected"]
            bar.set_postfix(acc=f"{metrics['threshold_accuracy']:.2f}", sel=f"{metrics['threshold_selected']:.2f}")
            stage.save_epoch(self.trained, optimiser, epoch + 1, score)
        stage.restore_best(self.trained)
        summary = {f"{val_split}_{k}": v for k, v in self.evaluate(features[val_split], ctx.targets[val_split]).items()}
        ctx.log("gate: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
        stage.finish({"model": self.trained.state_dict(), "summary": summary})
        return summary
