"""What the peers' rule tables share: the :class:`Term` a rule returns, the layer-type groups
the tables are written in, and small readers of a predicted leaf (torch-free)."""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import NamedTuple

from convshape.engine import Node
from convshape.layers import Layer
from convshape.layers.base import ntuple


class Term(NamedTuple):
    """A module's count under one convention, and what differs from convshape's MACs."""

    value: int
    note: str = ""


Rule = Callable[[Node], Term]

DIMS = (1, 2, 3)
CONV = tuple(f"Conv{d}d" for d in DIMS)
CONV_T = tuple(f"ConvTranspose{d}d" for d in DIMS)
BATCH_NORM = tuple(f"BatchNorm{d}d" for d in DIMS)
INSTANCE_NORM = tuple(f"InstanceNorm{d}d" for d in DIMS)
MAX_POOL = tuple(f"{kind}MaxPool{d}d" for kind in ("", "Adaptive") for d in DIMS)
AVG_POOL = tuple(f"AvgPool{d}d" for d in DIMS)
ADAPTIVE_AVG = tuple(f"AdaptiveAvgPool{d}d" for d in DIMS)
LP_POOL = tuple(f"LPPool{d}d" for d in DIMS)
POOL = MAX_POOL + AVG_POOL + ADAPTIVE_AVG
PAD = tuple(
    f"{kind}Pad{d}d"
    for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
    for d in DIMS
)
UPSAMPLE = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
ENCODER = ("TransformerEncoderLayer", "TransformerEncoder")
# Modules that compute nothing any peer counts: views, copies, identity in eval, convshape's
# own elementwise leaves, and the functions no peer has a rule for. fvcore: their aten ops
# (softplus, glu, constant_pad_nd, reflection_pad2d, im2col, col2im, pixel_shuffle,
# fractional_max_pool2d, ...) have no handle (fvcore/nn/flop_count.py:26) and count 0; thop:
# no rule in thop/profile.py:21 (ZeroPad2d, PixelShuffle, Dropout: zero_ops); ptflops: no hook
# (ptflops/pytorch_ops.py:271) and none of the functions it patches runs (F.pad, F.hardtanh,
# F.softplus, F.glu, F.fold ... are not patched, ptflops/pytorch_engine.py:348; Softmin calls
# the Tensor.softmax method, torch/nn/functional.py:2164; CrossMapLRN2d's in-place mul_/add_
# in torch/nn/modules/_functions.py:246-263 are not the patched Tensor.mul/add); torchinfo:
# no parameters.
QUIET = (
    "Flatten", "Unflatten", "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "AlphaDropout", "FeatureAlphaDropout", "Permute", "Transpose", "Reshape", "Select",
    "ChannelShuffle", "StochasticDepth", "ClassToken", "PositionEmbedding", "LayerScale",
    "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "LogSigmoid", "Softsign", "Tanhshrink",
    "Mish", "SELU", "CELU", "Hardshrink", "Softshrink", "Softplus", "Threshold", "RReLU",
    "Hardtanh", "GLU", "Softmin", "LogSoftmax", "Fold", "Unfold", "CrossMapLRN2d",
    "FractionalMaxPool2d", "FractionalMaxPool3d", "PixelShuffle", "PixelUnshuffle",
) + PAD  # fmt: skip


def layer(node: Node) -> Layer:
    assert node.layer is not None, node.path
    return node.layer


def numel_in(node: Node) -> int:
    return prod(node.input_shape)


def numel_out(node: Node) -> int:
    return prod(node.output_shape)


def has(node: Node, field: str) -> bool:
    """A boolean constructor argument (``bias``, ``affine``), False where the type lacks it."""
    return bool(getattr(layer(node), field, False))


def arg(node: Node, name: str) -> object:
    """A constructor argument the rule's layer types all have."""
    return getattr(layer(node), name)


def int_arg(node: Node, name: str) -> int:
    value = arg(node, name)
    assert isinstance(value, int), (node.path, name, value)
    return value


def kernel(node: Node) -> int:
    lay = layer(node)
    return prod(ntuple(getattr(lay, "kernel_size"), lay.ndim))  # noqa: B009


def macs(node: Node) -> Term:
    return Term(node.macs)


def zero(node: Node) -> Term:
    return Term(0, "not counted" if node.macs else "")


def scaled(factor: int, what: str) -> Rule:
    """``factor`` times the input's numel."""
    return lambda node: Term(factor * numel_in(node), f"{what} {factor}*numel")


def plus_bias(node: Node) -> Term:
    """MACs plus one add per output element where the layer has a bias."""
    if not has(node, "bias"):
        return Term(node.macs)
    return Term(node.macs + numel_out(node), "+bias")


def by_class(*groups: tuple[tuple[str, ...], Rule]) -> dict[str, Rule]:
    return {name: rule for names, rule in groups for name in names}
