"""What each peer counts for one module, by formula (torch-free; no peer is imported).

Every rule reads a predicted leaf :class:`~convshape.engine.Node` and returns a :class:`Term`:
the count the peer gives that module, and a short note saying how it differs from convshape's
MACs (empty where it does not). Each table says which module classes the peer knows; the
source lines cited are those of the versions in the ``bench`` extra (torchinfo 1.8.0, fvcore
0.1.5.post20221221, ptflops 0.7.5, thop 0.1.1).

A peer that dispatches on the module class (thop, ptflops) sees the torch class the builder
makes: ``torch.nn.<Type>`` for most layers, a ``convshape.modules`` class for the rest (a
``torch_module`` of its own), which such a peer does not know.
"""

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

CONV = tuple(f"Conv{d}d" for d in (1, 2, 3))
CONV_T = tuple(f"ConvTranspose{d}d" for d in (1, 2, 3))
BATCH_NORM = tuple(f"BatchNorm{d}d" for d in (1, 2, 3))
MAX_POOL = tuple(f"{kind}MaxPool{d}d" for kind in ("", "Adaptive") for d in (1, 2, 3))
AVG_POOL = tuple(f"AvgPool{d}d" for d in (1, 2, 3))
ADAPTIVE_AVG = tuple(f"AdaptiveAvgPool{d}d" for d in (1, 2, 3))
POOL = MAX_POOL + AVG_POOL + ADAPTIVE_AVG
# Modules that compute nothing any peer counts (views, copies, identity in eval, the
# activations no peer has a rule for, convshape's own elementwise leaves).
QUIET = (
    "Flatten", "Unflatten", "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "AlphaDropout", "FeatureAlphaDropout", "Permute", "Transpose", "Reshape", "Select",
    "ChannelShuffle", "StochasticDepth", "ClassToken", "PositionEmbedding", "LayerScale",
    "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid",
)  # fmt: skip


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


# ------------------------------------------------------------------ torch FlopCounterMode


def flops(node: Node) -> Term:
    """torch/utils/flop_counter.py: 2 FLOPs per MAC of the mm/conv/attention ops only."""
    return Term(2 * node.macs)


# ------------------------------------------------------------------ fvcore


def fvcore_batch_norm(node: Node) -> Term:
    # fvcore/nn/jit_handles.py:251 batchnorm_flop_jit: eval: numel * (2 if affine else 1);
    # without running stats aten::batch_norm runs training=True: the norm counter, 5 or 4
    if not has(node, "track_running_stats"):
        return fvcore_norm(node)
    factor = 2 if has(node, "affine") else 1
    return Term(factor * numel_in(node), f"BN {factor}*numel")


def fvcore_norm(node: Node) -> Term:
    # fvcore/nn/jit_handles.py:230 norm_flop_counter: numel * (5 if affine else 4)
    factor = 5 if has(node, "affine") or has(node, "elementwise_affine") else 4
    return Term(factor * numel_in(node), f"norm {factor}*numel")


def fvcore_attention(node: Node) -> Term:
    # the in- and out-projections (aten::linear); aten::scaled_dot_product_attention is not
    # one of fvcore's ops (fvcore/nn/flop_count.py:26), so Q@K^T and attn@V count 0
    rows, embed = prod(node.input_shape[:-1]), node.input_shape[-1]
    value = 4 * rows * embed * embed
    return Term(value, "projections only")


FVCORE = by_class(
    (CONV + CONV_T + ("Linear",), macs),
    (BATCH_NORM, fvcore_batch_norm),
    (("LayerNorm", "GroupNorm"), fvcore_norm),
    (("AdaptiveAvgPool2d",), lambda node: Term(numel_in(node), "pool: numel")),
    (("SelfAttention",), fvcore_attention),
    (MAX_POOL + AVG_POOL + ("AdaptiveAvgPool1d", "AdaptiveAvgPool3d"), zero),
    (("ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Softmax") + QUIET, zero),
)

# ------------------------------------------------------------------ ptflops (pytorch backend)
# Module hooks (ptflops/pytorch_ops.py:271 MODULES_MAPPING, exact class) plus the functions it
# patches while the model runs (ptflops/pytorch_engine.py:348 patch_functional): an nn module
# whose forward calls a patched F.relu / F.gelu / F.max_pool2d ... is counted twice.


def ptflops_norm(node: Node) -> Term:
    # ptflops/pytorch_ops.py:51 bn_flops_counter_hook: numel, *2 where module.affine is true
    # (LayerNorm has no `affine` attribute: numel)
    factor = 2 if has(node, "affine") else 1
    return Term(factor * numel_in(node), f"norm {factor}*numel")


PTFLOPS = by_class(
    (CONV + CONV_T + ("Linear",), plus_bias),  # pytorch_ops.py:60, :35: + bias per output
    (BATCH_NORM + ("LayerNorm", "GroupNorm"), ptflops_norm),
    (("ReLU", "ELU", "GELU"), scaled(2, "act hook+F:")),  # hook :30 and patched F.relu
    (("ReLU6", "LeakyReLU"), scaled(1, "act")),  # hook only: F.hardtanh / F.leaky_relu
    (("SiLU", "Softmax"), scaled(1, "act F:")),  # no hook, patched F.silu / F.softmax
    (POOL, scaled(2, "pool hook+F:")),  # pytorch_ops.py:46 input numel, and patched F.*
    (("SelfAttention",), zero),  # not nn.MultiheadAttention itself: no hook
    (QUIET, zero),
)

# ------------------------------------------------------------------ thop


def thop_conv_t(node: Node) -> Term:
    # thop/vision/calc_func.py:28 calculate_conv2d_flops: prod(output) * (C_in/g) * prod(k),
    # for transposed convolutions too (the output grid)
    lay = layer(node)
    c_in = int(getattr(lay, "in_channels")) // int(getattr(lay, "groups"))  # noqa: B009
    return Term(numel_out(node) * c_in * kernel(node), "deconv: output grid")


def thop_norm(node: Node) -> Term:
    # thop/vision/basic_hooks.py:60 count_normalization: 2*numel, *2 if affine
    factor = 4 if has(node, "affine") or has(node, "elementwise_affine") else 2
    return Term(factor * numel_in(node), f"norm {factor}*numel")


def thop_adaptive_avg(node: Node) -> Term:
    # thop/vision/basic_hooks.py:114: (prod(in/out) + 1) * numel(out), in float64, truncated
    ratio = 1.0
    for i, o in zip(node.input_shape[2:], node.output_shape[2:], strict=True):
        ratio *= i / o
    return Term(int((ratio + 1) * numel_out(node)), "pool: (k+1)*numel(out)")


def thop_softmax(node: Node) -> Term:
    # thop/vision/calc_func.py:57: per row exp + add + div: numel/n * (3n - 1)
    dim = getattr(layer(node), "dim")  # noqa: B009
    n = node.input_shape[dim]
    return Term(numel_in(node) // n * (3 * n - 1), "softmax (3n-1)/n")


THOP = by_class(
    (CONV + ("Linear",), macs),
    (CONV_T, thop_conv_t),
    (BATCH_NORM + ("LayerNorm",), thop_norm),
    (AVG_POOL, lambda node: Term(numel_out(node), "pool: numel(out)")),
    (ADAPTIVE_AVG, thop_adaptive_avg),
    (("Softmax",), thop_softmax),
    (MAX_POOL + ("ReLU", "ReLU6", "LeakyReLU", "GroupNorm"), zero),
    (("ELU", "GELU", "SiLU", "SelfAttention") + QUIET, zero),
)

# ------------------------------------------------------------------ torchinfo
# torchinfo/layer_info.py:225 calculate_macs, for leaf modules only: per parameter named
# weight/bias, numel * N * prod(out spatial) where "Conv" is in the class name, else
# numel * output_size[0]; other parameter names (gamma, token) count 0.


def torchinfo_conv(node: Node) -> Term:
    spatial = node.output_shape[:1] + node.output_shape[2:]
    value = node.num_params * prod(spatial)
    return Term(value, "(weight+bias)*grid" if value != node.macs else "")


def torchinfo_params(node: Node) -> Term:
    value = node.num_params * node.output_shape[0] if node.output_shape else 0
    return Term(value, "N*params" if value != node.macs else "")


TORCHINFO = by_class(
    (CONV + CONV_T, torchinfo_conv),
    (("Linear",) + BATCH_NORM + ("LayerNorm", "GroupNorm"), torchinfo_params),
    (("SelfAttention",), zero),  # has a child (out_proj): not a leaf; out_proj never runs
    (POOL + ("ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Softmax") + QUIET, zero),
)
