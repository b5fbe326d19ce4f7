"""Staged training, in the spirit of the method (see docs/training.md).

1.  light   — the light encoder learns from video-level labels on centre frames (multiple-instance
              learning: per-frame class logits pooled by log-sum-exp), so it finds where things happen.
2.  heavy   — the heavy backbone learns from video-level labels on a few snippets per video
              (TSN-style), chosen mostly where the light encoder sees evidence, plus random ones.
3.  features — light features of every centre frame and heavy features + per-snippet class evidence
              of every snippet are cached on disk.
4.  kernels — k-means over cached light features initialises the concept kernels.
5.  gate    — gate + head train end to end on cached features: Gumbel-sigmoid with an annealed
              temperature, a sparsity term toward the target ratio, the batch-shaping term, distillation
              from the dense head, and the heavy network's per-snippet evidence as a gate target.

Every stage writes its result into the work folder and is skipped when re-run; epochs are saved as
they finish, so an interrupted run resumes where it stopped. The work folder records the recipe and
the data set it was made for (``recipe.json``): a re-run with other options or another data set stops
with the differences instead of silently reusing stages, unless told to restart (decoded frames are
kept when the frame options did not change).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from models import ModelConfig, VidGate, load_pretrained, save_checkpoint

from .cache import CachedVideo, cache_frames, centre_frames, load_clips
from .datasets import Dataset, DatasetItem
from .errors import OptionsError
from .kmeans import kmeans
from .transforms import augment, heavy_input, light_input


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe. The defaults train from scratch on 2 CPU cores within about an hour for a
    few hundred videos; pass pretrained weights to skip the light or heavy stage."""

    light: str = "tiny2d"
    heavy: str = "tiny3d"
    light_size: int = 112
    heavy_size: int = 112
    snippet_frames: int = 8
    max_snippets: int = 64
    num_kernels: int = 64
    gate_hidden: int = 128
    light_epochs: int = 6
    heavy_epochs: int = 25
    gate_epochs: int = 60
    heavy_snippets_per_video: int = 8
    batch_videos: int = 8
    lr: float = 2e-3
    backbone_lr: float = 5e-4
    weight_decay: float = 1e-3
    target_ratio: float = 0.2
    sparsity_weight: float = 4.0
    shaping_weight: float = 1.0
    distill_weight: float = 0.5
    evidence_weight: float = 1.0
    temperature_start: float = 2.0
    temperature_end: float = 0.3
    seed: int = 0
    device: str = "auto"
    backend: str = "pyav"
    light_weights: str | None = None
    heavy_weights: str | None = None


Progress = Callable[[str], None]

# Options that do not change what training computes: a run may resume on another device.
_NOT_RECIPE = frozenset({"device"})
# Options that decide the decoded-frame cache: with the same ones a restart keeps the frames.
_FRAME_OPTIONS = ("light_size", "heavy_size", "snippet_frames", "max_snippets", "backend")


def dataset_fingerprint(dataset: Dataset) -> str:
    """Changes when a video, label, split or class of the data set changes (files by size and mtime)."""
    h = hashlib.sha1("|".join(dataset.classes).encode())
    for item in sorted(dataset.items, key=lambda it: str(it.path)):
        stat = item.path.stat()
        h.update(f"\n{item.path}|{stat.st_size}|{stat.st_mtime_ns}|{'|'.join(item.labels)}|{item.split}".encode())
    return h.hexdigest()


def _check_work_folder(work: Path, recipe: dict[str, Any], restart: bool, log: Progress) -> None:
    """Make ``work`` hold this recipe's run: fresh, the same run to resume, or (``restart``) cleared."""
    path = work / "recipe.json"
    stages = [p for p in work.iterdir() if p.name not in ("frames", "recipe.json")] if work.exists() else []
    old: dict[str, Any] | None = json.loads(path.read_text()) if path.exists() else None
    if (old is None and not stages) or (old == recipe and not restart):
        pass  # a fresh folder, or the same run resumed
    else:
        if old is None:
            differences = "no recipe.json (made by an older vidgate)"
        elif old == recipe:
            differences = "same options and data, asked to restart"
        else:
            differences = ", ".join(
                f"{k} {old.get(k)!r} → {recipe.get(k)!r}" if k != "dataset" else "the data set changed"
                for k in sorted(old.keys() | recipe.keys())
                if old.get(k) != recipe.get(k)
            )
        if not restart:
            raise OptionsError(
                f"the work folder {work} holds a training run with other options or data ({differences}); "
                "pass --restart to start over in it, or choose another --work",
                code="work_folder_in_use",
            )
        keep_frames = old is not None and all(old.get(k) == recipe.get(k) for k in _FRAME_OPTIONS)
        for p in stages + ([] if keep_frames else [work / "frames"]):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        log(f"restarting in {work} ({differences}); decoded frames {'kept' if keep_frames else 'cleared'}")
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(recipe, indent=2, sort_keys=True))
    tmp.replace(path)


def _ticker(bar: Any) -> Callable[[int, int], None]:
    def tick(done: int, total: int) -> None:
        bar.update(1)

    return tick


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class _MilClassifier(nn.Module):
    """An encoder plus a per-instance linear classifier; instances pooled by log-sum-exp per bag."""

    def __init__(self, encoder: nn.Module, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(num_features, num_classes)

    def instance_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.encoder(x))  # (N, C)


def _instance_loss(
    instance_logits: torch.Tensor, targets: torch.Tensor, bags: list[int], multi_label: bool
) -> torch.Tensor:
    """Every instance (centre frame or snippet) learns its video's label ("naive" multiple-instance learning).

    Pooling instances first (log-sum-exp, mean) spreads the gradient over a video's mostly irrelevant
    snippets, and from random weights it did not learn at all on the synthetic benchmark; per-instance
    labels give each relevant instance the full gradient, and irrelevant ones settle at the class prior.
    """
    per_instance = targets.repeat_interleave(torch.tensor(bags, device=targets.device), dim=0)  # (N, C)
    if multi_label:
        return F.binary_cross_entropy_with_logits(instance_logits, per_instance)
    return F.cross_entropy(instance_logits, per_instance.argmax(1))


def _video_scores(instance_logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """A video's class scores from its instances: mean log-probability (C,)."""
    if multi_label:
        return F.logsigmoid(instance_logits).mean(0)
    return F.log_softmax(instance_logits, -1).mean(0)


class _Stage:
    """Epoch-level checkpointing of one stage: model + optimiser + epoch, and a final ``done`` file."""

    def __init__(self, work: Path, name: str) -> None:
        self.partial = work / f"{name}.partial.pt"
        self.final = work / f"{name}.pt"

    def done(self) -> bool:
        return self.final.exists()

    def resume(self, model: nn.Module, optimiser: torch.optim.Optimizer) -> int:
        if not self.partial.exists():
            return 0
        state = torch.load(self.partial, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        return int(state["epoch"])

    def save_epoch(self, model: nn.Module, optimiser: torch.optim.Optimizer, epoch: int) -> None:
        tmp = self.partial.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": epoch}, tmp)
        tmp.replace(self.partial)

    def finish(self, state: dict[str, Any]) -> None:
        tmp = self.final.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.final)
        self.partial.unlink(missing_ok=True)

    def load(self) -> dict[str, Any]:
        return torch.load(self.final, map_location="cpu", weights_only=True)


class Trainer:
    """Runs the stages for one data set into one work folder and writes the checkpoint."""

    def __init__(
        self,
        dataset: Dataset,
        config: TrainConfig,
        work: Path,
        *,
        restart: bool = False,
        show_progress: bool = True,
        log: Progress = print,
    ) -> None:
        self.dataset = dataset
        self.config = config
        self.work = work
        recipe = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_RECIPE}
        _check_work_folder(work, {**recipe, "dataset": dataset_fingerprint(dataset)}, restart, log)
        self.device = resolve_device(config.device)
        self.show_progress = show_progress
        self.log = log
        self.model_config = ModelConfig(
            classes=dataset.classes,
            multi_label=dataset.multi_label,
            light=config.light,
            heavy=config.heavy,
            light_size=config.light_size,
            heavy_size=config.heavy_size,
            snippet_frames=config.snippet_frames,
            num_kernels=config.num_kernels,
            gate_hidden=config.gate_hidden,
            threshold=0.5,
        )
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.model = VidGate(self.model_config)
        self.videos: dict[str, list[CachedVideo]] = {}
        self.targets: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------------------------- plumbing
    def _bar(self, iterable: Any, desc: str, total: int | None = None) -> Any:
        return tqdm(iterable, desc=desc, total=total, disable=not self.show_progress, leave=False, dynamic_ncols=True)

    def _target(self, item: DatasetItem) -> torch.Tensor:
        t = torch.zeros(self.model_config.num_classes)
        t[self.dataset.label_index(item)] = 1.0
        return t

    def _batches(self, split: str, shuffle: bool, epoch: int) -> Iterator[list[int]]:
        order = list(range(len(self.videos[split])))
        if shuffle:
            random.Random(self.config.seed * 1000 + epoch).shuffle(order)
        for i in range(0, len(order), self.config.batch_videos):
            yield order[i : i + self.config.batch_videos]

    # ------------------------------------------------------------------------------------ stages
    def prepare(self) -> None:
        """Decode and cache every snippet of every video (skips videos already cached)."""
        size = max(self.config.light_size, self.config.heavy_size)
        for split in ("train", "val", "test"):
            items = self.dataset.split(split)
            if not items:
                self.videos[split] = []
                continue
            bar = tqdm(total=len(items), desc=f"decode {split}", disable=not self.show_progress, leave=False)
            cached, failed = cache_frames(
                [it.path for it in items],
                self.work / "frames",
                size=size,
                snippet_frames=self.config.snippet_frames,
                max_snippets=self.config.max_snippets,
                backend=self.config.backend,
                on_video=_ticker(bar),
            )
            bar.close()
            for path, reason in failed:
                self.log(f"skipped {path}: {reason}")
            by_path = {it.path: it for it in items}
            self.videos[split] = cached
            self.targets[split] = (
                torch.stack([self._target(by_path[v.path]) for v in cached])
                if cached
                else torch.zeros(0, self.model_config.num_classes)
            )
        if not self.videos["train"]:
            raise RuntimeError("no training video could be decoded")

    def _fit_instances(
        self,
        stage: _Stage,
        encoder: nn.Module,
        num_features: int,
        epochs: int,
        instances: Callable[[int, random.Random], torch.Tensor],
        *,
        seed_offset: int,
        on_epoch: Callable[[_MilClassifier, int], None] | None = None,
    ) -> _MilClassifier:
        """Train ``encoder`` and a linear classifier on per-instance video labels, saving every epoch.

        ``instances(video, rng)`` gives one training video's instances (centre frames or snippet clips),
        already normalised; an interrupted stage resumes after its last saved epoch.
        """
        net = _MilClassifier(encoder, num_features, self.model_config.num_classes).to(self.device)
        optimiser = torch.optim.AdamW(
            net.parameters(), lr=self.config.backbone_lr, weight_decay=self.config.weight_decay
        )
        start = stage.resume(net, optimiser)
        if start:
            self.log(f"{stage.final.stem}: resuming after epoch {start}")
        g = torch.Generator()
        for epoch in self._bar(range(start, epochs), stage.final.stem, epochs - start):
            net.train()
            g.manual_seed(self.config.seed + seed_offset + epoch)
            rng = random.Random(self.config.seed + epoch)
            for batch in self._batches("train", True, epoch):
                inputs = [instances(i, rng) for i in batch]
                x = augment(torch.cat(inputs), g).to(self.device)
                targets = self.targets["train"][batch].to(self.device)
                bags = [t.shape[0] for t in inputs]
                loss = _instance_loss(net.instance_logits(x), targets, bags, self.model_config.multi_label)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            stage.save_epoch(net, optimiser, epoch + 1)
            if on_epoch is not None:
                on_epoch(net, epoch)
        return net

    def train_light(self) -> None:
        stage = _Stage(self.work, "light")
        if self.config.light_weights:
            load_pretrained(self.model.light.trunk, self.config.light_weights)
            self.log(f"light encoder: pretrained weights from {self.config.light_weights}")
            return
        if stage.done():
            self.model.light.load_state_dict(stage.load()["light"])
            self.log("light: done earlier, loaded from the work folder")
            return

        def centre_frames_of(i: int, rng: random.Random) -> torch.Tensor:
            return light_input(centre_frames(self.videos["train"][i]), self.model_config)

        def report(net: _MilClassifier, epoch: int) -> None:
            self.log(f"light epoch {epoch + 1}: val accuracy {self._light_accuracy(net):.3f}")

        net = self._fit_instances(
            stage,
            self.model.light,
            self.model.light.num_features,
            self.config.light_epochs,
            centre_frames_of,
            seed_offset=0,
            on_epoch=report,
        )
        torch.save(net.fc.state_dict(), self.work / "light_fc.pt")
        stage.finish({"light": self.model.light.state_dict()})

    @torch.no_grad()
    def _light_evidence(self, net: _MilClassifier | None, video: CachedVideo, target: torch.Tensor) -> torch.Tensor:
        """Per-snippet evidence for the video's own labels from the light MIL classifier ``(T,)``."""
        if net is None:
            return torch.zeros(video.snippets)
        net.eval()
        logits = net.instance_logits(light_input(centre_frames(video), self.model_config).to(self.device))
        log_probs = F.logsigmoid(logits) if self.model_config.multi_label else F.log_softmax(logits, -1)
        return log_probs.cpu()[:, target.bool()].max(1).values

    @torch.no_grad()
    def _light_accuracy(self, net: _MilClassifier) -> float:
        net.eval()
        split = "val" if self.videos.get("val") else "train"
        correct = 0
        for i, video in enumerate(self.videos[split]):
            x = light_input(centre_frames(video), self.model_config).to(self.device)
            scores = _video_scores(net.instance_logits(x), self.model_config.multi_label)
            correct += int(scores.argmax().item() in self.targets[split][i].nonzero().flatten().tolist())
        return correct / max(1, len(self.videos[split]))

    def train_heavy(self) -> None:
        stage = _Stage(self.work, "heavy")
        if self.config.heavy_weights:
            load_pretrained(self.model.heavy.net, self.config.heavy_weights)
            self.log(f"heavy backbone: pretrained weights from {self.config.heavy_weights}")
        if stage.done():
            self.model.heavy.load_state_dict(stage.load()["heavy"])
            self.log("heavy: done earlier, loaded from the work folder")
            return
        light_net: _MilClassifier | None = None
        if (self.work / "light_fc.pt").exists():
            light_net = _MilClassifier(self.model.light, self.model.light.num_features, self.model_config.num_classes)
            light_net.fc.load_state_dict(torch.load(self.work / "light_fc.pt", weights_only=True))
            light_net.to(self.device)
        salient = [
            self._light_evidence(light_net, v, self.targets["train"][i]).argsort(descending=True)
            for i, v in enumerate(self.videos["train"])
        ]
        k = self.config.heavy_snippets_per_video

        def snippets_of(i: int, rng: random.Random) -> torch.Tensor:
            order = salient[i].tolist()
            chosen = order[: (3 * k) // 4]  # where the light encoder sees evidence, plus random ones
            rest = order[len(chosen) :]
            chosen = sorted(chosen + rng.sample(rest, min(len(rest), k - len(chosen))))
            return heavy_input(load_clips(self.videos["train"][i])[chosen], self.model_config)

        net = self._fit_instances(
            stage,
            self.model.heavy,
            self.model.heavy.num_features,
            self.config.heavy_epochs,
            snippets_of,
            seed_offset=100,
        )
        torch.save(net.fc.state_dict(), self.work / "heavy_fc.pt")
        stage.finish({"heavy": self.model.heavy.state_dict()})

    @torch.no_grad()
    def cache_features(self) -> None:
        """Light features, heavy features and heavy per-snippet class logits of every snippet."""
        fc = nn.Linear(self.model.heavy.num_features, self.model_config.num_classes)
        fc.load_state_dict(torch.load(self.work / "heavy_fc.pt", weights_only=True))
        self.model.to(self.device).eval()
        fc.to(self.device)
        folder = self.work / "features"
        folder.mkdir(exist_ok=True)
        for split, videos in self.videos.items():
            for video in self._bar(videos, f"features {split}"):
                target = folder / f"{video.frames_file.stem}.pt"
                if target.exists():
                    continue
                light = self.model.encode_frames(light_input(centre_frames(video), self.model_config).to(self.device))
                clips = load_clips(video)
                heavy = torch.cat(
                    [
                        self.model.encode_snippets(heavy_input(clips[i : i + 16], self.model_config).to(self.device))
                        for i in range(0, clips.shape[0], 16)
                    ]
                )
                tmp = target.with_suffix(".tmp")
                torch.save({"light": light.cpu(), "heavy": heavy.cpu(), "evidence": fc(heavy).cpu()}, tmp)
                tmp.replace(target)

    def _features(self, split: str) -> list[dict[str, torch.Tensor]]:
        folder = self.work / "features"
        return [torch.load(folder / f"{v.frames_file.stem}.pt", weights_only=True) for v in self.videos[split]]

    def init_kernels(self) -> None:
        light = torch.cat([f["light"] for f in self._features("train")])
        centres = kmeans(light, self.config.num_kernels, seed=self.config.seed)
        self.model.concepts.initialise(centres)

    def train_gate(self) -> dict[str, float]:
        from .gate_training import GateTrainer

        trainer = GateTrainer(
            self.model, self.config, self.work, self.device, show_progress=self.show_progress, log=self.log
        )
        return trainer.fit({s: self._features(s) for s in self.videos}, self.targets)

    def run(self, out: Path) -> dict[str, Any]:
        self.log(f"training on {self.device}; work folder {self.work}")
        self.prepare()
        self.train_light()
        self.train_heavy()
        self.cache_features()
        if not (self.work / "gate.pt").exists():
            self.init_kernels()
        summary: dict[str, Any] = self.train_gate()
        summary["config"] = dataclasses.asdict(self.config)
        summary["videos"] = {s: len(v) for s, v in self.videos.items()}
        save_checkpoint(self.model.cpu(), out, extra={"training": summary})
        (self.work / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


def train(
    dataset: Dataset,
    out: Path,
    config: TrainConfig | None = None,
    *,
    work: Path | None = None,
    restart: bool = False,
    show_progress: bool = True,
    log: Progress = print,
) -> dict[str, Any]:
    """Train a model on ``dataset`` and write the checkpoint ``out``; returns a training summary.

    ``work`` (default ``OUT.work``) keeps the stages so a re-run resumes; a work folder made with other
    options or data raises :class:`OptionsError` unless ``restart``.
    """
    config = config or TrainConfig()
    work = work or out.with_name(out.name + ".work")
    return Trainer(dataset, config, work, restart=restart, show_progress=show_progress, log=log).run(out)
