"""No silent wrong answer: each ordinary mistake that used to pass with exit 0 and a tick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT, cli, error_of, predict_text, write

import convshape
from convshape.lint import RULES

WARNINGS = ROOT / "tests" / "data" / "warnings"

# ---------------------------------------------------------------- 1. in-place inside containers

INPLACE_RESIDUAL = """
input: [2, 4, 6, 6]
layers:
  - type: Residual
    body:
      - {type: ReLU, inplace: true}
      - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
"""

INPLACE_CONCAT_BEHIND_A_VIEW = """
input: [2, 12]
layers:
  - type: Concat
    branches:
      - []
      - [Identity, {type: Hardtanh, inplace: true}, {type: Linear, out_features: 5}]
"""


@pytest.mark.torch
@pytest.mark.parametrize("text", [INPLACE_RESIDUAL, INPLACE_CONCAT_BEHIND_A_VIEW])
def test_the_built_model_computes_the_written_function(tmp_path: Path, text: str) -> None:
    import torch

    model = convshape.build(predict_text(tmp_path, text)).eval()
    x = torch.randn(convshape.load(tmp_path / "model.yaml").input_shape) * 3
    with torch.no_grad():
        y = model(x.clone())
        for m in model.modules():  # the reference: the same weights, nothing in place
            if hasattr(m, "inplace"):
                m.inplace = False
        want = model(x.clone())
    assert torch.equal(y, want)


@pytest.mark.torch
def test_the_verifier_proves_values_and_catches_an_overwritten_identity(tmp_path: Path) -> None:
    """A hand-built module with the classic bug: body(x) + x with x already overwritten."""
    import torch
    from torch import nn

    from convshape.verifier import verify

    class Buggy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(4, 4, 3, padding=1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x) + x  # type: ignore[no-any-return]

    prediction = predict_text(
        tmp_path, INPLACE_RESIDUAL.replace("type: Residual", "type: Residual\n    name: res")
    )
    buggy = nn.Sequential()
    buggy.add_module("res", Buggy())
    result = verify(prediction, device="cpu", model=buggy)
    assert [e.kind for e in result.errors] == ["mismatch"]
    assert (
        "values differ from the same model with every in-place flag off" in result.errors[0].message
    )
    assert result.errors[0].context.layer_path == "res"
    good = verify(prediction, device="cpu")
    assert good.errors == [] and good.completed


# ---------------------------------------------------------------- 2. lexical block scoping

SCOPED = """
vars: {width: 8}
blocks:
  Inner:
    params: {cin: null, m: "${cin * 2}"}
    vars: {hidden: "${m + width}"}
    layers:
      - {type: Conv2d, out_channels: $hidden, kernel_size: 1}
  Outer:
    params: {cin: 3}
    layers:
      - {type: Inner, cin: 5}
input: [1, 3, 4, 4]
layers:
  - {type: Outer, cin: 100}
"""


def test_a_parameter_default_is_evaluated_in_the_blocks_own_scope(tmp_path: Path) -> None:
    p = predict_text(tmp_path, SCOPED)
    assert p.error is None
    assert p.output_shape == (1, 5 * 2 + 8, 4, 4)  # Inner's own cin (5), not Outer's (100)


def test_a_callers_name_is_not_visible_inside_a_block(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        blocks:
          Head:
            layers:
              - {type: Linear, out_features: $classes}
        input: [1, 4]
        vars: {}
        layers:
          - type: Sequential
            layers: [Head]
        """.replace("vars: {}", "vars: {n: 1}"),
    )
    assert err.context.location is not None and err.context.location.line == 4
    assert "unknown variable 'classes'" in err.message
    assert err.hint == "a block sees only its params, its own vars and the top-level vars"


# ---------------------------------------------------------------- 3. --batch on every config

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("batch", ["1", "3", "64"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_config_passes_at_any_batch_formula_only(config: Path, batch: str) -> None:
    out = cli("check", "--no-verify", "--strict", "-q", "--batch", batch, str(config))
    assert out.code == 0, out.stderr
    assert f", output [{batch}, " in out.stdout


@pytest.mark.torch
@pytest.mark.parametrize("batch", ["1", "3", "64"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_config_verifies_at_any_batch_on_meta(config: Path, batch: str) -> None:
    out = cli("check", "--device", "meta", "--strict", "-q", "--batch", batch, str(config))
    assert out.code == 0, out.stderr
    assert "verified on meta" in out.stdout


def test_expect_is_checked_at_the_specs_own_batch(tmp_path: Path) -> None:
    path = write(
        tmp_path, "input: [1, 3]\nlayers:\n  - {type: Linear, out_features: 2, expect: [2, 2]}\n"
    )
    out = cli("check", "--no-verify", "--batch", "2", str(path))
    assert out.code == 1
    assert (
        f"{path}:3:45: layers[0] (Linear): output shape [1, 2] does not match expect: [2, 2]"
        in out.stderr
    )


# ---------------------------------------------------------------- 4. no batch dimension


def test_an_unbatched_input_is_flagged_and_batch_refuses_to_touch_it() -> None:
    spec = str(WARNINGS / "CS101.yaml")
    out = cli("check", "--no-verify", "-f", "json", spec)
    assert out.code == 0
    (report,) = json.loads(out.stdout)["files"]
    assert [w["code"] for w in report["warnings"]] == ["CS101"]
    assert (report["warnings"][0]["line"], report["warnings"][0]["column"]) == (4, 5)
    assert cli("check", "--no-verify", "--strict", "-q", spec).code == 1
    refused = cli("check", "--no-verify", "--batch", "8", spec)
    assert refused.code == 2
    assert "--batch: the spec's input [3, 32, 32] has no batch dimension" in refused.stderr


def test_unbatched_on_purpose_is_said_in_the_spec(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "unbatched: true\ninput: [3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 2, kernel_size: 3}\n",
    )
    out = cli("check", "--no-verify", "--strict", "-q", str(path))
    assert out.code == 0, out.stderr
    assert cli("check", "--no-verify", "--batch", "4", str(path)).code == 2


# ---------------------------------------------------------------- 5-7


def test_a_forgotten_flatten_is_flagged_with_the_fix() -> None:
    out = cli("check", "--no-verify", "--strict", str(WARNINGS / "CS102.yaml"))
    assert out.code == 1
    assert "warning CS102: Linear on the 4-D feature map [1, 8, 30, 30] from Conv2d" in out.stderr
    assert "hint: put a Flatten before it" in out.stderr


@pytest.mark.parametrize(
    ("body", "stride", "message"),
    [
        ("{type: Conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}", [2, 2], None),
        ("{type: MaxPool2d, kernel_size: 3, stride: 2, padding: 1}", [2, 2], None),
        (
            "{type: MaxPool2d, kernel_size: 2}",
            None,
            "shortcut: auto cannot match the body: the body maps [1, 8, 5, 5] to [1, 8, 2, 2], "
            "and a 1x1 conv with the body's stride [2, 2] gives [3, 3]",
        ),
        (
            "{type: Conv2d, out_channels: 16, kernel_size: 3}",
            None,
            "shortcut: auto cannot match the body: the body maps [1, 8, 5, 5] to [1, 16, 3, 3], "
            "and a 1x1 conv with the body's stride [1, 1] gives [5, 5]",
        ),
        (
            "{type: Upsample, scale_factor: 2}",
            None,
            "shortcut: auto cannot match the body: the body maps [1, 8, 5, 5] to [1, 8, 10, 10], "
            "and its layers are not only strided windows",
        ),
    ],
)
def test_shortcut_auto_uses_the_bodys_real_stride(
    tmp_path: Path, body: str, stride: list[int] | None, message: str | None
) -> None:
    text = f"input: [1, 8, 5, 5]\nlayers:\n  - {{type: Residual, shortcut: auto, body: [{body}]}}\n"
    p = predict_text(tmp_path, text)
    if message is None:
        assert p.error is None
        conv = next(n for n in p.rows if n.path == "0.shortcut.0")
        assert conv.layer is not None and list(conv.layer.kwargs()["stride"]) == stride
        return
    assert p.error is not None
    assert p.error.message == message
    assert p.error.context.location is not None and p.error.context.location.line == 3


@pytest.mark.parametrize(
    ("layer", "shape", "message", "hint"),
    [
        ("{type: Conv2d, out_channels: 4, kernel_size: 3}", "[1, 3, 8, 8, 8]",
         "Conv2d cannot take the 5-D input [1, 3, 8, 8, 8]: it takes a 3-D or 4-D input",
         "Conv3d takes a 5-D input"),
        ("BatchNorm1d", "[1, 3, 8, 8]",
         "BatchNorm1d cannot take the 4-D input [1, 3, 8, 8]: it takes a 2-D or 3-D input",
         "BatchNorm2d takes a 4-D input"),
        ("{type: Conv1d, in_channels: 3, out_channels: 4, kernel_size: 3}", "[1, 3, 8, 8]",
         "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [1, 3, 8, 8]",
         "Conv2d takes a 4-D input"),
    ],
)  # fmt: skip
def test_wrong_rank_says_what_the_layer_takes_and_which_fits(
    tmp_path: Path, layer: str, shape: str, message: str, hint: str
) -> None:
    err = error_of(tmp_path, f"input: {shape}\nlayers:\n  - {layer}\n")
    assert (err.message, err.hint) == (message, hint)


# ---------------------------------------------------------------- 8. locations through blocks

NESTED = """
blocks:
  Unit:
    params: {c: null}
    layers:
      - {type: Conv2d, out_channels: $c, kernel_size: 3}
  Stage:
    params: {c: null}
    layers:
      - {type: Unit, c: $c}
      - {type: Unit, c: $c, expect: [1, 9, 9, 9]}
input: [1, 3, 8, 8]
layers:
  - {type: Stage, c: 4, name: stage}
"""


def test_expect_on_a_block_instance_is_reported_at_that_expect(tmp_path: Path) -> None:
    err = error_of(tmp_path, NESTED)
    text = err.render()
    assert text.startswith(f"{tmp_path}/model.yaml:10:37: layers[0].layers[1] (Unit: Sequential): ")
    assert "output shape [1, 4, 4, 4] does not match expect: [1, 9, 9, 9]" in text
    assert "in block Stage used at" in text


def test_errors_in_nested_blocks_name_every_use_site_and_no_enclosing_name(tmp_path: Path) -> None:
    err = error_of(tmp_path, NESTED.replace("input: [1, 3, 8, 8]", "input: [1, 3, 4, 4]"))
    text = err.render()
    assert text.startswith(f"{tmp_path}/model.yaml:5:9: layers[0].layers[1].layers[0] (Conv2d): ")
    assert "stage" not in text.splitlines()[0]
    assert (
        f"  in block Unit used at {tmp_path}/model.yaml:10:9, inside Stage used at "
        f"{tmp_path}/model.yaml:13:5"
    ) in text


# ---------------------------------------------------------------- warnings


@pytest.mark.parametrize("code", sorted(RULES))
def test_golden_rendering_of_each_warning_code(code: str) -> None:
    spec = WARNINGS / f"{code}.yaml"
    out = cli("check", "--no-verify", "-q", str(spec.relative_to(ROOT)))
    assert out.code == 0
    golden = WARNINGS / f"{code}.txt"
    import os

    if os.environ.get("CONVSHAPE_UPDATE_GOLDEN") == "1":
        golden.write_text(out.stderr)
    assert out.stderr == golden.read_text()
    assert cli("check", "--no-verify", "--strict", "-q", str(spec)).code == 1


def test_a_code_can_be_allowed_on_a_layer_or_for_the_file(tmp_path: Path) -> None:
    base = (WARNINGS / "CS105.yaml").read_text()
    on_layer = write(
        tmp_path, base.replace("kernel_size: 2}", "kernel_size: 2, allow: [CS105]}"), "a.yaml"
    )
    whole = write(tmp_path, "allow: [CS105]\n" + base, "b.yaml")
    for path in (on_layer, whole):
        out = cli("check", "--no-verify", "--strict", "-q", str(path))
        assert (out.code, out.stderr) == (0, "")
    typo = write(tmp_path, "allow: [CS015]\n" + base, "c.yaml")
    out = cli("check", "--no-verify", str(typo))
    assert out.code == 1
    assert f"{typo}:1:8: allow: 'allow' lists 'CS015', which is not a warning code" in out.stderr


def test_readme_lists_every_warning_code() -> None:
    readme = (ROOT / "README.md").read_text()
    for code in RULES:
        assert f"`{code}`" in readme
