"""The fast path of ``main`` (a plain ``check --no-verify``) does exactly what the typer app does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, write

from convshape import cli
from convshape.cli_app import app

LENET, RESNET = "configs/lenet5.yaml", "configs/resnet18.yaml"


def outcome(runner: object, argv: list[str], capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[object, str, str]:  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["convshape", *argv])
    with pytest.raises(SystemExit) as exit_:
        runner()  # type: ignore[operator]
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


FAST = {
    "table": ["check", "--no-verify", LENET],
    "quiet-two-files": ["check", "--no-verify", "-q", LENET, RESNET],
    "option-after-file": ["check", LENET, "--no-verify", "-f", "json"],
    "format-equals": ["check", "--no-verify", "--format=markdown", LENET],
    "repeated": ["check", "--no-verify", "--no-verify", "--quiet", "-q", "-f", "json",
                 "--format", "table", LENET],
    "missing-file": ["check", "--no-verify", "no/such.yaml"],
    "missing-file-json": ["check", "--no-verify", "-f", "json", "no/such.yaml"],
    "empty-name": ["check", "--no-verify", ""],
    "bad-spec": ["check", "--no-verify", "BAD", LENET],
}  # fmt: skip


@pytest.mark.parametrize("argv", FAST.values(), ids=FAST.keys())
def test_fast_path_matches_typer(argv: list[str], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    bad = write(tmp_path, "input: [1, 3, 4, 4]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 5}\n")  # fmt: skip
    argv = [str(bad) if a == "BAD" else a for a in argv]
    monkeypatch.chdir(ROOT)
    assert cli.fast_check(argv) is not None
    assert outcome(cli.main, argv, capsys, monkeypatch) == outcome(app, argv, capsys, monkeypatch)


TYPER = {
    "no-command": [],
    "help": ["check", "--help"],
    "help-after": ["check", "--no-verify", LENET, "--help"],
    "no-files": ["check", "--no-verify"],
    "default-verify": ["check", LENET],
    "verify": ["check", "--verify", "--no-verify", LENET],
    "bad-format": ["check", "--no-verify", "-f", "xml", LENET],
    "format-missing": ["check", "--no-verify", LENET, "-f"],
    "combined-short": ["check", "--no-verify", "-qf", "json", LENET],
    "other-option": ["check", "--no-verify", "--depth", "1", LENET],
    "double-dash": ["check", "--no-verify", "--", LENET],
    "stdin-dash": ["check", "--no-verify", "-"],
    "abbreviation": ["check", "--no-ver", LENET],
    "surrogate": ["check", "--no-verify", "a\udcff.yaml"],
    "calc": ["calc", "Conv2d(3, 8, 3)", "-i", "1,3,8,8"],
}


@pytest.mark.parametrize("argv", TYPER.values(), ids=TYPER.keys())
def test_everything_else_goes_to_typer(argv: list[str]) -> None:
    assert cli.fast_check(argv) is None


def test_shell_completion_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_CONVSHAPE_COMPLETE", "bash_complete")
    assert cli.fast_check(FAST["table"]) is None


def test_fast_path_imports_neither_typer_nor_rich() -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['convshape', 'check', '--no-verify', {LENET!r}]\n"
        "from convshape.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n"
        "    heavy = {'typer', 'click', 'pydantic', 'rich', 'torch'} & set(sys.modules)\n"
        "    sys.stderr.write(repr(sorted(heavy)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stderr == "[]"
