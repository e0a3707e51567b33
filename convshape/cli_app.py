"""The typer app behind :func:`convshape.cli.main`: every command, its options, help and errors.

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


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class Device(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"
    META = "meta"


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


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _want_verify(verify: bool | None) -> bool:
    """--verify / --no-verify / default: verify when torch can be imported."""
    if verify is False:
        return False  # and torch is never imported
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        if verify:
            raise _usage_error(
                f"--verify needs torch, which cannot be imported here ({exc}): "
                "pip install 'convshape[torch]' (or --no-verify to predict only)"
            ) from None
        typer.echo("note: torch is not installed: predicting only, not verifying", err=True)
        return False
    return True


@app.command()
def check(
    files: Annotated[list[str], typer.Argument(help="Spec files (YAML) to check.")],
    verify: Annotated[
        bool | None,
        typer.Option(
            "--verify/--no-verify",
            help="Run the real model and diff it against the prediction. "
            "Default: verify when torch is installed. --no-verify never imports torch.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        Device, typer.Option(help="Where the verifier runs the model (meta allocates nothing).")
    ] = Device.CPU,
    batch: Annotated[
        int | None, typer.Option(min=1, help="Override the input's first (batch) dimension.")
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table, json (one object) or markdown.")
    ] = Format.TABLE,
    depth: Annotated[
        int | None, typer.Option(min=1, help="Show rows down to this nesting depth.")
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(
            help="Largest estimated memory the verifier may use, e.g. 2G "
            "(default: half the memory available).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors and one line per file only.")
    ] = False,
) -> None:
    """Predict (and verify) every spec file; exit 1 if any has an error."""
    from convshape.cli_check import run_check
    from convshape.memory import parse_size

    try:
        limit = parse_size(max_memory) if max_memory is not None else None
    except ValueError as exc:
        raise _usage_error(f"--max-memory: {exc}") from None
    do_verify = _want_verify(verify)
    code = run_check(
        files,
        verify=do_verify,
        device=device.value,
        batch=batch,
        format=format.value,
        depth=depth,
        max_memory=limit,
        quiet=quiet,
    )
    raise typer.Exit(code)


@app.command("layers")
def list_layers() -> None:
    """List every supported layer type with its arguments and defaults."""
    from convshape.calc import describe
    from convshape.layers import REGISTRY

    for name in sorted(REGISTRY):
        typer.echo(describe(REGISTRY[name]))
