"""Which input sizes work (convshape.sizes): the shipped configs, small specs for each rule,
golden tables, and the fast path against predict() on random sizes (never torch)."""

from __future__ import annotations

import json
import os
from contextlib import chdir
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from helpers import ROOT, write
from hypothesis import given, settings
from hypothesis import strategies as st

from convshape.engine import Node, predict
from convshape.lint import RULES
from convshape.sizes import (
    SizeModel,
    SizeReport,
    SizeSet,
    Sweep,
    _Budget,
    analyze,
    sizes_json,
    sizes_table,
)
from convshape.spec.decls import Branch, Decl, LeafDecl, MergeDecl, SeqDecl, Spec
from convshape.spec.parse import load

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("CONVSHAPE_UPDATE_GOLDEN") == "1"  # rewrite the files, then review
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))


@cache
def report(config: str) -> SizeReport:
    with chdir(ROOT):  # the file as the command line names it, for the golden tables
        return analyze(load(Path("configs") / f"{config}.yaml"))


def sweep(r: SizeReport, dim: str) -> Sweep:
    return next(s for s in r.sweeps if s.dim == dim)


def table(r: SizeReport) -> str:
    return sizes_table(r)


# ------------------------------------------------------------------------- shipped configs


def test_resnet50_takes_every_size_and_drops_nothing() -> None:
    r = report("resnet50")
    assert r.spec_ok and r.spec_output == (1, 1000) and not r.spec_drops
    assert [s.dim for s in r.sweeps] == ["H", "W", "H=W"]
    for s in r.sweeps:
        # stride-2 windows are padded so that only padding falls off: nothing is ever dropped
        assert s.smallest == 1
        assert list(s.valid) == list(range(32, 1025)) and s.valid.text == "32..1024"
        assert (s.multiple, s.residue, s.regular) == (1, 0, True)
        assert not s.failures and not s.gaps and not s.drops
        assert s.clean == s.valid and s.built == s.valid
        assert dict(s.outputs)[1024] == (1, 1000)
        assert {1, 32, 224, 1024} <= set(s.confirmed)
    assert not r.disagreements and not r.notes


def test_resnet50_is_fast() -> None:
    """Three sweeps of 1..1024 in well under the 25 s of one predict() per size (about 0.6 s
    on this project's 2-core machine; the bound leaves room for a loaded one)."""
    spec = load(ROOT / "configs" / "resnet50.yaml")
    assert analyze(spec).seconds < 6


def test_unet_needs_a_multiple_of_16() -> None:
    r = report("unet")
    levels = ["1.0", "1.0.1.2.0", "1.0.1.2.0.1.2.0", "1.0.1.2.0.1.2.0.1.2.0"]  # the 4 Concats
    for s in r.sweeps:
        assert (s.smallest, s.multiple, s.residue, s.regular) == (16, 16, 0, True)
        assert list(s.valid) == list(range(32, 1025, 16))
        assert s.valid.text == "32, 48, ..., 1024 (every 16)"
        assert [w.path for w in s.gaps] == levels
        for failure in s.failures[4:]:
            assert failure.layer.type_name == "Concat"
            assert str(failure.layer.location).endswith(f"configs{os.sep}unet.yaml:23:9")
        by_layer = {f.layer.path: f for f in s.failures}
        odd = by_layer["1.0"]  # an odd size fails at the outermost skip connection
        assert set(odd.sizes) == set(range(17, 1025, 16))
        assert "Concat needs every size equal except along dim 1" in odd.message
        assert set(by_layer[levels[-1]].sizes) == {n for n in range(24, 1025) if n % 16 >= 8}
        assert by_layer["1.0.1.0"].sizes == SizeSet.of([1])  # the first MaxPool2d
        assert by_layer["1.0.1.0"].message.startswith("output")
        assert not s.drops and s.clean == s.valid and s.built == s.valid
    assert not r.disagreements


def test_vgg16_takes_32_up_and_drops_borders_off_multiples_of_32() -> None:
    r = report("vgg16")
    pools = ["0.2", "1.2", "2.3", "3.3", "4.3"]
    for s in r.sweeps:
        assert s.smallest == 32 and s.valid.text == "32..1024"
        assert [f.layer.path for f in s.failures] == pools  # 1, 2-3, 4-7, 8-15, 16-31
        assert [f.sizes.text for f in s.failures] == ["1", "2, 3", "4..7", "8..15", "16..31"]
        assert list(s.clean) == list(range(32, 1025, 32))
        assert {d.layer.path for d in s.drops} == set(pools)
        first = next(d for d in s.drops if d.layer.path == "0.2")
        assert set(first.sizes) == set(range(33, 1025, 2))
        assert first.example.startswith("at 33: floor division drops the last 1 ")
        assert str(first.layer.location).endswith(f"configs{os.sep}vgg16.yaml:15:9")
    assert not r.disagreements


def test_vit_b_16_adapts_but_its_built_model_wants_224() -> None:
    r = report("vit_b_16")
    for s in r.sweeps:
        # the spec infers its position embedding at every size: any size from 16
        assert s.smallest == 16 and s.valid.text == "32..1024"
        assert [f.layer.path for f in s.failures] == ["conv_proj"]
        assert list(s.clean) == list(range(32, 1025, 16))  # patches of 16: nothing dropped
        # a model built at 224 has 197 positions: 14 x 14 patches, so 224..239 only
        assert s.built is not None and s.built.text == "224..239"
        assert s.built_clean == SizeSet.of([224])
        (pin,) = s.pins
        assert (pin.layer.path, pin.argument, pin.value) == (
            "encoder.pos_embedding",
            "num_positions",
            197,
        )
        assert 240 in pin.sizes and 223 in pin.sizes and 224 not in pin.sizes
    assert any("built" in note for note in r.notes)
    assert not r.disagreements


@pytest.mark.parametrize("config", ["resnet50", "unet"])
def test_golden_table(config: str) -> None:
    text = table(report(config))
    path = GOLDEN / f"sizes_{config}.txt"
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs (CONVSHAPE_UPDATE_GOLDEN=1 rewrites it)"


def test_table_columns_are_two_spaces_apart() -> None:
    lines = table(report("unet")).splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    assert lines[rule - 1].startswith("dim  spec  smallest  valid in 32..1024  ")
    assert all(cell == "-" * len(cell) for cell in lines[rule].split("  "))


def test_json_is_one_object_with_exact_runs() -> None:
    r = report("unet")
    data = json.loads(json.dumps(sizes_json(r)))
    assert data["range"] == [32, 1024] and data["spec"]["ok"] is True
    h = data["sweeps"][0]
    assert h["dim"] == "H" and h["positions"] == [2] and h["multiple"] == 16
    assert h["valid"]["runs"] == [[32, 1024, 16]] and h["valid"]["count"] == 63
    rebuilt = {n for first, last, step in h["failures"][4]["sizes"]["runs"]
               for n in range(first, last + 1, step)}  # fmt: skip
    assert rebuilt == set(sweep(r, "H").failures[4].sizes)
    assert h["failures"][4]["layer"]["path"] == "1.0"
    assert data["disagreements"] == []


# ------------------------------------------------------------------------ small specs


def sizes_of(tmp_path: Path, text: str, lo: int = 1, hi: int = 64) -> SizeReport:
    return analyze(load(write(tmp_path, text)), lo, hi)


def test_odd_sizes_drop_a_border_at_the_pool(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        """
        input: [1, 3, 33, 32]
        layers:
          - {type: MaxPool2d, kernel_size: 2}
          - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
        """,
    )
    assert r.spec_ok and r.spec_output == (1, 4, 16, 16)
    (own,) = r.spec_drops  # the spec's own size: what check's CS105 warning says
    assert (own.layer.path, own.axis, own.layer.type_name) == ("0", "H", "MaxPool2d")
    assert own.layer.location == f"{tmp_path / 'model.yaml'}:3:5"
    assert own.example == "floor division drops the last 1 height position(s) of 33: " + (
        "(33 + 2*0 - 2) % 2 = 1"
    )
    h = sweep(r, "H")
    assert [s.dim for s in r.sweeps] == ["H", "W"]  # not square: no joint sweep
    assert h.smallest == 2 and h.valid.text == "2..64"
    assert h.failures[0].sizes == SizeSet.of([1])
    assert h.failures[0].message == "output height would be 0"
    (drop,) = h.drops
    assert set(drop.sizes) == set(range(3, 65, 2)) and list(h.clean) == list(range(2, 65, 2))


def test_ceil_mode_and_padding_drop_nothing(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        """
        input: [1, 3, 33, 33]
        layers:
          - {type: MaxPool2d, kernel_size: 2, ceil_mode: true}
          - {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
        """,
    )
    for s in r.sweeps:
        assert not s.drops and s.clean == s.valid and s.smallest == 1


def test_the_u_net_merge_sets_the_multiple(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        """
        input: [1, 2, 32, 32]
        layers:
          - type: Concat
            branches:
              - []
              - - {type: MaxPool2d, kernel_size: 2}
                - type: Concat
                  branches:
                    - []
                    - [{type: MaxPool2d, kernel_size: 2}, {type: Upsample, scale_factor: 2}]
                - {type: Upsample, scale_factor: 2}
        """,
    )
    for s in r.sweeps:
        assert (s.smallest, s.multiple, s.residue, s.regular) == (4, 4, 0, True)
        assert [w.path for w in s.gaps] == ["0", "0.1.1"]
        assert s.failures[-1].layer.type_name == "Concat"


def test_a_spec_that_fails_at_its_own_size_still_gets_its_sizes(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        """
        input: [1, 2, 30, 30]
        layers:
          - type: Concat
            branches:
              - []
              - [{type: MaxPool2d, kernel_size: 4}, {type: Upsample, scale_factor: 4}]
          - {type: Conv2d, out_channels: 3, kernel_size: 3}
        """,
    )
    assert not r.spec_ok and r.spec_error and "Concat" in r.spec_error
    # one dim at a time, the other stays 30: never a multiple of 4, so nothing works
    assert sweep(r, "H").smallest is None and not sweep(r, "W").valid
    both = sweep(r, "H=W")
    assert (both.smallest, both.multiple, both.regular) == (4, 4, True)
    assert [w.path for w in both.gaps] == ["0"]
    for s in r.sweeps:
        assert s.built is None and not s.pins
    assert any("fails at its own size" in note for note in r.notes)
    assert not r.disagreements


def test_linear_after_flatten_pins_the_built_model(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        """
        input: [1, 1, 28, 28]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 5}
          - {type: MaxPool2d, kernel_size: 2}
          - Flatten
          - {type: Linear, out_features: 10}
        """,
    )
    for s in r.sweeps:
        assert s.valid.text == "6..64"  # the spec infers in_features at each size
        assert s.built is not None and s.built.text == "28, 29"  # 12 x 12 after the pool
        (pin,) = s.pins
        assert (pin.layer.path, pin.argument) == ("3", "in_features")
        assert pin.value == 4 * 12 * 12


def test_a_block_reading_its_size_is_expanded_per_size(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        """
        input: [1, 3, 16, 16]
        blocks:
          Head:
            layers:
              - {type: AvgPool2d, kernel_size: [$H, $W]}
              - {type: Conv2d, out_channels: 5, kernel_size: 1, if: "${H > 3}"}
        layers:
          - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2}
          - Head
          - Flatten
          - {type: Linear, out_features: 3}
        """,
    )
    assert any("block Head at 1 reads its input's size" in note for note in r.notes)
    for s in r.sweeps:
        assert s.smallest == 3 and s.valid.text == "3..64"
        assert s.built is not None and s.built.text == "15..28"  # 7..13 rows reach the pool
    assert not r.disagreements


def test_a_shortcut_made_at_the_spec_size_is_kept_by_the_built_model(tmp_path: Path) -> None:
    """At 1 x 1 the stride-2 body keeps the shape, so the auto shortcut is the identity; at any
    other size the spec projects (valid), the built model still adds the input (refused)."""
    r = sizes_of(tmp_path, TRICKY["shortcut_made_at_size_1"], hi=20)
    for s in r.sweeps:
        assert s.valid.text == "1..20" and s.built == SizeSet.of([1])
        (pin,) = s.pins
        assert (pin.layer.path, pin.argument, pin.sizes.text) == ("0", None, "2..20")
    assert "its shape rule fails" in sizes_table(r)
    assert not r.disagreements


def test_spatial_merges_and_shortcuts(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        """
        input: [1, 4, 20, 20]
        layers:
          - type: Concat
            dim: 2
            branches: [[], [{type: MaxPool2d, kernel_size: [2, 1]}]]
          - type: Residual
            shortcut: auto
            body: [{type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}]
          - type: Gate
            layers: [{type: AdaptiveAvgPool2d, output_size: 1}, Sigmoid]
        """,
    )
    h, w = sweep(r, "H"), sweep(r, "W")
    assert h.valid.text == "2..64" and w.valid.text == "1..64"  # 1 row: the pool gives 0
    assert dict(h.outputs)[64] == (1, 8, 48, 10)  # 64 + 32 rows, then halved
    assert not r.disagreements


def test_one_and_three_spatial_dims(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path, "input: [2, 3, 20]\nlayers: [{type: Conv1d, out_channels: 4, kernel_size: 5}]\n"
    )
    assert [s.dim for s in r.sweeps] == ["L"] and sweep(r, "L").smallest == 5
    r = sizes_of(
        tmp_path,
        "input: [1, 1, 8, 8, 8]\nlayers: [{type: MaxPool3d, kernel_size: 2}]\n",
        hi=16,
    )
    assert [s.dim for s in r.sweeps] == ["D", "H", "W", "D=H=W"]
    assert list(sweep(r, "D=H=W").clean) == list(range(2, 17, 2))


def test_unbatched_input_varies_the_trailing_dims(tmp_path: Path) -> None:
    r = sizes_of(
        tmp_path,
        "input: [3, 8, 8]\nunbatched: true\nlayers: [{type: Conv2d, out_channels: 2, kernel_size: 3}]\n",
    )
    assert [s.positions for s in r.sweeps] == [(1,), (2,), (1, 2)]
    assert sweep(r, "H=W").smallest == 3


def test_no_spatial_dims_nothing_to_vary(tmp_path: Path) -> None:
    r = sizes_of(tmp_path, "input: [4, 10]\nlayers: [{type: Linear, out_features: 3}]\n")
    assert r.spec_ok and r.sweeps == () and "no spatial dims" in r.notes[0]
    assert "at the spec's size: valid, output [4, 3]" in sizes_table(r)


def test_bad_ranges_and_shapes_are_refused(tmp_path: Path) -> None:
    spec = load(ROOT / "configs" / "lenet5.yaml")
    for lo, hi in [(0, 10), (10, 5), (1, 100_001)]:
        with pytest.raises(ValueError):
            analyze(spec, lo, hi)
    model = SizeModel(spec)
    with pytest.raises(ValueError, match="only the spatial dims"):
        model.outcome((2, 1, 32, 32))
    assert model.outcome((1, 1, 40, 36)).ok


def test_analyze_leaves_the_spec_as_it_found_it() -> None:
    """Block expansions count on the parser's one layer budget (bounded at 100,000, never
    reset: about 500 predict() calls of ResNet-50 exhaust it); analyze() hands it back."""
    spec = load(ROOT / "configs" / "resnet18.yaml")
    (parser, before), *_ = _Budget(spec.root).parsers
    analyze(spec, 1, 16)
    assert parser.count == before
    assert predict(spec).ok and parser.count > before  # predict() itself still spends it


def test_size_sets() -> None:
    assert SizeSet.of([]).text == "none" and not SizeSet.of([])
    assert SizeSet.of(range(32, 1025, 32)).text == "32, 64, ..., 1024 (every 32)"
    assert SizeSet.of(range(224, 240)).text == "224..239"
    assert SizeSet.of([3, 5, 6]).text == "3, 5, 6"
    odd_pairs = [n for n in range(33, 1020) if n % 8 in (1, 3)]
    assert SizeSet.of(odd_pairs).text == "n % 8 in {1, 3} (33..1019, 248 sizes)"
    assert SizeSet.of(odd_pairs).step == 2
    assert SizeSet.of([7]).step is None


@given(st.sets(st.integers(1, 300), max_size=80))
def test_size_sets_are_exact(sizes: set[int]) -> None:
    s = SizeSet.of(sizes)
    assert list(s) == sorted(sizes) and len(s) == len(sizes)
    assert all(n in s for n in sizes) and 0 not in s and 301 not in s
    assert s.text


# ---------------------------------------------------------- the fast path against predict()

TRICKY = {
    "windows": """
        input: [2, 3, 40, 30]
        layers:
          - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2}
          - {type: Upsample, scale_factor: 2}
          - {type: ReflectionPad2d, padding: [1, 2, 3, 0]}
          - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 2, padding_mode: reflect}
          - {type: MaxPool2d, kernel_size: 3, stride: 2, ceil_mode: true}
          - {type: AvgPool2d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
          - {type: ConvTranspose2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1,
             output_padding: 1}
          - {type: GroupNorm, num_groups: 2}
          - {type: InstanceNorm2d}
          - {type: PixelUnshuffle, downscale_factor: 2}
          - {type: PixelShuffle, upscale_factor: 2}
          - {type: Conv2d, out_channels: 4, kernel_size: [3, 1], dilation: [2, 1], stride: [3, 1]}
    """,
    "merges": """
        input: [1, 8, 60, 60]
        layers:
          - type: Residual
            shortcut: auto
            body: [{type: Conv2d, out_channels: 16, kernel_size: 3, stride: 3, padding: 1},
                   {type: MaxPool2d, kernel_size: 1}]
          - type: Residual
            shortcut: auto
            body:
              - {type: Conv2d, out_channels: 32, kernel_size: 3, stride: 2, padding: 1}
              - type: Residual
                body: [{type: Conv2d, out_channels: 32, kernel_size: 3, padding: 1}]
          - type: Residual
            connect: false
            body: [{type: MaxPool2d, kernel_size: 3, stride: 2, padding: 1}]
          - type: Residual
            body: [{type: Conv2d, out_channels: 32, kernel_size: 3, padding: 1}]
            shortcut: [{type: Conv2d, out_channels: 32, kernel_size: 1}]
            shortcut_first: true
          - type: Concat
            dim: -1
            branches:
              - [{type: Conv2d, out_channels: 4, kernel_size: 3, padding: [1, 0]}]
              - [{type: Conv2d, out_channels: 4, kernel_size: [3, 1], padding: [1, 0]}]
          - type: Gate
            layers: [{type: Conv2d, out_channels: 4, kernel_size: 1}, Sigmoid]
          - type: Gate
            layers: [{type: AdaptiveAvgPool2d, output_size: [1, null]}, Sigmoid]
          - type: Split
            chunks: 2
            dim: 2
            branches: [[], [{type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}]]
    """,
    "tokens": """
        input: [2, 3, 64, 48]
        layers:
          - {type: Conv2d, out_channels: 32, kernel_size: 16, stride: 16}
          - {type: Reshape, shape: [32, -1]}
          - {type: Permute, dims: [0, 2, 1]}
          - {type: ClassToken}
          - {type: PositionEmbedding}
          - {type: SelfAttention, num_heads: 4}
          - {type: GLU, dim: 2}
          - {type: Softmax, dim: 1}
          - {type: Select, dim: 1, index: 0}
    """,
    "reshapes": """
        input: [1, 3, 16, 24]
        blocks:
          Odd:
            layers:
              - {type: Conv2d, out_channels: $C, kernel_size: 2, if: "${H % 2 == 1}"}
        layers:
          - Odd
          - {type: Permute, dims: [0, 2, 1, 3]}
          - {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2}
          - {type: Transpose, dim0: 1, dim1: 3}
          - {type: LayerNorm, normalized_shape: [4]}
          - {type: Flatten, start_dim: 2}
          - {type: Unflatten, dim: 2, unflattened_size: [-1, 1]}
          - {type: Reshape, shape: [-1]}
    """,
    "volumes": """
        input: [1, 2, 12, 10, 9]
        layers:
          - {type: Conv3d, out_channels: 4, kernel_size: 3, stride: [1, 2, 2]}
          - {type: AvgPool3d, kernel_size: 2}
          - {type: MaxPool3d, kernel_size: [1, 2, 1], ceil_mode: true}
          - {type: AdaptiveMaxPool3d, output_size: [2, null, 3]}
    """,
    "shortcut_made_at_size_1": """
        input: [1, 4, 1, 1]
        layers:
          - type: Residual
            shortcut: auto
            body: [{type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}]
          - type: Residual
            shortcut: auto
            body: [{type: Conv2d, out_channels: 8, kernel_size: 1, stride: 2}]
    """,
    "own_size_fails": """
        input: [1, 3, 30, 30]
        layers:
          - {type: MaxPool2d, kernel_size: 2}
          - type: Concat
            branches:
              - []
              - [{type: MaxPool2d, kernel_size: 2}, {type: Upsample, scale_factor: 2}]
          - {type: Conv2d, out_channels: 4, kernel_size: 3}
    """,
}


@pytest.fixture(scope="module")
def tricky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tricky")
    for name, text in TRICKY.items():
        write(folder, text, f"{name}.yaml")
    return folder


@cache
def compiled(path: str) -> tuple[Spec, SizeModel]:
    spec = replace(load(path), expects=False)
    return spec, SizeModel(spec)


EXAMPLES = max(10, settings.default.max_examples // 8)
SIZES = st.one_of(st.integers(1, 40), st.integers(1, 700))


def agree(path: str, data: st.DataObject) -> None:
    """The fast path and predict() agree: valid or not, the output shape, the failing module,
    and which layers drop border positions (CS105)."""
    spec, model = compiled(path)
    shape = list(spec.input_shape)
    joint = data.draw(st.booleans(), label="all spatial dims together")
    size = data.draw(SIZES, label="size")
    for j in model.positions:
        shape[j] = size if joint else data.draw(SIZES, label=f"dim {j}")
    fast = model.outcome(tuple(shape))
    p = predict(replace(spec, input_shape=tuple(shape)))
    model.budget.reset()  # predict()'s block expansions count on the spec's layer budget
    assert fast.ok == p.ok, (fast, p.error)
    if p.ok:
        assert fast.output_shape == p.output_shape
        cs105 = sorted({n.path for n, _, _ in RULES["CS105"].check(p) if n is not None})
        assert sorted({path for path, _ in fast.drops}) == cs105
    else:
        assert p.error is not None
        assert fast.layer_path == (p.error.context.layer_path or ""), p.error.message


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_fast_path_agrees_with_predict_on_every_config(config: str, data: st.DataObject) -> None:
    agree(str(ROOT / "configs" / f"{config}.yaml"), data)


@pytest.mark.parametrize("name", sorted(TRICKY))
@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(data=st.data())
def test_fast_path_agrees_with_predict_on_tricky_specs(
    tricky: Path, name: str, data: st.DataObject
) -> None:
    agree(str(tricky / f"{name}.yaml"), data)


def pinned(spec: Spec) -> Spec:
    """The spec as built at its own size (what ``convshape.build`` makes of its prediction):
    every inferred argument written out, every block expanded, every auto shortcut made. So
    predict() at another size runs the built model: the oracle for ``built``."""
    p = predict(spec)
    assert p.root is not None
    root = _pin(p.root)
    assert isinstance(root, SeqDecl)
    return replace(spec, root=root, expects=False)


def _pin(node: Node) -> Decl:
    decl = node.decl  # a block's expansion: its key is the path's, not the expansion's
    if node.layer is not None:
        return LeafDecl(key=node.key, origin=decl.origin, cls=type(node.layer),
                        args=node.layer.kwargs())  # fmt: skip
    children = {child.key: _pin(child) for child in node.children}
    if isinstance(decl, MergeDecl):
        branches = []
        for b in decl.branches:
            key = b.layers.key if b.layers is not None else b.key  # "shortcut": as made
            made = children.get(key)
            assert made is None or isinstance(made, SeqDecl)
            branches.append(Branch(b.key, made))
        return MergeDecl(key=node.key, origin=decl.origin, kind=decl.kind,
                         branches=tuple(branches), options={**decl.options, "auto": False})  # fmt: skip
    return SeqDecl(key=node.key, origin=decl.origin, children=tuple(children.values()))


@cache
def built(path: str) -> tuple[Spec, SizeModel]:
    spec, model = compiled(path)
    return pinned(spec), model


def agree_built(path: str, data: st.DataObject) -> None:
    """The fast path's built model and predict() on the spec pinned at its own size agree."""
    spec, model = built(path)
    shape = list(spec.input_shape)
    for j in model.positions:
        shape[j] = data.draw(SIZES, label=f"dim {j}")
    fast = model.outcome(tuple(shape), built=True)
    p = predict(replace(spec, input_shape=tuple(shape)))
    assert fast.ok == p.ok, (fast, p.error)
    if p.ok:
        assert fast.output_shape == p.output_shape
    else:
        assert p.error is not None
        assert fast.layer_path == (p.error.context.layer_path or ""), p.error.message


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_built_model_agrees_with_the_pinned_spec(config: str, data: st.DataObject) -> None:
    agree_built(str(ROOT / "configs" / f"{config}.yaml"), data)


@pytest.mark.parametrize("name", sorted(set(TRICKY) - {"own_size_fails"}))
@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(data=st.data())
def test_built_model_agrees_on_tricky_specs(tricky: Path, name: str, data: st.DataObject) -> None:
    agree_built(str(tricky / f"{name}.yaml"), data)
