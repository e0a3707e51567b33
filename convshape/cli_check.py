"""The printing half of ``convshape check`` (part of the CLI: it prints, the rest computes).

Tables and JSON go to stdout, errors to stderr like a compiler's, progress to stderr only when
stderr is a terminal.
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from convshape.check import FileResult, check_file
from convshape.errors import ConvshapeError


def _plain_output() -> bool:
    """No colour and no box-drawing when stdout is not a terminal or NO_COLOR is set."""
    return not sys.stdout.isatty() or "NO_COLOR" in os.environ


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    plain = _plain_output() if not stderr else not sys.stderr.isatty() or "NO_COLOR" in os.environ
    return Console(
        stderr=stderr,
        no_color=plain,
        highlight=False,
        emoji=False,
        width=None if not plain else max(100, _env_width()),
    )


def _rich_would_style_stdout() -> bool:
    """Whether rich would treat stdout as a terminal (styles, live widths): its own rules."""
    if sys.platform == "win32" or "IPython" in sys.modules or "idlelib" in sys.modules:
        return True  # legacy consoles, Jupyter and IDLE: leave them to rich
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    if "FORCE_COLOR" in os.environ:
        return os.environ["FORCE_COLOR"] != ""
    return sys.stdout.isatty()


def _env_width() -> int:
    try:
        return int(os.environ.get("COLUMNS", "160"))
    except ValueError:
        return 160


def _progress(message: str) -> AbstractContextManager[Any]:
    if not sys.stderr.isatty():
        return nullcontext()
    return _console(stderr=True).status(message)  # type: ignore[no-any-return]


def _one_line(result: FileResult) -> str:
    if not result.ok:
        kinds = sorted({str(e.kind) for e in result.errors})
        return f"{result.file}: FAILED ({', '.join(kinds)})"
    pred = result.prediction
    assert pred is not None and pred.output_shape is not None
    leaves = result.leaves
    params = sum(n.num_params for n in leaves)
    macs = sum(n.macs for n in leaves)
    how = f"verified on {result.device}" if result.verified else "predicted"
    shape = list(pred.output_shape)
    return f"{result.file}: ok, output {shape}, {params:,} params, {macs:,} MACs, {how}"


def _print_errors(result: FileResult) -> None:
    for err in result.errors:
        text = err.render()
        if err.context.location is None and err.context.file is None:
            text = f"{result.file}: {text}"
        sys.stderr.write(text + "\n")


def run_check(
    files: list[str],
    *,
    verify: bool,
    device: str,
    batch: int | None,
    format: str,
    depth: int | None,
    max_memory: int | None,
    quiet: bool,
) -> int:
    if verify:
        with _progress("importing torch ..."):
            try:
                from convshape.verifier import check_device

                check_device(device)
            except ConvshapeError as exc:
                sys.stderr.write(f"error: {exc.render()}\n")
                return 2
    results = []
    for i, path in enumerate(files, 1):
        counter = f"[{i}/{len(files)}] " if len(files) > 1 else ""
        what = "verifying" if verify else "checking"
        with _progress(f"{counter}{what} {path} ..."):
            result = check_file(
                path, verify=verify, device=device, batch=batch, max_memory=max_memory
            )
        results.append(result)
        if format != "json":
            _show(result, format, depth, quiet)
    if format == "json":
        import json  # here: a table or --quiet run does not need it

        from convshape.report import report_json

        sys.stdout.write(json.dumps(report_json(results)) + "\n")
    return 0 if all(r.ok for r in results) else 1


def _show(result: FileResult, format: str, depth: int | None, quiet: bool) -> None:
    from convshape.render import markdown, plain_table, summary_lines, table

    _print_errors(result)
    if quiet or not result.rows:
        sys.stdout.write(_one_line(result) + "\n")
        return
    if format == "markdown":
        sys.stdout.write(markdown(result, depth) + "\n")
        return
    if not _rich_would_style_stdout():
        # What rich would print, drawn without it (rich takes ~0.13 s on ResNet-50's table).
        width = max(100, _env_width())
        text = plain_table(result, depth, width)
        summary = summary_lines(result)
        if text is not None and all(len(line) <= width for line in summary):
            sys.stdout.write("\n".join([text, *summary, "", ""]))
            return
    console = _console()
    console.print(table(result, depth, fancy=not _plain_output()))
    for line in summary_lines(result):
        console.print(line)
    console.print()
