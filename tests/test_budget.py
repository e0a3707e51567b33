"""Budgets: ``budget:`` in a spec and ``--max-params`` / ``--max-macs`` / ``--max-memory``,
through the real command line. Going over is a located error (kind ``budget``) naming the
figure, the limit and the biggest contributors; a bad budget is a spec error at its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT, cli, write

from convshape.spec.budgets import parse_limit

NET = """\
name: budgeted
input: [1, 3, 32, 32]
budget:
  params: {params}
  macs: 5M
layers:
  - {{type: Conv2d, out_channels: 16, kernel_size: 3}}
  - ReLU
  - {{type: Conv2d, out_channels: 32, kernel_size: 3}}
  - Flatten
  - {{type: Linear, out_features: 10}}
"""
PARAMS = 448 + 4_640 + 250_890  # conv 3->16, conv 16->32, Linear 25,088->10


def test_within_budget_passes(tmp_path: Path) -> None:
    out = cli("check", "--no-verify", "-q", str(write(tmp_path, NET.format(params="300K"))))
    assert out.code == 0, out.stderr


def test_over_budget_is_located_at_the_budget_and_names_the_largest_layers(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, NET.format(params="100K"))
    out = cli("check", "--no-verify", "-q", str(path))
    assert out.code == 1
    lines = out.stderr.splitlines()
    assert lines[0] == (
        f"{path}:4:11: budget.params 100K: {PARAMS:,} params is over the limit of 100,000 by "
        f"{PARAMS - 100_000:,} ({(PARAMS - 100_000) / 100_000:.1%})"
    )
    assert lines[1:4] == [
        "  largest: 4 (Linear) 250,890",
        "  largest: 2 (Conv2d) 4,640",
        "  largest: 0 (Conv2d) 448",
    ]
    assert "  hint: raise budget.params, or shrink the largest layers" in lines


def test_json_reports_the_budget_kind(tmp_path: Path) -> None:
    path = write(tmp_path, NET.format(params="1K"))
    out = cli("check", "--no-verify", "-f", "json", str(path))
    err = json.loads(out.stdout)["files"][0]["errors"][0]
    assert (err["kind"], err["line"], err["column"]) == ("budget", 4, 11)


def test_options_are_budgets_too() -> None:
    path = str(ROOT / "configs" / "resnet18.yaml")
    assert cli("check", "--no-verify", "-q", "--max-params", "12M", path).code == 0
    out = cli("check", "--no-verify", "-q", "--max-params", "11M", "--max-macs", "1.5G", path)
    assert out.code == 1
    assert "--max-params 11M: 11,689,512 params is over the limit of 11,000,000" in out.stderr
    assert "--max-macs 1.5G: 1,814,073,344 MACs is over the limit of 1,500,000,000" in out.stderr
    # the 3x3 512->512 convs of the last stage lead: 2,359,296 params each
    assert "(Conv2d) 2,359,296\n" in out.stderr
    assert "(Linear) 513,000" not in out.stderr  # fc: not in the top 3


@pytest.mark.parametrize("value", ["x", "-3", "0", "1e99G", "True"])
def test_a_bad_option_is_a_usage_error(value: str) -> None:
    out = cli("check", "--no-verify", "--max-params", value, str(ROOT / "configs" / "lenet5.yaml"))
    assert out.code == 2
    assert "error: --max-params:" in out.stderr


@pytest.mark.parametrize(
    ("budget", "message", "column"),
    [
        ("{parms: 1M}", "budget has no figure 'parms'", 10),
        ("{params: lots}", "budget.params: expected a number or a size such as 25M", 18),
        ("{params: true}", "budget.params: expected a number or a size such as 25M", 18),
        ("[1M]", "'budget' must be a mapping of figures to limits", 9),
        ("{inference_bytes: -1GiB}", "budget.inference_bytes: expected a positive limit", 27),
    ],
)
def test_a_bad_budget_is_a_spec_error_at_its_line(
    tmp_path: Path, budget: str, message: str, column: int
) -> None:
    text = f"input: [1, 3, 8, 8]\nbudget: {budget}\nlayers: [ReLU]\n"
    path = write(tmp_path, text)
    out = cli("check", "--no-verify", "-q", str(path))
    assert out.code == 1
    assert out.stderr.startswith(f"{path}:2:{column}: {message}"), out.stderr


def test_a_typo_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "input: [1, 3, 8, 8]\nbudget: {parms: 1M}\nlayers: [ReLU]\n")
    assert "did you mean 'params'" in cli("check", "--no-verify", str(path)).stderr


def test_memory_budgets_in_the_spec(tmp_path: Path) -> None:
    text = (
        "input: [8, 3, 64, 64]\n"
        "budget: {saved_activation_bytes: 1MiB, training_peak_bound_bytes: 1G}\n"
        "layers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 3}\n  - ReLU\n"
    )
    out = cli("check", "--no-verify", "-q", str(write(tmp_path, text)))
    assert out.code == 1
    # the conv keeps the input (8*3*64*64*4 B), the ReLU its output (8*8*62*62*4 B)
    saved = 8 * 3 * 64 * 64 * 4 + 8 * 8 * 62 * 62 * 4
    assert f"budget.saved_activation_bytes 1MiB: {saved:,} bytes saved for backward" in out.stderr
    assert "training_peak_bound_bytes" not in out.stderr  # 1G is enough


def test_variables_in_a_budget(tmp_path: Path) -> None:
    text = "vars: {cap: 10}\ninput: [1, 3, 8, 8]\nbudget: {params: '${cap}'}\nlayers:\n" \
        "  - {type: Conv2d, out_channels: 1, kernel_size: 1}\n"  # fmt: skip
    out = cli("check", "--no-verify", "-q", str(write(tmp_path, text)))
    assert out.code == 0, out.stderr  # 3 weights + 1 bias


@pytest.mark.parametrize(
    ("figure", "text", "value"),
    [
        ("params", "25M", 25_000_000),
        ("macs", "4.1G", 4_100_000_000),
        ("params", "1_000", 1_000),
        ("inference_bytes", "2GiB", 2 * 2**30),
        ("inference_bytes", "2G", 2 * 2**30),
        ("saved_activation_bytes", "512MB", 512 * 2**20),
        ("params", 7, 7),
    ],
)
def test_units(figure: str, text: str | int, value: int) -> None:
    assert parse_limit(figure, text) == value


@pytest.mark.torch
def test_the_precommit_hook_command_enforces_budgets(tmp_path: Path) -> None:
    """The hooks run `check --strict -q`: a budget in the spec fails the commit."""
    path = write(tmp_path, NET.format(params="100K"))
    assert cli("check", "--strict", "-q", str(path)).code == 1
