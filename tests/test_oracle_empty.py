"""Empty tensors (a dimension of size 0) against torch: same shape, or both fail.

torch takes a batch of 0 almost everywhere, many layers refuse an empty channel or spatial dim
(each with its own check), and a few layers make empty tensors themselves (an output_size of 0,
a negative padding as large as the dimension, area interpolation flooring to 0). Every layer
sample is run with each of its dims set to 0, and Hypothesis empties several at once; the
engine predicts torch's empty output (and the command warns, CS106) or fails where torch does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import cli, write
from hypothesis import given
from hypothesis import strategies as st
from layer_samples import SAMPLES
from oracle import assert_agrees

pytestmark = pytest.mark.torch


def emptied(shape: tuple[int, ...], dims: set[int]) -> tuple[int, ...]:
    return tuple(0 if i in dims else size for i, size in enumerate(shape))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_layer_sample_with_each_dim_empty(name: str) -> None:
    for kwargs, shape in SAMPLES[name]:
        for dim in range(len(shape)):
            assert_agrees(name, kwargs, emptied(shape, {dim}))


@st.composite
def several_empty(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    name = draw(st.sampled_from(sorted(SAMPLES)))
    kwargs, shape = draw(st.sampled_from(SAMPLES[name]))
    dims = draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))
    return name, kwargs, emptied(shape, dims)


@given(several_empty())
def test_several_empty_dims(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> None:
    assert_agrees(*case)


@pytest.mark.parametrize(
    ("layer", "shape", "out"),
    [
        ("{type: AdaptiveAvgPool2d, output_size: 0}", [2, 4, 10, 10], [2, 4, 0, 0]),
        ("{type: ConstantPad2d, padding: [-8, 0, 0, 0], value: 1.0}", [1, 3, 4, 8], [1, 3, 4, 0]),
        ("{type: Upsample, scale_factor: 0.2, mode: area}", [1, 3, 4, 4], [1, 3, 0, 0]),
        (
            "{type: FractionalMaxPool2d, kernel_size: 1, output_ratio: 0.3}",
            [1, 3, 3, 3],
            [1, 3, 0, 0],
        ),
    ],
)
def test_a_layer_that_empties_the_tensor_warns(
    tmp_path: Path, layer: str, shape: list[int], out: list[int]
) -> None:
    path = str(write(tmp_path, f"input: {shape}\nlayers:\n  - {layer}\n"))
    for device in ("cpu", "meta"):
        code, stdout, _ = cli("check", "--device", device, "-f", "json", path)
        (report,) = json.loads(stdout)["files"]
        assert code == 0 and report["verified"] and report["output_shape"] == out
        assert [w["code"] for w in report["warnings"]] == ["CS106"]
    assert cli("check", "--strict", "--no-verify", path).code == 1


def test_a_batch_of_zero_runs_through(tmp_path: Path) -> None:
    """The issue's examples: Conv on (0, 4, 10), BatchNorm in eval, LayerNorm."""
    path = str(write(tmp_path, """
        input: [0, 4, 10]
        layers:
          - {type: Conv1d, out_channels: 8, kernel_size: 3}
          - BatchNorm1d
          - {type: LayerNorm, normalized_shape: 8}
          - Flatten
          - {type: Linear, out_features: 5}
    """))  # fmt: skip
    code, stdout, stderr = cli("check", "-q", path)
    assert code == 0 and "output [0, 5]" in stdout and "verified on cpu" in stdout
    assert "warning CS106: the input [0, 4, 10] is empty" in stderr


def test_what_torch_refuses_stays_refused(tmp_path: Path) -> None:
    path = str(write(tmp_path, """
        input: [2, 0, 8, 8]
        layers:
          - {type: MaxPool2d, kernel_size: 1}
    """))  # fmt: skip
    code, _, stderr = cli("check", "--no-verify", path)
    assert code == 1
    assert "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size" in stderr


def test_every_command_takes_an_empty_input(tmp_path: Path) -> None:
    """An input with a 0: each command answers (sizes refuses it, located), none crashes."""
    path = str(write(tmp_path, """
        input: [0, 3, 32, 32]
        layers:
          - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}
          - {type: MaxPool2d, kernel_size: 2}
          - Flatten
          - {type: Linear, out_features: 10}
    """))  # fmt: skip
    out = tmp_path / "out"
    runs = {
        ("check", "--receptive-field", "--no-verify", path): 0,
        ("check", "-f", "markdown", "--no-verify", path): 0,
        ("check", "-f", "json", "--device", "meta", path): 0,
        ("diff", path, path): 0,
        ("draw", path, "-o", f"{out}.svg"): 0,
        ("export", path, "-o", f"{out}.py"): 0,
        ("explain-count", path): 0,
        ("sizes", path): 1,
    }
    for args, expected in runs.items():
        code, _, stderr = cli(*args)
        assert code == expected and "Traceback" not in stderr, (args, stderr)
    assert "model.yaml:1:8" in cli("sizes", path).stderr
