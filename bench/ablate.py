"""Training and inference ablations on one harness: one choice varied, everything else held.

    python -m bench.ablate --knob head            # pool vs temporal head on one finished run's stages
    python -m bench.ablate --knob pooling         # mean vs attention pooling, same stages, every gate seed
    python -m bench.ablate --knob gate-runs       # every gate run a training kept, evaluated on test
    python -m bench.ablate --knob light-epochs --epochs 6,20   # does the light stage find the events?
    python -m bench.ablate --knob calibration     # the threshold rules on one model's held-out videos
    python -m bench.ablate --knob light-pass      # every light pass at a 25% budget (docs/benchmarks.md)
    python -m bench.ablate --knob seed --seeds 0,1,2           # full trainings with other seeds
    python -m bench.ablate --knob segments        # what the gate learns from segments.csv, and training without it
    python -m bench.ablate --knob trunks          # frozen pretrained trunks vs training them, on a small set

``--data DATA --work CK.work --name NAME`` point a knob at any finished training run (its data set and
its work folder; the defaults are the run each knob's docs note names: the demo run of ``bench.demo``,
the unseen-data run of ``bench.unseen``, or its order/count set). ``head``, ``pooling`` and
``gate-runs`` change only the gate stage (gate and head train together on cached features), so they
train it on a copy of the run's work folder with the run's own recipe (``bench.common.train_run``):
the difference is then the knob's alone, not another draw of the heavy network. Evaluation is
``vidgate evaluate``'s code. Each knob writes its section into data/bench/ablations.md (``light-pass``:
the "light-passes" section of docs/benchmarks.md) and prints it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from models import DEMO_CHECKPOINT, POOLINGS
from pipelines.datasets import load_dataset
from pipelines.evaluation import LIGHT_PASS_LADDER, evaluate
from pipelines.evaluation_report import bootstrap_interval, correct_by_video, light_pass_table, write_report
from pipelines.recognizer import Recognizer
from pipelines.training import TrainConfig

from .common import BENCHMARKS, ROOT, machine, recipe_of, shown, train_run, write_section

ABLATIONS = ROOT / "data" / "bench" / "ablations.md"
DEMO = (ROOT / "data" / "demo" / "synth", ROOT / "data" / "demo" / "demo.safetensors.work")
UNSEEN = (ROOT / "data" / "unseen" / "data", ROOT / "data" / "unseen" / "model.safetensors.work")
ORDER_COUNT = (ROOT / "data" / "order-count" / "data", ROOT / "data" / "order-count" / "model.safetensors.work")
HEADS = ("pool", "temporal")


def _cells(report: dict[str, Any], setting: str) -> str:
    """accuracy | selected | − dense (interval) | relevant recall, for one setting of a report."""
    s = report["settings"][setting]
    paired = report.get("paired_with_dense", {}).get(setting)
    low, high = paired["interval"] if paired else (0.0, 0.0)
    vs_dense = "—" if paired is None else f"{100 * paired['difference']:+.1f} pts [{100 * low:+.1f}, {100 * high:+.1f}]"
    recall = s.get("relevant_recall")
    return (f"{s.get('mAP', s['accuracy']):.3f} | {100 * s['selected_fraction']:.1f}% | {vs_dense} | "
            f"{'—' if recall is None else f'{recall:.3f}'}")


def _setting_table(reports: dict[str, dict[str, Any]], column: str) -> list[str]:
    lines = [f"| {column} | setting | accuracy | snippets selected | − dense (95% interval) | relevant recall |",
             "|---|---|---|---|---|---|"]
    for name, report in reports.items():
        lines += [f"| {name} | {setting} | {_cells(report, setting)} |"
                  for setting in ("dense", "gated 25%", "gated threshold")]
    return lines


def _command(args: argparse.Namespace, *extra: str) -> str:
    return " ".join(["`python -m bench.ablate --knob", args.knob, "--data", shown(args.data), "--work",
                     shown(args.work), "--name", args.name, *extra]) + f"` on {machine()}"


def _out(args: argparse.Namespace) -> str:
    """The ``--out`` a section's command needs to write it where it stands (none for the default page)."""
    return f" --out {shown(args.out)}" if args.out else ""


def head(args: argparse.Namespace) -> str:
    """Each head trains the gate stage on the same light and heavy stages; both evaluated on test."""
    reports: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for name in HEADS:
        checkpoint = args.scratch / f"{name}.safetensors"
        _, seconds[name] = train_run(args.data, checkpoint, recipe_of(args.work, head=name), seed_from=args.work)
        reports[name] = evaluate(Recognizer(checkpoint, isolate=False), load_dataset(args.data), budgets=(0.25,))
        write_report(reports[name], args.scratch / name)
    return "\n".join([
        f"## Head on the same light and heavy stages: {args.name}", "",
        f"{_command(args)}. Gate stage: " + ", ".join(f"{h} {seconds[h] / 60:.1f} min" for h in HEADS)
        + f". Test split: {reports[HEADS[0]]['videos']} videos.", "",
        *_setting_table(reports, "head"),
    ])


def pooling(args: argparse.Namespace) -> str:
    """Each pooling trains the gate stage with the run's gate seeds; validation figures only."""
    runs: dict[str, list[dict[str, Any]]] = {}
    reports: dict[str, dict[str, Any]] = {}
    dataset = load_dataset(args.data)
    from pipelines.training.work import Stage

    for name in POOLINGS:
        config = recipe_of(args.work, head_pooling=name)
        checkpoint = args.scratch / f"{name}.safetensors"
        summary, _ = train_run(args.data, checkpoint, config, seed_from=args.work)
        runs[name] = summary.get("gate_runs") or [{"seed": config.seed, **summary}]
        work = checkpoint.with_name(checkpoint.name + ".work")
        for r in runs[name]:  # each run's own calibration (the kept run's is the checkpoint's)
            r["calibration"] = Stage(work, f"gate.run{r['run']}" if "run" in r else "gate").load()["summary"].get(
                "calibration", {})
        if dataset.split("val"):
            reports[name] = evaluate(Recognizer(checkpoint, isolate=False), dataset, split="val", budgets=(0.25,))
    seeds = [r["seed"] for r in runs[POOLINGS[0]]]
    lines = [
        f"## Head pooling on the same light and heavy stages: {args.name}", "",
        f"{_command(args)}. Validation figures of each of the recipe's {len(seeds)} gate seeds (the test split "
        "is not read): dense / gated at the target ratio, then where each seed's calibration put the learned "
        "threshold (validation selection / accuracy there).", "",
        "| pooling | " + " | ".join(f"seed {s} dense / gated" for s in seeds) + " | mean dense | mean gated |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for name in POOLINGS:
        rows = runs[name]
        cells = [f"{r['val_dense_accuracy']:.3f} / {r['val_budget_accuracy']:.3f}" for r in rows]
        dense, gated = (statistics.fmean(r[k] for r in rows) for k in ("val_dense_accuracy", "val_budget_accuracy"))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {dense:.3f} | {gated:.3f} |")
    lines += ["", "| pooling | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    for name in POOLINGS:
        calibrations = [r["calibration"] for r in runs[name]]
        lines.append(f"| {name} | " + " | ".join(
            f"{100 * c['val_selected']:.1f}% / {c['val_accuracy']:.3f}" if c else "—" for c in calibrations) + " |")
    if reports:
        lines += ["", f"The kept run of each pooling on the {reports[POOLINGS[0]]['videos']} validation videos:", "",
                  *_setting_table(reports, "pooling")]
    return "\n".join(lines)


def gate_runs(args: argparse.Namespace) -> str:
    """Every gate run the finished training kept in its work folder, evaluated on test."""
    from models.checkpoint import load_checkpoint, read_metadata
    from pipelines.training.gate import keep_run, set_threshold, validation_score

    dataset = load_dataset(args.data)
    checkpoint = args.work.with_name(args.work.name.removesuffix(".work"))
    training = read_metadata(checkpoint)["extra"]["training"]
    if not training.get("gate_runs"):
        raise SystemExit(f"{checkpoint} was trained with one gate run: nothing to compare")
    model, _ = load_checkpoint(checkpoint)  # each run's state holds every part the gate stage trains
    groups: list[str] = []
    rows, dense = [], []
    for run in training["gate_runs"]:
        state = torch.load(args.work / f"gate.run{run['run']}.pt", map_location="cpu", weights_only=True)
        model.load_state_dict({**model.state_dict(), **state["model"]})
        calibration = state["summary"]["calibration"]
        set_threshold(model, calibration["threshold"], calibration["rule"])
        s = evaluate(Recognizer(model, isolate=False), dataset, budgets=(0.25,))["settings"]
        groups = [g for g in ("order", "count", "other") if g in (s["dense"].get("groups") or {})]
        dense.append(s["dense"]["accuracy"])
        kept = " (kept)" if run["run"] == training["gate_run"] else ""
        learned = s["gated threshold"]
        score = validation_score({"dense_accuracy": run["val_dense_accuracy"],
                                  "budget_accuracy": run["val_budget_accuracy"]})
        cells = [f"{s[k]['accuracy']:.3f}" + "".join(f" | {s[k]['groups'][g]['accuracy']:.3f}" for g in groups)
                 for k in ("dense", "gated 25%")]
        rows.append(f"| run {run['run']}, seed {run['seed']}{kept} | {run['val_dense_accuracy']:.3f} | "
                    f"{run['val_budget_accuracy']:.3f} | {score:.3f} | "
                    f"{100 * run.get('val_selected', float('nan')):.1f}% | " + " | ".join(cells)
                    + f" | {learned['accuracy']:.3f} on {100 * learned['selected_fraction']:.1f}% |")
        print(rows[-1], flush=True)
    by_score = keep_run([{**r, "val_selected": 0.0} for r in training["gate_runs"]], 0.0)["run"]
    tolerance = training["config"].get("gate_run_tolerance", TrainConfig.gate_run_tolerance)
    group_cells = "".join(f" {g} |" for g in groups)
    return "\n".join([
        f"## Gate runs: did validation keep the best? ({args.name})", "",
        f"{_command(args)}. Training ran the gate stage {len(training['gate_runs'])} times on the same light and "
        f"heavy stages and kept run {training['gate_run']} ({training['validation']['videos']} validation videos: of "
        f"the runs within {tolerance:g} of the best by score and by dense accuracy, the one whose calibrated "
        f"threshold selects least); the best validation score (gated + ½ dense) alone keeps run {by_score}. "
        f"Test: {len(dataset.split('test'))} videos, accuracy over all classes, then per group where the data set "
        "has groups, and each run at its own learned threshold.", "",
        f"| gate run | val dense | val gated | val score | val threshold selects | dense |{group_cells} gated 25% |"
        f"{group_cells} learned threshold |",
        "|---|---|---|---|---|---|---|---|" + "---|" * 2 * len(groups),
        *rows, "",
        f"Test dense accuracy of the kept run {dense[training['gate_run'] - 1]:.3f}; mean over the runs "
        f"{statistics.fmean(dense):.3f}, best {max(dense):.3f}, worst {min(dense):.3f}.",
    ])


def light_epochs(args: argparse.Namespace) -> str:
    """The light stage alone with each epoch count: share of its most salient snippets that show an event."""
    from pipelines.decoding.probe import probe
    from pipelines.evaluation import load_relevance, relevance_scores
    from pipelines.planning import plan_video
    from pipelines.training.frames import prepare
    from pipelines.training.light import light_classifier, light_salience, train_light
    from pipelines.training.trainer import Trainer

    data = args.data.resolve()
    dataset, relevance = load_dataset(data), load_relevance(data)
    if not relevance:
        raise SystemExit(f"{data} has no relevance.json: nothing to measure the light stage against")
    (args.scratch / "frames").mkdir(parents=True, exist_ok=True)
    rows = []
    k = (3 * TrainConfig.heavy_snippets_per_video) // 4  # the light-chosen snippets the heavy stage trains on
    for epochs in (int(e) for e in args.epochs.split(",")):
        config = dataclasses.replace(TrainConfig(), light_epochs=epochs)
        folder = args.scratch / f"{epochs}.work"
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "frames").exists():  # decoded once, shared by every count
            (folder / "frames").symlink_to((args.scratch / "frames").resolve())
        ctx = Trainer(dataset, config, folder, restart=True, show_progress=False, log=lambda line: None).ctx
        prepare(ctx)
        start = time.perf_counter()
        train_light(ctx)
        seconds = time.perf_counter() - start
        net = light_classifier(ctx)
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
                salient = light_salience(ctx, net, video, ctx.targets[split][i]).argsort(descending=True)[:k]
                hits.append(relevance_scores([spans[j] for j in salient.tolist()], events)[1])
                rates.append(relevance_scores(spans, events)[1])
            precision[split], base[split] = statistics.fmean(hits), statistics.fmean(rates)
        figures = ctx.figures["light"]
        rows.append(f"| {epochs} | {figures.get('epoch')} | {figures.get('val_frame_accuracy'):.3f} | "
                    f"{precision['train']:.3f} | {precision['val']:.3f} | {base['train']:.3f} | {seconds:.0f} |")
        print(rows[-1], flush=True)
    return "\n".join([
        f"## Light epochs: does the light stage find the events? ({args.name})", "",
        f"{_command(args, '--epochs', args.epochs)}. The light stage alone with the default recipe and each "
        f"epoch count; `top-{k} precision`: share of each video's {k} most salient snippets (the light-chosen "
        "snippets the heavy stage trains on) that show a key event (relevance.json, never read by training); "
        "`all snippets`: the share of all snippets that do (random choice). Validation: the light stage's own "
        "score and the epoch it kept.", "",
        f"| light epochs | kept epoch | validation | top-{k} precision, train | top-{k} precision, val | "
        "all snippets | light stage s |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])


CALIBRATION_RULES = {  # name → (band, precision)
    "loss bound at the selection alone": (1.0, None),
    "loss bound over a band of selections": (TrainConfig.threshold_band, None),
    "band and precision (the default)": (TrainConfig.threshold_band, TrainConfig.threshold_precision),
}


def calibration(args: argparse.Namespace) -> str:
    """Each calibration rule chooses a threshold on some videos; other videos show whether its promise held."""
    from models.checkpoint import load_checkpoint
    from pipelines.cache import cache_frames
    from pipelines.training.calibration import choose_threshold, selection_curve
    from pipelines.training.features import video_features
    from pipelines.training.validation import validation_split

    torch.set_num_threads(2)
    checkpoint = args.work.with_name(args.work.name.removesuffix(".work"))
    model, _ = load_checkpoint(checkpoint)
    model.eval()
    mc, default = model.config, TrainConfig()
    data = load_dataset(args.data, probe=False)
    items = list(validation_split(data, default.val_fraction, default.seed, args.work).val) + list(data.split("test"))
    videos = []  # validation videos from the training's frame cache, test videos decoded once into the scratch
    for part, cache in (([it for it in items if it.split != "test"], args.work / "frames"),
                        ([it for it in items if it.split == "test"], args.scratch)):
        cached, failed = cache_frames([it.path for it in part], cache, size=max(mc.light_size, mc.heavy_size),
                                      snippet_frames=mc.snippet_frames, max_snippets=mc.max_snippets)
        if failed:
            raise SystemExit(f"could not decode: {failed}")
        videos += cached
    features = []
    for video in videos:
        light, heavy = video_features(model, video, torch.device("cpu"))
        features.append({"light": light, "heavy": heavy, "heavy_logits": torch.zeros(len(light), mc.num_classes)})
    targets = torch.zeros(len(items), mc.num_classes)
    for i, it in enumerate(items):
        targets[i, data.label_index(it)] = 1.0
    curve = selection_curve(model, features, targets)

    def held(choice: dict[str, Any], on: list[int]) -> dict[str, float]:
        g, index = int((curve.thresholds == choice["threshold"]).nonzero()[0]), torch.tensor(on)
        return {"selected": float(curve.selected[g, index].mean()), "accuracy": float(curve.correct[g, index].mean()),
                "dense": float(curve.dense[index].mean())}

    val = [i for i, it in enumerate(items) if it.split != "test"]
    test = [i for i, it in enumerate(items) if it.split == "test"]
    tolerance, rng = default.threshold_tolerance, random.Random(0)
    draws = []
    for _ in range(args.splits):
        order = list(range(len(items)))
        rng.shuffle(order)
        draws.append((sorted(order[: len(order) // 2]), sorted(order[len(order) // 2 :])))
    lines = [
        f"## Calibration: does the learned threshold's promise hold? ({args.name})", "",
        f"{_command(args, '--splits', str(args.splits))}: {len(val)} validation and {len(test)} test videos, "
        f"{len(curve.thresholds)} candidate thresholds, tolerance {100 * tolerance:g} points of confidence in the "
        "true label (one-sided 95% bound). Real split: chosen on "
        "validation, held on test.", "",
        "| rule | threshold | validation selected / accuracy / dense | test selected / accuracy / dense | "
        "selection drift | accuracy − dense on test |",
        "|---|---|---|---|---|---|",
    ]
    for name, (band, precision) in CALIBRATION_RULES.items():
        choice = choose_threshold(curve, tolerance, band, precision, videos=val)
        h = held(choice, test)
        lines.append(f"| {name} | {choice['threshold']:.4g} | {100 * choice['val_selected']:.1f}% / "
                     f"{choice['val_accuracy']:.3f} / {choice['val_dense_accuracy']:.3f} | "
                     f"{100 * h['selected']:.1f}% / {h['accuracy']:.3f} / {h['dense']:.3f} | "
                     f"{100 * (h['selected'] - choice['val_selected']):+.1f} pts | "
                     f"{100 * (h['accuracy'] - h['dense']):+.1f} pts |")
    lines += ["", f"Random halves of the {len(items)} held-out videos ({args.splits} draws, seed 0): chosen on one "
              "half, held on the other.", "",
              "| rule | selection held within ±5 pts | accuracy within 2 pts of dense | mean selected | "
              "mean accuracy − promised |", "|---|---|---|---|---|"]
    for name, (band, precision) in CALIBRATION_RULES.items():
        within, close, selected, drop = 0, 0, 0.0, 0.0
        for chosen_on, held_on in draws:
            choice = choose_threshold(curve, tolerance, band, precision, videos=chosen_on)
            h = held(choice, held_on)
            within += abs(h["selected"] - choice["val_selected"]) <= 0.05 + 1e-9
            close += h["accuracy"] - h["dense"] >= -0.02 - 1e-9
            selected += h["selected"] / len(draws)
            drop += (h["accuracy"] - choice["val_accuracy"]) / len(draws)
        lines.append(f"| {name} | {within / len(draws):.0%} | {close / len(draws):.0%} | {100 * selected:.1f}% | "
                     f"{100 * drop:+.1f} pts |")
    return "\n".join(lines)


def light_pass(args: argparse.Namespace) -> str:
    """Gated at 25% with every light pass on labelled test splits: accuracy and decoding cost."""
    sets = {"demo": (DEMO[0], DEMO_CHECKPOINT), "unseen": (UNSEEN[0], args.checkpoint or UNSEEN[1].with_suffix(""))}
    if "unseen-g12" in args.sets and not args.reuse:  # keyframes denser than snippets: where ``auto`` aligns the plan
        sets["unseen-g12"] = (_reencoded_test_split(UNSEEN[0], 12), sets["unseen"][1])
    args.scratch.mkdir(parents=True, exist_ok=True)
    parts = [
        "## Light passes: accuracy and decoding cost", "",
        f"`python -m bench.ablate --knob light-pass --sets {args.sets}"
        + (f" --checkpoint {shown(args.checkpoint)}" if args.checkpoint else "")
        + f"` on {machine()}. Gated at a 25% budget "
        "with each light pass, every test video of each set, side by side in one run (decoding in-process). "
        "`frames decoded` counts frames handed to the codec, both passes (the light pass's share in brackets); "
        "`vs exact` is the accuracy difference on the same videos." + (f" {args.note}" if args.note else ""),
    ]
    for name in args.sets.split(","):
        kept = args.scratch / f"{name}.json"
        if not (args.reuse and kept.exists()):
            data, checkpoint = sets[name]
            with Recognizer(checkpoint, isolate=False) as recognizer:
                report = evaluate(recognizer, load_dataset(data), budgets=(0.25,), light_passes=LIGHT_PASS_LADDER)
            kept.write_text(json.dumps(report, indent=2))
        report = json.loads(kept.read_text())
        parts += ["", f"**{name}** ({report['videos']} test videos):", "", light_pass_table(report)]
    return "\n".join(parts)


def _reencoded_test_split(data: Path, gop: int) -> Path:
    """The test split of ``data`` re-encoded with a keyframe every ``gop`` frames (x264, crf 18, same frames)."""
    import csv

    import av

    from pipelines.encoding import write_video

    out = data.with_name(f"{data.name}-test-g{gop}")
    if (out / "annotations.csv").exists():
        return out
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader((data / "annotations.csv").open()))
    for row in rows:
        if row["split"] != "test":  # the other splits are only linked (a data set needs a train split)
            if not (out / row["video"]).exists():
                (out / row["video"]).symlink_to((data / row["video"]).resolve())
            continue
        with av.open(str(data / row["video"])) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        write_video(out / row["video"], frames, fps=fps, gop=gop, crf=18)
    with (out / "annotations.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video", "label", "split"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("video", "label", "split")} for r in rows)
    for name in ("classes.txt", "relevance.json"):
        (out / name).write_bytes((data / name).read_bytes())
    return out


SEED_COLUMNS = ("dense", "uniform 25%", "gated 10%", "gated 25%", "gated threshold")


def seed(args: argparse.Namespace) -> str:
    """The default recipe trained from scratch with each seed on one data set, each evaluated on test."""
    args.scratch.mkdir(parents=True, exist_ok=True)
    for s in (int(s) for s in args.seeds.split(",")):
        kept = args.scratch / f"seed{s}.json"
        if kept.exists():  # a kept run is not repeated
            continue
        checkpoint = args.scratch / f"seed{s}.safetensors"
        _, train_s = train_run(args.data, checkpoint, TrainConfig(seed=s, device=args.device))
        report = evaluate(Recognizer(checkpoint, isolate=False, device=args.device), load_dataset(args.data))
        kept.write_text(json.dumps({"seed": s, "machine": machine(), "train_s": train_s, "report": report}))
    runs = sorted((json.loads(p.read_text()) for p in args.scratch.glob("seed*.json")), key=lambda r: r["seed"])
    lines = ["| training seed | " + " | ".join(SEED_COLUMNS) + " | gated 25% vs dense: right only gated / only dense"
             " | train min |", "|" + "---|" * (len(SEED_COLUMNS) + 3)]
    by_video: dict[str, list[float]] = {}  # gated 25% minus dense, per test video, one entry per seed
    for run in runs:
        s, paired = run["report"]["settings"], run["report"]["paired_with_dense"]["gated 25%"]
        cells = [f"{s[c]['accuracy']:.3f}" for c in SEED_COLUMNS]
        cells[-1] += f" ({100 * s['gated threshold']['selected_fraction']:.1f}%)"
        lines.append(f"| {run['seed']} | " + " | ".join(cells) + f" | {len(paired['only_here'])} / "
                     f"{len(paired['only_dense'])} | {run['train_s'] / 60:.1f} |")
        dense, gated = correct_by_video(s["dense"]), correct_by_video(s["gated 25%"])
        for video in dense:
            by_video.setdefault(video, []).append(float(gated[video]) - float(dense[video]))
    if len(runs) > 1:
        spread = [f"{statistics.fmean(v):.3f} ± {statistics.stdev(v):.3f}" for v in
                  ([r["report"]["settings"][c]["accuracy"] for r in runs] for c in SEED_COLUMNS)]
        lines.append("| mean ± sd | " + " | ".join(spread) + " | | |")
    per_video = [statistics.fmean(d) for d in by_video.values()]  # resample videos, each its mean over seeds
    low, high = bootstrap_interval(per_video)
    return "\n".join([
        f"## Training seed: how much the figures move ({args.name})", "",
        f"`python -m bench.ablate --knob seed --data {shown(args.data)} --seeds "
        f"{','.join(str(r['seed']) for r in runs)}` on {'; '.join(sorted({r['machine'] for r in runs}))}. The default "
        f"recipe with each training seed, {runs[0]['report']['videos']} test videos.", "",
        *lines, "",
        f"Gated 25% minus dense, averaged over the seeds: {100 * statistics.fmean(per_video):+.1f} pts, 95% paired "
        f"bootstrap interval [{100 * low:+.1f}, {100 * high:+.1f}] (resampling the {len(per_video)} test videos).",
    ])


class KeptRuns(dict[str, Any]):
    """A knob's finished runs by name, kept in ``scratch/reports.json`` so that an interrupted knob resumes
    after its last finished run: each run's training seconds, machine and `vidgate evaluate` report."""

    def __init__(self, scratch: Path) -> None:
        scratch.mkdir(parents=True, exist_ok=True)
        self.path = scratch / "reports.json"
        super().__init__(json.loads(self.path.read_text()) if self.path.exists() else {})

    def keep(self, name: str, checkpoint: Path, train_s: float, scored: Any) -> None:
        """Evaluate ``checkpoint`` on ``scored`` (a data set) and keep it as run ``name``."""
        self[name] = {"train_s": train_s, "machine": machine(),
                      "report": evaluate(Recognizer(checkpoint, isolate=False), scored)}
        self.path.write_text(json.dumps(self))

    def reports(self) -> dict[str, dict[str, Any]]:
        return {name: run["report"] for name, run in self.items()}

    def machines(self) -> str:
        return "; ".join(sorted({run["machine"] for run in self.values()}))

    def minutes(self) -> str:
        return ", ".join(f"{name} {run['train_s'] / 60:.1f} min" for name, run in self.items())


def annotated_in_heavy_top(data: Path, work: Path) -> tuple[int, int, int, int]:
    """On a finished run's training videos: how many of the snippets segments.csv marks are among the heavy
    network's most salient (the gate's salience targets without segments), and on how many videos the targets
    with both are the heavy network's alone: (inside, annotated, same videos, videos)."""
    from pipelines.training.features import load_features, pad_batch
    from pipelines.training.frames import prepare
    from pipelines.training.gate import salience_targets
    from pipelines.training.segments import snippet_coverage
    from pipelines.training.trainer import Trainer

    config = recipe_of(work)
    ctx = Trainer(load_dataset(data), config, work, restart=False, show_progress=False, log=lambda line: None).ctx
    prepare(ctx)  # done: reads the run's frame index
    train, coverage = load_features(ctx, "train"), snippet_coverage(ctx, "train")
    if coverage is None:
        raise SystemExit(f"{data} has no segments.csv")
    inside = annotated = same = 0
    for j in range(len(train)):
        _, _, logits, valid = pad_batch(train, [j])
        covered, targets = coverage[j].unsqueeze(0), ctx.targets["train"][[j]]
        heavy = salience_targets(logits, targets, valid, config.target_budget, covered, "heavy")
        both = salience_targets(logits, targets, valid, config.target_budget, covered, "both")
        same += int(torch.equal(heavy, both))
        inside += int(((covered > 0) & (heavy > 0)).sum())
        annotated += int((covered > 0).sum())
    return inside, annotated, same, len(train)


def segments(args: argparse.Namespace) -> str:
    """A finished run of the defaults on a data set with segments.csv (the gate's salience term pulls toward
    the annotated snippets or the heavy network's most salient, ``segment_targets`` ``both``), against the
    same light and heavy stages with the gate stage pulled toward the annotated snippets alone and toward the
    heavy network's alone, and against the defaults trained from scratch on the same videos without
    segments.csv (a copy of the data set, videos hard-linked); all scored on the test split against the
    segments."""
    import os
    import shutil

    runs = KeptRuns(args.scratch)
    scored = load_dataset(args.data)  # the segments score every run
    if "gate targets both (default)" not in runs:
        summary = json.loads((args.work / "summary.json").read_text())
        runs.keep("gate targets both (default)", args.work.with_name(args.work.name.removesuffix(".work")),
                  summary["seconds"]["total"], scored)
    for targets in ("segments", "heavy"):  # the gate stage alone, on the finished run's other stages
        name = f"gate targets {targets}"
        if name not in runs:
            checkpoint = args.scratch / f"{targets}.safetensors"
            _, train_s = train_run(args.data, checkpoint, recipe_of(args.work, segment_targets=targets),
                                   seed_from=args.work)
            runs.keep(name, checkpoint, train_s, scored)
    if "without segments.csv" not in runs:
        bare = args.scratch / "data"
        if not (bare / "annotations.csv").exists():
            shutil.rmtree(bare, ignore_errors=True)
            shutil.copytree(args.data, bare, copy_function=os.link,
                            ignore=shutil.ignore_patterns("segments.csv"))
        checkpoint = args.scratch / "without.safetensors"
        _, train_s = train_run(bare, checkpoint, TrainConfig())
        runs.keep("without segments.csv", checkpoint, train_s, scored)
    reports = runs.reports()
    inside, annotated, same, videos = annotated_in_heavy_top(args.data, args.work)
    return "\n".join([
        f"#### Timed annotations: training with and without segments.csv ({args.name})", "",
        f"`python -m bench.ablate --knob segments --name {args.name}{_out(args)}` on {runs.machines()}, "
        f"{reports['without segments.csv']['videos']} test videos. The first three rows share the light and "
        "heavy stages, which chose their training snippets where segments.csv says events are; only the gate "
        "stage differs, in what its salience term pulls toward: the annotated snippets or the heavy network's "
        "most salient (both, the default), the annotated ones alone, the heavy network's alone. The last row "
        "is the defaults trained from scratch without segments.csv. Training time: "
        f"{runs.minutes()} (the middle two: the gate stage alone). Relevant recall is the share of the annotated "
        "events the selected snippets show (every row scored against segments.csv).", "",
        *_setting_table(reports, "training"), "",
        f"Of the {annotated} training snippets segments.csv marks, {inside} are among the heavy network's most "
        f"salient {100 * recipe_of(args.work).target_budget:.0f}% of their video, the gate's targets without "
        f"segments; the targets with both are the heavy network's alone on {same} of {videos} training videos.",
    ])


def trunks(args: argparse.Namespace) -> str:
    """The small-data recipe against training the trunks, on a small set (bench.unseen's ``small``: 100 videos
    of about a minute) with trunks pretrained on another data set (the finished run's checkpoint, ``--work``):
    the defaults from scratch; the pretrained trunks as weight files, the heavy one trained on the set; and
    the same files frozen (``--freeze-trunks``). Timed, each scored on the small set's test split."""
    from .common import fresh_run
    from .unseen import SETS

    pretrained = args.work.with_name(args.work.name.removesuffix(".work"))
    files = TrainConfig(light="tiny2d", light_weights=str(pretrained), heavy="tiny3d", heavy_weights=str(pretrained))
    arms = {
        "from scratch (the defaults)": TrainConfig(),
        "pretrained trunks, heavy trained": files,
        "pretrained trunks, frozen (--freeze-trunks)": dataclasses.replace(files, freeze_trunks=True),
    }
    data = args.scratch / "data"
    runs = KeptRuns(args.scratch)
    for name, config in arms.items():
        if name in runs:
            continue
        checkpoint = args.scratch / f"arm{len(runs)}.safetensors"
        fresh_run(data, SETS["small"], checkpoint)
        _, train_s = train_run(data, checkpoint, config)
        runs.keep(name, checkpoint, train_s, load_dataset(data))
    reports = runs.reports()
    small = SETS["small"]
    return "\n".join([
        f"#### Frozen or trained trunks on a small set ({args.name})", "",
        f"`python -m bench.ablate --knob trunks{_out(args)}` on {runs.machines()}. "
        f"Data: `vidgate synth` with {small.videos} videos of about a minute, {small.size}×{small.size} px, seed "
        f"{small.seed} ({reports[next(iter(reports))]['videos']} test videos). Pretrained trunks: the tiny2d and "
        f"tiny3d trunks of `{shown(pretrained)}` (`--light-weights` / `--heavy-weights`), trained on the "
        f"{args.name} set: other classes (direction, order and count) and other videos, the same kind of "
        f"footage. Training time: {runs.minutes()}.", "",
        *_setting_table(reports, "training"),
    ])


KNOBS: dict[str, tuple[Callable[[argparse.Namespace], str], tuple[Path, Path], str]] = {
    # knob → (what it runs, default data set and work folder, default --name)
    "head": (head, DEMO, "demo"),
    "pooling": (pooling, UNSEEN, "unseen"),
    "gate-runs": (gate_runs, UNSEEN, "unseen"),
    "light-epochs": (light_epochs, ORDER_COUNT, "order-count"),
    "calibration": (calibration, UNSEEN, "unseen"),
    "light-pass": (light_pass, UNSEEN, "unseen"),
    "seed": (seed, DEMO, "demo"),
    "segments": (segments, ORDER_COUNT, "order-count"),
    "trunks": (trunks, ORDER_COUNT, "order-count"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--knob", required=True, choices=sorted(KNOBS))
    parser.add_argument("--data", type=Path, help="the data set (default: the knob's, see above)")
    parser.add_argument("--work", type=Path, help="a finished training's work folder, CK.work (default: the knob's)")
    parser.add_argument("--name", help="names the section (default: the data set's bench)")
    parser.add_argument("--out", type=Path, help="the page the section goes to (default: data/bench/ablations.md; "
                        "light-pass: docs/benchmarks.md)")
    parser.add_argument("--epochs", default="6,20", help="light-epochs: comma-separated light epoch counts")
    parser.add_argument("--splits", type=int, default=200, help="calibration: random halves drawn")
    parser.add_argument("--sets", default="demo,unseen", help="light-pass: demo, unseen, unseen-g12 (the unseen test "
                        "split re-encoded with a keyframe every 12 frames)")
    parser.add_argument("--checkpoint", type=Path, help="light-pass: the unseen set's model (default: bench.unseen's)")
    parser.add_argument("--note", default="", help="light-pass: a sentence for the section")
    parser.add_argument("--reuse", action="store_true", help="light-pass: the section from the kept reports")
    parser.add_argument("--seeds", default="0,1,2", help="seed: comma-separated training seeds")
    parser.add_argument("--device", default="auto", help="seed: where the trainings run")
    args = parser.parse_args()
    run, (data, work), name = KNOBS[args.knob]
    args.data, args.work, args.name = args.data or data, args.work or work, args.name or name
    args.scratch = ROOT / "data" / "bench" / f"ablate-{args.knob}-{args.name}"  # checkpoints and reports
    text = run(args)
    write_section(f"{args.knob}-{args.name}" if args.knob != "light-pass" else "light-passes", text,
                  args.out or (BENCHMARKS if args.knob == "light-pass" else ABLATIONS),
                  header="# Ablations\n\nEach section was written by `python -m bench.ablate`, which it names.\n")
    print(text)


if __name__ == "__main__":
    main()
