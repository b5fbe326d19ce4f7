"""Commands that recognise videos: classify, example, batch, report."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import VidgateError
from pipelines.options import Options

from ..config import get_settings
from ..errors import EXIT_FAILED_INPUTS, EXIT_USAGE
from ._common import _fail, _recognizer, app, with_options


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
    from ..render import result_table

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
    from ..examples import EXAMPLES_DIR, examples_for, find_example, load_examples
    from ..render import example_table, truth_text

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
    from ..batch.runner import BatchPlan, run_batch

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
    from ..batch.report import write_html_report

    if not results.is_file():
        raise _fail(f"{results}: no such file", EXIT_USAGE)
    typer.echo(f"wrote {write_html_report(results, html_out, artifacts=artifacts)}")


