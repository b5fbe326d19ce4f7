"""How long the light stage trains: does it find the events the heavy stage then learns from?

    python -m bench.light_epochs                          # the order/count set, 6 vs 20 light epochs
    python -m bench.light_epochs --data DATA --epochs 6,20 --name NAME

The light stage has two jobs in training: its features feed the gate, and its per-frame evidence for
a video's label picks three quarters of the snippets the heavy network trains on (and the snippets
the heavy stage validates on). On a data set whose classes share their events (order, count,
direction) a single frame cannot tell the class, so the light stage's validation accuracy is low by
construction; what matters is whether its most salient snippets show an event. For each number of
light epochs this trains the light stage alone (the default recipe otherwise; decoded frames shared
in one folder) and measures, against the data set's ``relevance.json`` (never read by training), the
share of each video's top-``k`` salient snippets that show a key event (``k`` = the heavy stage's
light-chosen snippets per video), next to the share of all snippets that do (what random choice
gets). Writes the "light-epochs-NAME" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from pipelines.datasets import load_dataset
from pipelines.decoding.probe import probe
from pipelines.evaluation import load_relevance, relevance_scores
from pipelines.planning import plan_video
from pipelines.training import TrainConfig
from pipelines.training.frames import prepare
from pipelines.training.light import light_classifier, light_evidence, train_light
from pipelines.training.trainer import Trainer

from .report import machine, shown, write_section

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "structure" / "data")
    parser.add_argument("--epochs", default="6,20", help="comma-separated light epoch counts")
    parser.add_argument("--name", default="structure")
    args = parser.parse_args()
    data = args.data.resolve()
    dataset, relevance = load_dataset(data), load_relevance(data)
    if not relevance:
        raise SystemExit(f"{data} has no relevance.json: nothing to measure the light stage against")
    work = ROOT / "data" / f"light-epochs-{args.name}"
    rows = []
    for epochs in (int(e) for e in args.epochs.split(",")):
        config = dataclasses.replace(TrainConfig(), light_epochs=epochs)
        folder = work / f"{epochs}.work"
        folder.mkdir(parents=True, exist_ok=True)
        (work / "frames").mkdir(exist_ok=True)
        if not (folder / "frames").exists():  # decoded once, shared by every count
            (folder / "frames").symlink_to((work / "frames").resolve())
        trainer = Trainer(dataset, config, folder, restart=True, show_progress=False, log=lambda line: None)
        ctx = trainer.ctx
        start = time.perf_counter()
        prepare(ctx)
        decoded = time.perf_counter()
        train_light(ctx)
        seconds = time.perf_counter() - decoded
        net = light_classifier(ctx)
        k = (3 * config.heavy_snippets_per_video) // 4
        precision: dict[str, float] = {}
        base: dict[str, float] = {}
        for split in ("train", "val"):
            hits, rates = [], []
            for i, video in enumerate(ctx.videos[split]):
                events = relevance.get(video.path.relative_to(data).as_posix())
                if not events:
                    continue
                info = probe(video.path)
                plan = plan_video(info.num_frames, info.fps, snippet_frames=config.snippet_frames,
                                  max_snippets=config.max_snippets)
                spans = [(s.start_frame, s.end_frame) for s in plan]
                salient = light_evidence(ctx, net, video, ctx.targets[split][i]).argsort(descending=True)[:k]
                hits.append(relevance_scores([spans[j] for j in salient.tolist()], events)[1])
                rates.append(relevance_scores(spans, events)[1])
            precision[split], base[split] = sum(hits) / len(hits), sum(rates) / len(rates)
        figures = ctx.figures["light"]
        rows.append((epochs, figures.get("epoch"), figures.get("val_frame_accuracy"), precision, base, seconds))
        print(f"{epochs} light epochs: kept {figures.get('epoch')}, validation {figures.get('val_frame_accuracy')}, "
              f"top-{k} precision {precision}, all snippets {base}, {seconds:.0f} s (decode {decoded - start:.0f} s)")
    lines = [
        f"## Light epochs: does the light stage find the events? ({args.name})",
        "",
        f"`python -m bench.light_epochs --data {shown(data)} --epochs {args.epochs} --name {args.name}` on "
        f"{machine()}. The light stage alone with the default recipe "
        f"and each light epoch count; `top-{k} precision`: share of each video's {k} most salient snippets "
        "(the light-chosen snippets the heavy stage trains on) that show a key event of the video "
        "(relevance.json, never read by training); `all snippets`: the share of all snippets that do "
        "(random choice). Validation: the light stage's own score (video accuracy of the per-frame "
        "classifier) and the epoch it kept. `light stage s`: its wall time in this run, one thread, for "
        "scale only (training time on 2 cores is in the training benches).",
        "",
        f"| light epochs | kept epoch | validation | top-{k} precision, train | top-{k} precision, val | "
        "all snippets | light stage s |",
        "|---|---|---|---|---|---|---|",
    ]
    for epochs, kept, score, precision, base, seconds in rows:
        lines.append(f"| {epochs} | {kept} | {score:.3f} | {precision['train']:.3f} | {precision['val']:.3f} | "
                     f"{base['train']:.3f} | {seconds:.0f} |")
    write_section(f"light-epochs-{args.name}", "\n".join(lines), ROOT / "docs" / "benchmarks.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
