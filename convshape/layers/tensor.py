"""Tensor reshaping as layers: Permute, Transpose, Reshape, Select.

torch has these as tensor methods, not ``nn`` modules; each is backed by a small module of
:mod:`convshape.modules` that calls the method (``x.permute(dims)`` ...). Their rules are
``aten/src/ATen/native/TensorShape.cpp``'s, dims wrapped by c10's ``maybe_wrap_dim``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from convshape.errors import ShapeError
from convshape.layers.argtypes import DimList, IntList
from convshape.layers.base import (
    Device,
    KeepsNothing,
    Reshapes,
    Shape,
    Strides,
    fmt,
    register,
    wrap_dim,
)

MODULES = "convshape.modules"


@register
@dataclass(frozen=True)
class Permute(KeepsNothing):
    """``x.permute(dims)``: ``dims`` lists every input dim once, batch included."""

    dims: DimList

    torch_module = f"{MODULES}.Permute"
    returns_alias = True  # a view

    def output_shape(self, shape: Shape) -> Shape:
        if len(self.dims) != len(shape):
            raise ShapeError(
                f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                f"the length of the desired ordering of dimensions i.e. input.dim() = "
                f"{len(shape)} is not equal to len(dims) = {len(self.dims)}"
            )
        wrapped = [wrap_dim(d, len(shape), "dims") for d in self.dims]
        if len(set(wrapped)) != len(wrapped):
            raise ShapeError(f"permute(): duplicate dims are not allowed: {list(self.dims)}")
        return tuple(shape[d] for d in wrapped)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"output[i] = input[dims[i]], dims = {list(self.dims)}: {fmt(shape)} -> {fmt(out)}"]

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        return tuple(strides[wrap_dim(d, len(shape))] for d in self.dims)


@register
@dataclass(frozen=True)
class Transpose(KeepsNothing):
    """``x.transpose(dim0, dim1)``."""

    dim0: int
    dim1: int

    torch_module = f"{MODULES}.Transpose"
    returns_alias = True  # a view

    def output_shape(self, shape: Shape) -> Shape:
        a = wrap_dim(self.dim0, len(shape), "dim0")
        b = wrap_dim(self.dim1, len(shape), "dim1")
        out = list(shape)
        out[a], out[b] = out[b], out[a]
        return tuple(out)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"swap dims {self.dim0} and {self.dim1}: {fmt(shape)} -> {fmt(out)}"]

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        a, b = wrap_dim(self.dim0, len(shape)), wrap_dim(self.dim1, len(shape))
        swapped = list(strides)
        swapped[a], swapped[b] = swapped[b], swapped[a]
        return tuple(swapped)


@register
@dataclass(frozen=True)
class Reshape(Reshapes):
    """``x.reshape(N, *shape)``: the batch dimension is kept; one size may be -1."""

    shape: IntList

    torch_module = f"{MODULES}.Reshape"
    returns_alias = True  # a view when the input is contiguous

    def _sizes(self, shape: Shape) -> tuple[int, ...]:
        if not shape:
            raise ShapeError("Reshape keeps the batch dimension: it needs an input of rank >= 1")
        have = prod(shape[1:])
        known = prod([s for s in self.shape if s != -1])
        if -1 in self.shape and prod(shape) == 0 and shape[0] * known == 0:
            raise ShapeError(
                f"cannot reshape tensor of 0 elements into shape {[shape[0], *self.shape]} "
                "because the unspecified dimension size -1 can be any value and is ambiguous"
            )
        if shape[0] == 0 and -1 not in self.shape:
            return self.shape  # (0, *shape) holds the 0 elements of any empty batch
        if -1 in self.shape:
            if have % known:
                raise ShapeError(
                    f"shape '{[shape[0], *self.shape]}' is invalid for input of size {prod(shape)}",
                    formula=[f"{have} (per sample) % {known} = {have % known}, not 0"],
                )
            return tuple(have // known if s == -1 else s for s in self.shape)
        if known != have:
            raise ShapeError(
                f"shape '{[shape[0], *self.shape]}' is invalid for input of size {prod(shape)}",
                formula=[f"prod({list(self.shape)}) = {known} != {have} (per sample)"],
            )
        return self.shape

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0], *self._sizes(shape))

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"(N, *shape) with N = {shape[0]}: {fmt(shape)} -> {fmt(out)}"]


@register
@dataclass(frozen=True)
class Select(KeepsNothing):
    """``x.select(dim, index)``: one index along ``dim``; that dim is removed."""

    dim: int
    index: int

    torch_module = f"{MODULES}.Select"
    returns_alias = True  # a view

    def output_shape(self, shape: Shape) -> Shape:
        if not shape:
            raise ShapeError("select() cannot be applied to a 0-dim tensor.")
        d = wrap_dim(self.dim, len(shape), "dim")
        size = shape[d]
        if not -size <= self.index < size:
            raise ShapeError(
                f"select(): index {self.index} out of range for tensor of size {fmt(shape)} at "
                f"dimension {d}"
            )
        return (*shape[:d], *shape[d + 1 :])

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"index {self.index} of dim {self.dim}, which goes: {fmt(shape)} -> {fmt(out)}"]

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        d = wrap_dim(self.dim, len(shape))
        return (*strides[:d], *strides[d + 1 :])
