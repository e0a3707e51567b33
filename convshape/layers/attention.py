"""Attention: SelfAttention (``nn.MultiheadAttention`` on one tensor), TransformerEncoderLayer
and TransformerEncoder (torch/nn/modules/activation.py, transformer.py).

MACs count the projections and the two attention matmuls (``q @ k^T`` and ``attn @ v``), as
``torch.utils.flop_counter`` counts ``sdpa_flop_count``: for ``N`` sequences of ``L`` tokens of
``E`` features, ``4 * N*L*E*E`` (q, k, v and out projections) ``+ 2 * N*L*L*E``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from convshape.errors import ShapeError
from convshape.layers.activation import Dropout
from convshape.layers.argtypes import ActivationName, PosFloat, PosInt, Probability
from convshape.layers.base import (
    Device,
    Layer,
    Saves,
    Shape,
    Strides,
    contiguous,
    fmt,
    register,
    view_strides,
)
from convshape.layers.norm import LayerNorm

MODULES = "convshape.modules"


def _sequences(shape: Shape, batch_first: bool, what: str) -> tuple[int, int, int]:
    """(N, L, E) of a batched 3-D input, or of an unbatched (L, E) one (N = 1)."""
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        n, seq = (shape[0], shape[1]) if batch_first else (shape[1], shape[0])
        return n, seq, shape[2]
    layout = "(N, L, E)" if batch_first else "(L, N, E)"
    raise ShapeError(
        f"{what} takes {layout} or unbatched (L, E), got the {len(shape)}-D {fmt(shape)}"
    )


def attention_macs(n: int, seq: int, embed: int) -> int:
    """q @ k^T and attn @ v: torch/utils/flop_counter.py sdpa_flop_count, halved."""
    return 2 * n * seq * seq * embed


def _check_heads(embed_dim: int, num_heads: int) -> None:
    if embed_dim % num_heads:
        raise ShapeError(
            "embed_dim must be divisible by num_heads",
            formula=[
                f"embed_dim % num_heads = {embed_dim} % {num_heads} = {embed_dim % num_heads}"
            ],
        )


@register
@dataclass(frozen=True)
class SelfAttention(Layer):
    """``nn.MultiheadAttention(x, x, x)``, returning the output only; batch first by default."""

    embed_dim: PosInt
    num_heads: PosInt
    dropout: Probability = 0.0
    bias: bool = True
    batch_first: bool = True

    torch_module = f"{MODULES}.SelfAttention"
    inferred = "embed_dim"
    counts_macs = True

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[-1] if len(shape) in (2, 3) else None

    def check(self) -> None:
        _check_heads(self.embed_dim, self.num_heads)

    def output_shape(self, shape: Shape) -> Shape:
        _, _, embed = _sequences(shape, self.batch_first, "SelfAttention")
        if embed != self.embed_dim:
            raise ShapeError(
                f"was expecting embedding dimension of {self.embed_dim}, but got {embed}",
                hint=f"embed_dim: {embed} would fit this input (or leave it out to infer it)",
            )
        return shape

    def num_params(self) -> int:
        e = self.embed_dim
        return 4 * e * e + (4 * e if self.bias else 0)  # in_proj (3E, E), out_proj (E, E)

    def param_tensors(self) -> int:
        return 4 if self.bias else 2

    def largest_param(self) -> int:
        return 3 * self.embed_dim * self.embed_dim

    def macs(self, shape: Shape, out: Shape) -> int:
        n, seq, e = _sequences(shape, self.batch_first, "SelfAttention")
        return 4 * n * seq * e * e + attention_macs(n, seq, e)

    # Memory: F.multi_head_attention_forward as torch 2.13 runs it (README: Memory). One
    # tensor x (batched): one in-projection to (L, N, 3E), made contiguous as q, k, v (one
    # storage); unbatched: three projections. scaled_dot_product_attention: the cpu flash
    # kernel (no dropout) keeps q, k, v, its output and logsumexp (float32); the math kernel
    # (meta, or dropout in training) keeps q and k scaled, the softmax, v, and with dropout
    # its noise and the dropped weights. The out-projection keeps its input.

    def _sizes(self, shape: Shape, at: Device) -> tuple[int, int, int, bool]:
        """(N*L*E, N*heads*L*L, N*heads*L, batched): one (N, L, E) tensor, the attention
        weights and logsumexp, in elements."""
        n, seq, e = _sequences(shape, self.batch_first, "SelfAttention")
        heads = self.num_heads
        return n * seq * e, n * heads * seq * seq, n * heads * seq, len(shape) == 3

    def _rows_copy(self, shape: Shape, strides: Strides) -> bool:
        """Whether the in-projection folds x, as (L, N, E), into rows by a copy."""
        if len(shape) != 3:
            return False
        order = (1, 0, 2) if self.batch_first else (0, 1, 2)
        seq_first = tuple(shape[i] for i in order), tuple(strides[i] for i in order)
        return view_strides(*seq_first, (shape[0] * shape[1], shape[2])) is None

    def _flash(self, at: Device, training: bool) -> bool:
        return at.kind != "meta" and not (training and self.dropout > 0)

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        t, s, lse, batched = self._sizes(shape, at)
        e = at.itemsize
        # the projections keep their inputs only for their weights' gradients (frozen: not)
        rows = e * t if learns and self._rows_copy(shape, strides) else 0
        keeps_x = learns and not rows
        qkv = 3 * e * t  # q, k, v: one storage (batched) or three
        if self._flash(at, training=True):  # its output is kept by the kernel too
            return Saves(input=keeps_x, extra=rows + qkv + 4 * lse + e * t)
        # math: half precision runs in float32 (q, k, v upcast: v is then a copy)
        f = 4
        v = f * t if e != f else (qkv if batched else e * t)
        dropout = 2 * f * s if self.dropout > 0 else 0
        projected = e * t if learns else 0
        return Saves(input=keeps_x, extra=rows + 2 * f * t + f * s + v + projected + dropout)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        t, s, lse, batched = self._sizes(shape, at)
        e, f = at.itemsize, 4
        qkv = 3 * e * t
        projection = qkv  # unbatched: three projections
        if batched:  # one (L, N, 3E) projection; rows folded by a copy are matmul + bias
            rows = self._rows_copy(shape, strides)
            made_contiguous = t > shape[-1]  # a copy unless L * N == 1
            projection = max(
                rows * e * t + qkv,
                qkv + (qkv if rows and self.bias else 0),
                qkv + (qkv if made_contiguous else 0),
            )
        if self._flash(at, training=False):
            attention = qkv + e * t + 4 * lse
        else:
            half = e != f
            base = qkv + half * 3 * f * t  # q, k, v (and their float32 copies)
            attention = max(
                base + 2 * f * t + f * s,  # q k^T: q and k scaled, the weights
                base + f * t + 2 * f * s,  # softmax
                base + 2 * f * t + f * s + half * (e * s + e * t),  # @ v, back to the dtype
            )
        return max(projection, attention) - e * t

    def layout(self, shape: Shape, out: Shape) -> Strides | None:
        if len(shape) == 3 and self.batch_first:  # (L, N, E) transposed back
            n, e = shape[0], shape[2]
            return (e, n * e, 1)
        return None

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        n, seq, e = _sequences(shape, self.batch_first, "SelfAttention")
        return [
            f"softmax(q k^T / sqrt(E/heads)) v over {self.num_heads} heads: {fmt(shape)} kept",
            f"params = 4*E*E + 4*E = 4*{e}*{e} + 4*{e} = {self.num_params():,}"
            if self.bias
            else f"params = 4*E*E = {self.num_params():,}",
            f"MACs = 4*N*L*E*E + 2*N*L*L*E = 4*{n}*{seq}*{e}*{e} + 2*{n}*{seq}*{seq}*{e} "
            f"= {self.macs(shape, out):,}",
        ]


@dataclass(frozen=True)
class _Encoder(Layer):
    d_model: PosInt
    nhead: PosInt
    dim_feedforward: PosInt = 2048
    dropout: Probability = 0.1
    activation: ActivationName = "relu"
    layer_norm_eps: PosFloat = 1e-5
    batch_first: bool = False
    norm_first: bool = False
    bias: bool = True

    inferred = "d_model"
    counts_macs = True

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[-1] if len(shape) in (2, 3) else None

    def check(self) -> None:
        _check_heads(self.d_model, self.nhead)

    def output_shape(self, shape: Shape) -> Shape:
        _, _, embed = _sequences(shape, self.batch_first, self.type_name)
        if embed != self.d_model:
            raise ShapeError(
                f"was expecting embedding dimension of {self.d_model}, but got {embed}",
                hint=f"d_model: {embed} would fit this input (or leave it out to infer it)",
            )
        return shape

    def param_tensors(self) -> int:
        # self_attn (in_proj weight, out_proj weight), linear1, linear2, norm1, norm2: weights;
        # with bias, a bias each
        return self._layers() * (6 if not self.bias else 12)

    def largest_param(self) -> int:
        return max(3 * self.d_model * self.d_model, self.d_model * self.dim_feedforward)

    def _layers(self) -> int:
        return getattr(self, "num_layers", 1)

    # Memory: each layer as torch 2.13 runs TransformerEncoderLayer.forward (post-norm:
    # norm1(x + dropout1(attn(x))), then norm2(x + dropout2(linear2(dropout(act(linear1(x))))));
    # norm_first: x + dropout1(attn(norm1(x))), then x + ff(norm2(x))), composed from the rules
    # of its parts: SelfAttention, Dropout, LayerNorm, Linear, ReLU / GELU.

    def _parts(self) -> tuple[SelfAttention, LayerNorm, Dropout]:
        attn = SelfAttention(self.d_model, self.nhead, self.dropout, self.bias, self.batch_first)
        norm = LayerNorm((self.d_model,), self.layer_norm_eps, True, self.bias)
        return attn, norm, Dropout(self.dropout)

    def _layer_saves(
        self, shape: Shape, strides: Strides, at: Device, learns: bool
    ) -> tuple[bool, int]:
        """(whether one layer keeps its input, bytes of the new storages it keeps)."""
        attn, norm, drop = self._parts()
        n, seq, e = _sequences(shape, self.batch_first, self.type_name)
        t = at.itemsize * n * seq * e
        flat = contiguous(shape)
        stats = norm.saves(shape, flat, shape, at, True, learns).extra
        noise = drop.saves(shape, flat, shape, at, True, False).extra
        ff_shape = (*shape[:-1], self.dim_feedforward)
        ff = at.itemsize * prod(ff_shape)
        ff_noise = drop.saves(ff_shape, contiguous(ff_shape), ff_shape, at, True, False).extra
        dropped = self.dropout > 0
        # feed-forward: the activation keeps its output (relu) or input (gelu); dropout its
        # noise; linear2 its input, which is the relu output itself without dropout
        feed = ff + ff_noise + (ff if learns and (dropped or self.activation != "relu") else 0)
        keeps_n = t if learns else 0  # linear1 keeps the normalised input
        if self.norm_first:  # norm1 keeps x; attention keeps norm1(x) per its rule
            mha = attn.saves(shape, flat, shape, at, True, learns)
            attention = mha.extra + (t if mha.input else 0)
            return True, stats + attention + noise + t + stats + keeps_n + feed + noise
        mha = attn.saves(shape, strides, shape, at, True, learns)
        # x + dropout1(..) kept by norm1; its output by linear1; x + ff(..) by norm2
        return mha.input, mha.extra + noise + t + stats + keeps_n + feed + noise + t + stats

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        n, seq, e = _sequences(shape, self.batch_first, self.type_name)
        t = at.itemsize * n * seq * e
        keeps_x, extra = self._layer_saves(shape, strides, at, learns)
        for _ in range(self._layers() - 1):  # the next layers read a new (N, L, E) tensor
            keeps, more = self._layer_saves(shape, contiguous(shape), at, learns)
            extra += more + (t if keeps else 0)
        return Saves(input=keeps_x, extra=extra)

    def _layer_peak(self, shape: Shape, strides: Strides, at: Device) -> int:
        """The most bytes of new storages alive at once in one eval layer, its output
        included (dropouts are the identity)."""
        attn, norm, _ = self._parts()
        n, seq, e = _sequences(shape, self.batch_first, self.type_name)
        t = at.itemsize * n * seq * e
        flat = contiguous(shape)
        st = norm.temporaries(shape, shape, flat, at)
        ff = at.itemsize * n * seq * self.dim_feedforward
        if self.norm_first:
            mha = attn.temporaries(shape, shape, flat, at) + t
            return max(t + st, t + mha, 2 * t + st, 2 * t + 2 * ff, 3 * t + ff, 3 * t)
        mha = attn.temporaries(shape, shape, strides, at) + t
        return max(mha, 2 * t, 2 * t + st, t + 2 * ff, 2 * t + ff, 3 * t + st)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        n, seq, e = _sequences(shape, self.batch_first, self.type_name)
        t = at.itemsize * n * seq * e
        peak = self._layer_peak(shape, strides, at)
        if self._layers() > 1:  # later layers: their input (the last output) stays alive
            peak = max(peak, t + self._layer_peak(shape, contiguous(shape), at))
        return peak - t

    def _layer_params(self) -> int:
        e, f, b = self.d_model, self.dim_feedforward, self.bias
        attention = 4 * e * e + (4 * e if b else 0)
        feedforward = 2 * e * f + ((f + e) if b else 0)
        norms = 2 * (2 * e if b else e)
        return attention + feedforward + norms

    def _layer_macs(self, shape: Shape) -> int:
        n, seq, e = _sequences(shape, self.batch_first, self.type_name)
        return (
            4 * n * seq * e * e + attention_macs(n, seq, e) + 2 * n * seq * e * self.dim_feedforward
        )


@register
@dataclass(frozen=True)
class TransformerEncoderLayer(_Encoder):
    def num_params(self) -> int:
        return self._layer_params()

    def macs(self, shape: Shape, out: Shape) -> int:
        return self._layer_macs(shape)


@register
@dataclass(frozen=True)
class TransformerEncoder(_Encoder):
    """``nn.TransformerEncoder`` of ``num_layers`` copies of ``TransformerEncoderLayer(...)``."""

    num_layers: PosInt = 1

    torch_module = f"{MODULES}.TransformerEncoder"

    def num_params(self) -> int:
        return self.num_layers * self._layer_params()

    def macs(self, shape: Shape, out: Shape) -> int:
        return self.num_layers * self._layer_macs(shape)
