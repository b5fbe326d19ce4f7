"""The ``vidgate`` command line: one typer app; each command is a thin wrapper over pipelines/ or service/."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="vidgate: long-range activity recognition that looks only at the snippets that matter.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.command()
def backbones() -> None:
    """List the registered light encoders and heavy backbones."""
    from pipelines.inspect import registered_backbones

    typer.echo(json.dumps(registered_backbones(), indent=2))


@app.command()
def smoke(light: str = "tiny2d", heavy: str = "tiny3d", snippets: int = 16) -> None:
    """Build a randomly initialised model and run one gated forward pass (a quick installation check)."""
    from pipelines.inspect import smoke_run

    typer.echo(json.dumps(smoke_run(light=light, heavy=heavy, snippets=snippets), indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
