"""`convshape diff` through the real command line: formats, options, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, cli

RESNET18 = ROOT / "configs" / "resnet18.yaml"


def edited(tmp_path: Path) -> Path:
    text = RESNET18.read_text().replace(
        "out_features: 1000, expect: [1, 1000]", "out_features: 100"
    )
    assert text != RESNET18.read_text()
    path = tmp_path / "resnet18_100.yaml"
    path.write_text(text)
    return path


def test_table_json_markdown(tmp_path: Path) -> None:
    new = edited(tmp_path)
    table = cli("diff", str(RESNET18), str(new))
    assert table.code == 0, table.stderr
    assert "changed" in table.stdout and "Linear" in table.stdout
    assert "-461,700" in table.stdout  # params: 513,000 -> 51,300
    full = cli("diff", "--all", str(RESNET18), str(new))
    assert len(full.stdout.splitlines()) > len(table.stdout.splitlines())
    md = cli("diff", "-f", "markdown", str(RESNET18), str(new))
    assert md.stdout.startswith("### convshape diff")
    obj = json.loads(cli("diff", "-f", "json", str(RESNET18), str(new)).stdout)
    assert obj["totals"]["params"]["delta"] == 51_300 - 513_000
    assert obj["counts"]["changed"] >= 1


def test_memory_options_apply_to_both_sides(tmp_path: Path) -> None:
    new = edited(tmp_path)
    one = json.loads(cli("diff", "-f", "json", str(RESNET18), str(new)).stdout)
    eight = json.loads(cli("diff", "-f", "json", "--batch", "8", str(RESNET18), str(new)).stdout)
    saved = "saved_activation_bytes"
    assert eight["totals"][saved]["old"] > one["totals"][saved]["old"]
    half = json.loads(cli("diff", "-f", "json", "--dtype", "float16", str(RESNET18),
                          str(new)).stdout)  # fmt: skip
    assert half["totals"]["param_bytes"]["old"] * 2 == one["totals"]["param_bytes"]["old"]


def test_an_invalid_side_exits_1_and_a_bad_revision_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "input: [1, 3, 4, 4]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 9}\n"
    )
    out = cli("diff", str(RESNET18), str(bad))
    assert out.code == 1
    assert f"{bad}:3:5: layers[0] (Conv2d): output height would be" in out.stderr
    assert cli("diff", "no-such-rev-xyz:configs/resnet18.yaml", str(RESNET18)).code == 2
    assert cli("diff", "-", "-").code == 2


def test_git_revision_against_the_working_file(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    try:
        git("init", "-q")
    except FileNotFoundError:
        pytest.skip("git is not installed")
    spec = tmp_path / "model.yaml"
    spec.write_text(
        "input: [1, 3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n"
    )
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    spec.write_text(
        "input: [1, 3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 3}\n"
    )
    old = Path.cwd()
    try:
        import os

        os.chdir(tmp_path)
        out = cli("diff", "-f", "json", "HEAD:model.yaml", "model.yaml")
    finally:
        os.chdir(old)
    assert out.code == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["params"]["delta"] == (8 - 4) * (27 + 1)
