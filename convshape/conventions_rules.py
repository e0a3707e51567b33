"""What each peer counts for one module, by formula (torch-free; no peer is imported).

Every rule reads a predicted leaf :class:`~convshape.engine.Node` and returns a :class:`Term`:
the count the peer gives that module, and a short note saying how it differs from convshape's
MACs (empty where it does not). Each table says which module classes the peer knows; the
source lines cited are those of the versions in the ``bench`` extra (torchinfo 1.8.0, fvcore
0.1.5.post20221221, ptflops 0.7.5, thop 0.1.1).

A peer that dispatches on the module class (thop, ptflops) sees the torch class the builder
makes: ``torch.nn.<Type>`` for most layers, a ``convshape.modules`` class for the rest (a
``torch_module`` of its own), which such a peer does not know.

The layer-type groups and the small readers the tables share live in
``conventions_rules_base.py``; the rules for modules a peer counts through what runs inside
them (Upsample, TransformerEncoder(Layer), LocalResponseNorm, LPPool) in
``conventions_rules_composite.py``. Every registered layer type has a rule in every table.
"""

from __future__ import annotations

from math import prod

from convshape.conventions_rules_base import (
    ADAPTIVE_AVG,
    AVG_POOL,
    BATCH_NORM,
    CONV,
    CONV_T,
    ENCODER,
    INSTANCE_NORM,
    LP_POOL,
    MAX_POOL,
    POOL,
    QUIET,
    UPSAMPLE,
    Rule,
    Term,
    by_class,
    has,
    kernel,
    layer,
    macs,
    numel_in,
    numel_out,
    plus_bias,
    scaled,
    zero,
)
from convshape.conventions_rules_composite import (
    fvcore_encoder,
    fvcore_upsample,
    ptflops_encoder,
    ptflops_lp_pool,
    ptflops_lrn,
    ptflops_upsample,
    thop_encoder,
    thop_upsample,
    torchinfo_encoder,
)
from convshape.engine import Node

__all__ = ["FVCORE", "PTFLOPS", "THOP", "TORCHINFO", "Rule", "Term", "flops", "macs"]


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
    # aten::instance_norm: norm_flop_counter(1) (fvcore/nn/flop_count.py:39), as LayerNorm's
    (("LayerNorm", "GroupNorm") + INSTANCE_NORM, fvcore_norm),
    (("AdaptiveAvgPool2d",), lambda node: Term(numel_in(node), "pool: numel")),
    (("SelfAttention",), fvcore_attention),
    (ENCODER, fvcore_encoder),
    (UPSAMPLE, fvcore_upsample),
    (MAX_POOL + AVG_POOL + LP_POOL + ("AdaptiveAvgPool1d", "AdaptiveAvgPool3d"), zero),
    # no handle for aten::prelu, rms_norm, softmax, the LRN's pow/avg_pool3d (flop_count.py:26)
    (("ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Softmax", "Softmax2d"), zero),
    (("PReLU", "RMSNorm", "LocalResponseNorm") + QUIET, zero),
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
    (BATCH_NORM + INSTANCE_NORM + ("LayerNorm", "GroupNorm"), ptflops_norm),  # :300 IN too
    # hook :30 and patched F.relu / F.elu / F.gelu / F.prelu (PReLU's hook: pytorch_ops.py:278)
    (("ReLU", "ELU", "GELU", "PReLU"), scaled(2, "act hook+F:")),
    (("ReLU6", "LeakyReLU"), scaled(1, "act")),  # hook only: F.hardtanh / F.leaky_relu
    # no hook, patched F.silu / F.softmax (Softmax2d: F.softmax(input, -3),
    # torch/nn/modules/activation.py:1860)
    (("SiLU", "Softmax", "Softmax2d"), scaled(1, "act F:")),
    (POOL, scaled(2, "pool hook+F:")),  # pytorch_ops.py:46 input numel, and patched F.*
    (LP_POOL, ptflops_lp_pool),
    (("LocalResponseNorm",), ptflops_lrn),
    (UPSAMPLE, ptflops_upsample),
    (ENCODER, ptflops_encoder),
    (("SelfAttention",), zero),  # not nn.MultiheadAttention itself: no hook
    (("RMSNorm",) + QUIET, zero),  # no hook; F.rms_norm is not patched
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
    (BATCH_NORM + INSTANCE_NORM + ("LayerNorm",), thop_norm),
    (AVG_POOL, lambda node: Term(numel_out(node), "pool: numel(out)")),
    (ADAPTIVE_AVG, thop_adaptive_avg),
    (("Softmax",), thop_softmax),
    (("PReLU",), scaled(1, "prelu")),  # thop/vision/basic_hooks.py:82: numel in eval
    (UPSAMPLE, thop_upsample),
    (ENCODER, thop_encoder),
    (MAX_POOL + ("ReLU", "ReLU6", "LeakyReLU", "GroupNorm"), zero),
    (("ELU", "GELU", "SiLU", "SelfAttention", "Softmax2d", "RMSNorm") + LP_POOL, zero),
    (("LocalResponseNorm",) + QUIET, zero),
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
    (("Linear", "PReLU", "LayerNorm", "GroupNorm", "RMSNorm"), torchinfo_params),
    (BATCH_NORM + INSTANCE_NORM, torchinfo_params),
    (("SelfAttention",), zero),  # has a child (out_proj): not a leaf; out_proj never runs
    (ENCODER, torchinfo_encoder),
    (POOL + LP_POOL + UPSAMPLE + ("ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU"), zero),
    (("Softmax", "Softmax2d", "LocalResponseNorm") + QUIET, zero),
)
