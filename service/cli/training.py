"""Commands that make and judge models: synth, train, evaluate, data import, backbones, smoke."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import VidgateError
from pipelines.training.config import TrainConfig

from ..errors import EXIT_FAILED_INPUTS, EXIT_MODEL, EXIT_USAGE
from ._common import _fail, _recognizer, app, with_recipe


@app.command()
def backbones() -> None:
    """List the registered light encoders and heavy backbones."""
    from pipelines.smoke import registered_backbones

    typer.echo(json.dumps(registered_backbones(), indent=2))


@app.command()
def smoke(light: str = "tiny2d", heavy: str = "tiny3d", snippets: int = 16) -> None:
    """Build a randomly initialised model and run one gated forward pass (a quick installation check)."""
    from pipelines.smoke import smoke_run

    typer.echo(json.dumps(smoke_run(light=light, heavy=heavy, snippets=snippets), indent=2))


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the data set into.")],
    videos: Annotated[int, typer.Option(help="Number of videos.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data set).")] = 0,
    classes: Annotated[int, typer.Option(help="Number of direction-pair activity classes.")] = 10,
    size: Annotated[int, typer.Option(help="Frame width and height.")] = 112,
    fps: Annotated[float, typer.Option(help="Frame rate.")] = 12.0,
    min_snippets: Annotated[int, typer.Option(help="Fewest 8-frame snippets per video.")] = 32,
    max_snippets: Annotated[int, typer.Option(help="Most 8-frame snippets per video.")] = 64,
    order_classes: Annotated[int, typer.Option(help="Classes defined by the order of two events (even).")] = 0,
    count_classes: Annotated[int, typer.Option(help="Classes defined by an event's repetitions (even).")] = 0,
    min_gap: Annotated[float, typer.Option(help="Seconds between the events of an order class, at least.")] = 10.0,
    multi_label: Annotated[bool, typer.Option(help="About half of the videos show two classes.")] = False,
    segments: Annotated[bool, typer.Option(help="Write segments.csv: when each event happens (timed annotations "
                                                "training learns from).")] = True,
    workers: Annotated[int, typer.Option(help="Encoding processes.")] = 2,
) -> None:
    """Write the synthetic long-range activity benchmark (annotations.csv, videos, relevance.json)."""
    from tqdm.auto import tqdm

    from pipelines.synth import SynthConfig, write_synthetic_dataset

    try:
        config = SynthConfig(
            videos=videos,
            seed=seed,
            classes=classes,
            size=size,
            fps=fps,
            min_snippets=min_snippets,
            max_snippets=max_snippets,
            order_classes=order_classes,
            count_classes=count_classes,
            min_gap_s=min_gap,
            multi_label=multi_label,
            segments=segments,
        )
    except (ValueError, TypeError) as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    with tqdm(total=videos, desc="synth", unit="video") as bar:
        root = write_synthetic_dataset(
            out, config, progress=lambda done, total: bar.update(done - bar.n), workers=workers
        )
    typer.echo(f"wrote {videos} videos to {root}")


@app.command()
@with_recipe
def train(
    dataset: Annotated[Path, typer.Argument(help="Data set folder (annotations.csv; see docs/datasets.md).")],
    config: TrainConfig,
    out: Annotated[Path, typer.Option("--out", help="Checkpoint file to write.")],
    skip_bad: Annotated[bool, typer.Option(help="Train on the good rows and list the bad ones.")] = False,
    work: Annotated[Path | None, typer.Option(help="Work folder for caches (default OUT.work).")] = None,
    restart: Annotated[
        bool, typer.Option(help="Start over in the work folder, also one made with other options or data "
                                "(keeps decoded frames when the frame options match).")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Staged training: light encoder, heavy backbone, feature cache, concept kernels, gate + head."""
    from pipelines.datasets import load_dataset
    from pipelines.training import train as run_training

    try:
        data = load_dataset(dataset, skip_bad=skip_bad)
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_FAILED_INPUTS) from None
    for problem in getattr(data, "skipped", ()):
        typer.echo(f"skipped: {problem}", err=True)
    try:
        summary = run_training(
            data, out, config, work=work, restart=restart, show_progress=not quiet,
            log=lambda line: typer.echo(line, err=True),
        )
    except VidgateError as exc:  # a recipe the trainer refuses, or a work folder made with other options or data
        raise _fail(exc.message, EXIT_USAGE) from None
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    typer.echo(f"wrote {out}")


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint to evaluate.")],
    dataset: Annotated[Path, typer.Argument(help="Data set folder.")],
    out: Annotated[Path, typer.Option(help="Folder for evaluation.json/.md/.png.")] = Path("evaluation"),
    split: str = "test",
    budgets: Annotated[str, typer.Option(help="Comma-separated budgets.")] = "0.1,0.25,0.5",
    isolate: Annotated[bool, typer.Option(help="Decode in a child process (for untrusted files).")] = False,
    light_passes: Annotated[str, typer.Option(help="Light passes to compare at gated 25%, comma-separated "
                                                   "(exact,nonref,fast,keyframe,aligned,auto).")] = "",
    card: Annotated[bool, typer.Option("--card", help="Write the test figures into the checkpoint's model card "
                                                      "(the weights stay as they are).")] = False,
) -> None:
    """Dense, uniform-k, random-k and gated settings on one split, in one run: accuracy vs compute."""
    from tqdm.auto import tqdm

    from pipelines.datasets import load_dataset
    from pipelines.evaluation import evaluate as run_evaluation
    from pipelines.evaluation import settings_for
    from pipelines.evaluation_report import report_markdown, write_report

    recognizer = _recognizer(checkpoint, isolate=isolate)
    try:
        data = load_dataset(dataset)
        values = tuple(float(b) for b in budgets.split(","))
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_FAILED_INPUTS) from None
    except ValueError:
        raise _fail(f"--budgets must be comma-separated numbers, got {budgets!r}", EXIT_USAGE) from None
    if not data.split(split):
        raise _fail(f"the data set has no {split!r} videos", EXIT_FAILED_INPUTS)
    if card and split != "test":
        raise _fail("--card records test figures: evaluate the 'test' split", EXIT_USAGE)
    ladder = tuple(p for p in light_passes.split(",") if p)
    try:
        settings = settings_for(values, ladder)
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_USAGE) from None
    bar = tqdm(desc="evaluate", unit="video", total=len(data.split(split)) * len(settings))

    def step(name: str, done: int, total: int) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        report = run_evaluation(recognizer, data, split=split, budgets=values, light_passes=ladder, on_step=step)
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_USAGE) from None
    finally:
        recognizer.close()
    bar.close()
    paths = write_report(report, out, log=lambda line: typer.echo(line, err=True))
    typer.echo(report_markdown(report))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))
    if card:
        from models.checkpoint import CheckpointError, read_card, write_card
        from pipelines.training.card import with_test_figures

        try:
            write_card(checkpoint, with_test_figures(read_card(checkpoint), report))
        except (CheckpointError, OSError) as exc:
            raise _fail(f"the model card of {checkpoint} could not be written: {exc}", EXIT_MODEL) from None
        typer.echo(f"wrote the test figures into the model card of {checkpoint}")




data = typer.Typer(help="Data sets: import one from the formats public data sets come in (docs/datasets.md).",
                   no_args_is_help=True)
app.add_typer(data, name="data")


@data.command("import")
def data_import(
    data_format: Annotated[str, typer.Argument(metavar="FORMAT", help="folders, activitynet, charades, kinetics or "
                                                                       "breakfast (docs/datasets.md).")],
    src: Annotated[Path, typer.Argument(help="The source: a folder, or its annotation file.")],
    out: Annotated[Path, typer.Argument(help="The data set folder to write (new or empty).")],
    videos: Annotated[Path | None, typer.Option(help="Where the videos are (default: SRC, or the folder of SRC's "
                                                     "file).")] = None,
    classes: Annotated[Path | None, typer.Option(help="charades: the class list (default: Charades_v1_classes.txt "
                                                      "beside the CSVs).")] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy the videos into OUT (default: symbolic links to them).")]
    = False,
    skip_bad: Annotated[bool, typer.Option(help="Leave out the videos with problems and list them.")] = False,
    probe: Annotated[bool, typer.Option(help="Decode each video's first frame (--no-probe: faster; bad files then "
                                             "fail in training).")] = True,
    test_fraction: Annotated[float, typer.Option(help="folders without train/val/test folders: the share of each "
                                                      "class put in test.")] = 0.2,
    seed: Annotated[int, typer.Option(help="folders: the seed of the test choice.")] = 0,
    test_fold: Annotated[int, typer.Option(help="breakfast: the person split that is test (1: P03-P15, 2: P16-P28, "
                                                "3: P29-P41, 4: P42-P54).")] = 1,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Write a vidgate data set folder (annotations.csv, segments.csv, videos/) from another format; every problem
    of the source is listed at once, and nothing is written unless all is well."""
    from tqdm.auto import tqdm

    from pipelines.errors import DatasetError
    from pipelines.importers import ImportOptions, import_dataset

    options = ImportOptions(videos=videos, classes=classes, copy=copy, skip_bad=skip_bad, probe=probe,
                            test_fraction=test_fraction, seed=seed, test_fold=test_fold)
    with tqdm(desc="check", unit="video", disable=quiet) as bar:

        def step(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = import_dataset(data_format, src, out, options, progress=step)
        except DatasetError as exc:
            raise _fail(exc.message, EXIT_FAILED_INPUTS) from None
        except VidgateError as exc:
            raise _fail(exc.message, EXIT_USAGE) from None
    for line in report.lines():
        typer.echo(line)


