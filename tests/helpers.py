"""Small test helpers: write a spec to a temp file, predict it, run the CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from textwrap import dedent
from typing import NamedTuple

import convshape
from convshape.cli import main
from convshape.engine import Prediction
from convshape.errors import ConvshapeError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text).lstrip("\n"))
    return path


def predict_text(tmp_path: Path, text: str) -> Prediction:
    return convshape.predict(convshape.load(write(tmp_path, text)))


def error_of(tmp_path: Path, text: str) -> ConvshapeError:
    """The error a spec produces, whether the loader or the engine finds it."""
    try:
        prediction = predict_text(tmp_path, text)
    except ConvshapeError as exc:
        return exc
    assert prediction.error is not None, "expected an error"
    return prediction.error


def run_cli(*args: str, block_torch: bool = False, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``python -m convshape ARGS`` in a subprocess; optionally with ``import torch`` failing."""
    environ = {**os.environ, **(env or {})}
    if block_torch:
        environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "no_torch"), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "convshape", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=environ,
        timeout=300,
    )


class Outcome(NamedTuple):
    code: int
    stdout: str
    stderr: str


def cli(*args: str, columns: int | None = None) -> Outcome:
    """``convshape ARGS`` in process, through ``main(argv)``: (exit code, stdout, stderr);
    ``columns``: the width a terminal would have ($COLUMNS), else a pipe's (any)."""
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.pop("COLUMNS", None)
    if columns is not None:
        os.environ["COLUMNS"] = str(columns)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.pop("COLUMNS", None)
        if saved is not None:
            os.environ["COLUMNS"] = saved
    return Outcome(code, out.getvalue(), err.getvalue())
