"""The training run: checks the work folder, runs the stages in order and writes the checkpoint."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from models import HEADS, POOLINGS, ModelConfig, VidGate, save_checkpoint

from ..datasets import Dataset
from ..errors import OptionsError
from .card import training_card, training_data
from .config import GATE_GRADIENTS, SEGMENT_TARGETS, Log, TrainConfig, resolve_device
from .context import Context
from .examples import concept_examples
from .features import cache_features
from .frames import prepare
from .gate import train_gate
from .heavy import train_heavy, train_heavy_classifier
from .light import train_light
from .weights import load_trunk_weights
from .work import NOT_RECIPE, check_work_folder, dataset_fingerprint

MMAP_THRESHOLD = 16 << 20
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Keep glibc's allocator from fragmenting its heap as a training runs (Linux; elsewhere nothing happens).

    glibc raises its mmap threshold each time a large block is freed; past that, blocks of the sizes a
    training allocates (batches of varying length) come from the heap and fragment it, and the peak memory
    grows with the number of batches, so with the data set. A fixed threshold keeps every block of
    ``size`` bytes and more in its own mapping, returned when freed. True when it was set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, size))
    except (OSError, AttributeError):  # not glibc
        return False


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
        log: Log = print,
    ) -> None:
        if config.head not in HEADS:
            raise OptionsError(f"unknown head {config.head!r}; known: {', '.join(sorted(HEADS))}")
        if config.head_pooling not in POOLINGS:
            raise OptionsError(f"unknown head pooling {config.head_pooling!r}; known: {', '.join(POOLINGS)}")
        if config.head_events < 0:
            raise OptionsError(f"head_events must be 0 or more, got {config.head_events}")
        if config.gate_gradient not in GATE_GRADIENTS:
            raise OptionsError(f"unknown gate gradient {config.gate_gradient!r}; known: {', '.join(GATE_GRADIENTS)}")
        if config.segment_targets not in SEGMENT_TARGETS:
            raise OptionsError(f"unknown segment targets {config.segment_targets!r}; known: "
                               f"{', '.join(SEGMENT_TARGETS)}")
        if config.heavy_warmup < 0:
            raise OptionsError(f"heavy_warmup must be 0 (off) or more, got {config.heavy_warmup}")
        if config.heavy_sequence_weight < 0:
            raise OptionsError(f"heavy_sequence_weight must be 0 or more, got {config.heavy_sequence_weight}")
        if not 0 < config.target_budget <= 1:
            raise OptionsError(f"target_budget must be in (0, 1], got {config.target_budget}")
        if config.gate_runs < 1:
            raise OptionsError(f"gate_runs must be at least 1, got {config.gate_runs}")
        if config.gate_run_tolerance < 0:
            raise OptionsError(f"gate_run_tolerance must be 0 or more, got {config.gate_run_tolerance}")
        if config.threshold_band < 1:
            raise OptionsError(f"threshold_band must be at least 1, got {config.threshold_band}")
        if config.threshold_precision is not None and config.threshold_precision < 0:
            raise OptionsError(f"threshold_precision must be 0 or more, got {config.threshold_precision}")
        if not 0 < config.val_fraction < 1:
            raise OptionsError(f"val_fraction must be between 0 and 1, got {config.val_fraction}")
        if config.freeze_trunks:
            missing = [flag for flag, path in (("--light-weights", config.light_weights),
                                               ("--heavy-weights", config.heavy_weights)) if not path]
            if missing:
                raise OptionsError(f"--freeze-trunks keeps both pretrained trunks as published: it needs "
                                   f"--light-weights and --heavy-weights (missing: {' and '.join(missing)}); "
                                   "without published weights, train the trunks (leave out --freeze-trunks)")
            if config.heavy_sequence_weight:
                raise OptionsError("--heavy-sequence-weight trains the heavy backbone; with --freeze-trunks it stays "
                                   "as published (leave out one of them)")
        recipe = {k: v for k, v in dataclasses.asdict(config).items() if k not in NOT_RECIPE}
        model_config = ModelConfig(
            classes=dataset.classes,
            multi_label=dataset.multi_label,
            light=config.light,
            heavy=config.heavy,
            light_size=config.light_size,
            heavy_size=config.heavy_size,
            snippet_frames=config.snippet_frames,
            max_snippets=config.max_snippets,
            num_kernels=config.num_kernels,
            gate_hidden=config.gate_hidden,
            head=config.head,
            head_width=config.head_width,
            head_events=config.head_events,
            head_pooling=config.head_pooling,
            threshold=0.5,
        )
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.ctx = Context(
            dataset=dataset,
            config=config,
            work=work,
            device=resolve_device(config.device),
            model=VidGate(model_config),
            show_progress=show_progress,
            log=log,
        )
        # Before the work folder is touched: a wrong file stops the run here, and the corrected run starts afresh.
        self.pretrained = load_trunk_weights(self.ctx)
        check_work_folder(work, {**recipe, "dataset": dataset_fingerprint(dataset)}, restart, log)

    @property
    def model(self) -> VidGate:
        return self.ctx.model

    def run(self, out: Path) -> dict[str, Any]:
        ctx = self.ctx
        fix_mmap_threshold()
        ctx.log(f"training on {ctx.device}; work folder {ctx.work}")
        seconds: dict[str, float] = {}

        def timed(stage: str, run: Callable[[Context], Any]) -> Any:
            began = time.monotonic()
            value = run(ctx)
            seconds[stage] = round(time.monotonic() - began, 1)
            return value

        timed("frames", prepare)
        if ctx.config.freeze_trunks:  # features first: the heavy classifier learns on them
            timed("features", cache_features)
            timed("heavy", train_heavy_classifier)
        else:
            timed("light", train_light)
            timed("heavy", train_heavy)
            timed("features", cache_features)
        summary: dict[str, Any] = timed("gate", train_gate)
        summary["seconds"] = {**seconds, "total": round(sum(seconds.values()), 1)}
        ctx.log("seconds per stage (this run; a stage done earlier counts ~0): "
                + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items()))
        summary["validation"] = {"source": ctx.validation_source, "videos": len(ctx.videos["val"]), **ctx.figures}
        summary["config"] = dataclasses.asdict(ctx.config)
        summary["videos"] = {s: len(v) for s, v in ctx.videos.items()}
        summary["pretrained"] = self.pretrained
        examples = concept_examples(ctx)
        model = ctx.model.cpu()
        model.config = dataclasses.replace(model.config, name=out.stem)  # the file a user named is the model's name
        card = training_card(training_data(ctx.dataset), model.config, summary, summary["config"])
        save_checkpoint(model, out, extra={"training": summary}, concept_examples=examples, card=card)
        (ctx.work / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


def train(
    dataset: Dataset,
    out: Path,
    config: TrainConfig | None = None,
    *,
    work: Path | None = None,
    restart: bool = False,
    show_progress: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Train a model on ``dataset`` and write the checkpoint ``out``; returns a training summary.

    ``work`` (default ``OUT.work``) keeps the stages so a re-run resumes; a work folder made with other
    options or data raises :class:`OptionsError` unless ``restart``.
    """
    config = config or TrainConfig()
    work = work or out.with_name(out.name + ".work")
    return Trainer(dataset, config, work, restart=restart, show_progress=show_progress, log=log).run(out)
