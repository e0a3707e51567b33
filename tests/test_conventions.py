"""The counting conventions: hand-checked small specs (torch-free), and every peer run on the
built model of every shipped config, where our formula must give the peer's own number.

The peer tests need the ``bench`` extra (torchinfo, fvcore, ptflops, thop) and skip without
it. Each peer runs the way its README shows; thop gets a deep copy (it leaves ``total_ops``
buffers on modules it has no rule for, thop/profile.py:179-205). The peers' own warnings (thop
imports ``distutils``, fvcore's tracer) are silenced around their calls only.
"""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_samples import SAMPLES

import convshape
from convshape.conventions import CONVENTIONS, count
from convshape.conventions_explain import compact, explain
from convshape.conventions_rules import FVCORE, PTFLOPS, THOP, TORCHINFO, Rule
from convshape.engine import Prediction
from convshape.errors import ConvshapeError
from convshape.layers import REGISTRY

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
PEERS = ("flopcounter", "fvcore", "ptflops", "thop", "torchinfo")
ORDER = tuple(CONVENTIONS)  # torchvision, flopcounter, fvcore, ptflops, thop, torchinfo


def predict(folder: Path, layers: list[dict[str, Any]], shape: list[int]) -> Prediction:
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump({"input": shape, "layers": layers}))
    prediction = convshape.predict(convshape.load(path))
    assert prediction.ok, prediction.error
    return prediction


# ------------------------------------------------------------------ hand-checked (torch-free)

CONV = {"type": "Conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": 1}
MACS = 2 * 8 * 8 * 8 * 3 * 9  # N * C_out * H * W * C_in * k*k
DECONV = {"type": "ConvTranspose2d", "in_channels": 4, "out_channels": 2, "kernel_size": 3,
          "stride": 2}  # fmt: skip
DECONV_MACS = 4 * 5 * 5 * 2 * 9  # input grid: N * C_in * H_in * W_in * C_out * k*k; out 11x11
RESIDUAL = {"type": "Residual", "body": [{"type": "ReLU"}]}

# id: (layers, input shape, counts in ORDER: tv, flopcounter, fvcore, ptflops, thop, torchinfo)
HAND: dict[str, tuple[list[dict[str, Any]], list[int], tuple[int, ...]]] = {
    "conv-bias": (
        [CONV],
        [2, 3, 8, 8],
        # ptflops: per sample, + one bias add per output; torchinfo: (weight+bias) * N*H*W
        (MACS, 2 * MACS, MACS, (MACS + 2 * 8 * 64) // 2, MACS, (8 * 3 * 9 + 8) * 2 * 64),
    ),
    "conv-no-bias-groups": (
        [{**CONV, "in_channels": 4, "groups": 2, "bias": False}],
        [1, 4, 8, 8],
        # no bias: torchinfo's weight * N*H*W equals the MACs, and so does every other count
        (9216, 2 * 9216, 9216, 9216, 9216, 8 * 2 * 9 * 64),  # 9216 = 8*64 * (4/2) * 9
    ),
    "transposed-conv": (
        [DECONV],
        [1, 4, 5, 5],
        # thop: output grid 2*11*11 * C_in * 9; torchinfo: (4*2*9 + 2) * 11*11
        (
            DECONV_MACS,
            2 * DECONV_MACS,
            DECONV_MACS,
            DECONV_MACS + 2 * 121,
            2 * 121 * 4 * 9,
            74 * 121,
        ),
    ),
    "linear-on-sequence": (
        [{"type": "Linear", "out_features": 7}],
        [2, 5, 6],
        # ptflops: (6*7 + 7) * 10 rows / batch 2; torchinfo: N=2 (not N*L) * params
        (10 * 6 * 7, 2 * 420, 420, (420 + 70) // 2, 420, 2 * (6 * 7 + 7)),
    ),
    "batchnorm": (
        [{"type": "BatchNorm2d"}],
        [2, 4, 3, 3],
        (0, 0, 2 * 72, 2 * 72 // 2, 4 * 72, 2 * 8),  # numel 72; torchinfo N * (weight+bias)
    ),
    "layernorm": (
        [{"type": "LayerNorm", "normalized_shape": [6]}],
        [2, 5, 6],
        (0, 0, 5 * 60, 60 // 2, 4 * 60, 2 * 12),
    ),
    "relu": ([{"type": "ReLU"}], [1, 3, 4, 4], (0, 0, 0, 2 * 48, 0, 0)),
    "relu6": ([{"type": "ReLU6"}], [1, 3, 4, 4], (0, 0, 0, 48, 0, 0)),
    "silu": ([{"type": "SiLU"}], [1, 3, 4, 4], (0, 0, 0, 48, 0, 0)),
    "maxpool": ([{"type": "MaxPool2d", "kernel_size": 2}], [1, 2, 4, 4], (0, 0, 0, 64, 0, 0)),
    "avgpool": ([{"type": "AvgPool2d", "kernel_size": 2}], [1, 2, 4, 4], (0, 0, 0, 64, 8, 0)),
    "adaptive-avgpool": (
        [{"type": "AdaptiveAvgPool2d", "output_size": 1}],
        [1, 2, 4, 4],
        (0, 0, 32, 2 * 32, (16 + 1) * 2, 0),  # thop: (kernel + 1 div) * numel(out)
    ),
    "residual-add-uncounted": ([RESIDUAL], [1, 3, 4, 4], (0, 0, 0, 2 * 48, 0, 0)),
}


@pytest.mark.parametrize(("layers", "shape", "expected"), HAND.values(), ids=HAND.keys())
def test_hand_checked_counts(
    tmp_path: Path, layers: list[dict[str, Any]], shape: list[int], expected: tuple[int, ...]
) -> None:
    prediction = predict(tmp_path, layers, shape)
    assert tuple(count(prediction, name).total for name in ORDER) == expected


def test_containers_sum_their_children(tmp_path: Path) -> None:
    body = [{**CONV, "out_channels": 3}, {"type": "BatchNorm2d"}, {"type": "ReLU"}]
    layers = [{"type": "Residual", "body": body}]
    prediction = predict(tmp_path, layers, [2, 3, 8, 8])
    for name in ORDER:
        counted = count(prediction, name)
        assert counted.per_path["0"] == sum(counted.per_path[f"0.body.{i}"] for i in range(3))
        assert counted.total == counted.per_path["0"]


def test_conventions_have_one_line_rules_and_units() -> None:
    assert ORDER == ("torchvision", "flopcounter", "fvcore", "ptflops", "thop", "torchinfo")
    for conv in CONVENTIONS.values():
        assert "\n" not in conv.rule and conv.unit in ("MAC", "FLOP")


def test_an_unknown_convention_or_type_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prediction = predict(tmp_path, [{"type": "PReLU"}], [1, 3, 4, 4])
    with pytest.raises(ConvshapeError, match="unknown counting convention 'flops'"):
        count(prediction, "flops")
    monkeypatch.delitem(THOP, "PReLU")
    message = "0 (PReLU): no thop rule for PReLU (one of 1 types without a rule)"
    with pytest.raises(ConvshapeError) as raised:
        count(prediction, "thop")
    assert str(raised.value) == message
    assert count(prediction, "torchvision").total == 0


@pytest.mark.parametrize("table", [FVCORE, PTFLOPS, THOP, TORCHINFO], ids=PEERS[1:])
def test_every_registered_type_has_a_rule_for_every_peer(table: dict[str, Rule]) -> None:
    assert sorted(set(REGISTRY) - set(table)) == []
    assert sorted(set(table) - set(REGISTRY)) == []  # no rule for a type that is not one


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (999, "999"), (1234, "1.234K"), (4_089_184_256, "4.089G"), (150_000_000, "150M")],
)
def test_compact_numbers(value: int, text: str) -> None:
    assert compact(value) == text


def test_explain_names_what_differs_and_hides_agreeing_rows(tmp_path: Path) -> None:
    prediction = predict(tmp_path, [CONV, {"type": "Flatten"}], [2, 3, 8, 8])
    text = explain(prediction)
    assert "ptflops: +bias; tinfo:" in text and "(weight+bias)*grid" in text
    assert "(1 row(s) where every convention agrees hidden; --all shows them)" in text
    assert f"torchvision  {MACS:>18,} MACs" in text
    assert "Flatten" in explain(prediction, show_all=True)
    assert max(len(line) for line in text.splitlines()) <= 120


# ------------------------------------------------------------------ the peers themselves


def peer_counts(prediction: Prediction) -> dict[str, Any]:
    """Each peer's own total (and per module where it is cheap), on the built model."""
    import torch

    shape = tuple(prediction.spec.input_shape)
    torch.manual_seed(0)
    model, x = convshape.build(prediction).eval(), torch.randn(shape)
    with torch.device("meta"):  # the peers that only read shapes: no arithmetic to wait for
        meta, x_meta = convshape.build(prediction).eval(), torch.empty(shape)
    with _quiet():
        return {
            "flopcounter": _flopcounter(meta, x_meta),
            "flopcounter on cpu": _flopcounter(model, x),  # the fused attention: uncounted
            "fvcore": _fvcore(model, x),  # its jit trace fails on meta tensors
            "ptflops": _ptflops(model, shape),  # on meta, F.linear decomposes into a patched
            "thop": _thop(meta, x_meta),  # torch.matmul: each Linear counted twice
            "torchinfo": _torchinfo(meta, shape),
        }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the peers' own deprecation and tracer warnings
        yield


def _flopcounter(model: Any, x: Any) -> tuple[int, dict[str, int]]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        model(x)
    return mode.get_total_flops(), {}


def _fvcore(model: Any, x: Any) -> tuple[int, dict[str, int]]:
    fvcore = pytest.importorskip("fvcore.nn")
    analysis = fvcore.FlopCountAnalysis(model, (x,))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total(), dict(analysis.by_module())


def _ptflops(model: Any, shape: tuple[int, ...]) -> tuple[int, dict[str, int]]:
    ptflops = pytest.importorskip("ptflops")
    macs, _ = ptflops.get_model_complexity_info(
        model, shape[1:], as_strings=False, backend="pytorch", print_per_layer_stat=False
    )
    return macs, {}


def _thop(model: Any, x: Any) -> tuple[int, dict[str, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thop = pytest.importorskip("thop")
    total, _, tree = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False,
                                  ret_layer_info=True)  # fmt: skip
    return int(total), dict(_thop_paths(tree, ""))


def _thop_paths(tree: dict[str, Any], prefix: str) -> Iterator[tuple[str, int]]:
    for key, (ops, _, children) in tree.items():
        path = f"{prefix}{key}"
        yield path, int(ops)
        yield from _thop_paths(children, path + ".")


def _torchinfo(
    model: Any, shape: tuple[int, ...], device: str = "meta"
) -> tuple[int, dict[str, int]]:
    torchinfo = pytest.importorskip("torchinfo")
    stats = torchinfo.summary(model, input_size=shape, verbose=0, device=device)
    paths = {id(module): path for path, module in model.named_modules()}
    leaves = {paths[info.layer_id]: info.macs for info in stats.summary_list if info.is_leaf_layer}
    return stats.total_mult_adds, leaves


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda p: p.stem)
def measured(request: pytest.FixtureRequest) -> tuple[Prediction, dict[str, Any]]:
    pytest.importorskip("torch")
    for peer in ("fvcore", "ptflops", "torchinfo"):
        pytest.importorskip(peer)
    prediction = convshape.predict(convshape.load(request.param))
    return prediction, peer_counts(prediction)


@pytest.mark.torch
def test_every_peer_reports_our_number(measured: tuple[Prediction, dict[str, Any]]) -> None:
    prediction, peers = measured
    ours = {name: count(prediction, name).total for name in PEERS}
    assert ours == {name: peers[name][0] for name in PEERS}
    assert 2 * count(prediction, "torchvision").total == peers["flopcounter"][0]


@pytest.mark.torch
def test_flop_counter_on_cpu_misses_exactly_the_fused_attention(
    measured: tuple[Prediction, dict[str, Any]],
) -> None:
    prediction, peers = measured
    attention = sum(n.macs for n in prediction.rows if n.type_name == "SelfAttention")
    expected = count(prediction, "flopcounter").total - 2 * attention
    assert peers["flopcounter on cpu"][0] == expected


@pytest.mark.torch
@pytest.mark.parametrize("peer", ["fvcore", "thop", "torchinfo"])
def test_every_module_counts_as_the_peer_counts_it(
    measured: tuple[Prediction, dict[str, Any]], peer: str
) -> None:
    prediction, peers = measured
    counted = count(prediction, peer).per_path
    theirs = peers[peer][1]
    paths = [n.path for n in prediction.rows if peer != "torchinfo" or n.layer is not None]
    # torchinfo lists the leaves that ran; thop the modules under its hooked ones
    seen = [p for p in paths if p in theirs or peer == "fvcore"]
    assert {p: counted[p] for p in seen} == {p: theirs.get(p, 0) for p in seen}
    assert len(seen) >= len([n for n in prediction.rows if n.layer is not None]) // 2


# ------------------------------------------------------------------ drawn single layers

Drawn = tuple[dict[str, Any], list[int]]


@st.composite
def convs(draw: st.DrawFn) -> Drawn:
    groups, dim = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    k, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    channels = groups * draw(st.integers(1, 3))
    size = draw(st.integers(dilation * (k - 1) + 1, 9))
    layer = {
        "type": f"Conv{dim}d",
        "in_channels": channels,
        "out_channels": groups * draw(st.integers(1, 3)),
        "kernel_size": k,
        "stride": draw(st.integers(1, 2)),
        "padding": draw(st.integers(0, 2)),
        "dilation": dilation,
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    return layer, [draw(st.integers(1, 2)), channels, *[size] * dim]


@st.composite
def transposed_convs(draw: st.DrawFn) -> Drawn:
    groups = draw(st.integers(1, 2))
    channels = groups * draw(st.integers(1, 3))
    layer = {
        "type": "ConvTranspose2d",
        "in_channels": channels,
        "out_channels": groups * draw(st.integers(1, 3)),
        "kernel_size": draw(st.integers(1, 3)),
        "stride": draw(st.integers(1, 3)),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    size = draw(st.integers(1, 6))
    return layer, [draw(st.integers(1, 2)), channels, size, size]


@st.composite
def others(draw: st.DrawFn) -> Drawn:
    n, c, size = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(3, 7))
    image = [n, c, size, size]
    sequence = [n, draw(st.integers(1, 5)), draw(st.integers(1, 8))]
    options: list[Drawn] = [
        ({"type": "Linear", "out_features": 3, "bias": draw(st.booleans())}, sequence),
        ({"type": "Linear", "out_features": 5}, sequence[::2]),
        ({"type": "BatchNorm2d", "affine": draw(st.booleans())}, image),
        ({"type": "BatchNorm1d"}, image[:3]),
        (
            {
                "type": "LayerNorm",
                "normalized_shape": sequence[-1:],
                "elementwise_affine": draw(st.booleans()),
            },
            sequence,
        ),
        ({"type": draw(st.sampled_from(["MaxPool2d", "AvgPool2d"])), "kernel_size": 2}, image),
        ({"type": "AdaptiveAvgPool2d", "output_size": draw(st.integers(1, size))}, image),
        ({"type": "AdaptiveAvgPool1d", "output_size": draw(st.integers(1, size))}, image[:3]),
        ({"type": "Softmax", "dim": 1}, image),
    ]
    activations = ["ReLU", "ReLU6", "GELU", "SiLU", "Sigmoid", "Tanh", "Hardswish", "ELU"]
    options.append(({"type": draw(st.sampled_from(activations + ["LeakyReLU"]))}, image))
    return draw(st.sampled_from(options))


@pytest.mark.torch
@settings(max_examples=40, deadline=None)
@given(drawn=st.one_of(convs(), transposed_convs(), others()))
def test_drawn_layers_count_as_every_peer_counts(drawn: Drawn) -> None:
    for peer in ("torch", "fvcore", "ptflops", "thop", "torchinfo"):
        pytest.importorskip(peer)
    layer, shape = drawn
    with tempfile.TemporaryDirectory() as folder:
        prediction = predict(Path(folder), [layer], shape)
    peers = peer_counts(prediction)
    ours = {name: count(prediction, name).total for name in PEERS}
    assert ours == {name: peers[name][0] for name in PEERS}, (layer, shape)


# ------------------------------------------------------------------ every registered type

SAMPLE_BATCH = 2  # tests/layer_samples.py: N=2 first wherever the layer takes a batch


def sample_counts(prediction: Prediction) -> dict[str, int]:
    """Each peer's own total for a one-layer model, built and run on the CPU in eval mode.

    ptflops builds its own batch of 1 from the shape without the batch: it is run only where
    the sample's first axis is its batch (``tests/layer_samples.py``: N=2 where the layer takes
    a batch); on an unbatched or sequence-first input its per-sample number means nothing.
    """
    import torch

    shape = tuple(prediction.spec.input_shape)
    torch.manual_seed(0)
    model, x = convshape.build(prediction).eval(), torch.randn(shape)
    with _quiet():
        counts = {
            "torchinfo": _torchinfo(model, shape, device="cpu")[0],
            "fvcore": int(_fvcore(model, x)[0]),
            "thop": _thop(model, x)[0],
        }
        if shape[0] == SAMPLE_BATCH:
            counts["ptflops"] = _ptflops(model, shape)[0]
    return counts


# The interpolation kernels and scale-factor forms the samples leave out: each peer prices
# them differently (fvcore: only 2-d nearest/bilinear and 'area'; thop: no trilinear, area or
# nearest-exact; ptflops: numel(in) * scale ** d, or * the product of the truncated factors).
IMAGE = (2, 3, 4, 5)
UPSAMPLES: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "area": ({"scale_factor": 2.0, "mode": "area"}, IMAGE),
    "area-1d": ({"size": 7, "mode": "area"}, (2, 3, 4)),
    "nearest-exact": ({"scale_factor": 1.5, "mode": "nearest-exact"}, IMAGE),
    "nearest-1d-fraction": ({"scale_factor": 1.75}, (2, 3, 6)),
    "nearest-3d": ({"size": 3, "mode": "nearest"}, (2, 2, 2, 2, 2)),
    "trilinear": ({"scale_factor": [2.0, 1.0, 1.5], "mode": "trilinear"}, (2, 2, 2, 2, 2)),
    "bilinear-per-axis": ({"scale_factor": [1.5, 2.0], "mode": "bilinear"}, IMAGE),
    "bicubic-size": ({"size": [5, 3], "mode": "bicubic"}, IMAGE),
}


def sample_cases() -> Iterator[Any]:
    for type_name, cases in SAMPLES.items():
        for i, (kwargs, shape) in enumerate(cases):
            yield pytest.param(type_name, kwargs, shape, id=f"{type_name}-{i}")
    for name, (kwargs, shape) in UPSAMPLES.items():
        yield pytest.param("Upsample", kwargs, shape, id=f"Upsample-{name}")


@pytest.mark.torch
@pytest.mark.parametrize(("type_name", "kwargs", "shape"), list(sample_cases()))
def test_every_registered_type_counts_as_every_peer_counts(
    tmp_path: Path, type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...]
) -> None:
    for peer in ("torch", "fvcore", "ptflops", "thop", "torchinfo"):
        pytest.importorskip(peer)
    layer = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    prediction = predict(tmp_path, [{"type": type_name, **layer}], list(shape))
    theirs = sample_counts(prediction)
    ours = {name: count(prediction, name).total for name in theirs}
    assert ours == theirs


# ------------------------------------------------------------------------------ the command


def test_the_count_option_offers_every_convention() -> None:
    from convshape.cli import Count

    assert [c.value for c in Count] == list(CONVENTIONS)


def test_check_count_reports_the_peer_total() -> None:
    import json

    from helpers import cli

    spec = str(ROOT / "configs" / "resnet18.yaml")
    code, stdout, _ = cli("check", "--no-verify", "--count", "thop", "-f", "json", spec)
    (report,) = json.loads(stdout)["files"]
    prediction = convshape.predict(convshape.load(spec))
    assert code == 0 and report["count"] == {
        "convention": "thop",
        "unit": "MAC",
        "per_sample": False,
        "total": count(prediction, "thop").total,
    }
    code, stdout, _ = cli("check", "--no-verify", "--count", "ptflops", spec)
    assert code == 0 and "As ptflops counts: 1,825,313,768 MACs per sample" in stdout
    code, stdout, _ = cli("check", "--no-verify", spec)
    assert (
        "As " not in stdout
        and "count"
        not in json.loads(cli("check", "--no-verify", "-f", "json", spec).stdout)["files"][0]
    )


def test_explain_count_command() -> None:
    from helpers import cli

    code, stdout, _ = cli("explain-count", str(ROOT / "configs" / "resnet18.yaml"))
    assert code == 0 and "exact totals:" in stdout and "fvcore            1,819,065,856" in stdout
    code, all_rows, _ = cli("explain-count", "--all", str(ROOT / "configs" / "resnet18.yaml"))
    assert code == 0 and len(all_rows.splitlines()) > len(stdout.splitlines())
