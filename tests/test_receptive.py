"""Receptive fields (convshape.receptive): hand-checked specs, then torch's gradients as the oracle.

The oracle makes every path of the built model linear with positive weights (weights 1, bias 0,
activations and BatchNorm the identity, max pooling an average over the same window), so the
input positions with a nonzero gradient of one output unit are exactly the positions that unit
sees. For the configs each convolution is also collapsed to one channel (the sum over its input
channels, then torch's own conv class with the same kernel, stride, padding and dilation): with
weights 1 every output channel of a conv is that sum, so the gradient's support is the same, and
U-Net at 256 x 256 takes seconds instead of many minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT, predict_text
from hypothesis import assume, given
from hypothesis import strategies as st

import convshape
from convshape.engine import Prediction
from convshape.receptive import Field, receptive_fields


def fields_of(tmp_path: Path, text: str) -> dict[str, Field | None]:
    prediction = predict_text(tmp_path, text)
    assert prediction.ok, prediction.error
    return receptive_fields(prediction)


def f(size: int, stride: int, start: float, ndim: int = 2) -> Field:
    return Field((size,) * ndim, (stride,) * ndim, (start,) * ndim)


# --------------------------------------------------------------------------- hand-checked specs


def test_two_3x3_convs(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 1, 16, 16]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3}
          - ReLU
          - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
    """)  # fmt: skip
    # unit 0 of the first conv sees [0, 2]; the padded second one sees units -1..1: [-1, 3]
    assert fields == {"0": f(3, 1, 1.0), "1": f(3, 1, 1.0), "2": f(5, 1, 1.0)}


def test_strided_conv_then_3x3(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 1, 17, 17]
        layers:
          - {type: Conv2d, out_channels: 2, kernel_size: 3, stride: 2}
          - {type: Conv2d, out_channels: 2, kernel_size: 3}
    """)  # fmt: skip
    assert fields == {"0": f(3, 2, 1.0), "1": f(7, 2, 3.0)}


def test_dilated_conv_and_per_dim_arguments(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 1, 20, 20]
        layers:
          - {type: Conv2d, out_channels: 2, kernel_size: 3, dilation: 2, padding: 2}
          - {type: Conv2d, out_channels: 2, kernel_size: [3, 1], stride: [1, 2]}
    """)  # fmt: skip
    assert fields["0"] == f(5, 1, 0.0)
    assert fields["1"] == Field((7, 5), (1, 2), (1.0, 0.0))


def test_pooling(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 1, 16, 16]
        layers:
          - {type: Conv2d, out_channels: 2, kernel_size: 3, padding: 1}
          - {type: MaxPool2d, kernel_size: 2}
          - {type: AvgPool2d, kernel_size: 3, stride: 2, padding: 1}
          - {type: MaxPool2d, kernel_size: 2, dilation: 2}
    """)  # fmt: skip
    assert fields["1"] == f(4, 2, 0.5)  # [-1, 2]: units 0 and 1 of the conv
    assert fields["2"] == f(8, 4, 0.5)  # pool units -1..1: [-3, 4]
    assert fields["3"] == f(16, 8, 4.5)  # units 0 and 2 of the last pool: [-3, 12]


def test_padding_layer_shifts_the_start(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 2, 20]
        layers:
          - {type: ZeroPad1d, padding: [3, 0]}
          - {type: Conv1d, out_channels: 2, kernel_size: 3}
          - {type: ConstantPad1d, padding: [-2, 0], value: 0.0}
    """)  # fmt: skip
    assert fields == {
        "0": Field((1,), (1,), (-3.0,)),
        "1": Field((3,), (1,), (-2.0,)),
        "2": Field((3,), (1,), (0.0,)),  # a negative pad crops: unit 0 was unit 2
    }


def test_residual_with_identity_and_projection(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 4, 16, 16]
        layers:
          - type: Residual
            body:
              - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - BatchNorm2d
              - ReLU
              - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
          - type: Residual
            shortcut: auto
            body:
              - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
              - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}
    """)  # fmt: skip
    assert fields["0"] == fields["0.body"] == fields["0.body.3"] == f(5, 1, 0.0)
    assert fields["0.body.0"] == f(3, 1, 0.0)
    # body: 5 + 2 + 2*2 = 11 at stride 2; the 1x1 stride-2 shortcut sees 5 around the same centre
    assert fields["1.shortcut"] == fields["1.shortcut.0"] == f(5, 2, 0.0)
    assert fields["1"] == fields["1.body"] == f(11, 2, 0.0)


def test_concat_takes_the_hull_of_misaligned_branches(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 1, 12]
        layers:
          - type: Concat
            branches:
              - [{type: Conv1d, out_channels: 1, kernel_size: 3, padding: 1}]
              - [{type: ConstantPad1d, padding: [0, 2], value: 0.0},
                 {type: Conv1d, out_channels: 1, kernel_size: 3}]
              - []
    """)  # fmt: skip
    assert fields["0.0"] == Field((3,), (1,), (0.0,))  # [-1, 1]
    assert fields["0.1"] == Field((3,), (1,), (1.0,))  # [0, 2]
    assert fields["0.2"] == Field((1,), (1,), (0.0,))  # the identity branch
    assert fields["0"] == Field((4,), (1,), (0.5,))  # [-1, 2]: larger than either branch


def test_global_pool_then_flatten_and_linear(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 3, 10, 10]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3}
          - {type: AdaptiveAvgPool2d, output_size: [1, 2]}
          - Flatten
          - {type: Linear, out_features: 2}
    """)  # fmt: skip
    # 8 -> 1: kernel = stride = 8, all 8 conv units: [0, 9]; 8 -> 2: kernel = stride = 4
    assert fields["1"] == Field((10, 6), (8, 4), (4.5, 2.5))
    assert fields["2"] is fields["3"] is None


def test_uneven_adaptive_pool_has_a_fractional_stride(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 1, 7]
        layers:
          - {type: AdaptiveMaxPool1d, output_size: 3}
          - {type: AdaptiveAvgPool1d, output_size: 1}
    """)  # fmt: skip
    # windows [0, 3), [2, 5), [4, 7): stride 7/3, no Field; the global pool sees all 7 again
    assert fields == {"0": None, "1": Field((7,), (7,), (3.0,))}


def test_upsampling(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 1, 16]
        layers:
          - {type: Conv1d, out_channels: 2, kernel_size: 2, stride: 2}
          - {type: Upsample, scale_factor: 2.0}
          - {type: ConvTranspose1d, out_channels: 2, kernel_size: 2, stride: 2}
          - {type: Conv1d, out_channels: 2, kernel_size: 2, stride: 2}
          - {type: Upsample, scale_factor: 2.0, mode: linear, align_corners: true}
    """)  # fmt: skip
    assert fields["0"] == Field((2,), (2,), (0.5,))
    # upsampled unit o sees conv unit o // 2, [2j, 2j + 1] for j = o // 2: stride 1, and the
    # smallest box of stride 1 holding both phases is 3 wide (each unit sees 2)
    assert fields["1"] == Field((3,), (1,), (0.0,))
    assert fields["2"] is None  # stride 1/2
    assert fields["3"] == fields["1"]  # units 2v and 2v + 1 of the ConvTranspose: conv unit v // 2
    assert fields["4"] is None  # align_corners=True


def test_squeeze_excitation_gate_sees_everything(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 4, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
          - type: Gate
            layers:
              - {type: AdaptiveAvgPool2d, output_size: 1}
              - {type: Conv2d, out_channels: 4, kernel_size: 1}
              - Sigmoid
          - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
    """)  # fmt: skip
    assert fields["1.gate"] == f(10, 8, 3.5)
    assert fields["1"] == fields["2"] == f(10, 0, 3.5)  # every unit sees [-1, 8]


def test_channels_last_block_keeps_the_field(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [1, 4, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 7, padding: 3, groups: 4}
          - {type: Permute, dims: [0, 2, 3, 1]}
          - {type: LayerNorm, normalized_shape: [4]}
          - {type: Linear, out_features: 16}
          - GELU
          - {type: Linear, out_features: 4}
          - {type: Permute, dims: [0, 3, 1, 2]}
          - {type: Flatten, start_dim: 2}
    """)  # fmt: skip
    assert {fields[str(i)] for i in range(7)} == {f(7, 1, 0.0)}
    assert fields["7"] is None  # H and W merged


def test_concat_along_a_spatial_dim_and_unbatched_input(tmp_path: Path) -> None:
    fields = fields_of(tmp_path, """
        input: [3, 8, 8]
        unbatched: true
        layers:
          - {type: Conv2d, out_channels: 2, kernel_size: 3}
          - {type: Concat, dim: 2, branches: [[], [ReLU]]}
    """)  # fmt: skip
    assert fields == {"0": f(3, 1, 1.0), "1": None, "1.0": None, "1.1": None, "1.1.0": None}


def test_a_merge_over_a_branch_without_a_field(tmp_path: Path) -> None:
    """Found by the fuzz test: attention in a branch, and an input with no spatial dims."""
    fields = fields_of(tmp_path, """
        input: [1, 1]
        layers:
          - type: Concat
            branches: [[{type: TransformerEncoder, d_model: 1, nhead: 1}]]
    """)  # fmt: skip
    assert set(fields.values()) == {None}
    fields = fields_of(tmp_path, """
        input: [1, 4, 8]
        layers:
          - type: Residual
            body: [{type: Conv1d, out_channels: 4, kernel_size: 3, padding: 1}]
            shortcut: [{type: Transpose, dim0: 1, dim1: 2},
                       {type: TransformerEncoder, d_model: 4, nhead: 1},
                       {type: Transpose, dim0: 1, dim1: 2}]
    """)  # fmt: skip
    assert fields["0.body.0"] == Field((3,), (1,), (0.0,)) and fields["0"] is None


def test_a_failed_prediction_keeps_the_fields_before_the_error(tmp_path: Path) -> None:
    prediction = predict_text(tmp_path, """
        input: [1, 1, 8, 8]
        layers:
          - {type: Conv2d, out_channels: 2, kernel_size: 3}
          - {type: Conv2d, out_channels: 2, kernel_size: 9}
    """)  # fmt: skip
    assert not prediction.ok
    assert receptive_fields(prediction) == {"0": f(3, 1, 1.0)}


KNOWN = [  # the Distill article's table, and the usual figures for torchvision's models
    ("alexnet", "7", (195, 32)),
    ("vgg16", "4", (212, 32)),
    ("resnet18", "7", (435, 32)),
    ("resnet50", "7", (427, 32)),
    ("inception_v3", "Mixed_7c", (1311, 32)),
]


@pytest.mark.parametrize(("config", "path", "expected"), KNOWN)
def test_known_networks(config: str, path: str, expected: tuple[int, int]) -> None:
    prediction = convshape.predict(convshape.load(ROOT / "configs" / f"{config}.yaml"))
    field = receptive_fields(prediction)[path]
    assert field is not None
    assert (field.size, field.stride) == ((expected[0],) * 2, (expected[1],) * 2)


def test_every_config_has_a_row_for_every_module() -> None:
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        prediction = convshape.predict(convshape.load(config))
        fields = receptive_fields(prediction)
        assert list(fields) == [row.path for row in prediction.rows], config.name
        assert fields[prediction.rows[0].path] is not None, config.name
        if prediction.rows[-1].type_name == "Linear":
            assert fields[prediction.rows[-1].path] is None, config.name


# ------------------------------------------------------------------------------ torch as oracle


def linearised(prediction: Prediction, collapse: bool) -> Any:
    """The built model with every path linear and positive (see the module docstring)."""
    import torch
    from torch import nn

    class Collapsed(nn.Module):  # sum over the input channels, then a 1-channel conv
        def __init__(self, conv: Any) -> None:
            super().__init__()
            self.dim = -len(conv.kernel_size) - 1
            keys = ["stride", "padding", "dilation", "padding_mode"]
            if isinstance(conv, nn.modules.conv._ConvTransposeNd):
                keys.append("output_padding")
            kwargs = {key: getattr(conv, key) for key in keys}
            self.conv = type(conv)(1, 1, conv.kernel_size, bias=False, **kwargs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x.sum(self.dim, keepdim=True))

    class SumLast(nn.Module):  # a collapsed Linear
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(-1, keepdim=True)

    class WindowSum(nn.Module):  # a dilated max pool's windows, summed (ceil_mode=False)
        def __init__(self, pool: Any) -> None:
            super().__init__()
            n = int(type(pool).__name__[-2])
            self.n, self.args = n, (pool.stride, pool.padding, pool.dilation)
            self.kernel = nn.modules.utils._ntuple(n)(pool.kernel_size)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            channels = x.shape[-self.n - 1]
            weight = x.new_ones(channels, 1, *self.kernel)
            conv = getattr(nn.functional, f"conv{self.n}d")
            return conv(x, weight, None, *self.args, groups=channels)

    def replacement(module: Any) -> Any:
        if isinstance(module, nn.modules.conv._ConvNd) and collapse:
            return Collapsed(module)
        if isinstance(module, nn.Linear) and collapse:
            return SumLast()
        if isinstance(module, nn.modules.batchnorm._BatchNorm | nn.ReLU | nn.Dropout):
            return nn.Identity()
        if isinstance(module, nn.modules.pooling._MaxPoolNd):
            n = int(type(module).__name__[-2])
            if any(d != 1 for d in nn.modules.utils._ntuple(n)(module.dilation)):
                assert not module.ceil_mode
                return WindowSum(module)
            args = (module.kernel_size, module.stride, module.padding, module.ceil_mode)
            return getattr(nn, f"AvgPool{n}d")(*args)
        return None

    model = convshape.build(prediction)
    for name, module in list(model.named_modules()):
        new = replacement(module)
        if new is not None:
            parent, _, key = name.rpartition(".")
            setattr(model.get_submodule(parent), key, new)
    model = model.double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.conv._ConvNd | nn.Linear):
                module.weight.fill_(1.0)
                if module.bias is not None:
                    module.bias.zero_()
    return model


def assert_matches_torch(prediction: Prediction, mode: str, units: int, collapse: bool) -> int:
    """Per row with a field, ``units`` consecutive output units near the centre: the bounding
    box of the input positions with a nonzero gradient against the predicted box, clipped to
    the input. ``exact``: equal; ``inside``: equal where the box fits in the input, inside it
    otherwise (a dilated or strided window leaves holes, which clipping can expose); ``cover``
    (after upsampling): inside it, and each side reached by some unit. Returns the rows checked.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these small one-channel convs only lose time to a second thread
    try:
        return _check(prediction, mode, units, collapse)
    finally:
        torch.set_num_threads(threads)


def _check(prediction: Prediction, mode: str, units: int, collapse: bool) -> int:
    import torch

    fields = receptive_fields(prediction)
    model = linearised(prediction, collapse)
    modules = dict(model.named_modules())
    shape = prediction.spec.input_shape
    ndim = len(shape) - 2
    outputs: dict[str, Any] = {}
    rows = [row.path for row in prediction.rows if fields[row.path] is not None]
    for path in rows:
        modules[path].register_forward_hook(lambda m, i, o, path=path: outputs.setdefault(path, o))
    x = torch.ones((units, *shape[1:]), dtype=torch.float64, requires_grad=True)
    model(x)
    for path in rows:
        field, out = fields[path], outputs[path]
        assert field is not None and out.dim() == len(shape), path
        sizes = out.shape[2:]
        index = [[min(max(n // 2 - units // 2 + t, 0), n - 1) for t in range(units)] for n in sizes]
        picked = [out[(t, slice(None), *(index[d][t] for d in range(ndim)))] for t in range(units)]
        (grad,) = torch.autograd.grad(torch.stack(picked).sum(), x, retain_graph=True)
        seen = grad.ne(0).any(dim=1)  # (units, *spatial): the input positions each unit sees
        boxes = [
            [(c - (field.size[d] - 1) / 2, c + (field.size[d] - 1) / 2) for c in centres]
            for d in range(ndim)
            for centres in [[field.start[d] + i * field.stride[d] for i in index[d]]]
        ]
        lasts = [size - 1 for size in shape[2:]]
        per_unit = [list(zip(b, lasts, strict=True)) for b in zip(*boxes, strict=True)]
        off = [any(hi < 0 or lo > last for (lo, hi), last in u) for u in per_unit]  # padding only
        fits = [all(lo >= 0 and hi <= last for (lo, hi), last in u) for u in per_unit]
        for d, last in enumerate(lasts):
            others = tuple(k + 1 for k in range(ndim) if k != d)
            hits = [row.nonzero().flatten().tolist() for row in seen.any(dim=others)]
            got = [(h[0], h[-1]) if h else None for h in hits]
            clipped = [None if out else (max(lo, 0), min(hi, last))
                       for (lo, hi), out in zip(boxes[d], off, strict=True)]  # fmt: skip
            where = f"{path} dim {d}: torch {got}, predicted {clipped} ({field})"
            pairs = list(zip(got, clipped, strict=True))
            assert all(g is None or (c and c[0] <= g[0] and g[1] <= c[1]) for g, c in pairs), where
            if mode == "exact":
                assert got == clipped, where
            elif mode == "inside":  # equal where the predicted box fits in the input
                assert all(g == c for (g, c), ok in zip(pairs, fits, strict=True) if ok), where
            elif len(set(index[d])) == units and all(fits):  # cover: a whole period was seen
                inner = [(g, c) for g, c in pairs if g and c]
                assert min(g[0] - c[0] for g, c in inner) == 0, where
                assert min(c[1] - g[1] for g, c in inner) == 0, where
    return len(rows)


@pytest.mark.torch
@pytest.mark.parametrize(
    ("config", "mode", "units", "rows"),
    [("resnet18", "exact", 3, 90), ("vgg16", "exact", 3, 50), ("unet", "cover", 16, 88)],
)
def test_configs_match_torch(config: str, mode: str, units: int, rows: int) -> None:
    """Every row with a field (all but Flatten / Linear and the classifier after them)."""
    prediction = convshape.predict(convshape.load(ROOT / "configs" / f"{config}.yaml"))
    assert assert_matches_torch(prediction, mode, units, collapse=True) == rows


@pytest.mark.torch
def test_collapsing_channels_keeps_the_support(tmp_path: Path) -> None:
    """The config oracle's shortcut against the plain all-ones model, channels and all."""
    prediction = predict_text(tmp_path, """
        input: [1, 3, 24, 24]
        layers:
          - {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
          - BatchNorm2d
          - ReLU
          - {type: MaxPool2d, kernel_size: 3, stride: 2, padding: 1}
          - type: Residual
            shortcut: auto
            body:
              - {type: Conv2d, out_channels: 6, kernel_size: 3, stride: 2, padding: 1, groups: 2}
              - {type: Conv2d, out_channels: 6, kernel_size: 3, padding: 1}
          - type: Concat
            branches:
              - []
              - [{type: ConvTranspose2d, out_channels: 2, kernel_size: 3, stride: 2, padding: 1,
                  output_padding: 1}, {type: Conv2d, out_channels: 6, kernel_size: 2, stride: 2}]
    """)  # fmt: skip
    assert assert_matches_torch(prediction, "cover", 4, collapse=False) == 16
    assert assert_matches_torch(prediction, "cover", 4, collapse=True) == 16


def per_dim(draw: st.DrawFn, ndim: int, lo: int, hi: int) -> int | list[int]:
    if ndim == 1 or draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)) for _ in range(ndim)]


@st.composite
def window_stack(draw: st.DrawFn) -> dict[str, Any]:
    """1 to 4 convolutions and poolings on a 1-d or 2-d input."""
    ndim = draw(st.sampled_from([1, 2]))
    sizes = [draw(st.integers(6, 40 if ndim == 1 else 16)) for _ in range(ndim)]
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["Conv", "MaxPool", "AvgPool"]))
        layer: dict[str, Any] = {"type": f"{kind}{ndim}d", "kernel_size": per_dim(draw, ndim, 1, 5)}
        layer["stride"] = per_dim(draw, ndim, 1, 3)
        if kind == "Conv":
            layer |= {"out_channels": 2, "dilation": per_dim(draw, ndim, 1, 3)}
            layer["padding"] = per_dim(draw, ndim, 0, 3)
        else:
            kernel = min(ntuple_of(layer["kernel_size"]))
            layer["padding"] = draw(st.integers(0, kernel // 2))
            dilated = kind == "MaxPool" and draw(st.booleans())
            if dilated:
                layer["dilation"] = per_dim(draw, ndim, 1, 3)
            layer["ceil_mode"] = not dilated and draw(st.booleans())
        layers.append(layer)
    return {"input": [1, draw(st.integers(1, 3)), *sizes], "layers": layers}


@st.composite
def upsampling_stack(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A conv, then transposed convs, upsamplings and convs: (spec, a bound on the period)."""
    ndim = draw(st.sampled_from([1, 2]))
    sizes = [draw(st.integers(8, 24 if ndim == 1 else 12)) for _ in range(ndim)]
    conv = {"type": f"Conv{ndim}d", "out_channels": 2}
    layers = [conv | {"kernel_size": draw(st.integers(1, 4)), "stride": draw(st.integers(1, 4))}]
    period = 1
    linear = ["linear"] if ndim == 1 else ["bilinear", "bicubic"]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(["ConvTranspose", "Conv", "nearest", "nearest-exact", "linear"])
        )
        if kind == "ConvTranspose":
            stride, kernel = draw(st.integers(1, 3)), draw(st.integers(1, 4))
            layer = {"type": f"ConvTranspose{ndim}d", "out_channels": 2, "kernel_size": kernel,
                     "stride": stride, "padding": draw(st.integers(0, kernel - 1)),
                     "dilation": draw(st.integers(1, 2))}  # fmt: skip
        elif kind == "Conv":  # its stride only shortens the period
            stride = 1
            args = {"kernel_size": draw(st.integers(1, 3)), "padding": draw(st.integers(0, 1))}
            layer = conv | args | {"stride": draw(st.integers(1, 2))}
        else:  # linear modes only by even factors: an odd one samples input points exactly, and
            # torch's float scale may leave the neighbour a tiny weight (or none)
            stride = draw(st.sampled_from([2, 4] if kind == "linear" else [2, 3]))
            mode = draw(st.sampled_from(linear)) if kind == "linear" else kind
            layer = {"type": "Upsample", "scale_factor": float(stride), "mode": mode}
        period *= stride
        layers.append(layer)
    return {"input": [1, 2, *sizes], "layers": layers}, period


def ntuple_of(value: int | list[int]) -> list[int]:
    return [value] if isinstance(value, int) else value


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("receptive") / "spec.yaml"


def predict_dict(path: Path, spec: dict[str, Any]) -> Prediction:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return convshape.predict(convshape.load(path))


@pytest.mark.torch
@given(spec=window_stack())
def test_window_stacks_match_torch(spec_file: Path, spec: dict[str, Any]) -> None:
    prediction = predict_dict(spec_file, spec)
    assume(prediction.ok)  # a window larger than its padded input, a pool padded past half
    assert assert_matches_torch(prediction, "inside", 3, collapse=False) == len(spec["layers"])


@pytest.mark.torch
@given(case=upsampling_stack())
def test_upsampling_stacks_match_torch(spec_file: Path, case: tuple[dict[str, Any], int]) -> None:
    spec, period = case
    prediction = predict_dict(spec_file, spec)
    assume(prediction.ok)
    assert_matches_torch(prediction, "cover", period, collapse=False)


def test_json_rows_and_the_table_column() -> None:
    """Through the command line: every JSON row carries its field, stride and centre; the
    optional table column shows size/stride."""
    import json

    from helpers import cli

    out = cli("check", "--no-verify", "-f", "json", str(ROOT / "configs" / "resnet18.yaml"))
    rows = {r["path"]: r for r in json.loads(out.stdout)["files"][0]["layers"]}
    assert rows["0"]["receptive_field"] == [7, 7] and rows["0"]["effective_stride"] == [2, 2]
    assert rows["7"]["receptive_field"] == [435, 435] and rows["7"]["effective_stride"] == [32, 32]
    assert rows["10"]["receptive_field"] is None  # the Linear after Flatten mixes positions
    table = cli(
        "check", "--no-verify", "--receptive-field", str(ROOT / "configs" / "resnet18.yaml")
    )
    header = next(line for line in table.stdout.splitlines() if line.startswith("Layer"))
    assert header.split()[-1] == "Field/stride"
    assert any(line.split()[-1] == "435/32" for line in table.stdout.splitlines())
