"""Golden table output at a fixed width with no colour, and the totals invariant."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT, run_cli

GOLDEN = ROOT / "tests" / "golden"
PLAIN = {"COLUMNS": "120", "NO_COLOR": "1"}


def rows_and_totals(text: str) -> tuple[list[list[str]], int, int]:
    rows = [
        [cell.strip() for cell in line.split("|")]
        for line in text.splitlines()
        if line.count("|") == 6 and not line.lstrip().startswith("Layer")
    ]
    params = int(re.search(r"Total params: ([\d,]+)", text)[1].replace(",", ""))  # type: ignore[index]
    macs = int(re.search(r"Total MACs: ([\d,]+)", text)[1].replace(",", ""))  # type: ignore[index]
    return rows, params, macs


def leaf_sum(rows: list[list[str]], column: int) -> int:
    """Leaf rows only: containers show their subtotal in parentheses."""
    return sum(int(r[column].replace(",", "")) for r in rows if not r[column].startswith("("))


@pytest.mark.parametrize(
    ("config", "args"),
    [
        ("lenet5", ["--no-verify"]),
        pytest.param("resblk", ["--device", "meta"], marks=pytest.mark.torch),
    ],
)
def test_golden_table(config: str, args: list[str]) -> None:
    proc = run_cli("check", *args, f"configs/{config}.yaml", env=PLAIN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (GOLDEN / f"{config}.txt").read_text()
    assert not re.search("[\u2500-\u257f]", proc.stdout), "box-drawing characters without a tty"
    assert "\x1b[" not in proc.stdout, "colour codes without a tty"
    rows, params, macs = rows_and_totals(proc.stdout)
    assert leaf_sum(rows, 4) == params
    assert leaf_sum(rows, 5) == macs


def test_markdown_for_pull_requests() -> None:
    proc = run_cli("check", "--no-verify", "-f", "markdown", "configs/lenet5.yaml", env=PLAIN)
    assert proc.returncode == 0
    assert "| Layer | Type | Input | Output | Params | MACs | OK |" in proc.stdout
    assert "| `7` | Linear | [1, 400] | [1, 120] | 48,120 | 48,000 |  |" in proc.stdout
    assert "- Total params: 61,706" in proc.stdout


def test_depth_hides_nested_rows() -> None:
    proc = run_cli("check", "--no-verify", "--depth", "1", "configs/resnet18.yaml", env=PLAIN)
    assert proc.returncode == 0
    assert "BasicBlock" not in proc.stdout and "Stage (Sequential)" in proc.stdout
