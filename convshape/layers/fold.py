"""Fold and Unfold: sliding blocks to columns and back, 2-d only (torch/nn/modules/fold.py).

Both call ATen's im2col / col2im with ``_pair`` of every argument; the shape checks live in
aten/src/ATen/native/im2col_shape_check.h. The block count along a dim is the conv formula:
``floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from convshape.errors import ShapeError
from convshape.layers.argtypes import OutSize2, Pad2, Size2
from convshape.layers.base import (
    AXIS_WORDS,
    Device,
    KeepsNothing,
    Shape,
    first_empty,
    fmt,
    join_batch,
    non_batch,
    ntuple,
    register,
    split_batch,
)
from convshape.layers.formulas import conv_out

AXES2 = ("H", "W")
Pair = tuple[int, int]
Pairs = tuple[Pair, Pair, Pair, Pair]  # kernel_size, dilation, padding, stride as (h, w)


def _pairs(*values: int | tuple[int, ...]) -> Pairs:
    """torch/nn/functional.py fold/unfold: ``_pair`` of each; the schema fixed the lengths."""
    k, d, p, s = (ntuple(v, 2) for v in values)
    return (k[0], k[1]), (d[0], d[1]), (p[0], p[1]), (s[0], s[1])


def _blocks(sizes: tuple[int, ...], pairs: Pairs) -> list[int]:
    """Sliding-block positions per dim: im2col_shape_check.h, the conv output formula."""
    kernel, dilation, padding, stride = pairs
    return [conv_out(sizes[i], kernel[i], stride[i], padding[i], dilation[i]) for i in range(2)]


def _block_texts(sizes: tuple[int, ...], pairs: Pairs, suffix: str) -> list[str]:
    """``blocks_H = floor((H_in + ...``: the sizes slid over are ``H{suffix}``."""
    kernel, dilation, padding, stride = pairs
    lines: list[str] = []
    for axis, n, k, d, p, s in zip(AXES2, sizes, kernel, dilation, padding, stride, strict=True):
        lhs = f"blocks_{axis}"
        lines.append(
            f"{lhs} = floor(({axis}{suffix} + 2*padding - dilation*(kernel_size-1) - 1) "
            "/ stride) + 1"
        )
        lines.append(
            f"{' ' * len(lhs)} = floor(({n} + 2*{p} - {d}*({k}-1) - 1) / {s}) + 1 "
            f"= {conv_out(n, k, s, p, d)}"
        )
    return lines


def _check_blocks(blocks: list[int], texts: list[str]) -> None:
    for axis, count in zip(AXES2, blocks, strict=True):
        if count < 1:
            raise ShapeError(
                f"no sliding block fits along the {AXIS_WORDS[axis]}: blocks_{axis} = {count}",
                formula=texts,
            )


@register
@dataclass(frozen=True)
class Fold(KeepsNothing):
    """``(N, C*kh*kw, L) -> (N, C, *output_size)``; L must be the block count."""

    output_size: OutSize2
    kernel_size: Size2
    dilation: Size2 = 1
    padding: Pad2 = 0
    stride: Size2 = 1

    def storage_bytes(self, shape: Shape, out: Shape, at: Device) -> int:
        # aten Col2Im.cpp (cpu): the output is resized from empty_like(input), and resizing
        # down keeps the storage
        size = at.itemsize * prod(out)
        return size if at.kind == "meta" else max(size, at.itemsize * prod(shape))

    def _pairs(self) -> Pairs:
        return _pairs(self.kernel_size, self.dilation, self.padding, self.stride)

    def empty_error(self, shape: Shape) -> str | None:
        if first_empty(shape, non_batch(shape, 1)) is None:  # col2im_shape_check
            return None
        return (
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
            f"non-zero dimensions for input, but got: {fmt(shape)}"
        )

    def output_shape(self, shape: Shape) -> Shape:
        # im2col_shape_check.h col2im_shape_check, in its order
        batch, channels, (length,) = split_batch(shape, 1, "Fold")
        (kh, kw), *_ = pairs = self._pairs()
        if channels % (kh * kw):
            raise ShapeError(
                f"input channels {channels} are not divisible by the kernel's {kh} * {kw}",
                formula=[
                    "C_in % (kernel_h * kernel_w) = 0",
                    f"{channels} % ({kh} * {kw}) = {channels % (kh * kw)}",
                ],
            )
        size = ntuple(self.output_size, 2)
        blocks = _blocks(size, pairs)
        texts = _block_texts(size, pairs, "_out")
        if length != blocks[0] * blocks[1]:
            raise ShapeError(
                f"the input has L = {length} blocks, but output_size {fmt(size)} takes "
                f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}",
                formula=[
                    *texts,
                    f"L = blocks_H * blocks_W = {blocks[0]} * {blocks[1]} = "
                    f"{blocks[0] * blocks[1]}, but the input's last dim is {length}",
                ],
            )
        _check_blocks(blocks, texts)
        return join_batch(batch, channels // (kh * kw), size)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        _, channels, (length,) = split_batch(shape, 1, "Fold")
        (kh, kw), *_ = pairs = self._pairs()
        size = ntuple(self.output_size, 2)
        blocks = _blocks(size, pairs)
        return [
            *_block_texts(size, pairs, "_out"),
            f"L = blocks_H * blocks_W = {blocks[0]} * {blocks[1]} = {length}",
            f"C_out = C_in / (kernel_h * kernel_w) = {channels} / ({kh} * {kw}) = "
            f"{channels // (kh * kw)}",
            f"(H_out, W_out) = output_size = {fmt(size)}",
        ]


@register
@dataclass(frozen=True)
class Unfold(KeepsNothing):
    """``(N, C, H, W) -> (N, C*kh*kw, L)``, L = blocks_H * blocks_W."""

    kernel_size: Size2
    dilation: Size2 = 1
    padding: Pad2 = 0
    stride: Size2 = 1

    def _pairs(self) -> Pairs:
        return _pairs(self.kernel_size, self.dilation, self.padding, self.stride)

    def empty_error(self, shape: Shape) -> str | None:
        if first_empty(shape, non_batch(shape, 2)) is None:  # im2col_shape_check
            return None
        return (
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
            f"dimensions for input, but got: {fmt(shape)}"
        )

    def output_shape(self, shape: Shape) -> Shape:
        # im2col_shape_check.h im2col_shape_check: (C, H, W) or (N, C, H, W)
        batch, channels, spatial = split_batch(shape, 2, "Unfold")
        (kh, kw), *_ = pairs = self._pairs()
        blocks = _blocks(spatial, pairs)
        _check_blocks(blocks, _block_texts(spatial, pairs, "_in"))
        return join_batch(batch, channels * kh * kw, [blocks[0] * blocks[1]])

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        _, channels, spatial = split_batch(shape, 2, "Unfold")
        (kh, kw), *_ = pairs = self._pairs()
        blocks = _blocks(spatial, pairs)
        return [
            *_block_texts(spatial, pairs, "_in"),
            f"L = blocks_H * blocks_W = {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}",
            f"C_out = C * kernel_h * kernel_w = {channels} * {kh} * {kw} = {channels * kh * kw}",
        ]
