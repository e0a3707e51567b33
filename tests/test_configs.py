"""Every file in configs/ is a test case: published figures, the built model, the verifier."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ROOT

import convshape

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

# torchvision's published figures at 1x3x224x224 (README "The spec"), LeNet-5 hand-checked,
# the seed tutorials' outputs.
PUBLISHED = {
    "lenet5.yaml": (61_706, 416_520, (1, 10)),
    "alexnet.yaml": (61_100_840, 714_188_480, (1, 1000)),
    "vgg16.yaml": (138_357_544, 15_470_264_320, (1, 1000)),
    "resnet18.yaml": (11_689_512, 1_814_073_344, (1, 1000)),
    "resnet50.yaml": (25_557_032, 4_089_184_256, (1, 1000)),
    "densenet121.yaml": (7_978_856, 2_834_161_664, (1, 1000)),
    "mobilenet_v2.yaml": (3_504_872, 300_774_272, (1, 1000)),
    "conv_unit.yaml": (6 * 3 * 25 + 6 + 6 * 6 * 25 + 6, None, (2, 6, 12, 12)),
    "seed_simplecnn.yaml": (3 * 3 * 25 + 3 + 5 * 3 * 9 + 5, None, (1, 5, 44, 79)),
    # two 3x3 convs with BN, and a 1x1 conv + BN shortcut, 64 -> 128 channels
    "resblk.yaml": (
        (128 * 64 * 9 + 128) + 256 + (128 * 128 * 9 + 128) + 256 + (128 * 64 + 128) + 256,
        None,
        (2, 128, 32, 32),
    ),
    "densenet_seed.yaml": (None, None, (1, 10)),  # the seed prints only the output shape
    # torchvision's modern models (weights=None; googlenet and inception_v3 without aux heads)
    "googlenet.yaml": (6_624_904, 1_498_376_192, (1, 1000)),
    "inception_v3.yaml": (23_834_568, 5_713_216_096, (1, 1000)),
    "shufflenet_v2_x1_0.yaml": (2_278_604, 144_907_992, (1, 1000)),
    "mobilenet_v3_large.yaml": (5_483_032, 216_589_760, (1, 1000)),
    "efficientnet_b0.yaml": (5_288_548, 385_814_752, (1, 1000)),
    "regnet_y_400mf.yaml": (4_344_144, 401_842_848, (1, 1000)),
    "convnext_tiny.yaml": (28_589_128, 4_455_531_264, (1, 1000)),
    # 16,848,500,736 linear/conv + 715,327,488 attention (12 layers of 2 * 197 * 197 * 768)
    "vit_b_16.yaml": (86_567_656, 16_848_500_736 + 12 * 2 * 197 * 197 * 768, (1, 1000)),
    "unet.yaml": (None, None, (1, 2, 256, 256)),
}


def test_every_config_is_covered() -> None:
    assert {p.name for p in CONFIGS} == set(PUBLISHED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_prediction_matches_published_figures(path: Path) -> None:
    prediction = convshape.predict(convshape.load(path))
    assert prediction.ok, prediction.error
    leaves = [n for n in prediction.rows if n.layer is not None]
    params, macs = sum(n.num_params for n in leaves), sum(n.macs for n in leaves)
    want_params, want_macs, want_shape = PUBLISHED[path.name]
    assert want_params is None or params == want_params
    assert want_macs is None or macs == want_macs
    assert prediction.output_shape == want_shape


@pytest.mark.torch
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_built_model_matches_prediction(path: Path) -> None:
    import torch

    prediction = convshape.predict(convshape.load(path))
    model = convshape.build(prediction)
    leaves = [n for n in prediction.rows if n.layer is not None]
    assert sum(p.numel() for p in model.parameters()) == sum(n.num_params for n in leaves)
    leaves = [n.path for n in prediction.rows if n.layer is not None]
    modules = [
        name  # a leaf's own submodules (SelfAttention's out_proj) are not rows
        for name, _ in model.named_modules()
        if not any(name.startswith(leaf + ".") for leaf in leaves)
    ]
    assert modules[1:] == [n.path for n in prediction.rows]
    with torch.no_grad():
        out = model.eval()(torch.zeros(prediction.spec.input_shape))
    assert tuple(out.shape) == prediction.output_shape


@pytest.mark.torch
@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_verifier_agrees_on_every_layer(path: Path, device: str) -> None:
    prediction = convshape.predict(convshape.load(path))
    result = convshape.verify(prediction, device=device)
    assert result.completed and result.errors == []
    assert set(result.actual) == {n.path for n in prediction.rows}
    for node in prediction.rows:
        if node.layer is not None:
            assert result.flops[node.path] == 2 * node.macs, node.path


def test_resnet50_and_densenet121_fit_on_a_page() -> None:
    for name in ("resnet50.yaml", "densenet121.yaml"):
        lines = (ROOT / "configs" / name).read_text().splitlines()
        assert len(lines) <= 60, f"{name} has {len(lines)} lines"


@pytest.mark.torch
@pytest.mark.parametrize("device", ["meta"])  # cpu: test_verifier_agrees_on_every_layer
def test_cli_verifies_every_config(device: str) -> None:
    import json

    from helpers import run_cli

    proc = run_cli("check", "--verify", "--device", device, "-f", "json",
                   *[str(p) for p in CONFIGS])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert len(files) == len(CONFIGS)
    for f in files:
        assert f["ok"] and f["verified"] and f["device"] == device, f["file"]
        assert all(row["actual_shape"] == row["output_shape"] for row in f["layers"]), f["file"]
