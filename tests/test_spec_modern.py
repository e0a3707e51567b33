"""The spec language for modern networks: blocks that read their input, conditions, includes."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli, error_of, predict_text, write

from convshape.spec.expr import evaluate, make_divisible

INVERTED = """
blocks:
  Inverted:
    params: {cout: null, s: 1, t: 6}
    vars: {hidden: "${C * t}"}
    type: Residual
    connect: ${s == 1 and C == cout}
    body:
      - {type: Conv2d, out_channels: $hidden, kernel_size: 1, if: "${t != 1}"}
      - {type: Conv2d, out_channels: $hidden, kernel_size: 3, stride: $s, padding: 1, groups: $hidden}
      - {type: Conv2d, out_channels: $cout, kernel_size: 1}
input: [1, 8, 8, 8]
layers:
  - {type: Inverted, cout: 8, t: 1}
  - {type: Inverted, cout: 16, s: 2}
  - {type: Inverted, cout: 16}
"""


def test_a_block_reads_its_input_and_conditions_shape_it(tmp_path: Path) -> None:
    p = predict_text(tmp_path, INVERTED)
    assert p.error is None
    rows = {n.path: n for n in p.rows}
    assert [c.key for c in rows["0"].children] == ["body", "shortcut"][:1]  # identity shortcut
    assert len(rows["0.body"].children) == 2  # t = 1: no expansion conv
    assert rows["1"].output_shape == (1, 16, 4, 4)  # connect false: the body alone
    assert rows["1.body.0"].layer.kwargs()["out_channels"] == 8 * 6  # type: ignore[union-attr]
    assert rows["2.body.0"].layer.kwargs()["out_channels"] == 16 * 6  # type: ignore[union-attr]


def test_input_sizes_are_variables_everywhere(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        input: [2, 3, 40, 24]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
          - {type: Upsample, size: [$input_H, $input_W], mode: bilinear}
        """,
    )
    assert p.output_shape == (2, 4, 40, 24)


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("a if k == 3 else b", 1),
        ("s == 1 and c == o", True),
        ("not (1 < 2 < 3)", False),
        ("1 < 3 > 2", True),
        ("x == true", True),
        ("make_divisible(16 * 0.25)", 8),
        ("make_divisible(240 * 0.25, 8)", 64),  # 60 rounds to 64
        ("make_divisible(17, 8)", 16),  # 16 is not below 0.9 * 17
        ("make_divisible(37, 16)", 48),  # int(37 + 8) // 16 * 16 = 32 < 0.9 * 37: + 16
    ],
)
def test_conditions_and_make_divisible(expr: str, value: object) -> None:
    scope = {"a": 1, "b": 2, "k": 3, "s": 1, "c": 2, "o": 2, "x": True}
    assert evaluate(expr, scope) == value


def test_make_divisible_is_torchvisions() -> None:
    def theirs(v: float, divisor: int, min_value: int | None = None) -> int:
        # torchvision/models/_utils.py _make_divisible, as published
        if min_value is None:
            min_value = divisor
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        if new_v < 0.9 * v:
            new_v += divisor
        return new_v

    for v in [1, 3.5, 7, 8, 12, 15.9, 16, 17, 37, 120 * 0.75, 960 * 1.25, 1000]:
        for d in (1, 4, 8, 16):
            assert make_divisible(v, d) == theirs(v, d)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  - {type: ReLU, if: 1}\n", "'if' must be true or false, got 1"),
        ("  - {type: ReLU, if: '${1 + true}'}\n", "`true` is true/false, not a number"),
        (
            "  - {type: Residual, connect: 2, body: [ReLU]}\n",
            "'connect' must be true or false, got 2",
        ),
    ],
)
def test_conditions_are_checked(tmp_path: Path, text: str, message: str) -> None:
    err = error_of(tmp_path, "input: [1, 3]\nlayers:\n" + text)
    assert message in err.message
    assert err.context.location is not None and err.context.location.line == 3


UNET = """
blocks:
  Level:            # a U-Net level: skip, or down - next level - up, concatenated
    params: {depth: null, width: 4}
    layers:
      - {type: Conv2d, out_channels: $width, kernel_size: 3, padding: 1}
      - type: Concat
        if: ${depth > 0}
        branches:
          - []
          - - {type: MaxPool2d, kernel_size: 2}
            - {type: Level, depth: "${depth - 1}", width: "${width * 2}"}
            - {type: ConvTranspose2d, out_channels: $width, kernel_size: 2, stride: 2}
input: [1, 3, 32, 48]
layers:
  - {type: Level, depth: 3}
"""


def test_a_recursive_block_with_a_base_case_writes_a_unet(tmp_path: Path) -> None:
    p = predict_text(tmp_path, UNET)
    assert p.error is None
    assert p.output_shape == (1, 4 + 4, 32, 48)
    bad = predict_text(tmp_path, UNET.replace("[1, 3, 32, 48]", "[1, 3, 36, 48]"))
    assert bad.error is not None and "Concat needs every size equal" in bad.error.message


def test_includes_share_blocks_and_locate_errors_in_the_included_file(tmp_path: Path) -> None:
    (tmp_path / "blocks").mkdir()
    write(tmp_path, "blocks:\n  Bad:\n    layers:\n      - {type: Conv2d, out_channels: 4, kernel_size: 30}\n",
          "blocks/bad.yaml")  # fmt: skip
    spec = write(tmp_path, "include: [blocks/bad.yaml]\ninput: [1, 3, 8, 8]\nlayers: [Bad]\n")
    out = cli("check", "--no-verify", str(spec))
    assert out.code == 1
    assert out.stderr.startswith(f"{tmp_path}/blocks/bad.yaml:4:9: ")
    assert f"in block Bad used at {spec}:3:10" in out.stderr


@pytest.mark.parametrize(
    ("include", "message"),
    [
        ("model.yaml", "include cycle: model.yaml -> model.yaml"),
        ("../elsewhere.yaml", "include '../elsewhere.yaml' is outside the spec's folder"),
        ("https://example.com/b.yaml", "only files next to the spec, never URLs"),
        ("missing.yaml", "no such file"),
    ],
)
def test_includes_are_refused_where_they_should_be(
    tmp_path: Path, include: str, message: str
) -> None:
    spec = write(tmp_path, f"include: {include}\ninput: [1, 3]\nlayers: [ReLU]\n")
    out = cli("check", "--no-verify", str(spec))
    assert out.code == 1
    assert message in out.stderr


def test_blocks_that_are_not_a_mapping_are_located(tmp_path: Path) -> None:
    """Found by the fuzz: `blocks: :{}` (a string) raised AttributeError."""
    err = error_of(tmp_path, "blocks: :{}\ninput: [1, 3]\nlayers: []\n")
    assert err.render() == (
        f"{tmp_path}/model.yaml:1:9: blocks: 'blocks' must be a mapping of block names to "
        "definitions"
    )
