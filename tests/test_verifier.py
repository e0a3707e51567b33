"""The verifier against a deliberately wrong engine: mismatches and torch errors are located."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import predict_text, run_cli, write

import convshape
from convshape.errors import ErrorKind
from convshape.layers import REGISTRY, Shape

pytestmark = pytest.mark.torch


def broken(name: str) -> type:
    """A registered layer type whose formula doubles the last dim (torch keeps the shape)."""
    base = REGISTRY[name]

    def output_shape(self: object, shape: Shape) -> Shape:
        return (*shape[:-1], shape[-1] * 2)

    return dataclasses.dataclass(frozen=True)(type(name, (base,), {"output_shape": output_shape}))


SPEC = """
    blocks:
      Unit:
        params: {channels: 4}
        layers:
          - {type: Conv2d, out_channels: $channels, kernel_size: 3, padding: 1}
          - Hardswish
          - {type: Conv2d, out_channels: $channels, kernel_size: 3, padding: 1}
    input: [1, 3, 8, 8]
    layers:
      - {type: Unit, channels: 4}
"""


def test_a_wrong_prediction_is_reported_as_a_mismatch_with_both_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(REGISTRY, "Hardswish", broken("Hardswish"))
    prediction = predict_text(tmp_path, SPEC)
    assert prediction.ok and prediction.output_shape == (1, 4, 8, 16)
    result = convshape.verify(prediction, device="cpu")
    assert result.completed
    first = result.errors[0]
    assert first.kind == ErrorKind.MISMATCH
    assert first.context.layer_path == "0.1"
    assert first.message == "predicted output [1, 4, 8, 16], torch gave [1, 4, 8, 8]"
    assert first.context.location is not None and first.context.location.line == 6


def test_torch_raising_inside_a_block_names_the_blocks_yaml_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the engine now thinks Hardswish doubles W, so it expects the 2nd conv on [1, 4, 8, 16];
    # give the 2nd conv a Flatten + Linear instead so torch fails on in_features
    monkeypatch.setitem(REGISTRY, "Hardswish", broken("Hardswish"))
    spec = SPEC.replace(
        "- {type: Conv2d, out_channels: $channels, kernel_size: 3, padding: 1}\n          - Hardswish\n          - {type: Conv2d, out_channels: $channels, kernel_size: 3, padding: 1}",
        "- {type: Conv2d, out_channels: $channels, kernel_size: 3, padding: 1}\n          - Hardswish\n          - {type: Linear, out_features: 5}",
    )
    prediction = predict_text(tmp_path, spec)
    assert prediction.ok
    result = convshape.verify(prediction, device="cpu")
    assert not result.completed
    (err,) = result.errors
    assert err.kind == ErrorKind.RUNTIME
    assert err.context.layer_path == "0.2"
    assert err.context.location is not None and err.context.location.line == 7
    assert "in block Unit used at" in err.render()
    assert "torch raised RuntimeError: mat1 and mat2 shapes cannot be multiplied" in err.message
    assert "predicted for this layer: [1, 4, 8, 16] -> [1, 4, 8, 5]" in err.render()


def test_hooks_are_removed_and_the_model_untouched_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setitem(REGISTRY, "Hardswish", broken("Hardswish"))
    prediction = predict_text(tmp_path, SPEC)
    model = convshape.build(prediction)
    assert model.training
    from convshape.verifier import verify

    result = verify(prediction, device="cpu", model=model)
    assert result.errors  # the broken formula was caught ...
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert model.training  # ... and the model is back in training mode
    assert all(p.device == torch.device("cpu") for p in model.parameters())


def test_cuda_without_cuda_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    spec = write(tmp_path, SPEC)
    proc = run_cli("check", "--device", "cuda", str(spec))
    assert proc.returncode == 2
    assert "--device cuda: CUDA is not available here" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_batch_override_is_verified(tmp_path: Path) -> None:
    spec = write(tmp_path, SPEC)
    proc = run_cli("check", "--batch", "5", "--device", "meta", "-q", str(spec))
    assert proc.returncode == 0, proc.stderr
    assert "output [5, 4, 8, 8]" in proc.stdout and "verified on meta" in proc.stdout


def test_random_layers_see_the_same_numbers_in_every_compared_run(tmp_path: Path) -> None:
    """FractionalMaxPool draws its windows at random in eval too: the in-place check's second
    run must draw the same, or every model with an in-place layer would be a mismatch."""
    path = write(tmp_path, """
        input: [2, 3, 16, 16]
        layers:
          - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}
          - {type: ReLU, inplace: true}
          - {type: FractionalMaxPool2d, kernel_size: 2, output_ratio: 0.7}
    """)  # fmt: skip
    result = convshape.verify(convshape.load(path), device="cpu")
    assert result.completed and result.errors == []
