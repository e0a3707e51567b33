"""The peers' counts for modules they see through what runs inside them (torch-free).

A peer that hooks a module class counts a TransformerEncoderLayer by its inner modules
(``self_attn``, ``linear1``, ``linear2``, ``norm1``, ``norm2``); ptflops also counts the
functions it patches that a module's forward calls (``F.interpolate``, ``F.avg_pool2d``,
``F.relu``, ``Tensor.mul`` / ``Tensor.add``); fvcore counts the aten ops the forward traces
to. Torch sources cited are torch 2.13's; the peers' are those of conventions_rules.py.
"""

from __future__ import annotations

from math import prod

from convshape.conventions_rules_base import (
    Term,
    arg,
    has,
    int_arg,
    layer,
    numel_in,
    numel_out,
)
from convshape.engine import Node

# ------------------------------------------------------------------ Upsample and its aliases
# Each runs F.interpolate(input, size, scale_factor, mode, ...) (torch/nn/modules/
# upsampling.py:174), which picks aten::upsample_<mode><1|2|3>d by the input's rank, and
# adaptive_avg_pool<d>d for mode 'area' (torch/nn/functional.py:5185-5286).

FVCORE_UPSAMPLE = {"nearest": 1, "bilinear": 4}  # per output element, 2-d only
THOP_UPSAMPLE = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 224 + 35}


def upsample_mode(node: Node) -> str:
    if node.type_name == "UpsamplingBilinear2d":
        return "bilinear"
    return str(getattr(layer(node), "mode", "nearest"))


def fvcore_upsample(node: Node) -> Term:
    # fvcore/nn/flop_count.py:40-42: aten::upsample_nearest2d 1 and upsample_bilinear2d 4 per
    # output element, adaptive_avg_pool2d ('area' on a 4-d input) 1 per input element; the
    # 1-d and 3-d kernels, bicubic and nearest-exact have no handle: 0
    mode = upsample_mode(node)
    if len(node.input_shape) != 4:
        return Term(0, "not counted")
    if mode == "area":
        return Term(numel_in(node), "area: numel")
    factor = FVCORE_UPSAMPLE.get(mode, 0)
    return Term(factor * numel_out(node), f"upsample {factor}*numel(out)")


def thop_upsample(node: Node) -> Term:
    # thop/vision/basic_hooks.py:125 count_upsample: modes other than nearest, linear,
    # bilinear and bicubic count 0 (trilinear too: calc_func.py:75 has a factor for it that
    # count_upsample never reaches); calc_func.py:75 calculate_upsample: numel(out) * factor
    factor = THOP_UPSAMPLE.get(upsample_mode(node), 0)
    return Term(factor * numel_out(node), f"upsample {factor}*numel(out)")


def ptflops_interpolate(node: Node) -> int:
    # ptflops/pytorch_ops.py:351 _interpolate_functional_flops_hook on the patched
    # F.interpolate: with a size, prod(size) * N * C (the output's numel); with one scale
    # factor, numel(in) * scale ** d, a float (pytorch_ops.py:380; the total is truncated once,
    # ptflops/pytorch_engine.py:93); with one per axis, numel(in) * np.prod(scale,
    # dtype=np.int64) (:378), which truncates each factor first: (1.5, 2.0) counts 2, not 3
    if arg(node, "size") is not None:
        return numel_out(node)
    scale = arg(node, "scale_factor")
    spatial = len(node.input_shape) - 2
    if isinstance(scale, tuple) and len(scale) == spatial:
        return numel_in(node) * prod(int(factor) for factor in scale)
    assert isinstance(scale, float | int), scale
    return int(numel_in(node) * float(scale) ** spatial)


def ptflops_upsample(node: Node) -> Term:
    # nn.Upsample itself (not its subclasses) has a hook, pytorch_ops.py:21/308, counting the
    # numel of output[0]: one sample's output, so numel(out) per batch; plus the patched
    # F.interpolate, and for 'area' the patched F.adaptive_avg_pool<d>d it calls (numel(in))
    hook = numel_out(node) if node.type_name == "Upsample" else 0
    area = numel_in(node) if upsample_mode(node) == "area" else 0
    return Term(hook + ptflops_interpolate(node) + area, "hook + F.interpolate")


# ------------------------------------------------------------------ ptflops: patched functions


def ptflops_lrn(node: Node) -> Term:
    # torch/nn/functional.py:3074-3087 local_response_norm: input.mul(input) and
    # div.mul(alpha).add(k) (the patched Tensor.mul / Tensor.add, ptflops/pytorch_ops.py:466:
    # numel each), and avg_pool2d/3d over C padded by size - 1 (patched: its input's numel)
    channels, size = node.input_shape[1], int_arg(node, "size")
    padded = numel_in(node) // channels * (channels + size - 1)
    return Term(3 * numel_in(node) + padded, "F: mul, avg_pool, mul, add")


def ptflops_lp_pool(node: Node) -> Term:
    # torch/nn/functional.py:1237/1194/1147 lp_pool<d>d: avg_pool<d>d(input.pow(p)) (patched:
    # numel(in)), then relu(abs(out)) (patched F.relu) and .mul(kernel) (patched Tensor.mul),
    # each numel(out) (functional.py:1244/1200/1154)
    return Term(numel_in(node) + 2 * numel_out(node), "F: avg_pool, relu, mul")


# ------------------------------------------------------------------ TransformerEncoder(Layer)
# Hooks on its inner modules turn the fused fast path off (torch/nn/modules/transformer.py:867
# "forward pre-/hooks are attached to the module"), and fvcore traces with grad enabled, so
# every peer sees the composite path: self_attn (nn.MultiheadAttention, whose out_proj is not
# called as a module), linear1, activation, linear2, norm1, norm2 (always elementwise-affine).


def sequences(node: Node) -> tuple[int, int, int]:
    """(N, L, E) of the input: batch first or not; an unbatched (L, E) is one sequence."""
    shape = node.input_shape
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if has(node, "batch_first"):
        return shape[0], shape[1], shape[2]
    return shape[1], shape[0], shape[2]


def encoder_sizes(node: Node) -> tuple[int, int, int, int]:
    """(layers, rows N*L, E, dim_feedforward)."""
    n, length, embed = sequences(node)
    feed = int_arg(node, "dim_feedforward")
    layers = int_arg(node, "num_layers") if node.type_name == "TransformerEncoder" else 1
    return layers, n * length, embed, feed


def fvcore_encoder(node: Node) -> Term:
    # aten::linear rows*in*out (fvcore/nn/jit_handles.py:99, no bias) for in_proj (3E),
    # out_proj, linear1, linear2; aten::layer_norm 5*numel twice (flop_count.py:38);
    # aten::scaled_dot_product_attention has no handle: Q@K^T and attn@V count 0
    layers, rows, embed, feed = encoder_sizes(node)
    value = layers * (rows * embed * (4 * embed + 2 * feed) + 2 * 5 * numel_in(node))
    return Term(value, "no attn matmuls; norms 5*numel")


def thop_encoder(node: Node) -> Term:
    # only linear1, linear2 (basic_hooks.py:140 in_features * numel(out)) and norm1, norm2
    # (basic_hooks.py:60 4*numel) have rules: nn.MultiheadAttention and its out_proj
    # (NonDynamicallyQuantizableLinear, not nn.Linear) have none (thop/profile.py:21)
    layers, rows, embed, feed = encoder_sizes(node)
    value = layers * (2 * rows * embed * feed + 2 * 4 * numel_in(node))
    return Term(value, "feed-forward + norms 4*numel")


def torchinfo_encoder(node: Node) -> Term:
    # the leaves that run (torchinfo/layer_info.py:225): linear1, linear2, norm1, norm2, each
    # params * output_size[0]; self_attn has a child (not a leaf), out_proj never runs
    layers, _, embed, feed = encoder_sizes(node)
    bias = has(node, "bias")
    linears = 2 * embed * feed + (feed + embed if bias else 0)
    norms = 2 * embed * (2 if bias else 1)
    value = layers * node.output_shape[0] * (linears + norms)
    return Term(value, "N*params of linear1/2, norm1/2")


def ptflops_attention(node: Node) -> int:
    # ptflops/pytorch_ops.py:180 multihead_attention_counter_hook, per sequence: the q scaling
    # L*E, projections 3*L*E*E (+3*L*E bias), per head 2*L*L*E/H + L*L, and the output
    # projection L*E*(E+1) ("bias is always enabled"), times N
    n, length, embed = sequences(node)
    heads = int_arg(node, "nhead")
    bias = 3 * length * embed if has(node, "bias") else 0
    per_head = 2 * length * length * (embed // heads) + length * length
    out = length * embed * (embed + 1)
    return n * (length * embed + 3 * length * embed * embed + bias + heads * per_head + out)


def ptflops_encoder(node: Node) -> Term:
    # + linear1, linear2 ((in*out + out if bias) * rows, pytorch_ops.py:35) and norm1, norm2
    # (numel: LayerNorm has no `affine`, :51); the activation is the F.relu / F.gelu the layer
    # stored when built (transformer.py:788), before ptflops patched F: not counted
    layers, rows, embed, feed = encoder_sizes(node)
    bias = feed + embed if has(node, "bias") else 0
    linears = rows * (2 * embed * feed + bias)
    value = layers * (ptflops_attention(node) + linears + 2 * numel_in(node))
    return Term(value, "attn hook + linears + norms")
