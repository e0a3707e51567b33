"""The command line (a typer app): the only place that prints or exits.

:func:`main` runs it in process and returns the exit code (0 ok, 1 a problem in an input, 2 a
usage error), so tests call ``main([...])``; the ``convshape`` script is :func:`run`. Domain
errors are caught at the command boundary only: printed (to stderr, or as JSON on stdout for
``--format json``), then ``raise typer.Exit(code)``. rich is imported only to draw for a
terminal; a table for a pipe is our own plain text (:func:`convshape.render.plain_table`).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import AbstractContextManager, nullcontext, suppress
from enum import StrEnum
from typing import Annotated, Any

import typer

from convshape.errors import ConvshapeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Predict, explain and verify the shapes, params and MACs of a PyTorch CNN in YAML.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _out(f"convshape {version('convshape')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            _out("convshape (not installed)")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Predict, explain and verify the shapes, params and MACs of a PyTorch CNN in YAML."""


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class Device(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"
    META = "meta"


class DType(StrEnum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


class Optimizer(StrEnum):
    SGD = "sgd"
    MOMENTUM = "momentum"
    ADAM = "adam"
    ADAMW = "adamw"


class CalcFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Count(StrEnum):  # convshape.conventions.CONVENTIONS (a test checks they agree)
    TORCHVISION = "torchvision"
    FLOPCOUNTER = "flopcounter"
    FVCORE = "fvcore"
    PTFLOPS = "ptflops"
    THOP = "thop"
    TORCHINFO = "torchinfo"


class DrawFormat(StrEnum):
    SVG = "svg"
    MERMAID = "mermaid"


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def _usage_error(message: str) -> typer.Exit:
    _err(f"error: {message}")
    return typer.Exit(2)


# ---------------------------------------------------------------------------------- calc


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
            _out(json.dumps({"error": {"kind": str(exc.kind), "message": exc.render()}}))
        else:
            _err(f"error: {exc.render()}")
        raise typer.Exit(1) from None
    if format is CalcFormat.JSON:
        _out(json.dumps(result.to_json()))
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
    _out("\n".join(lines))


# ---------------------------------------------------------------------------------- check


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
        _err("note: torch is not installed: predicting only, not verifying")
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
        int | None, typer.Option(min=1, help="Replace the input's batch (first) dimension.")
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table, json (one object) or markdown.")
    ] = Format.TABLE,
    depth: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Show rows down to this nesting depth (default: all, or for a deep model the "
            "deepest level that fits 50 rows, repeated blocks collapsed).",
        ),
    ] = None,
    units: Annotated[
        bool, typer.Option("--units", help="Params and MACs in K/M/G (3 significant digits).")
    ] = False,
    receptive_field: Annotated[
        bool,
        typer.Option(
            "--receptive-field", help="A column of receptive field / effective stride (pixels)."
        ),
    ] = False,
    max_memory: Annotated[
        str | None,
        typer.Option(
            help="Fail when the predicted inference memory (parameters, buffers, activation "
            "peak; with --train the training-step bound) exceeds this, e.g. 2G or 512MiB; also "
            "the verifier's limit (default: half the memory available).",
        ),
    ] = None,
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="Training mode: training's rules too (BatchNorm needs more than one value per "
            "channel and eps > 0), the verifier runs model.train(), and --max-memory limits "
            "the training-step bound.",
        ),
    ] = False,
    max_params: Annotated[
        str | None, typer.Option(help="Fail above this many parameters, e.g. 25M.")
    ] = None,
    max_macs: Annotated[
        str | None, typer.Option(help="Fail above this many MACs, e.g. 4.1G.")
    ] = None,
    dtype: Annotated[
        DType, typer.Option(help="Parameters and activations in this dtype (memory figures).")
    ] = DType.FLOAT32,
    optimizer: Annotated[
        Optimizer, typer.Option(help="The optimizer whose state the memory figures count.")
    ] = Optimizer.ADAM,
    strict: Annotated[
        bool, typer.Option("--strict", help="Warnings fail the check too (exit 1).")
    ] = False,
    count: Annotated[
        Count | None,
        typer.Option(
            "--count",
            help="Also report the total as this peer counts it (torchvision = convshape's "
            "MACs; `convshape explain-count` shows every convention per layer).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print problems and one line per file only.")
    ] = False,
) -> None:
    """Predict (and verify) every spec file; exit 1 if any has an error."""
    from convshape.memory import parse_size

    try:
        limit = parse_size(max_memory) if max_memory is not None else None
    except ValueError as exc:
        raise _usage_error(f"--max-memory: {exc}") from None
    limits = _limits({"params": max_params, "macs": max_macs})
    do_verify = _want_verify(verify)
    if do_verify:
        _torch_on(device)
    files = _expand(files)
    results = []
    for i, path in enumerate(files, 1):
        from convshape.results import check_file

        counter = f"[{i}/{len(files)}] " if len(files) > 1 else ""
        what = "verifying" if do_verify else "checking"
        with _progress(f"{counter}{what} {path} ..."):
            result = check_file(
                path,
                verify=do_verify,
                device=device.value,
                batch=batch,
                max_memory=limit,
                strict=strict,
                dtype=dtype.value,
                optimizer=optimizer.value,
                train=train,
                limits=limits,
                count=None if count is None else count.value,
            )
        results.append(result)
        if format is not Format.JSON:
            _show(result, format, depth, quiet, units, receptive_field)
    if format is Format.JSON:
        from convshape.report import report_json

        _out(json.dumps(report_json(results)))
    if any(r.usage_error for r in results):
        raise typer.Exit(2)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


def _torch_on(device: Device) -> None:
    """Import torch (with a progress note on a terminal) and check ``device``; a device that
    is not there is a usage error."""
    with _progress("importing torch ..."):
        try:
            from convshape.verifier import check_device

            check_device(device.value)
        except ConvshapeError as exc:
            raise _usage_error(exc.render()) from None


def _expand(files: list[str]) -> list[str]:
    """A directory stands for its ``*.yaml`` and ``*.yml`` files (not its subfolders)."""
    out = []
    for name in files:
        if os.path.isdir(name):
            found = sorted(
                entry.path
                for entry in os.scandir(name)
                if entry.is_file() and entry.name.endswith((".yaml", ".yml"))
            )
            out += found or [name]  # none: the loader says so, for that argument
        else:
            out.append(name)
    return out


def _limits(values: dict[str, str | None]) -> tuple[Any, ...]:
    """``--max-params 25M`` and friends as budgets; a bad value is a usage error."""
    from convshape.spec.budgets import Budget, parse_limit

    limits = []
    for figure, text in values.items():
        if text is None:
            continue
        option = f"--max-{figure}"
        try:
            limits.append(Budget(figure, parse_limit(figure, text), text, option))
        except ValueError as exc:
            raise _usage_error(f"{option}: {exc}") from None
    return tuple(limits)


def _show(
    result: Any, format: Format, depth: int | None, quiet: bool, units: bool, receptive: bool
) -> None:
    """The table (or one line), then its errors and warnings, then a closing FAILED line: on a
    terminal the last thing on screen is what went wrong."""
    from convshape import render

    table = not quiet and format is not Format.MARKDOWN and bool(result.rows)
    if quiet or not result.rows:
        _out(render.safe(render.one_line(result)))
    elif format is Format.MARKDOWN:
        _out(render.safe(render.markdown(result, depth)))
    else:
        marks = render.marks_for(sys.stdout)
        table_text = render.plain_table(result, depth, marks, _width(), units, receptive)
        _out(render.safe(table_text))
    sys.stdout.flush()
    for err in result.errors:
        text = err.render()
        if err.context.location is None and err.context.file is None:
            text = f"{result.file}: {text}"
        _err(render.safe(text))
    for warning in result.warnings:
        _err(render.safe(warning.render()))
    if table and not result.ok:
        _err(render.safe(f"FAILED {result.file}: " + render.failure_counts(result)))


def _width() -> int | None:
    """The table's width: the terminal's, or $COLUMNS; None (any) into a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 40:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return os.get_terminal_size(sys.stdout.fileno()).columns
    except (AttributeError, ValueError, OSError):  # a replaced or closed stream
        pass
    return None


def _terminal(stream: Any) -> bool:
    """A terminal that gets rich's table: not a pipe, not NO_COLOR, not TERM=dumb."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
    return tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _progress(message: str) -> AbstractContextManager[Any]:
    if not _terminal(sys.stderr):
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


# ----------------------------------------------------------------------------------- diff


@app.command("diff")
def diff_command(
    old: Annotated[str, typer.Argument(help="A spec file, REV:path (git) or - (stdin).")],
    new: Annotated[str, typer.Argument(help="A spec file, REV:path (git) or - (stdin).")],
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table, json (one object) or markdown.")
    ] = Format.TABLE,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Show unchanged rows too (table).")
    ] = False,
    batch: Annotated[
        int | None, typer.Option(min=1, help="Replace both inputs' batch dimension.")
    ] = None,
    dtype: Annotated[DType, typer.Option(help="The memory figures' dtype.")] = DType.FLOAT32,
    optimizer: Annotated[
        Optimizer, typer.Option(help="The optimizer the memory figures count.")
    ] = Optimizer.ADAM,
) -> None:
    """What changed between two specs, module by module: shapes, params, MACs, memory."""
    from pathlib import Path

    from convshape import render
    from convshape.diff import check_sides, diff, diff_json, diff_markdown, diff_table

    try:
        sides = check_sides(old, new, Path.cwd(), batch=batch, dtype=dtype.value,
                            optimizer=optimizer.value)  # fmt: skip
    except ConvshapeError as exc:
        raise _usage_error(exc.render()) from None
    if any(side.usage_error for side in sides):
        for side in sides:
            for err in side.errors:
                _err(render.safe(err.render()))
        raise typer.Exit(2)
    try:
        result = diff(*sides)
    except ConvshapeError as exc:
        _err(render.safe(exc.render()))
        raise typer.Exit(1) from None
    if format is Format.JSON:
        _out(json.dumps(diff_json(result)))
    elif format is Format.MARKDOWN:
        _out(render.safe(diff_markdown(result)))
    else:
        _out(render.safe(diff_table(result, only_changes=not all_rows)))


# ---------------------------------------------------------------------------------- sizes


@app.command("sizes")
def sizes_command(
    file: Annotated[str, typer.Argument(help="A spec file (YAML).")],
    range_: Annotated[
        str, typer.Option("--range", help="The sizes to try per spatial dimension, LO:HI.")
    ] = "32:1024",
    format: Annotated[
        CalcFormat, typer.Option("--format", "-f", help="text (a table), or one JSON object.")
    ] = CalcFormat.TEXT,
) -> None:
    """Which input sizes work: the smallest, the valid ones in a range, the multiple merges
    need, and where floor division drops border pixels, each with the layer responsible."""
    from convshape import render
    from convshape.sizes import analyze, sizes_json, sizes_table
    from convshape.spec.parse import load

    lo_text, _, hi_text = range_.partition(":")
    try:
        lo, hi = int(lo_text), int(hi_text)
        if not 1 <= lo <= hi <= 100_000:
            raise ValueError
    except ValueError:
        raise _usage_error(
            f"--range: expected LO:HI with 1 <= LO <= HI <= 100000, got {range_!r}"
        ) from None
    try:
        report = analyze(load(file), lo, hi)
    except ConvshapeError as exc:
        _err(render.safe(exc.render()))
        raise typer.Exit(1) from None
    if format is CalcFormat.JSON:
        _out(json.dumps(sizes_json(report)))
    else:
        _out(render.safe(sizes_table(report)))
    raise typer.Exit(0 if report.spec_ok else 1)


# --------------------------------------------------------------------------------- layers


@app.command("layers")
def list_layers(
    name: Annotated[
        str | None, typer.Argument(help="One layer type: its arguments, defaults and rules.")
    ] = None,
) -> None:
    """List every supported layer type with its arguments and defaults, or explain one."""
    from convshape.calc import describe, explain_type, layer_type
    from convshape.layers import REGISTRY

    if name is None:
        for key in sorted(REGISTRY):
            _out(describe(REGISTRY[key]))
        return
    try:
        cls = layer_type(name.removeprefix("torch.").removeprefix("nn."))
    except ConvshapeError as exc:
        _err(f"error: {exc.render()}")
        raise typer.Exit(1) from None
    _out("\n".join(explain_type(cls)))


# ------------------------------------------------------------------- export, schema, draw


def _write(text: str, output: str | None, inputs: tuple[str, ...] = ()) -> None:
    """``text`` to stdout, or to ``output`` whole (a temporary file renamed over it, so a
    failed write leaves what was there); never over one of the command's own input files."""
    if output is None or output == "-":
        _out(text)
        return
    from pathlib import Path

    target = Path(output)
    if any(target.resolve() == Path(name).resolve() for name in inputs if name != "-"):
        raise _usage_error(f"-o {output}: that is the input file; write somewhere else")
    if target.is_dir():
        raise _usage_error(f"-o {output}: that is a directory; name a file")
    temporary = target.with_name(f".{target.name}.convshape-tmp")
    try:
        temporary.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        with suppress(OSError):
            temporary.unlink()
        _err(f"error: cannot write {output}: {exc.strerror or exc}")
        raise typer.Exit(1) from None


def _checked(file: str, verify: bool = False, device: str = "cpu") -> Any:
    """One spec's :class:`~convshape.results.FileResult`; its errors printed to stderr."""
    from convshape import render
    from convshape.results import check_file

    result = check_file(file, verify=verify, device=device)
    for err in result.errors:
        text = err.render()
        if err.context.location is None and err.context.file is None:
            text = f"{file}: {text}"
        _err(render.safe(text))
    return result


def _output(what: str) -> Any:
    """The ``-o`` option of the commands that write one text."""
    return typer.Option("--output", "-o", help=f"Write {what} here (default: stdout).")


def _predicted(file: str) -> Any:
    """The spec's :class:`~convshape.engine.Prediction`; exit 1 (errors printed) if it fails."""
    result = _checked(file)
    if result.prediction is None or not result.prediction.ok:
        raise typer.Exit(1)
    return result.prediction


@app.command("explain-count")
def explain_count_command(
    file: Annotated[str, typer.Argument(help="A spec file (YAML).")],
    depth: Annotated[
        int | None, typer.Option(min=1, help="Rows at this depth (default: every layer).")
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Show rows where every convention agrees too.")
    ] = False,
) -> None:
    """Every peer's count (torchvision, FlopCounterMode, fvcore, ptflops, thop, torchinfo) per
    layer, by formula, and why they differ."""
    from convshape import render
    from convshape.conventions_explain import explain

    _out(render.safe(explain(_predicted(file), depth, all_rows)))


@app.command("export")
def export_command(
    file: Annotated[str, typer.Argument(help="A spec file (YAML).")],
    output: Annotated[str | None, _output("the module")] = None,
) -> None:
    """Plain PyTorch code for a spec: a module that imports only torch, one class per block,
    shapes in comments; its state_dict matches convshape's build."""
    from convshape.export import export

    _write(export(_predicted(file)), output, (file,))


@app.command("schema")
def schema_command(
    output: Annotated[str | None, _output("the schema")] = None,
) -> None:
    """The JSON Schema (draft 2020-12) of the spec language, for editors' YAML completion."""
    from convshape.schema import schema_text

    _write(schema_text(), output)


@app.command("draw")
def draw_command(
    file: Annotated[str, typer.Argument(help="A spec file (YAML).")],
    output: Annotated[str | None, _output("the drawing")] = None,
    format: Annotated[
        DrawFormat | None,
        typer.Option(
            "--format", "-f", help="svg, or mermaid (Markdown); default: from -o's suffix, or svg."
        ),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(min=1, help="Draw modules down to this depth (default: as the table)."),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Run the model first; mismatches are drawn in red."),
    ] = False,
    device: Annotated[Device, typer.Option(help="Where --verify runs the model.")] = Device.CPU,
) -> None:
    """The architecture as a graph: a box per module or collapsed block, the predicted shape on
    every edge, branches and merges, errors and mismatches in red. Exit 1 if the spec fails."""
    from convshape.draw import mermaid, svg

    if format is None:
        suffix = os.path.splitext(output or "")[1].lower()
        format = DrawFormat.MERMAID if suffix in (".mmd", ".mermaid", ".md") else DrawFormat.SVG
    if verify:
        _torch_on(device)
    result = _checked(file, verify, device.value)
    if result.spec is None:
        raise typer.Exit(1)
    text = svg(result, depth) if format is DrawFormat.SVG else mermaid(result, depth)
    _write(text, output, (file,))
    raise typer.Exit(0 if result.ok else 1)


# ----------------------------------------------------------------------------------- main


def _streams() -> None:
    """Degrade, never crash: a closed stdout/stderr writes nowhere; a stream whose encoding
    cannot show a character (LC_ALL=C, a legacy code page) shows it escaped."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # the fd was closed (`>&-`) when Python started
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115
            continue
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    _streams()
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="convshape", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except OSError:  # the reader of our output went away (`| head`), or a write failed
        _quiet_exit_streams()
        return 1
    return 0


def _quiet_exit_streams() -> None:
    """After a broken pipe, the interpreter's final flush must not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError, AttributeError):
            os.dup2(devnull, stream.fileno())


def run() -> None:
    """The ``convshape`` script."""
    sys.exit(main())
