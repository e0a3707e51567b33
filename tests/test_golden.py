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


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("config", ["resnet50", "densenet121"])
def test_golden_table_fits_the_terminal(config: str, columns: int) -> None:
    """The default view of a deep model: repeated blocks collapsed, a depth that fits 50 rows,
    the batch dimension dropped, fitted to the width; every line fits, no number is cut."""
    out = cli("check", "--no-verify", f"configs/{config}.yaml", columns=columns)
    assert out.code == 0, out.stderr
    golden(f"{config}_{columns}.txt", out.stdout)
    lines = out.stdout.splitlines()
    assert all(len(line) <= columns for line in lines[1:])  # the title is the file name
    assert len(lines) < 60
    rows = columns_of(out.stdout)
    assert all(not cell.endswith("…") for row in rows for cell in row[-2:])


def columns_of(text: str) -> list[list[str]]:
    return columns(text)


def test_units_and_frozen_marks(tmp_path: Path) -> None:
    text = (
        "input: [2, 3, 32, 32]\nlayers:\n"
        "  - {type: Conv2d, out_channels: 64, kernel_size: 3, trainable: false}\n"
        "  - Flatten\n  - {type: Linear, out_features: 10}\n"
    )
    path = tmp_path / "m.yaml"
    path.write_text(text)
    out = cli("check", "--no-verify", "--units", str(path))
    rows = columns(out.stdout)
    assert rows[0][1] == "Conv2d frozen" and rows[0][4] == "1.79K"
    assert rows[2][4] == "576K"  # 64 * 30 * 30 * 10 + 10
    assert "(shapes without the batch dimension (N = 2))" in out.stdout


def test_an_error_comes_after_the_table_with_a_closing_failed_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("input: [1, 3, 8, 8]\nlayers:\n  - ReLU\n"
                    "  - {type: Conv2d, out_channels: 4, kernel_size: 9}\n")  # fmt: skip
    out = cli("check", "--no-verify", str(path))
    assert out.code == 1
    assert out.stdout.splitlines()[-1].startswith("0")  # the last good row ends the table
    errors = out.stderr.splitlines()
    assert errors[0].startswith(f"{path}:4:5: layers[1] (Conv2d): output height would be")
    assert errors[-1] == f"FAILED {path}: 1 error (shape)"


def test_no_ok_column_without_verification() -> None:
    out = cli("check", "--no-verify", "configs/lenet5.yaml")
    header = next(line for line in out.stdout.splitlines() if line.startswith("Layer"))
    assert header.split() == ["Layer", "Type", "Input", "Output", "Params", "MACs"]


def test_golden_files_are_all_used() -> None:
    used = {"lenet5.txt", "resnet18.txt", "resblk.txt"} | {
        f"{config}_{columns}.txt" for config in ("resnet50", "densenet121") for columns in (80, 120)
    }
    assert {p.name for p in Path(GOLDEN).glob("*.txt")} - {"diff_table.txt"} - {
        p.name for p in Path(GOLDEN).glob("sizes_*.txt")
    } == used
