"""The YAML spec: every feature, and every spec error with its located message."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import error_of, predict_text, write

import convshape
from convshape.errors import ErrorKind


def shapes(prediction: convshape.Prediction) -> dict[str, list[int]]:
    return {n.path: list(n.output_shape) for n in prediction.rows}


def test_in_channels_and_in_features_are_inferred(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [2, 3, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3}
          - BatchNorm2d
          - {type: GroupNorm, num_groups: 2}
          - Flatten
          - {type: Linear, out_features: 5}
    """,
    )
    args = [n.layer.kwargs() for n in p.rows if n.layer]
    assert args[0]["in_channels"] == 3
    assert args[1]["num_features"] == 4
    assert args[2]["num_channels"] == 4
    assert args[4]["in_features"] == 4 * 6 * 6
    assert p.output_shape == (2, 5)


def test_given_in_channels_is_checked_and_the_fitting_value_suggested(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - {type: Conv2d, in_channels: 4, out_channels: 8, kernel_size: 3}
    """,
    )
    assert err.kind == ErrorKind.SHAPE
    assert err.render() == (
        f"{tmp_path}/model.yaml:3:5: layers[0] (Conv2d): expected input with 4 channels, "
        "but got 3 channels\n"
        "  torch: Given groups=1, weight of size [8, 4, 3, 3], expected input[1, 3, 8, 8] "
        "to have 4 channels, but got 3 channels instead\n"
        "  input to this layer: [1, 3, 8, 8]\n"
        "  hint: in_channels: 3 would fit this input (or leave it out to infer it)"
    )


def test_in_features_mismatch_after_flatten_shows_the_fitting_value(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        input: [1, 16, 5, 5]
        layers:
          - Flatten
          - {type: Linear, in_features: 256, out_features: 10}
    """,
    )
    assert "in_features: 400 would fit" in err.render()
    assert err.context.location is not None and err.context.location.line == 4


def test_impossible_shape_renders_the_formula_with_numbers(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        name: tiny
        input: [1, 16, 4, 4]
        layers:
          - {type: Identity, name: conv1}
          - ReLU
          - {type: Conv2d, out_channels: 16, kernel_size: 5, name: conv2}
    """,
    )
    assert err.render() == (
        f"{tmp_path}/model.yaml:6:5: layers[2] conv2 (Conv2d): output height would be 0\n"
        "  H_out = floor((H_in + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1\n"
        "        = floor((4 + 2*0 - 1*(5-1) - 1) / 1) + 1 = 0\n"
        "  input to this layer: [1, 16, 4, 4]"
    )


def test_expect_checks_with_null_as_any(tmp_path: Path) -> None:
    ok = predict_text(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3, expect: [null, 4, 6, 6]}
    """,
    )
    assert ok.ok
    err = error_of(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3, expect: [1, 4, 8, 8]}
    """,
    )
    assert "output shape [1, 4, 6, 6] does not match expect: [1, 4, 8, 8]" in err.render()


@pytest.mark.torch
def test_repeat_makes_fresh_copies_and_names_them(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 3, kernel_size: 3, padding: 1, repeat: 3, name: conv}
          - {type: ReLU, repeat: 2}
    """,
    )
    assert [n.path for n in p.rows] == ["conv_0", "conv_1", "conv_2", "3", "4"]
    model = convshape.build(p)
    assert [name for name, _ in model.named_children()] == ["conv_0", "conv_1", "conv_2", "3", "4"]
    assert model.conv_0.weight is not model.conv_1.weight


def test_residual_identity_explicit_and_auto_shortcuts(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [1, 8, 8, 8]
        layers:
          - type: Residual
            body: [{type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}]
          - type: Residual
            body: [{type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}]
            shortcut: [{type: Conv2d, out_channels: 16, kernel_size: 1}]
          - type: Residual
            body: [{type: Conv2d, out_channels: 32, kernel_size: 3, stride: 2, padding: 1}]
            shortcut: auto
    """,
    )
    paths = [n.path for n in p.rows]
    assert "0.shortcut" not in paths
    assert "1.shortcut.0" in paths
    assert [q for q in paths if q.startswith("2.shortcut.")] == ["2.shortcut.0", "2.shortcut.1"]
    auto_conv = next(n for n in p.rows if n.path == "2.shortcut.0").layer
    assert auto_conv is not None
    assert auto_conv.kwargs()["stride"] == (2, 2) and auto_conv.kwargs()["kernel_size"] == 1
    assert p.output_shape == (1, 32, 4, 4)


def test_residual_without_a_fitting_shortcut_is_refused(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        input: [1, 8, 8, 8]
        layers:
          - type: Residual
            body: [{type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}]
    """,
    )
    assert (
        "cannot add body and shortcut: body gives [1, 16, 8, 8], the identity shortcut gives"
        in str(err)
    )
    assert err.hint is not None and "shortcut: auto" in err.hint


def test_concat_with_identity_branch(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - type: Concat
            branches:
              - []
              - [{type: Conv2d, out_channels: 10, kernel_size: 3, padding: 1}, ReLU]
              - [{type: Conv2d, out_channels: 10, kernel_size: 1}]
    """,
    )
    assert p.output_shape == (1, 23, 8, 8)  # seed 001: 3 + 10 + 10 = 23


def test_concat_branches_must_agree_off_the_dim(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - type: Concat
            branches: [[], [{type: MaxPool2d, kernel_size: 2}]]
    """,
    )
    assert "branch 1 gives [1, 3, 4, 4], branch 0 gives [1, 3, 8, 8]" in str(err)


BLOCKS = """
    vars: {width: 4}
    blocks:
      ConvBN:
        params: {channels: null, stride: 1}
        layers:
          - {type: Conv2d, out_channels: $channels, kernel_size: 3, stride: $stride, padding: 1}
          - BatchNorm2d
    input: [1, 3, 16, 16]
    layers:
"""


def test_blocks_params_vars_and_expressions(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        BLOCKS
        + """
          - {type: ConvBN, channels: $width}
          - {type: ConvBN, channels: "${width * 2}", stride: 2}
          - {type: ConvBN, channels: "${max(width, 3) ** 2 // 2}"}
    """,
    )
    assert p.output_shape == (1, 8, 8, 8)
    assert [n.type_name for n in p.rows[:3]] == ["Sequential", "Conv2d", "BatchNorm2d"]
    assert p.rows[0].decl.block == "ConvBN"


def test_block_missing_required_parameter(tmp_path: Path) -> None:
    err = error_of(tmp_path, BLOCKS + "      - {type: ConvBN}\n")
    assert err.kind == ErrorKind.SPEC
    assert "block ConvBN needs parameter 'channels'" in err.render()


def test_block_unknown_parameter_suggests(tmp_path: Path) -> None:
    err = error_of(tmp_path, BLOCKS + "      - {type: ConvBN, chanels: 4}\n")
    assert "block ConvBN has no key 'chanels'" in err.render()
    assert err.hint == "did you mean 'channels'?"


def test_error_inside_a_block_names_the_template_line_and_the_use(tmp_path: Path) -> None:
    err = error_of(tmp_path, BLOCKS + "      - {type: ConvBN, channels: 2.5}\n")
    text = err.render()
    assert ":6:38: layers[0].layers[0] (Conv2d): Conv2d argument 'out_channels' must be a positive int, got 2.5" in text  # fmt: skip
    assert "in block ConvBN used at" in text and "model.yaml:10:5" in text


@pytest.mark.parametrize(
    ("spec", "message", "line", "hint"),
    [
        ("- {type: Conv2D, out_channels: 4, kernel_size: 3}", "unknown layer type 'Conv2D'", 3,
         "did you mean 'Conv2d'?"),
        ("- {type: Conv2d, out_channel: 4, kernel_size: 3}", "Conv2d has no key 'out_channel'", 3,
         "did you mean 'out_channels'?"),
        ("- {type: Conv2d, out_channels: true, kernel_size: 3}",
         "Conv2d argument 'out_channels' must be a positive int, got True", 3, None),
        ("- {type: Conv2d, out_channels: 8.5, kernel_size: 3}",
         "Conv2d argument 'out_channels' must be a positive int, got 8.5", 3, None),
        ("- {type: Conv2d, out_channels: 4, kernel_size: [3, 3, 3]}",
         "Conv2d argument 'kernel_size' must be a positive int or a list of 2 positive ints", 3,
         None),
        ("- {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 0}",
         "Conv2d argument 'stride' must be a positive int or a list of 2 positive ints", 3, None),
        ("- {type: Conv2d, out_channels: 4, out_channels: 5, kernel_size: 3}",
         "duplicate key 'out_channels' (first at line 3, column 20)", 3, None),
        ("- {type: Conv2d, out_channels: 4, kernel_size: 3, padding_mode: reflekt}",
         "must be one of 'zeros', 'reflect', 'replicate', 'circular', got 'reflekt' "
         "(did you mean 'reflect'?)", 3, None),
        ("- {out_channels: 4}", "layer needs a 'type'", 3, None),
    ],
)  # fmt: skip
def test_spec_errors_are_located(
    tmp_path: Path, spec: str, message: str, line: int, hint: str | None
) -> None:
    err = error_of(tmp_path, f"input: [1, 3, 8, 8]\nlayers:\n  {spec}\n")
    assert message in err.message
    assert err.context.location is not None and err.context.location.line == line
    assert err.hint == hint


def test_yaml11_pitfalls_resolve_as_users_expect(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [1, 4, 8, 8]
        layers:
          - {type: BatchNorm2d, eps: 1e-5, momentum: 0.1}
    """,
    )
    node = p.rows[0]
    assert node.layer is not None and node.layer.kwargs()["eps"] == 1e-5


def test_yes_no_are_strings_not_booleans(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3, bias: no}
    """,
    )
    assert "argument 'bias' must be true or false, got 'no'" in err.message


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    err = error_of(tmp_path, "input: [1, 3]\nlayer: []\n")
    assert "spec has no key 'layer'" in err.message and err.hint == "did you mean 'layers'?"


def test_load_never_imports_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(
        tmp_path, "input: [1, 3, 8, 8]\nlayers: [{type: Conv2d, out_channels: 4, kernel_size: 3}]\n"
    )
    code = (
        "import sys, convshape; p = convshape.predict(convshape.load(sys.argv[1])); "
        "assert p.ok; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def test_expressions_inside_flow_mappings_as_design_writes_them(tmp_path: Path) -> None:
    bad = error_of(
        tmp_path,
        """
        vars: {width: 64}
        input: [1, 3, 8, 8]
        layers:
          - {type: Conv2d, out_channels: ${width * 2}, kernel_size: 3, stride: 0}
    """,
    )
    loc = bad.context.location
    assert loc is not None and (loc.line, loc.column) == (4, 72)
    ok = predict_text(
        tmp_path,
        """
        vars: {width: 64}
        input: [1, 3, 8, 8]
        layers:
          - {type: Conv2d, out_channels: ${width * 2}, kernel_size: 3}
    """,
    )
    assert ok.output_shape == (1, 128, 6, 6)


@pytest.mark.torch
def test_trainable_false_freezes_a_container_and_splits_the_counts(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - type: Sequential
            trainable: false
            layers:
              - {type: Conv2d, out_channels: 4, kernel_size: 3}
              - BatchNorm2d
          - {type: Conv2d, out_channels: 2, kernel_size: 1}
    """,
    )
    leaves = [n for n in p.rows if n.layer]
    assert sum(n.num_params for n in leaves) == (4 * 3 * 9 + 4) + 8 + (2 * 4 + 2)
    assert sum(n.trainable_params for n in leaves) == 2 * 4 + 2
    model = convshape.build(p)
    assert [q.requires_grad for q in model.parameters()] == [False] * 4 + [True] * 2


def test_duplicate_layer_names_are_refused(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - {type: ReLU, name: act}
          - {type: ReLU, name: act}
    """,
    )
    assert err.message == "duplicate layer name 'act'"
    assert err.context.location is not None and err.context.location.line == 4


@pytest.mark.torch
def test_nested_sequential_paths_match_named_modules(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [1, 3, 8, 8]
        layers:
          - type: Sequential
            name: stem
            layers: [{type: Conv2d, out_channels: 4, kernel_size: 3, name: conv}, ReLU]
          - Flatten
    """,
    )
    model = convshape.build(p)
    assert [n for n, _ in model.named_modules()][1:] == [n.path for n in p.rows]
    assert [n.path for n in p.rows] == ["stem", "stem.conv", "stem.1", "1"]
