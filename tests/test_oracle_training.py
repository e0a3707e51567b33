"""Training mode (``check --train``) against torch in ``train()``: same shape, or both fail.

What only a training forward refuses: BatchNorm with one value per channel (a batch of 1 after
a global pool) or ``eps: 0``, InstanceNorm over a single spatial element, feature dropout on an
input without a channel dim. Every layer sample is run in training mode too, so a rule that
exists only in training cannot hide in a type nobody drew.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import cli, write
from hypothesis import given
from hypothesis import strategies as st
from layer_samples import SAMPLES
from oracle import assert_agrees

pytestmark = pytest.mark.torch


@st.composite
def norm_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    ndim = draw(st.sampled_from([1, 2, 3]))
    family = draw(st.sampled_from(["BatchNorm", "InstanceNorm"]))
    channels = draw(st.integers(1, 3))
    spatial = [draw(st.sampled_from([1, 1, 2, 3])) for _ in range(ndim)]
    batch = draw(st.sampled_from([1, 1, 2]))
    rank = (
        draw(st.sampled_from([ndim + 1, ndim + 2]))
        if family == "InstanceNorm" or ndim == 1
        else ndim + 2
    )
    shape = (
        (batch, channels, *spatial)[ndim + 2 - rank :]
        if rank == ndim + 1
        else (batch, channels, *spatial)
    )
    kwargs: dict[str, Any] = {"num_features": channels}
    if draw(st.booleans()):
        kwargs["eps"] = draw(st.sampled_from([0.0, 1e-5]))
    if family == "InstanceNorm":
        kwargs["affine"] = draw(st.booleans())
    return f"{family}{ndim}d", kwargs, shape


@st.composite
def dropout_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    name = draw(
        st.sampled_from(["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                         "FeatureAlphaDropout"])
    )  # fmt: skip
    p = draw(st.sampled_from([0.0, 0.3, 1.0]))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=5)))
    return name, {"p": p}, shape


@given(norm_case())
def test_normalisation_in_training_mode(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> None:
    assert_agrees(*case, training=True)


@given(dropout_case())
def test_active_dropout(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> None:
    assert_agrees(*case, training=True)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_layer_sample_in_training_mode(name: str) -> None:
    for kwargs, shape in SAMPLES[name]:
        assert_agrees(name, kwargs, shape, training=True)
        assert_agrees(name, kwargs, (1, *shape[1:]), training=True)  # a batch of one


# ------------------------------------------------------------------------------ the command

GLOBAL_POOL_BN = """
    input: [1, 3, 16, 16]
    layers:
      - {type: Conv2d, out_channels: 8, kernel_size: 3}
      - {type: AdaptiveAvgPool2d, output_size: 1}
      - BatchNorm2d
      - {type: Dropout, p: 0.5}
"""


def test_train_refuses_what_a_training_forward_refuses(tmp_path: Any) -> None:
    path = str(write(tmp_path, GLOBAL_POOL_BN))
    assert cli("check", "--no-verify", path).code == 0  # eval accepts it
    code, _, stderr = cli("check", "--no-verify", "--train", path)
    assert code == 1
    assert (
        "model.yaml:5:5: layers[2] (BatchNorm2d): Expected more than 1 value per channel" in stderr
    )
    assert "(in training mode)" in stderr and "Traceback" not in stderr


def test_train_verifies_in_train_mode_at_the_batch_asked(tmp_path: Any) -> None:
    import json

    path = str(write(tmp_path, GLOBAL_POOL_BN))
    for device in ("cpu", "meta"):
        code, stdout, _ = cli(
            "check", "--train", "--batch", "2", "--device", device, "-f", "json", path
        )
        (report,) = json.loads(stdout)["files"]
        assert code == 0 and report["verified"] and report["mode"] == "train"
    code, stdout, _ = cli("check", "-q", "--train", "--batch", "2", path)
    assert code == 0 and stdout.rstrip().endswith("verified on cpu in training mode")
