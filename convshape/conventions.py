"""The FLOP conventions of the peers, reproduced by formula from a prediction (torch-free).

The same model is "4.1 GFLOPs", "4.09 GMac" or "8.2 GFLOPs" depending on the tool: each peer
counts bias, normalization, activations and pooling its own way. :func:`count` gives, without
running anything, the number each peer reports for the model ``convshape.build`` makes, per
forward pass at the spec's input shape, per module path (containers sum their children).
``tests/test_conventions.py`` runs every peer on every shipped config and on samples of every
registered layer type (``tests/layer_samples.py``) and asserts equality.

The merges of convshape's containers (Residual's ``+``, Gate's ``*``, Concat's ``torch.cat``,
Split's split/cat, the ``x.clone()`` of a branch that writes its input) count 0 under every
convention: no peer sees them (thop, ptflops and torchinfo hook modules, and the containers
are convshape classes they skip; ptflops patches ``torch.add``/``Tensor.mul`` but not the
``+``/``*`` operators; fvcore has no rule for ``aten::add``, ``aten::mul`` or ``aten::cat``;
FlopCounterMode counts only matrix products and convolutions).

Peer behaviour that makes a peer's number differ from what it means to count:

* ptflops (pytorch backend) counts an nn.ReLU / nn.GELU / nn.ELU and every pooling layer
  twice: once by its module hook (ptflops/pytorch_ops.py:30, :46) and once more by the
  ``F.relu`` / ``F.max_pool2d``... it patches (ptflops/pytorch_engine.py:350-379), which the
  module's forward calls. The convention reproduces the double count.
* ptflops reports per sample: it builds a batch of 1 from ``input_res`` (the shape without the
  batch, ptflops/pytorch_engine.py:43) and divides module counts by the batch it saw
  (pytorch_engine.py:199). The ptflops convention is therefore the count at the spec's shape
  divided by its batch size. (Given a larger batch via ``input_constructor``, ptflops divides
  the module hooks' counts by the batch but not the patched functions' counts,
  pytorch_engine.py:69-71.)
* FlopCounterMode run on cpu under ``torch.no_grad()`` counts an ``nn.MultiheadAttention``
  (convshape's SelfAttention) as 0: in eval without grad, torch takes the fused fast path
  ``torch._native_multi_head_attention`` (torch/nn/modules/activation.py:1433, torch 2.13),
  for which torch/utils/flop_counter.py has no formula. The whole module is missed, projections
  included: vit_b_16 gives 22,542,249,984 FLOPs, not 35,127,656,448 (12 layers x 2 x 524,391,936
  MACs). With grad enabled (activation.py:1417) or on the meta device torch runs the composite
  path; on the meta device FlopCounterMode gives exactly this convention's count (the test
  runs it there). On cpu with grad enabled the composite path's scaled_dot_product_attention
  runs the cpu flash kernel, also without a formula: the Q@K^T and attn@V matmuls are missed
  (vit_b_16: 33,696,978,432 FLOPs, 12 x 2 x 59,611,584 MACs less).
* thop gives nn.LayerNorm (elementwise_affine) 4 * numel and nn.BatchNorm 4 * numel in eval
  (thop/vision/basic_hooks.py:60), and prices a transposed convolution on its output grid
  (thop/vision/calc_func.py:28) where the others use the input grid.
* torchinfo prices Linear/LayerNorm by ``output_size[0] * params`` (torchinfo/layer_info.py:242):
  a Linear on an (N, L, E) sequence counts N, not N*L, rows.
* ptflops counts an nn.Upsample twice, by its hook (ptflops/pytorch_ops.py:21, the numel of
  ``output[0]``, one sample) and by the patched ``F.interpolate`` (pytorch_ops.py:351);
  UpsamplingNearest2d / UpsamplingBilinear2d have no hook and count once. A single scale factor
  makes the second count the float ``numel(in) * scale ** d``, which ptflops sums with the rest
  and truncates once (pytorch_engine.py:93); the convention truncates per layer, so a model
  with k such layers with a fractional count can read up to k - 1 lower than ptflops.
  With one scale per axis, ptflops multiplies ``numel(in)`` by ``np.prod(scale,
  dtype=np.int64)`` (pytorch_ops.py:378), truncating each factor: scale (1.5, 2.0) counts
  ``2 * numel(in)`` where the output has ``3 * numel(in)`` elements. The convention does too.
* ptflops counts a TransformerEncoderLayer's attention by its nn.MultiheadAttention hook
  (pytorch_ops.py:180), which adds the out-projection bias even where ``bias=False`` ("bias is
  always enabled"), and never counts its activation: the layer stores the F.relu / F.gelu it
  was built with (torch/nn/modules/transformer.py:788), not the function ptflops patches later.
  fvcore counts its projections and norms, not the attention matmuls (no handle for
  ``aten::scaled_dot_product_attention``); thop only linear1, linear2, norm1 and norm2.
* ptflops counts the functions a module calls where it patches them: LocalResponseNorm
  (Tensor.mul/add and avg_pool, torch/nn/functional.py:3074-3087) and LPPool (avg_pool, relu,
  Tensor.mul, functional.py:1147-1244) count although ptflops has no rule for the module.
* thop's upsample rule counts 0 for 'trilinear', 'area' and 'nearest-exact'
  (thop/vision/basic_hooks.py:125); fvcore counts only the 2-d nearest and bilinear kernels
  (and 'area' on a 4-d input, which is adaptive_avg_pool2d), fvcore/nn/flop_count.py:40-42.
* ptflops runs a batch of one built from the shape without its first axis
  (pytorch_engine.py:43), so its per-sample number means something only for a batch-first
  input; on an unbatched or sequence-first one, this convention too divides by the first axis.
"""

from __future__ import annotations

from dataclasses import dataclass

from convshape.conventions_rules import FVCORE, PTFLOPS, THOP, TORCHINFO, Rule, Term, flops, macs
from convshape.engine import Node, Prediction
from convshape.errors import ConvshapeError
from convshape.layers import REGISTRY

DEFAULT = "torchvision"


@dataclass(frozen=True)
class Convention:
    """One tool's way of counting, as formulas per module class."""

    name: str
    unit: str  # "MAC" or "FLOP"
    rule: str  # one line, for the README and --help
    peer: str  # how the peer is run to get the same number
    rules: dict[str, Rule] | None = None  # per layer type; None: every type by `default`
    default: Rule = macs
    per_sample: bool = False  # the count at the spec's shape divided by its batch size

    def term(self, node: Node) -> Term:
        if self.rules is None:
            return self.default(node)
        rule = self.rules.get(node.type_name)
        if rule is None:
            missing = len({*REGISTRY, node.type_name} - set(self.rules))
            raise ConvshapeError(
                f"{node.path} ({node.type_name}): no {self.name} rule for {node.type_name} "
                f"(one of {missing} types without a rule)"
            )
        return rule(node)


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "torchvision",
            "MAC",
            "multiply-accumulates of convolutions, linear layers and attention matmuls; "
            "no bias, norms, activations or pooling (torchvision's _ops, GMACs)",
            "convshape's own count (torchvision weights' `_ops`: FlopCounterMode / 2)",
        ),
        Convention(
            "flopcounter",
            "FLOP",
            "2 x torchvision: FLOPs of mm/conv/attention ops only",
            "torch.utils.flop_counter.FlopCounterMode().get_total_flops()",
            default=flops,
        ),
        Convention(
            "fvcore",
            "MAC",
            "torchvision plus BN 2*numel (eval), LayerNorm/GroupNorm 5*numel, "
            "AdaptiveAvgPool2d numel; attention: projections only",
            "fvcore.nn.FlopCountAnalysis(model, x).total()",
            FVCORE,
        ),
        Convention(
            "ptflops",
            "MAC",
            "per sample: torchvision plus bias, norm numel (x2 if affine), ReLU/GELU and "
            "pooling 2*numel (hook + patched F), ReLU6/SiLU numel; attention 0",
            "ptflops.get_model_complexity_info(model, shape[1:], backend='pytorch')",
            PTFLOPS,
            per_sample=True,
        ),
        Convention(
            "thop",
            "MAC",
            "torchvision with transposed conv on the output grid, BN/LayerNorm 4*numel, "
            "avg pool numel(out), adaptive avg (k+1)*numel(out); attention 0",
            "thop.profile(model, inputs=(x,))[0]",
            THOP,
        ),
        Convention(
            "torchinfo",
            "MAC",
            "leaf modules only: conv (weight+bias) x N x out grid, others N x params "
            "(Linear on (N, L, E): N rows); attention 0",
            "torchinfo.summary(model, input_size=shape).total_mult_adds",
            TORCHINFO,
        ),
    )
}


@dataclass(frozen=True)
class Counted:
    """A model's count under one convention: the total and each module path's."""

    convention: str
    total: int
    per_path: dict[str, int]
    notes: dict[str, str]  # leaf path -> how this convention differs from convshape's MACs


def convention(name: str) -> Convention:
    if name not in CONVENTIONS:
        known = ", ".join(CONVENTIONS)
        raise ConvshapeError(f"unknown counting convention {name!r} (known: {known})")
    return CONVENTIONS[name]


def count(prediction: Prediction, name: str = DEFAULT) -> Counted:
    """What the peer of convention ``name`` reports for the built model, by formula."""
    conv = convention(name)
    if prediction.root is None:
        raise ConvshapeError("cannot count a prediction that failed") from prediction.error
    batch = prediction.root.input_shape[0] if conv.per_sample else 1
    per_path: dict[str, int] = {}
    notes: dict[str, str] = {}
    total = _count(prediction.root, conv, batch, per_path, notes)
    per_path.pop("", None)
    return Counted(name, total, per_path, notes)


def _count(
    node: Node, conv: Convention, batch: int, per_path: dict[str, int], notes: dict[str, str]
) -> int:
    if node.layer is not None:
        term = conv.term(node)
        value = term.value // batch if batch > 1 else term.value
        if term.note:
            notes[node.path] = term.note
    else:
        value = sum(_count(child, conv, batch, per_path, notes) for child in node.children)
    per_path[node.path] = value
    return value
