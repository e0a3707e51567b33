"""Golden output: the plain table (our own format, for pipes and files), Markdown, and the
invariant that leaf rows add up to the totals."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers import ROOT, cli

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("CONVSHAPE_UPDATE_GOLDEN") == "1"  # rewrite the files, then review


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs (CONVSHAPE_UPDATE_GOLDEN=1 rewrites it)"


def columns(text: str) -> list[list[str]]:
    """The table's cells, cut at the column positions the dashed rule shows."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    spans = [m.span() for m in re.finditer("-+", lines[rule])]
    rows = []
    for line in lines[rule + 1 :]:
        if line.startswith("Total params"):
            break
        padded = line.ljust(spans[-1][1])
        rows.append([padded[a:b].strip() for a, b in spans])
    return rows


def totals(text: str) -> tuple[int, int]:
    params = re.search(r"Total params: ([\d,]+)", text)
    macs = re.search(r"Total MACs: ([\d,]+)", text)
    assert params and macs
    return int(params[1].replace(",", "")), int(macs[1].replace(",", ""))


def leaf_sum(rows: list[list[str]], column: int) -> int:
    """Leaf rows only: containers show their subtotal in parentheses."""
    return sum(int(r[column].replace(",", "")) for r in rows if not r[column].startswith("("))


@pytest.mark.parametrize(
    ("config", "args"),
    [
        ("lenet5", ["--no-verify"]),
        ("resnet18", ["--no-verify", "--depth", "2"]),
        pytest.param("resblk", ["--device", "meta"], marks=pytest.mark.torch),
    ],
)
def test_golden_table(config: str, args: list[str]) -> None:
    out = cli("check", *args, f"configs/{config}.yaml")
    assert out.code == 0, out.stderr
    golden(f"{config}.txt", out.stdout)
    assert not re.search("[\u2500-\u257f]", out.stdout), "box-drawing characters in a pipe"
    assert "\x1b[" not in out.stdout, "colour codes in a pipe"
    rows = columns(out.stdout)
    params, macs = totals(out.stdout)
    if "--depth" not in args:
        assert leaf_sum(rows, 4) == params
        assert leaf_sum(rows, 5) == macs


def test_markdown_for_pull_requests() -> None:
    out = cli("check", "--no-verify", "-f", "markdown", "configs/lenet5.yaml")
    assert out.code == 0
    assert "| Layer | Type | Input | Output | Params | MACs | OK |" in out.stdout
    assert "| `7` | Linear | [1, 400] | [1, 120] | 48,120 | 48,000 |  |" in out.stdout
    assert "- Total params: 61,706" in out.stdout


def test_depth_hides_nested_rows() -> None:
    out = cli("check", "--no-verify", "--depth", "1", "configs/resnet18.yaml")
    assert out.code == 0
    assert "BasicBlock" not in out.stdout and "Stage (Sequential)" in out.stdout


def test_golden_files_are_all_used() -> None:
    used = {"lenet5.txt", "resnet18.txt", "resblk.txt"}
    assert {p.name for p in Path(GOLDEN).glob("*.txt")} == used
