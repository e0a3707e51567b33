"""The command line: the only place that prints or exits.

Domain errors are caught at the command boundary only: printed (to stderr, or as JSON on
stdout for ``--format json``), then ``raise typer.Exit(1) from None``.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from convshape.errors import ConvshapeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Predict, explain and verify the shapes, params and MACs of a PyTorch CNN in YAML.",
    pretty_exceptions_enable=False,
)


class CalcFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


@app.command()
def calc(
    expression: Annotated[
        str, typer.Argument(help='A layer call, e.g. "Conv2d(16, 33, 3, stride=2)".')
    ],
    input: Annotated[
        str, typer.Option("--input", "-i", help="Input shape, e.g. 20,16,50,100 (batch first).")
    ],
    format: Annotated[
        CalcFormat, typer.Option("--format", "-f", help="text, or one JSON object.")
    ] = CalcFormat.TEXT,
) -> None:
    """Shape, params and MACs of one layer, with the formula and its numbers."""
    from convshape.calc import calculate

    try:
        result = calculate(expression, input)
    except ConvshapeError as exc:
        if format is CalcFormat.JSON:
            _emit_json({"error": {"kind": str(exc.kind), "message": exc.render()}})
        else:
            typer.echo(f"error: {exc.render()}", err=True)
        raise typer.Exit(1) from None
    if format is CalcFormat.JSON:
        _emit_json(result.to_json())
        return
    lines = [
        result.layer.signature(),
        f"  input   {list(result.input_shape)}",
        f"  output  {list(result.output_shape)}",
        f"  params  {result.params:,}",
        f"  MACs    {result.macs:,}   (FLOPs {result.flops:,})",
        "",
        *(f"  {line}" for line in result.formula()),
    ]
    typer.echo("\n".join(lines))


@app.command("layers")
def list_layers() -> None:
    """List every supported layer type with its arguments and defaults."""
    from convshape.calc import describe
    from convshape.layers import REGISTRY

    for name in sorted(REGISTRY):
        typer.echo(describe(REGISTRY[name]))


def main() -> None:
    app()
