"""The ``vidgate`` command line: one typer app; each command is a thin wrapper over pipelines/ or service/.

Exit codes (service/errors.py, docs/errors.md): 0 success, 1 some inputs failed (each named on stderr
with the reason), 2 bad options or usage, 3 the model could not be loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import sqlite3
import sys
import traceback
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.errors import VidgateError
from pipelines.options import OPTION_NAMES, Options, parse_options
from pipelines.training.config import TrainConfig

if TYPE_CHECKING:
    from pipelines.recognizer import Recognizer

    from .queue import JobQueue

from .config import get_settings
from .errors import EXIT_FAILED_INPUTS, EXIT_MODEL, EXIT_USAGE

app = typer.Typer(
    help="vidgate: long-range activity recognition that looks only at the snippets that matter.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



def _fail(message: str, code: int, *, debug: bool = False) -> typer.Exit:
    if debug:
        traceback.print_exc()
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def with_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command one flag per `Options` field (help from the field's description); the command
    receives the validated ``options``. The flags, the API's form fields and the job record all come
    from that one model, so a new option needs no edit here."""
    signature = inspect.signature(command)
    hints = {k: v for k, v in typing.get_type_hints(command, include_extras=True).items() if k != "options"}
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "options"]
    flags = []
    for name, spec in Options.model_fields.items():
        option = typer.Option(help=spec.description, show_default=spec.default is not None)
        hint: Any = Annotated[spec.annotation, option]  # built at run time from the field
        flags.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=spec.default, annotation=hint))
        hints[name] = hint

    @functools.wraps(command)
    def wrapper(**values: Any) -> None:
        given = {name: values.pop(name) for name in OPTION_NAMES}
        try:
            options = parse_options(given)
        except VidgateError as exc:
            raise _fail(exc.message, EXIT_USAGE) from None
        command(options=options, **values)

    wrapper.__signature__ = signature.replace(parameters=[*own, *flags])  # type: ignore[attr-defined]
    wrapper.__annotations__ = hints
    return wrapper


def with_recipe(command: Callable[..., None]) -> Callable[..., None]:
    """Give `train` one flag per `TrainConfig` field (default the field's, help and help panel from its metadata);
    the command receives the ``config``. The recipe is declared once, so a new field needs no edit here."""
    signature = inspect.signature(command)
    hints = {k: v for k, v in typing.get_type_hints(command, include_extras=True).items() if k != "config"}
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "config"]
    types = typing.get_type_hints(TrainConfig)
    flags = []
    for spec in dataclasses.fields(TrainConfig):
        option = typer.Option(help=spec.metadata["help"], rich_help_panel=spec.metadata["panel"],
                              show_default=spec.default is not None)
        hint: Any = Annotated[types[spec.name], option]  # built at run time from the field
        flags.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=spec.default,
                                       annotation=hint))
        hints[spec.name] = hint

    @functools.wraps(command)
    def wrapper(**values: Any) -> None:
        config = TrainConfig(**{spec.name: values.pop(spec.name) for spec in dataclasses.fields(TrainConfig)})
        command(config=config, **values)

    wrapper.__signature__ = signature.replace(parameters=[*own, *flags])  # type: ignore[attr-defined]
    wrapper.__annotations__ = hints
    return wrapper


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


def _recognizer(checkpoint: Path | None, *, debug: bool = False, isolate: bool = True) -> Recognizer:
    from .recognizers import open_recognizer

    try:
        return open_recognizer(get_settings(), checkpoint=checkpoint, isolate=isolate)
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_MODEL, debug=debug) from None


@app.command()
@with_options
def classify(
    videos: Annotated[list[Path], typer.Argument(help="One or more video files.")],
    options: Options,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint (default: the shipped demo model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON result per line.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Recognise activities in videos; shows labels, the selected segments and the compute saved."""
    from .render import result_table

    recognizer = _recognizer(checkpoint, debug=debug)
    failed = 0
    try:
        for video in videos:
            try:
                result = recognizer.recognize(video, options)
            except Exception as exc:  # bad input, or a bug: report it and go on with the other files
                failed += 1
                if debug:
                    traceback.print_exc()
                error = _input_error(video, exc)
                typer.echo(f"error: {video}: {error['message']} [{error['code']}]", err=True)
                if as_json:  # a JSON consumer sees every file: the API's error body, with the file it is about
                    typer.echo(json.dumps({"video": video.name, "error": error}))
                continue
            typer.echo(json.dumps(result.to_dict()) if as_json else result_table(result))
    finally:
        recognizer.close()
    sys.stdout.flush()
    if failed:
        raise typer.Exit(EXIT_FAILED_INPUTS)


def _input_error(video: Path, exc: Exception) -> dict[str, str]:
    """The error body of one failed file (``code``, ``message``); the message does not repeat the file's name,
    which the caller prints once."""
    if not isinstance(exc, VidgateError):
        return {"code": "internal_error", "message": f"internal error ({type(exc).__name__}: {exc})"}
    message = exc.message
    for prefix in (f"{video}: ", f"{video.name}: "):
        message = message.removeprefix(prefix)
    return {"code": exc.code, "message": message}


@app.command()
@with_options
def example(
    options: Options,
    name: Annotated[str | None, typer.Argument(help="An example's name (default: every one; --list names them).")]
    = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint (default: the shipped demo model).")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List the examples and their truth; classify none.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per example: its truth and result.")]
    = False,
) -> None:
    """Classify a shipped example video (from the demo model's benchmark) and show the result beside its truth."""
    from .examples import EXAMPLES_DIR, examples_for, find_example, load_examples
    from .render import example_table, truth_text

    try:
        chosen = [find_example(name)] if name else list(load_examples())
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_USAGE) from None
    if not chosen:
        raise _fail("no example videos are installed", EXIT_USAGE)
    if list_only:
        for e in chosen:
            typer.echo(f"{e.name}  ({e.duration:g} s)  {truth_text(e)}")
        return
    recognizer = _recognizer(checkpoint)
    try:
        known = {e.name for e in examples_for(recognizer.config.classes)}
        runnable = [e for e in chosen if e.name in known]
        if not runnable:
            raise _fail(f"the model {recognizer.config.name!r} does not know the examples' classes (they are the "
                        "demo model's)", EXIT_USAGE)
        for e in runnable:
            result = recognizer.recognize(EXAMPLES_DIR / e.file, options)
            typer.echo(json.dumps({"example": e.name, "truth": e.truth(), "result": result.to_dict()}) if as_json
                       else example_table(result, e))
    finally:
        recognizer.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Embedded worker threads (default VIDGATE_WORKERS).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the REST API and viewer page; without VIDGATE_REDIS_URL the workers run inside this process."""
    from .serve import DataDirInUse
    from .serve import serve as run_server

    settings = get_settings()
    if workers is not None:
        if workers < 1:
            raise _fail("--workers must be at least 1", EXIT_USAGE)
        settings = settings.model_copy(update={"workers": workers})
    try:
        run_server(settings, host=host, port=port, log_level=log_level)
    except DataDirInUse as exc:
        raise _fail(str(exc), EXIT_USAGE) from None


@app.command()
def worker(
    name: Annotated[str | None, typer.Option(help="Consumer name (default: host name and process id).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve this worker's Prometheus metrics here.")] = None,
    handler: Annotated[str | None, typer.Option(hidden=True, help="module:factory of another job handler.")] = None,
) -> None:
    """Consume jobs from Redis (VIDGATE_REDIS_URL) until SIGTERM; run as many as you like, anywhere."""
    from .serve import run_redis_worker

    settings = get_settings()
    if not settings.redis_url:
        raise _fail(
            "vidgate worker needs VIDGATE_REDIS_URL (embedded mode runs workers inside `vidgate serve`)", EXIT_USAGE
        )
    try:
        run_redis_worker(settings, name=name, metrics_port=metrics_port, handler=handler)
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_MODEL) from None


@app.command()
def gc(
    grace: Annotated[float, typer.Option(help="Only folders untouched this many seconds count as orphaned.")] = 3600.0,
    dry_run: Annotated[bool, typer.Option(help="List what would be removed; remove nothing.")] = False,
) -> None:
    """Expire finished jobs past VIDGATE_RETENTION_S, trim the queue, remove uploads no job points to."""
    from .queue import open_queue
    from .retention import collect
    from .storage import Storage

    settings = get_settings()
    queue = open_queue(settings)
    try:
        done = collect(queue, Storage(settings.storage_root), retention_s=settings.retention_s, grace_s=grace,
                       dry_run=dry_run)
    finally:
        queue.close()
    for line in done.lines():
        typer.echo(("would remove " if dry_run else "") + line)
    for job_id in done.orphans:
        typer.echo(f"  orphaned: jobs/{job_id}/")


dead = typer.Typer(
    help="Dead letters: jobs that failed VIDGATE_MAX_DELIVERIES times (retries_exhausted). List them, requeue "
    "one once its cause is fixed, or drop one.",
    no_args_is_help=True,
)
app.add_typer(dead, name="dead")


@contextlib.contextmanager
def _job_queue() -> Iterator[JobQueue]:
    """The configured queue (embedded or Redis); one that cannot be reached is an error line and exit 1."""
    import redis

    from .queue import open_queue

    try:
        queue = open_queue(get_settings())
        try:
            yield queue
        finally:
            queue.close()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, sqlite3.OperationalError) as exc:
        raise _fail(f"the job queue cannot be reached ({type(exc).__name__}: {exc})", EXIT_FAILED_INPUTS) from None


@dead.command("list")
def dead_list(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (oldest first).")] = 100,
) -> None:
    """Dead letters, oldest first: job id, since when, deliveries, file name, why."""
    with _job_queue() as queue:
        letters, more = queue.dead_letters(limit=limit)
    for letter in letters:
        job = letter.job
        reason = (job.error or {}).get("message", "")
        typer.echo(f"{job.id}  {letter.since}  {job.attempts} attempts  {job.input.get('filename') or '-'}  {reason}")
    typer.echo(f"{len(letters)} dead letter(s)" + (f" shown; more past --limit {limit}" if more else ""), err=True)


@dead.command("requeue")
def dead_requeue(job_id: Annotated[str, typer.Argument(help="A job id from `vidgate dead list`.")]) -> None:
    """Put a dead letter's job back in the queue once its cause is fixed: its delivery count starts over, and
    its history keeps the earlier attempts."""
    from .queue import QueueFull

    with _job_queue() as queue:
        try:
            job = queue.requeue_dead(job_id)
        except QueueFull as exc:
            raise _fail(str(exc), EXIT_FAILED_INPUTS) from None
    if job is None:
        raise _fail(f"{job_id}: not a dead letter (`vidgate dead list` shows them)", EXIT_FAILED_INPUTS)
    typer.echo(f"requeued {job_id}")


@dead.command("drop")
def dead_drop(job_id: Annotated[str, typer.Argument(help="A job id from `vidgate dead list`.")]) -> None:
    """Drop a dead letter; the job stays failed (retries_exhausted) until retention removes it."""
    with _job_queue() as queue:
        dropped = queue.drop_dead(job_id)
    if not dropped:
        raise _fail(f"{job_id}: not a dead letter (`vidgate dead list` shows them)", EXIT_FAILED_INPUTS)
    typer.echo(f"dropped {job_id}")


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


@app.command()
@with_options
def batch(
    sources: Annotated[
        list[str], typer.Argument(help="Directories, globs, archives (.zip .tar .tar.gz .tar.zst), lists.")
    ],
    options: Options,
    out: Annotated[Path, typer.Option("--out", help="Output file (one record per video).")],
    output_format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    workers: Annotated[int, typer.Option(help="Local worker processes (each loads the model once).")] = 1,
    server: Annotated[str | None, typer.Option(help="Submit to a running vidgate service at this URL.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --server.")] = None,
    concurrency: Annotated[int, typer.Option(help="Jobs in flight in server mode.")] = 4,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint (local mode; default: the demo model).")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Run the videos that failed last time again.")] = False,
    follow_symlinks: Annotated[bool, typer.Option(help="Follow symbolic links in folders when they stay inside the "
                                                       "folder given (otherwise each is skipped and named).")] = False,
    artifacts: Annotated[Path | None, typer.Option(help="Save thumbnails and clips of selected snippets here.")] = None,
    decoders: Annotated[int | None, typer.Option(help="Decoding children per worker (default VIDGATE_DECODERS: one "
                                                      "per core); with one worker, that many videos in flight "
                                                      "(VIDGATE_WORKERS overrides).")] = None,
) -> None:
    """Process many videos; resumable (re-run to continue), one bad file never stops the batch."""
    from .batch.runner import BatchPlan, run_batch

    if output_format not in ("jsonl", "csv"):
        raise _fail(f"--format must be jsonl or csv, got {output_format!r}", EXIT_USAGE)
    if workers < 1 or concurrency < 1 or (decoders is not None and decoders < 1):
        raise _fail("--workers, --concurrency and --decoders must be at least 1", EXIT_USAGE)
    settings = get_settings()
    if decoders is not None:
        settings = settings.model_copy(update={"decoders": decoders})
    plan = BatchPlan(
        options=options,
        settings=settings,
        checkpoint=checkpoint or settings.checkpoint,
        workers=workers,
        server=server,
        api_key=api_key,
        concurrency=concurrency,
        retry_failed=retry_failed,
        follow_symlinks=follow_symlinks,
        artifacts=artifacts,
        format=output_format,
    )
    summary = run_batch(sources, out, plan)
    for line in summary.lines():
        typer.echo(line, err=True)
    if summary.failures:
        raise typer.Exit(EXIT_FAILED_INPUTS)


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A batch's JSONL output.")],
    html_out: Annotated[Path, typer.Option("--html", help="HTML file to write.")],
    artifacts: Annotated[Path | None, typer.Option(help="The batch's --artifacts folder.")] = None,
) -> None:
    """A static HTML summary of a batch: label distribution, compute saved, selected segments."""
    from .batch.report import write_html_report

    if not results.is_file():
        raise _fail(f"{results}: no such file", EXIT_USAGE)
    typer.echo(f"wrote {write_html_report(results, html_out, artifacts=artifacts)}")


def main() -> None:
    """The ``vidgate`` command; a missing optional package is one clear line and exit 2, not a traceback."""
    from models.extras import MissingExtra

    try:
        app()
    except MissingExtra as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
