"""The command line: the only place that prints or exits.

:func:`main` runs the pre-commit case, ``check --no-verify [--quiet] [--format F] FILE...``,
without the typer app: importing typer, click and pydantic and parsing with them take about
0.1 s, half of such a run. Every other command line, ``--help`` and every usage error included,
goes to the app in :mod:`convshape.cli_app`, which also defines what the fast path must match.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import IO, Any, NamedTuple

FORMATS = ("table", "json", "markdown")


class FastCheck(NamedTuple):
    """The options of a ``check`` the fast path runs; the rest keep their defaults."""

    files: list[str]
    format: str
    quiet: bool


def fast_check(argv: list[str]) -> FastCheck | None:
    """``argv`` as typer would parse it if it is a plain ``check --no-verify``, else None."""
    if argv[:1] != ["check"] or os.name == "nt" or any(k.endswith("_COMPLETE") for k in os.environ):
        return None  # Windows expands wildcards in argv; shell completion is typer's
    files: list[str] = []
    format, quiet, no_verify = "table", False, False
    args = iter(argv[1:])
    for arg in args:
        if arg == "--no-verify":
            no_verify = True
        elif arg in ("--quiet", "-q"):
            quiet = True
        elif arg in ("--format", "-f") or arg.startswith("--format="):
            value = arg.partition("=")[2] if "=" in arg else next(args, None)
            if value not in FORMATS:
                return None
            format = value
        elif arg.startswith("-") or not _utf8(arg):
            return None  # any other option, "--", "-"; or a name typer's pydantic may refuse
        else:
            files.append(arg)
    if not no_verify or not files:
        return None
    return FastCheck(files, format, quiet)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _PacifyFlush:
    """click's ``PacifyFlushWrapper``: after a broken pipe, flushing at exit stays quiet."""

    def __init__(self, wrapped: IO[Any]) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def _run_fast(options: FastCheck) -> int:
    """What ``check`` does for these options, with typer's handling of the same exceptions."""
    from convshape.cli_check import run_check

    try:
        return run_check(
            options.files,
            verify=False,
            device="cpu",
            batch=None,
            format=options.format,
            depth=None,
            max_memory=None,
            quiet=options.quiet,
        )
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = _PacifyFlush(sys.stdout)
        sys.stderr = _PacifyFlush(sys.stderr)
        return 1


def main() -> None:
    options = fast_check(sys.argv[1:])
    if options is not None:
        sys.exit(_run_fast(options))
    from convshape.cli_app import app

    app()
