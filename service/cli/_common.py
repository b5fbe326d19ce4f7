"""What every ``vidgate`` command shares: the typer app, error exits, and the flags derived from the options
and the training recipe."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import traceback
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.errors import VidgateError
from pipelines.options import OPTION_NAMES, Options, parse_options
from pipelines.training.config import TrainConfig

if TYPE_CHECKING:
    from pipelines.recognizer import Recognizer

from ..config import get_settings
from ..errors import ERRORS, EXIT_MODEL, EXIT_USAGE

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


def _recognizer(checkpoint: Path | None, *, debug: bool = False, isolate: bool = True) -> Recognizer:
    from ..recognizers import open_recognizer

    try:
        return open_recognizer(get_settings(), checkpoint=checkpoint, isolate=isolate)
    except VidgateError as exc:
        entry = ERRORS.get(exc.code)  # the table's exit code (bad_options: 2); the model's failure otherwise
        raise _fail(exc.message, entry.exit if entry and entry.exit is not None else EXIT_MODEL, debug=debug) from None


