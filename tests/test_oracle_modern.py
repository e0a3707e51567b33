"""The modern constructs against torch: Permute, Transpose, Reshape, Select, LayerScale,
ClassToken, PositionEmbedding, StochasticDepth, SelfAttention, TransformerEncoder(Layer), and
the Gate and Split containers (torch's broadcasting, split and chunk). Same shape, params and
FLOPs, or both fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import assert_agrees, torch

import convshape
from convshape.containers import broadcast_shape
from convshape.errors import ShapeError

pytestmark = pytest.mark.torch

Shape = tuple[int, ...]


def shapes(min_rank: int = 1, max_rank: int = 5, max_size: int = 5) -> st.SearchStrategy[Shape]:
    return st.lists(st.integers(1, max_size), min_size=min_rank, max_size=max_rank).map(tuple)


@given(shape=shapes(), data=st.data())
def test_permute(shape: Shape, data: st.DataObject) -> None:
    rank = len(shape)
    dims = data.draw(st.permutations(list(range(rank))))
    if data.draw(st.booleans()):  # negative dims, a duplicate, or the wrong length
        dims = [d - rank if data.draw(st.booleans()) else d for d in dims]
    if data.draw(st.integers(0, 9)) == 0:
        dims = [*dims, 0] if data.draw(st.booleans()) else dims[:-1] or [0]
    assert_agrees("Permute", {"dims": dims}, shape)


@given(shape=shapes(), a=st.integers(-6, 5), b=st.integers(-6, 5))
def test_transpose(shape: Shape, a: int, b: int) -> None:
    assert_agrees("Transpose", {"dim0": a, "dim1": b}, shape)


@given(shape=shapes(), data=st.data())
def test_reshape(shape: Shape, data: st.DataObject) -> None:
    target = data.draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    if data.draw(st.booleans()):
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    assert_agrees("Reshape", {"shape": target}, shape)


@given(shape=shapes(), dim=st.integers(-6, 5), index=st.integers(-6, 5))
def test_select(shape: Shape, dim: int, index: int) -> None:
    assert_agrees("Select", {"dim": dim, "index": index}, shape)


@given(shape=shapes(2, 5), dim=st.integers(-4, 3), data=st.data())
def test_layer_scale(shape: Shape, dim: int, data: st.DataObject) -> None:
    features = data.draw(
        st.sampled_from([shape[dim % len(shape)] if -len(shape) <= dim < len(shape) else 1, 3])
    )
    assert_agrees("LayerScale", {"num_features": features, "dim": dim, "init_value": 0.5}, shape)


@given(shape=shapes(2, 4), embed=st.integers(1, 5), length=st.integers(1, 5))
def test_tokens(shape: Shape, embed: int, length: int) -> None:
    assert_agrees("ClassToken", {"embed_dim": embed}, shape)
    assert_agrees("PositionEmbedding", {"num_positions": length, "embed_dim": embed}, shape)


@given(shape=shapes(), p=st.floats(0, 1), mode=st.sampled_from(["row", "batch"]))
def test_stochastic_depth(shape: Shape, p: float, mode: str) -> None:
    assert_agrees("StochasticDepth", {"p": p, "mode": mode}, shape)


@given(
    n=st.integers(1, 3), seq=st.integers(1, 6), heads=st.integers(1, 4), head_dim=st.integers(1, 4),
    rank=st.sampled_from([2, 3]), batch_first=st.booleans(), bias=st.booleans(),
    wrong=st.integers(0, 9),
)  # fmt: skip
def test_self_attention(n: int, seq: int, heads: int, head_dim: int, rank: int,
                        batch_first: bool, bias: bool, wrong: int) -> None:  # fmt: skip
    embed = heads * head_dim + (1 if wrong == 0 else 0)  # sometimes not divisible by heads
    shape = (seq, embed) if rank == 2 else ((n, seq, embed) if batch_first else (seq, n, embed))
    kwargs: dict[str, Any] = {"embed_dim": embed, "num_heads": heads, "bias": bias,
                              "batch_first": batch_first}  # fmt: skip
    assert_agrees("SelfAttention", kwargs, shape)


@given(
    n=st.integers(1, 2), seq=st.integers(1, 5), heads=st.integers(1, 3), head_dim=st.integers(1, 3),
    ff=st.integers(1, 8), norm_first=st.booleans(), batch_first=st.booleans(),
    activation=st.sampled_from(["relu", "gelu"]), layers=st.integers(1, 3), bias=st.booleans(),
)  # fmt: skip
def test_transformer_encoder(n: int, seq: int, heads: int, head_dim: int, ff: int,
                             norm_first: bool, batch_first: bool, activation: str, layers: int,
                             bias: bool) -> None:  # fmt: skip
    d = heads * head_dim
    shape = (n, seq, d) if batch_first else (seq, n, d)
    kwargs: dict[str, Any] = dict(d_model=d, nhead=heads, dim_feedforward=ff, activation=activation,
                                  norm_first=norm_first, batch_first=batch_first, bias=bias)  # fmt: skip
    assert_agrees("TransformerEncoderLayer", kwargs, shape)
    assert_agrees("TransformerEncoder", {**kwargs, "num_layers": layers}, shape)


def test_vit_b_16_attention_macs_are_torchvisions_figure() -> None:
    """One encoder layer's attention matmuls at 197 tokens of 768: 715,327,488 / 12."""
    from convshape.layers.attention import attention_macs

    assert 12 * attention_macs(1, 197, 768) == 715_327_488


# ---------------------------------------------------------------- Gate and Split, end to end


@given(a=shapes(0, 4, 3), b=shapes(0, 4, 3))
def test_gate_broadcasting_is_torchs(a: Shape, b: Shape) -> None:
    try:
        want: Any = tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        want = None
    try:
        got: Any = broadcast_shape(a, b)
    except ShapeError:
        got = None
    assert got == want


def run_spec(tmp_path: Path, text: str) -> None:
    """The engine's prediction, or its error, agrees with the built model run by torch."""
    path = tmp_path / "model.yaml"
    path.write_text(text)
    prediction = convshape.predict(convshape.load(path))
    if prediction.error is not None:
        return  # the failing side is covered by test_split_pieces_are_torchs
    model = convshape.build(prediction).eval()
    with torch.no_grad():
        out = model(torch.randn(prediction.spec.input_shape))
    assert tuple(out.shape) == prediction.output_shape
    assert sum(p.numel() for p in model.parameters()) == prediction.totals.params  # type: ignore[union-attr]


@given(
    size=st.integers(1, 12),
    chunks=st.integers(1, 5),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
)
def test_split_pieces_are_torchs(size: int, chunks: int, sizes: list[int]) -> None:
    from convshape.containers import CONTAINERS
    from convshape.errors import Location
    from convshape.spec.decls import Branch, MergeDecl, Origin

    x = torch.empty(2, size, 3)
    origin = Origin(Location("f", 1, 1), "layers[0]")
    for options, pieces in (({"dim": 1, "chunks": chunks}, lambda: torch.chunk(x, chunks, 1)),
                            ({"dim": 1, "sizes": tuple(sizes)}, lambda: torch.split(x, sizes, 1))):  # fmt: skip
        try:
            want: Any = [tuple(p.shape) for p in pieces()]
        except RuntimeError:
            want = None
        branch_count = len(want) if want is not None else len(sizes)
        decl = MergeDecl(key="0", origin=origin, kind="Split",
                         branches=tuple(Branch(str(i), None) for i in range(branch_count)),
                         options=options)  # fmt: skip
        try:
            got: Any = CONTAINERS["Split"].inputs(decl, (2, size, 3))
        except ShapeError:
            got = None
        assert got == want, options


@pytest.mark.parametrize(
    "body",
    [
        "type: Gate\n    layers: [{type: AdaptiveAvgPool2d, output_size: 1}, {type: Conv2d, out_channels: 2, kernel_size: 1}, {type: ReLU, inplace: true}, {type: Conv2d, out_channels: 6, kernel_size: 1}, Hardsigmoid]",
        "type: Gate\n    layers: [{type: Conv2d, out_channels: 1, kernel_size: 3, padding: 1}, Sigmoid]",
        "type: Split\n    chunks: 2\n    branches: [[], [{type: ReLU, inplace: true}, {type: Conv2d, out_channels: 3, kernel_size: 1}]]",
        "type: Split\n    sizes: [2, 4]\n    branches: [[{type: Conv2d, out_channels: 5, kernel_size: 1}], []]",
    ],
)
def test_gate_and_split_build_what_they_predict(tmp_path: Path, body: str) -> None:
    run_spec(tmp_path, f"input: [2, 6, 5, 5]\nlayers:\n  - {body}\n")
