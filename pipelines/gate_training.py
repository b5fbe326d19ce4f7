"""Stage 5 of training: concept kernels, gate and head, end to end on cached snippet features."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from models import Budget, VidGate, batch_shaping_loss, beta_prior, sparsity_loss

if TYPE_CHECKING:
    from .training import Progress, TrainConfig

Features = list[dict[str, torch.Tensor]]


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

    def __init__(
        self,
        model: VidGate,
        config: TrainConfig,
        work: Path,
        device: torch.device,
        *,
        show_progress: bool,
        log: Progress,
    ) -> None:
        self.model = model
        self.config = config
        self.work = work
        self.device = device
        self.show_progress = show_progress
        self.log = log
        self.alpha, self.beta = beta_prior(config.target_ratio)
        self.parameters = [*model.concepts.parameters(), *model.gate.parameters(), *model.head.parameters()]

    def _trained_state(self) -> dict[str, Any]:
        return {
            k: v.detach().clone().cpu()
            for k, v in self.model.state_dict().items()
            if k.startswith(("concepts.", "gate.", "head."))
        }

    def _temperature(self, epoch: int) -> float:
        c = self.config
        progress = epoch / max(1, c.gate_epochs - 1)
        return c.temperature_start * (c.temperature_end / c.temperature_start) ** progress

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

    def fit(self, features: dict[str, Features], targets: dict[str, torch.Tensor]) -> dict[str, Any]:
        final = self.work / "gate.pt"
        if final.exists():
            state = torch.load(final, weights_only=True)
            self.model.load_state_dict(state["model"], strict=False)
            return dict(state["summary"])
        partial = self.work / "gate.partial.pt"
        self.model.to(self.device)
        optimiser = torch.optim.AdamW(self.parameters, lr=self.config.lr, weight_decay=self.config.weight_decay)
        start, best, best_state = 0, -math.inf, self._trained_state()
        if partial.exists():
            state = torch.load(partial, weights_only=True)
            self.model.load_state_dict(state["model"], strict=False)
            optimiser.load_state_dict(state["optimiser"])
            start, best, best_state = int(state["epoch"]), float(state["best"]), state["best_state"]
            self.log(f"gate: resuming after epoch {start}")
        train, train_targets = features["train"], targets["train"]
        val_split = "val" if features.get("val") else "train"
        bar = tqdm(
            range(start, self.config.gate_epochs),
            desc="gate",
            disable=not self.show_progress,
            leave=False,
            total=self.config.gate_epochs - start,
        )
        metrics: dict[str, float] = {}
        for epoch in bar:
            self.model.train()
            order = list(range(len(train)))
            random.Random(self.config.seed + epoch).shuffle(order)
            for i in range(0, len(order), self.config.batch_videos):
                idx = order[i : i + self.config.batch_videos]
                loss = self._step(pad_batch(train, idx), train_targets[idx].to(self.device), epoch)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            metrics = self.evaluate(features[val_split], targets[val_split])
            # Model selection on held-out data: gated accuracy first, fewer snippets breaks ties.
            score = metrics["threshold_accuracy"] - 0.01 * metrics["threshold_selected"]
            if score > best:
                best, best_state = score, self._trained_state()
            bar.set_postfix(acc=f"{metrics['threshold_accuracy']:.2f}", sel=f"{metrics['threshold_selected']:.2f}")
            tmp = partial.with_suffix(".tmp")
            torch.save(
                {
                    "model": self._trained_state(),
                    "optimiser": optimiser.state_dict(),
                    "epoch": epoch + 1,
                    "best": best,
                    "best_state": best_state,
                },
                tmp,
            )
            tmp.replace(partial)
        self.model.load_state_dict(best_state, strict=False)
        summary = {f"{val_split}_{k}": v for k, v in self.evaluate(features[val_split], targets[val_split]).items()}
        self.log("gate: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
        torch.save({"model": self._trained_state(), "summary": summary}, final)
        partial.unlink(missing_ok=True)
        return summary
