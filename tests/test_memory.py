"""Memory to the byte: every rule against torch (the oracle), every shipped config at batch 1
and 8, the reference figures, dtypes, frozen layers, optimizer state, and the CLI's figures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import ROOT, cli, write
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_samples import SAMPLES

from convshape.engine import predict
from convshape.footprint import footprint
from convshape.results import load

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
pytestmark = pytest.mark.torch


def _oracle():  # type: ignore[no-untyped-def]
    import memory_oracle

    return memory_oracle


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_layer_rule_agrees_with_torch(name: str) -> None:
    """The rule table, regenerated from torch: each sample on meta and cpu, the input a leaf
    (the model input) and a tensor that requires grad (a layer inside a model), frozen too."""
    oracle = _oracle()
    for kwargs, shape in SAMPLES[name]:
        prediction = oracle.one_layer(name, kwargs, shape)
        for device in ("meta", "cpu"):
            for grad in (False, True):
                oracle.assert_memory_agrees(prediction, device, input_grad=grad)
        if prediction.totals and prediction.totals.params:
            frozen = oracle.one_layer(name, kwargs, shape, trainable=False)
            oracle.assert_memory_agrees(frozen, "meta", input_grad=True)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_layer_rule_holds_in_half_precision(name: str, dtype: str) -> None:
    from convshape.measure import TrainingFailure

    oracle = _oracle()
    for kwargs, shape in SAMPLES[name]:
        prediction = oracle.one_layer(name, kwargs, shape)
        for device in ("meta", "cpu"):
            try:
                oracle.assert_memory_agrees(prediction, device, dtype, True)
            except (TrainingFailure, NotImplementedError) as exc:
                # a few cpu kernels have no half version (avg_pool3d, rrelu): torch's answer
                cause = exc.__cause__ or exc
                assert device == "cpu" and "not implemented for" in str(cause), exc


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    seq=st.integers(1, 9),
    heads=st.integers(1, 3),
    head_dim=st.integers(1, 4),
    dropout=st.sampled_from([0.0, 0.25]),
    batch_first=st.booleans(),
    unbatched=st.booleans(),
    device=st.sampled_from(["meta", "cpu"]),
)
def test_self_attention_memory_agrees(
    n: int, seq: int, heads: int, head_dim: int, dropout: float, batch_first: bool,
    unbatched: bool, device: str,
) -> None:  # fmt: skip
    oracle = _oracle()
    e = heads * head_dim
    shape = (seq, e) if unbatched else ((n, seq, e) if batch_first else (seq, n, e))
    kwargs = {"embed_dim": e, "num_heads": heads, "dropout": dropout, "batch_first": batch_first}
    prediction = oracle.one_layer("SelfAttention", kwargs, shape)
    oracle.assert_memory_agrees(prediction, device, input_grad=True)


# the reference's figures (shared/reference/training_memory.md, measured on torch 2.13):
# activations + model input saved in one training forward, float32, batch 1 and 8
REFERENCE = {
    "resnet18": (22_218_240, 177_477_120),
    "resnet50": (86_121_984, 687_488_512),
    "mobilenet_v2": (78_345_984, 625_812_736),
    "densenet121": (130_695_936, 1_043_225_344),
    "vgg16": (73_355_264, 586_842_112),
}


@pytest.mark.parametrize("model", sorted(REFERENCE))
def test_the_reference_figures(model: str) -> None:
    spec = load(ROOT / "configs" / f"{model}.yaml")
    for batch, want in zip((1, 8), REFERENCE[model], strict=True):
        batched = replace(spec, input_shape=(batch, *spec.input_shape[1:]), expects=False)
        assert footprint(predict(batched), device="meta").saved_activation_bytes == want


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_at_batch_8_agrees_on_meta(path: Path) -> None:
    spec = load(path)
    batched = replace(spec, input_shape=(8, *spec.input_shape[1:]), expects=False)
    _oracle().assert_memory_agrees(predict(batched), "meta")


def test_frozen_backbone_saves_less(tmp_path: Path) -> None:
    """A frozen Linear keeps nothing of its input; a frozen conv keeps its input anyway."""
    text = (
        "input: [2, 3, 16, 16]\nlayers:\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 3, trainable: false}\n"
        "  - ReLU\n  - Flatten\n"
        "  - {type: Linear, out_features: 10, trainable: false}\n"
        "  - {type: Linear, out_features: 4}\n"
    )
    prediction = predict(load(write(tmp_path, text)))
    memory = footprint(prediction, device="meta")
    # nothing requires grad before the last Linear: only its input is saved
    assert memory.saved == {"4": 2 * 10 * 4}
    assert memory.grad_bytes == 4 * (10 * 4 + 4)
    _oracle().assert_memory_agrees(prediction, "meta")


def _state_bytes(prediction, optimizer: str) -> int:  # type: ignore[no-untyped-def]
    import torch

    from convshape.builder import build

    with torch.device("meta"):
        model = build(prediction)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.empty_like(p)
    make = {
        "sgd": lambda: torch.optim.SGD(params, lr=0.1, foreach=False),
        "momentum": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9, foreach=False),
        "adam": lambda: torch.optim.Adam(params, foreach=False),
        "adamw": lambda: torch.optim.AdamW(params, foreach=False),
    }
    opt = make[optimizer]()
    opt.step()
    return sum(
        t.untyped_storage().nbytes()
        for state in opt.state.values()
        for t in state.values()
        if isinstance(t, torch.Tensor)
    )


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
@pytest.mark.parametrize("config", ["resnet18", "vit_b_16", "seed_simplecnn"])
def test_parameters_buffers_and_optimizer_state_match_torch(config: str, optimizer: str) -> None:
    import torch

    from convshape.builder import build

    prediction = predict(load(ROOT / "configs" / f"{config}.yaml"))
    memory = footprint(prediction, optimizer=optimizer, device="meta")
    with torch.device("meta"):
        model = build(prediction)
    assert memory.param_bytes == sum(p.untyped_storage().nbytes() for p in model.parameters())
    assert memory.buffer_bytes == sum(b.untyped_storage().nbytes() for b in model.buffers())
    assert memory.optimizer_bytes == _state_bytes(prediction, optimizer)


def test_cli_json_memory_object_and_rows() -> None:
    out = cli("check", "--no-verify", "-f", "json", "--optimizer", "sgd",
              str(ROOT / "configs" / "resnet18.yaml"))  # fmt: skip
    assert out.code == 0
    file = json.loads(out.stdout)["files"][0]
    memory = file["memory"]
    assert memory["saved_activation_bytes"] == 22_218_240
    assert memory["optimizer"] == "sgd" and memory["optimizer_bytes"] == 0
    assert memory["dtype"] == "float32"
    assert memory["param_bytes"] == memory["grad_bytes"] == 4 * 11_689_512
    assert sum(row["saved_bytes"] for row in file["layers"]) == 22_218_240


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_cli_half_precision_halves_activations_but_not_indices(device: str) -> None:
    path = str(ROOT / "configs" / "resnet18.yaml")
    full = json.loads(cli("check", "--no-verify", "-f", "json", path).stdout)
    half = json.loads(cli("check", "--no-verify", "-f", "json", "--dtype", "bfloat16",
                          "--device", device, path).stdout)  # fmt: skip
    f, h = full["files"][0]["memory"], half["files"][0]["memory"]
    assert h["param_bytes"] * 2 == f["param_bytes"]
    # MaxPool's int64 indices (1,605,632 B) stay; BatchNorm's statistics (38,400 B as float32)
    # stay float32 on meta, and are bfloat16 on cpu
    stats = 38_400 if device == "meta" else 38_400 // 2
    values = (22_218_240 - 1_605_632 - 38_400) // 2
    assert h["saved_activation_bytes"] == values + 1_605_632 + stats


def test_cli_verifies_half_precision_on_meta() -> None:
    out = cli("check", "--device", "meta", "--dtype", "float16", "-q",
              str(ROOT / "configs" / "mobilenet_v2.yaml"))  # fmt: skip
    assert out.code == 0, out.stderr


def test_max_memory_is_a_budget_on_the_predicted_figure(tmp_path: Path) -> None:
    path = str(ROOT / "configs" / "resnet18.yaml")
    ok = cli("check", "--no-verify", "--max-memory", "60MiB", "-q", path)
    assert ok.code == 0, ok.stderr  # params 44.6 MiB + peak 6.7 MiB
    over = cli("check", "--no-verify", "--max-memory", "60MiB", "--train", "-q", path)
    assert over.code == 1
    figures = json.loads(cli("check", "--no-verify", "-f", "json", path).stdout)["files"][0]
    bound = figures["memory"]["training_peak_bound_bytes"]
    expected = f"--max-memory 60 MiB: {bound:,} bytes for a training step at most (the bound)"
    assert expected in over.stderr
    low = cli("check", "--no-verify", "--max-memory", "40MiB", "-f", "json", path)
    err = json.loads(low.stdout)["files"][0]["errors"][0]
    assert err["kind"] == "budget" and err["line"] == 3  # the `input:` line
