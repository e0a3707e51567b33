"""Learnable tensors and stochastic depth: LayerScale, ClassToken, PositionEmbedding,
StochasticDepth. Each is a small module of :mod:`convshape.modules` (one tensor in, one out).

- ``LayerScale``: a per-channel scale (ConvNeXt's ``layer_scale``, CaiT), ``gamma * x`` with
  ``gamma`` of shape ``(C, 1, ..., 1)`` broadcasting from dim ``dim``.
- ``ClassToken``: a learned ``(1, 1, E)`` token prepended along the sequence (ViT): ``(N, L, E)``
  -> ``(N, L + 1, E)``.
- ``PositionEmbedding``: a learned ``(1, L, E)`` tensor added to ``(N, L, E)`` (ViT).
- ``StochasticDepth``: torchvision.ops.StochasticDepth; the identity in eval, 0 params.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from convshape.errors import ShapeError
from convshape.layers.argtypes import PosInt, Probability, StochasticMode
from convshape.layers.base import (
    Device,
    KeepsNothing,
    Layer,
    Saves,
    Shape,
    Strides,
    broadcast_shape,
    fmt,
    register,
    wrap_dim,
)

MODULES = "convshape.modules"


@register
@dataclass(frozen=True)
class LayerScale(Layer):
    num_features: PosInt
    init_value: float = 1e-6
    dim: int = 1

    torch_module = f"{MODULES}.LayerScale"
    inferred = "num_features"
    elementwise = True

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        return Saves(input=learns)  # x * gamma: x only for gamma's gradient

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[1] if len(shape) >= 2 else None  # dim 1 (its default); checked below

    def output_shape(self, shape: Shape) -> Shape:
        d = wrap_dim(self.dim, len(shape), "dim")
        gamma = (self.num_features, *([1] * (len(shape) - 1 - d)))
        try:  # torch broadcasts gamma (C, 1, ..., 1) with x
            return broadcast_shape(shape, gamma)
        except ShapeError as exc:
            raise ShapeError(
                f"LayerScale of {self.num_features} features cannot scale dim {d} of size "
                f"{shape[d]}",
                formula=exc.formula,
                hint=f"num_features: {shape[d]} would fit this input",
            ) from None

    def num_params(self) -> int:
        return self.num_features

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"gamma * x, gamma of {self.num_features} along dim {self.dim}: {fmt(shape)}"]


class _Sequence(KeepsNothing):
    """Inputs ``(N, L, E)``: a batch of sequences of embeddings."""

    kind: ClassVar[str] = ""

    @staticmethod
    def _tokens(shape: Shape, what: str) -> None:
        if len(shape) != 3:
            raise ShapeError(
                f"{what} takes a (N, L, E) sequence, got the {len(shape)}-D {fmt(shape)}"
            )


@register
@dataclass(frozen=True)
class ClassToken(_Sequence):
    embed_dim: PosInt

    torch_module = f"{MODULES}.ClassToken"
    inferred = "embed_dim"

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[-1] if len(shape) == 3 else None

    def output_shape(self, shape: Shape) -> Shape:
        self._tokens(shape, "ClassToken")
        if shape[2] != self.embed_dim:
            raise ShapeError(f"a token of {self.embed_dim} features cannot join {fmt(shape)}")
        return (shape[0], shape[1] + 1, shape[2])

    def num_params(self) -> int:
        return self.embed_dim

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"cat([token (1, 1, E) expanded to N, x], dim=1): L = {shape[1]} + 1 = {out[1]}"]


@register
@dataclass(frozen=True)
class PositionEmbedding(_Sequence):
    num_positions: PosInt
    embed_dim: PosInt

    torch_module = f"{MODULES}.PositionEmbedding"
    inferred = "embed_dim"
    elementwise = True

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[-1] if len(shape) == 3 else None

    @classmethod
    def inferable(cls, shape: Shape) -> dict[str, int | None]:
        return {"num_positions": shape[1] if len(shape) == 3 else None, **super().inferable(shape)}

    def output_shape(self, shape: Shape) -> Shape:
        try:  # torch broadcasts x + pos, pos of (1, L, E)
            return broadcast_shape(shape, (1, self.num_positions, self.embed_dim))
        except ShapeError as exc:
            raise ShapeError(
                f"a ({self.num_positions}, {self.embed_dim}) position embedding cannot be added "
                f"to {fmt(shape)}",
                formula=exc.formula,
            ) from None

    def num_params(self) -> int:
        return self.num_positions * self.embed_dim

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"x + pos, pos of (1, {self.num_positions}, {self.embed_dim}): {fmt(shape)}"]


@register
@dataclass(frozen=True)
class StochasticDepth(Layer):
    p: Probability
    mode: StochasticMode = "row"

    torch_module = f"{MODULES}.StochasticDepth"
    returns_alias = True  # eval: the input itself
    elementwise = True

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        noise = shape[0] if self.mode == "row" else 1  # x * noise keeps the noise
        return Saves(extra=at.itemsize * noise) if self.p > 0 else Saves()

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        return strides if not training or self.p == 0 else None

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [f"eval: the identity (training drops a {self.mode} with p={self.p}): {fmt(shape)}"]
