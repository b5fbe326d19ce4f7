"""The work folder: the recipe it was made for, and resumable stages saved epoch by epoch.

A work folder records the recipe and the data set it was made for (``recipe.json``): a re-run with
other options or another data set stops with the differences instead of silently reusing stages,
unless told to restart (decoded frames are kept when the frame options did not change). Every stage
saves model, optimiser and epoch after each epoch (``NAME.partial.pt``) and its result when done
(``NAME.pt``), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..datasets import Dataset
from ..errors import OptionsError
from .config import Log

# Options that do not change what training computes: a run may resume on another device.
NOT_RECIPE = frozenset({"device"})
# Options that decide the decoded-frame cache: with the same ones a restart keeps the frames.
FRAME_OPTIONS = ("light_size", "heavy_size", "snippet_frames", "max_snippets", "backend")


def dataset_fingerprint(dataset: Dataset) -> str:
    """Changes when a video, label, split or class of the data set changes (files by size and mtime)."""
    h = hashlib.sha1("|".join(dataset.classes).encode())
    for item in sorted(dataset.items, key=lambda it: str(it.path)):
        stat = item.path.stat()
        h.update(f"\n{item.path}|{stat.st_size}|{stat.st_mtime_ns}|{'|'.join(item.labels)}|{item.split}".encode())
    return h.hexdigest()


def check_work_folder(work: Path, recipe: dict[str, Any], restart: bool, log: Log) -> None:
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
        keep_frames = old is not None and all(old.get(k) == recipe.get(k) for k in FRAME_OPTIONS)
        for p in stages + ([] if keep_frames else [work / "frames"]):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        log(f"restarting in {work} ({differences}); decoded frames {'kept' if keep_frames else 'cleared'}")
    work.mkdir(parents=True, exist_ok=True)
    write_json(path, recipe)


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True))
    tmp.replace(path)


def _save(state: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _copy_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().cpu() for k, v in module.state_dict().items()}


class Stage:
    """Epoch-level checkpointing of one stage, keeping its best epoch on held-out data.

    After every epoch :meth:`save_epoch` stores the trained module, its optimiser, the epoch and the
    best epoch so far (by a held-out score, higher is better) in ``NAME.partial.pt``; :meth:`resume`
    restores all of it. :meth:`finish` writes the stage's result ``NAME.pt`` and removes the partial file.
    """

    def __init__(self, work: Path, name: str) -> None:
        self.name = name
        self.partial = work / f"{name}.partial.pt"
        self.final = work / f"{name}.pt"
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.last: tuple[int, float] | None = None  # the last epoch scored and its raw validation score

    def done(self) -> bool:
        return self.final.exists()

    def resume(self, module: nn.Module, optimiser: torch.optim.Optimizer) -> int:
        """Restore the last saved epoch into ``module`` and ``optimiser``; returns epochs done (0: none)."""
        if not self.partial.exists():
            return 0
        state = torch.load(self.partial, map_location="cpu", weights_only=True)
        module.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        self.best_score = float(state.get("best", -math.inf))
        self.best_epoch = int(state.get("best_epoch", 0))
        self.best_state = state.get("best_state")
        return int(state["epoch"])

    def save_epoch(
        self, module: nn.Module, optimiser: torch.optim.Optimizer, epoch: int, score: float | None = None
    ) -> None:
        """Save epoch ``epoch`` (1-based, done); with a ``score``, remember the module if it is the best yet."""
        if score is not None and score > self.best_score:
            self.best_score, self.best_epoch, self.best_state = score, epoch, _copy_state(module)
        _save(
            {
                "model": module.state_dict(),
                "optimiser": optimiser.state_dict(),
                "epoch": epoch,
                "best": self.best_score,
                "best_epoch": self.best_epoch,
                "best_state": self.best_state,
            },
            self.partial,
        )

    def restore_best(self, module: nn.Module) -> None:
        """Load the best epoch's weights into ``module`` (no-op when no epoch was scored)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)

    def finish(self, state: dict[str, Any]) -> None:
        _save(state, self.final)
        self.partial.unlink(missing_ok=True)

    def load(self) -> dict[str, Any]:
        state: dict[str, Any] = torch.load(self.final, map_location="cpu", weights_only=True)
        return state


def stage_figures(stage: Stage, name: str) -> dict[str, Any]:
    """What a finished stage tells about validation: the kept epoch's score under ``name`` and the epoch
    (the best one, or the last one scored when no epoch was eligible to be chosen)."""
    if stage.best_state is not None:
        return {name: stage.best_score, "epoch": stage.best_epoch}
    if stage.last is not None:
        return {name: stage.last[1], "epoch": stage.last[0]}
    return {}
