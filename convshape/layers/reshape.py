"""Linear, Identity, Flatten, Unflatten, PixelShuffle, PixelUnshuffle, ChannelShuffle.

Sources: torch/nn/modules/{linear,flatten,pixelshuffle,channelshuffle}.py,
aten/src/ATen/native/{Linear,TensorShape,PixelShuffle,ChanelShuffle}.cpp and c10's
``maybe_wrap_dim``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from convshape.errors import ShapeError
from convshape.layers.argtypes import IntList, PosInt
from convshape.layers.base import (
    Device,
    KeepsNothing,
    Layer,
    Reshapes,
    Saves,
    Shape,
    Strides,
    dim_formula,
    fit_hint,
    fmt,
    register,
    view_strides,
    wrap_dim,
)


def _times(values: Shape | list[int]) -> str:
    return " * ".join(map(str, values)) if values else "1"


# ------------------------------------------------------------------------------------- Linear


@register
@dataclass(frozen=True)
class Linear(Layer):
    in_features: PosInt
    out_features: PosInt
    bias: bool = True

    inferred = "in_features"
    counts_macs = True

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[-1] if shape else None

    def output_shape(self, shape: Shape) -> Shape:
        # aten/src/ATen/native/Linear.cpp linear: (*, in_features) -> (*, out_features)
        if not shape:
            raise ShapeError(
                "Linear needs an input with at least 1 dimension, got a 0-d input",
                formula=[
                    "torch: both arguments to linear need to be at least 1D, but they are 0D and 2D"
                ],
            )
        if shape[-1] != self.in_features:
            rows = prod(shape[:-1])  # torch folds the leading dims into the rows of mat1
            raise ShapeError(
                f"expected input with {self.in_features} features in the last dimension, "
                f"but got {shape[-1]}",
                formula=[
                    f"torch: mat1 and mat2 shapes cannot be multiplied "
                    f"({rows}x{shape[-1]} and {self.in_features}x{self.out_features})"
                ],
                hint=fit_hint("in_features", shape[-1]),
            )
        return (*shape[:-1], self.out_features)

    def num_params(self) -> int:
        # weight (out_features, in_features), bias (out_features,)
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def param_tensors(self) -> int:
        return 2 if self.bias else 1

    def largest_param(self) -> int:
        return self.in_features * self.out_features

    def _fold_copies(self, shape: Shape, strides: Strides) -> bool:
        """Whether folding the leading dims into rows (``reshape(-1, in)``) copies."""
        return (
            len(shape) > 2 and view_strides(shape, strides, (prod(shape[:-1]), shape[-1])) is None
        )

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # addmm keeps mat1 (the input, as rows) only for the weight's gradient: a frozen
        # Linear keeps nothing of its input; rows that are not a view of it are a copy
        if learns and self._fold_copies(shape, strides):
            return Saves(extra=at.itemsize * prod(shape))
        return Saves(input=learns)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        return at.itemsize * prod(shape) if self._fold_copies(shape, strides) else 0

    def macs(self, shape: Shape, out: Shape) -> int:
        # torch/utils/flop_counter.py mm_flop: one MAC per (row, in, out); bias excluded
        return prod(shape[:-1]) * self.in_features * self.out_features

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        bias = f" + {self.out_features}" if self.bias else ""
        return [
            f"(*, in_features) -> (*, out_features): {fmt(shape)} -> {fmt(out)}",
            "params = in_features * out_features" + (" + out_features" if self.bias else ""),
            f"       = {self.in_features} * {self.out_features}{bias} = {self.num_params()}",
            "MACs = prod(leading dims) * in_features * out_features",
            f"     = {_times(shape[:-1])} * {self.in_features} * {self.out_features}"
            f" = {self.macs(shape, out)}",
        ]


@register
@dataclass(frozen=True)
class Identity(KeepsNothing):
    returns_alias = True  # the input itself
    """torch accepts and ignores any arguments; convshape takes none (a typo guard)."""

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        return strides


# ---------------------------------------------------------------------------- Flatten, Unflatten


@register
@dataclass(frozen=True)
class Flatten(Reshapes):
    start_dim: int = 1
    end_dim: int = -1

    def _span(self, shape: Shape) -> tuple[int, int]:
        start = wrap_dim(self.start_dim, len(shape), "start_dim")
        end = wrap_dim(self.end_dim, len(shape), "end_dim")
        if start > end:
            raise ShapeError(
                f"start_dim {self.start_dim} comes after end_dim {self.end_dim} "
                f"on a {len(shape)}-d input",
                formula=[f"wrapped: start_dim = {start} > end_dim = {end}"],
            )
        return start, end

    def output_shape(self, shape: Shape) -> Shape:
        # aten/src/ATen/native/TensorShape.cpp flatten: a 0-d input becomes (1,)
        start, end = self._span(shape)
        if not shape:
            return (1,)
        return (*shape[:start], prod(shape[start : end + 1]), *shape[end + 1 :])

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        start, end = self._span(shape)
        merged = shape[start : end + 1]
        return [
            f"flatten dims {start}..{end}: {fmt(shape)} -> {fmt(out)}",
            f"size = prod(input[{start}:{end + 1}]) = {_times(merged)} = {prod(merged)}",
        ]


@register
@dataclass(frozen=True)
class Unflatten(Reshapes):
    dim: int
    unflattened_size: IntList

    def _sizes(self, shape: Shape) -> tuple[int, tuple[int, ...]]:
        """(wrapped dim, sizes with the -1 resolved); TensorShape.cpp unflatten + infer_size."""
        if not shape:
            raise ShapeError(
                "Unflatten needs an input with at least 1 dimension, got a 0-d input",
                formula=["torch: unflatten got an unexpected error"],
            )
        d = wrap_dim(self.dim, len(shape), "dim")
        sizes, size = self.unflattened_size, shape[d]
        known = prod([s for s in sizes if s != -1])
        if (-1 in sizes and size % known) or (-1 not in sizes and known != size):
            raise ShapeError(
                f"unflattened_size {list(sizes)} does not multiply up to the size of dim {d} "
                f"({size})",
                formula=[
                    f"{size} % prod({[s for s in sizes if s != -1]}) = {size} % {known} != 0"
                    if -1 in sizes
                    else f"prod({list(sizes)}) = {known} != {size}"
                ],
            )
        return d, tuple(size // known if s == -1 else s for s in sizes)

    def output_shape(self, shape: Shape) -> Shape:
        d, sizes = self._sizes(shape)
        return (*shape[:d], *sizes, *shape[d + 1 :])

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        d, sizes = self._sizes(shape)
        lines = [f"split dim {d} ({shape[d]}) into {list(self.unflattened_size)}"]
        if -1 in self.unflattened_size:
            known = [s for s in self.unflattened_size if s != -1]
            inferred = sizes[self.unflattened_size.index(-1)]
            lines.append(
                f"-1 = size / prod(other sizes) = {shape[d]} / {_times(known)} = {inferred}"
            )
        return [*lines, f"{fmt(shape)} -> {fmt(out)}"]


# ---------------------------------------------- PixelShuffle, PixelUnshuffle, ChannelShuffle


def _chw(shape: Shape, op: str) -> tuple[Shape, int, int, int]:
    """(leading dims, C, H, W) of a ``(*, C, H, W)`` input.

    PixelShuffle.cpp ``check_pixel_shuffle_shapes`` / ``check_pixel_unshuffle_shapes``.
    """
    if len(shape) < 3:
        raise ShapeError(
            f"{op} expects input to have at least 3 dimensions (*, C, H, W), "
            f"but got input with {len(shape)} dimension(s): {fmt(shape)}"
        )
    return shape[:-3], shape[-3], shape[-2], shape[-1]


@register
@dataclass(frozen=True)
class PixelShuffle(KeepsNothing):
    upscale_factor: PosInt

    def output_shape(self, shape: Shape) -> Shape:
        # PixelShuffle.cpp: (*, C, H, W) -> (*, C/r^2, H*r, W*r)
        lead, c, h, w = _chw(shape, "pixel_shuffle")
        r = self.upscale_factor
        if c % (r * r):
            raise ShapeError(
                f"channels ({c}) must be divisible by upscale_factor^2 ({r * r})",
                formula=[f"C_in % upscale_factor^2 = {c} % {r}^2 = {c % (r * r)}"],
            )
        return (*lead, c // (r * r), h * r, w * r)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        r = self.upscale_factor
        return [
            *dim_formula("C", "C_in / upscale_factor^2", f"{shape[-3]} / {r}^2", out[-3]),
            *dim_formula("H", "H_in * upscale_factor", f"{shape[-2]} * {r}", out[-2]),
            *dim_formula("W", "W_in * upscale_factor", f"{shape[-1]} * {r}", out[-1]),
        ]


@register
@dataclass(frozen=True)
class PixelUnshuffle(KeepsNothing):
    downscale_factor: PosInt

    def output_shape(self, shape: Shape) -> Shape:
        # PixelShuffle.cpp: (*, C, H, W) -> (*, C*r^2, H/r, W/r); H, then W, must divide
        lead, c, h, w = _chw(shape, "pixel_unshuffle")
        r = self.downscale_factor
        for axis, word, size in (("H", "height", h), ("W", "width", w)):
            if size % r:
                raise ShapeError(
                    f"{word} ({size}) must be divisible by downscale_factor ({r})",
                    formula=[f"{axis}_in % downscale_factor = {size} % {r} = {size % r}"],
                )
        if prod(shape) == 0:  # pixel_unshuffle, after its checks: an empty input comes back
            return shape
        return (*lead, c * r * r, h // r, w // r)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        r = self.downscale_factor
        return [
            *dim_formula("C", "C_in * downscale_factor^2", f"{shape[-3]} * {r}^2", out[-3]),
            *dim_formula("H", "H_in / downscale_factor", f"{shape[-2]} / {r}", out[-2]),
            *dim_formula("W", "W_in / downscale_factor", f"{shape[-1]} / {r}", out[-1]),
        ]


@register
@dataclass(frozen=True)
class ChannelShuffle(KeepsNothing):
    groups: PosInt

    def output_shape(self, shape: Shape) -> Shape:
        # ATen ChanelShuffle.cpp channel_shuffle: (N, C, *) with more than 2 dims, C % groups == 0
        if len(shape) <= 2:
            raise ShapeError(
                f"ChannelShuffle expects input with more than 2 dims (N, C, *), "
                f"but got input with sizes {fmt(shape)}"
            )
        if shape[1] % self.groups:
            raise ShapeError(
                f"channels ({shape[1]}) must be divisible by groups ({self.groups})",
                formula=[f"C % groups = {shape[1]} % {self.groups} = {shape[1] % self.groups}"],
            )
        return shape

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        # meta runs the composite: reshape to (N, g, C/g, -1), permute(0, 2, 1, 3), reshape
        # back, a view when the permutation moves nothing; the cpu kernel always copies
        if at.kind != "meta":
            return None
        n, c = shape[0], shape[1]
        split = (n, self.groups, c // self.groups, prod(shape[2:]))
        grouped = view_strides(shape, strides, split)
        if grouped is None:
            return None
        swapped = (split[0], split[2], split[1], split[3])
        return view_strides(swapped, (grouped[0], grouped[2], grouped[1], grouped[3]), shape)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [
            f"ChannelShuffle keeps the shape: {fmt(shape)} -> {fmt(out)}",
            f"C % groups = {shape[1]} % {self.groups} = 0",
        ]
