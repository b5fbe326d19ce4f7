"""The ``vidgate`` command line: one typer app; each command is a thin wrapper over pipelines/ or service/.

Exit codes (service/errors.py, docs/errors.md): 0 success, 1 some inputs failed (each named on stderr
with the reason), 2 bad options or usage, 3 the model could not be loaded.
"""

from __future__ import annotations

import sys

import typer

from ..errors import EXIT_USAGE
from ._common import app

# Each module registers its commands, in the order `vidgate --help` lists them.
# isort: off
from . import recognition, training, operations  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """The ``vidgate`` command; a missing optional package is one clear line and exit 2, not a traceback."""
    from models.extras import MissingExtra

    try:
        app()
    except MissingExtra as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)

