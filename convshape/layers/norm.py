"""Normalisation layers in eval mode: BatchNorm*, InstanceNorm*, GroupNorm, LayerNorm, RMSNorm,
LocalResponseNorm, CrossMapLRN2d.

Sources: torch/nn/modules/batchnorm.py, instancenorm.py, normalization.py; torch/nn/functional.py
(``batch_norm``, ``instance_norm``, ``group_norm``, ``local_response_norm``) and ATen
``Normalization.cpp`` / ``layer_norm.h`` for the checks done in C++. Every rule here was
confirmed against torch 2.13 with ``module.eval()`` under ``no_grad``. All of them keep the shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from convshape.errors import ShapeError
from convshape.layers.argtypes import NormShape, OptFloat, PosInt
from convshape.layers.base import (
    Device,
    Layer,
    Saves,
    Shape,
    Strides,
    channel_dim,
    fit_hint,
    fmt,
    register,
)


def _count_lines(symbolic: str, numeric: str, total: int) -> list[str]:
    """``params = <symbols>`` then ``       = <numbers> = total`` (one line if nothing to add)."""
    if numeric == str(total):
        return [f"params = {symbolic} = {total}"]
    return [f"params = {symbolic}", f"       = {numeric} = {total}"]


def _affine_lines(name: str, value: int, weight: bool, bias: bool, flag: str) -> list[str]:
    """The params of a per-channel (or per-element) weight and optional bias."""
    if not weight:
        return [f"params = 0 ({flag}=False)"]
    if bias:
        return _count_lines(f"2 * {name} (weight, bias)", f"2 * {value}", 2 * value)
    return _count_lines(f"{name} (weight only, bias=False)", str(value), value)


STAT = 4  # bytes per saved mean / invstd: float32 (the accumulate type) for every dtype here


def _stat(at: Device) -> int:
    """Bytes per batch/layer-norm statistic: float32, except that the cpu kernels keep them in
    the input's dtype (half precision included)."""
    return at.itemsize if at.kind == "cpu" else STAT


def _affine(weight: bool, bias: bool) -> tuple[int, int]:
    """(parameter tensors, how many) of an optional weight and bias."""
    return (1 + bias, 1) if weight else (0, 0)


def _running_bytes(features: int, tracked: bool, itemsize: int) -> int:
    """running_mean and running_var (the model dtype), num_batches_tracked (int64)."""
    return 2 * itemsize * features + 8 if tracked else 0


def _keeps(layer: Layer, shape: Shape, out: Shape) -> list[str]:
    return [f"{layer.type_name} keeps the shape: {fmt(shape)} -> {fmt(out)}"]


# ------------------------------------------------------------------------------- BatchNorm


class _PerChannel(Layer):
    """BatchNorm and InstanceNorm: an optional weight and bias per channel, optional running
    statistics (buffers)."""

    num_features: int
    affine: bool
    bias: bool
    track_running_stats: bool

    def buffer_bytes(self, itemsize: int) -> int:
        return _running_bytes(self.num_features, self.track_running_stats, itemsize)

    def param_tensors(self) -> int:
        return _affine(self.affine, self.bias)[0]

    def largest_param(self) -> int:
        return self.num_features * _affine(self.affine, self.bias)[1]


@dataclass(frozen=True)
class _BatchNorm(_PerChannel):
    num_features: PosInt
    eps: float = 1e-5
    momentum: OptFloat = 0.1
    affine: bool = True
    track_running_stats: bool = True
    bias: bool = True  # keyword-only in torch

    inferred = "num_features"
    ranks: ClassVar[tuple[int, ...]] = ()  # BatchNorm1d: (2, 3); 2d: (4,); 3d: (5,)

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[1] if len(shape) in cls.ranks else None

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) not in self.ranks:  # batchnorm.py BatchNormNd._check_input_dim
            want = " or ".join(f"{r}D" for r in self.ranks)
            raise ShapeError(f"expected {want} input (got {len(shape)}D input)")
        # batchnorm.py forward: in eval, batch statistics are used only without running stats,
        # and then functional.py batch_norm runs _verify_batch_size.
        batch_stats = not self.track_running_stats
        values = shape[0] * prod(shape[2:])
        if batch_stats and values == 1:
            raise ShapeError(
                "expected more than 1 value per channel for batch statistics "
                "(track_running_stats=False), got N * prod(spatial) = 1",
                formula=[
                    "torch: Expected more than 1 value per channel when training, "
                    f"got input size torch.Size({fmt(shape)})"
                ],
            )
        # ATen Normalization.cpp batch_norm: eps checks
        if self.eps < 0:
            raise ShapeError(f"batch_norm eps must be non-negative, but got {self.eps}")
        if batch_stats and self.eps == 0:
            raise ShapeError(f"batch_norm eps must be positive during training, but got {self.eps}")
        if prod(shape) == 0:  # Normalization.cpp _batch_norm_impl_index: empty in, empty out
            return shape
        self._check_channels(shape[1])
        return shape

    def _check_channels(self, channels: int) -> None:
        # ATen batch_norm_cpu_transform_input checks running_mean first, then weight; with
        # neither (affine=False, track_running_stats=False) torch never looks at num_features.
        tensor = "running_mean" if self.track_running_stats else "weight" if self.affine else ""
        if tensor and channels != self.num_features:
            raise ShapeError(
                f"input has {channels} channels but num_features is {self.num_features}",
                formula=[
                    f"torch: {tensor} should contain {channels} elements not {self.num_features}"
                ],
                hint=fit_hint("num_features", channels),
            )

    def num_params(self) -> int:
        if not self.affine:
            return 0
        return self.num_features * (2 if self.bias else 1)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        lines = _affine_lines("num_features", self.num_features, self.affine, self.bias, "affine")
        if self.track_running_stats:
            lines.append("(running_mean, running_var, num_batches_tracked are buffers, not params)")
        return _keeps(self, shape, out) + lines

    def training_error(self, shape: Shape) -> str | None:
        if shape[0] * prod(shape[2:]) == 1:  # functional.py _verify_batch_size
            return "Expected more than 1 value per channel when training"
        if self.eps == 0:  # aten Normalization.cpp: batch statistics need eps > 0
            return "batch_norm eps must be positive during training"
        return None

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # native_batch_norm keeps its input and the batch mean and invstd
        return Saves(input=True, extra=2 * _stat(at) * shape[1])

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        # eval with running stats: the cpu kernel returns empty statistics, meta full ones
        if self.track_running_stats and at.kind != "meta":
            return 0
        return 2 * _stat(at) * shape[1]


@register
class BatchNorm1d(_BatchNorm):
    ranks = (2, 3)


@register
class BatchNorm2d(_BatchNorm):
    ranks = (4,)


@register
class BatchNorm3d(_BatchNorm):
    ranks = (5,)


# ---------------------------------------------------------------------------- InstanceNorm


@dataclass(frozen=True)
class _InstanceNorm(_PerChannel):
    takes_unbatched = True
    num_features: PosInt
    eps: float = 1e-5
    momentum: OptFloat = 0.1  # torch annotates float but treats None as 0.0
    affine: bool = False
    track_running_stats: bool = False
    bias: bool = True  # keyword-only in torch

    inferred = "num_features"

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return channel_dim(shape, cls.ndim)

    def empty_error(self, shape: Shape) -> str | None:
        # Normalization.cpp instance_norm repeats the weight N times, then reads element 0
        if self.affine and len(shape) == self.ndim + 2 and shape[0] == 0:
            return "select(): index 0 out of range for tensor of size [0] at dimension 0"
        return None

    def output_shape(self, shape: Shape) -> Shape:
        n = self.ndim
        if len(shape) not in (n + 1, n + 2):  # instancenorm.py InstanceNormNd._check_input_dim
            raise ShapeError(f"expected {n + 1}D or {n + 2}D input (got {len(shape)}D input)")
        feature_dim = len(shape) - (n + 1)  # instancenorm.py _InstanceNorm.forward
        self._check_channels(feature_dim, shape[feature_dim])
        # functional.py instance_norm: _verify_spatial_size when using input statistics,
        # which in eval is exactly when there are no running stats.
        if not self.track_running_stats and prod(shape[feature_dim + 1 :]) == 1:
            batched = shape if feature_dim else (1, *shape)
            raise ShapeError(
                "expected more than 1 spatial element for instance statistics, got 1",
                formula=[
                    "torch: Expected more than 1 spatial element when training, "
                    f"got input size torch.Size({fmt(batched)})"
                ],
            )
        return shape

    def _check_channels(self, feature_dim: int, channels: int) -> None:
        if channels == self.num_features:
            return
        hint = fit_hint("num_features", channels)
        if self.affine:
            raise ShapeError(
                f"expected input's size at dim={feature_dim} to match num_features "
                f"({self.num_features}), but got: {channels}.",
                hint=hint,
            )
        # with affine=False torch only warns; convshape treats the warning as an error
        raise ShapeError(
            f"input's size at dim={feature_dim} is {channels}, not num_features="
            f"{self.num_features} (torch warns; convshape treats it as an error)",
            formula=[
                f"torch warns: input's size at dim={feature_dim} does not match num_features. "
                "You can silence this warning by not passing in num_features, "
                "which is not used because affine=False"
            ],
            hint=hint,
        )

    def num_params(self) -> int:
        if not self.affine:
            return 0
        return self.num_features * (2 if self.bias else 1)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        lines = _affine_lines("num_features", self.num_features, self.affine, self.bias, "affine")
        return _keeps(self, shape, out) + lines

    def training_error(self, shape: Shape) -> str | None:
        if prod(shape[len(shape) - self.ndim :]) == 1:  # functional.py _verify_spatial_size
            return "Expected more than 1 spatial element when training"
        return None

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # functional.py instance_norm runs batch_norm on a (1, N*C, ...) view: its statistics,
        # the weight repeated N times, the running stats repeated N times
        nc = prod(shape[: len(shape) - self.ndim])
        extra = 2 * _stat(at) * nc + at.itemsize * nc * (self.affine + 2 * self.track_running_stats)
        return Saves(input=True, extra=extra)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        nc = prod(shape[: len(shape) - self.ndim])
        # weight and bias (if any) and the running stats, repeated N times
        repeats = at.itemsize * nc * (self.affine * (1 + self.bias) + 2 * self.track_running_stats)
        stats = 0 if self.track_running_stats and at.kind != "meta" else 2 * _stat(at) * nc
        return repeats + stats


@register
class InstanceNorm1d(_InstanceNorm):
    ndim = 1


@register
class InstanceNorm2d(_InstanceNorm):
    ndim = 2


@register
class InstanceNorm3d(_InstanceNorm):
    ndim = 3


# ------------------------------------------------------------------------------- GroupNorm


@register
@dataclass(frozen=True)
class GroupNorm(Layer):
    num_groups: PosInt
    num_channels: PosInt
    eps: float = 1e-5
    affine: bool = True
    bias: bool = True  # keyword-only in torch

    inferred = "num_channels"

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return shape[1] if len(shape) >= 2 else None  # no unbatched form: dim 1 is C

    def check(self) -> None:
        # normalization.py GroupNorm.__init__
        if self.num_channels % self.num_groups:
            raise ShapeError(
                f"num_channels ({self.num_channels}) must be divisible by "
                f"num_groups ({self.num_groups})",
                formula=[
                    f"num_channels % num_groups = {self.num_channels} % {self.num_groups} "
                    f"= {self.num_channels % self.num_groups}"
                ],
            )

    def output_shape(self, shape: Shape) -> Shape:
        # functional.py group_norm, then ATen group_norm's checks
        if len(shape) < 2:
            raise ShapeError(
                f"Expected at least 2 dimensions for input tensor but received {len(shape)}"
            )
        n, c, groups = shape[0], shape[1], self.num_groups
        if n * c // groups * prod(shape[2:]) == 1:  # _verify_batch_size([N*C//G, G, *spatial])
            raise ShapeError(
                "expected more than 1 value per group, got N * C/num_groups * prod(spatial) = 1",
                formula=[
                    "torch: Expected more than 1 value per channel when training, "
                    f"got input size {fmt([n * c // groups, groups, *shape[2:]])}"
                ],
            )
        if c % groups:
            raise ShapeError(
                "Expected number of channels in input to be divisible by num_groups, "
                f"but got input of shape {fmt(shape)} and num_groups={groups}"
            )
        if self.affine and c != self.num_channels:
            raise ShapeError(
                f"input has {c} channels but num_channels is {self.num_channels}",
                formula=[
                    "torch: Expected weight to be a vector of size equal to the number of "
                    f"channels in input, but got weight of shape [{self.num_channels}] "
                    f"and input of shape {fmt(shape)}"
                ],
                hint=fit_hint("num_channels", c),
            )
        return shape

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # mean and rstd per (sample, group), in the input's dtype
        return Saves(input=True, extra=2 * at.itemsize * shape[0] * self.num_groups)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        return 2 * at.itemsize * shape[0] * self.num_groups

    def param_tensors(self) -> int:
        return _affine(self.affine, self.bias)[0]

    def largest_param(self) -> int:
        return self.num_channels * _affine(self.affine, self.bias)[1]

    def num_params(self) -> int:
        return self.num_channels * (2 if self.bias else 1) if self.affine else 0

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        lines = _affine_lines("num_channels", self.num_channels, self.affine, self.bias, "affine")
        return _keeps(self, shape, out) + lines


# ----------------------------------------------------------------------- LayerNorm, RMSNorm


def _check_trailing(shape: Shape, normalized: tuple[int, ...], star: str) -> None:
    """ATen layer_norm.h ``_check_layer_norm_inputs``: the last dims equal normalized_shape."""
    k = len(normalized)
    if len(shape) < k or shape[len(shape) - k :] != normalized:
        dims = ", ".join(map(str, normalized))
        raise ShapeError(
            f"Given normalized_shape={fmt(normalized)}, expected input with shape "
            f"[{star}{dims}], but got input of size{fmt(shape)}"
        )


@register
@dataclass(frozen=True)
class LayerNorm(Layer):
    normalized_shape: NormShape
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        _check_trailing(shape, self.normalized_shape, "*, ")
        return shape

    def _rows(self, shape: Shape) -> int:
        return prod(shape[: len(shape) - len(self.normalized_shape)])

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        return Saves(input=True, extra=2 * _stat(at) * self._rows(shape))  # mean, rstd per row

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        return 2 * _stat(at) * self._rows(shape)

    def param_tensors(self) -> int:
        return _affine(self.elementwise_affine, self.bias)[0]

    def largest_param(self) -> int:
        return prod(self.normalized_shape) if self.elementwise_affine else 0

    def num_params(self) -> int:
        # normalization.py LayerNorm.__init__: bias exists only with elementwise_affine
        if not self.elementwise_affine:
            return 0
        return prod(self.normalized_shape) * (2 if self.bias else 1)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        size = " * ".join(map(str, self.normalized_shape))
        if not self.elementwise_affine:
            lines = ["params = 0 (elementwise_affine=False)"]
        elif self.bias:
            lines = _count_lines(
                "2 * prod(normalized_shape) (weight, bias)", f"2 * {size}", self.num_params()
            )
        else:
            lines = _count_lines(
                "prod(normalized_shape) (weight only, bias=False)", size, self.num_params()
            )
        return _keeps(self, shape, out) + lines


@register
@dataclass(frozen=True)
class RMSNorm(Layer):
    normalized_shape: NormShape
    eps: OptFloat = None
    elementwise_affine: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        k = len(self.normalized_shape)
        if len(shape) < k:  # ATen rms_norm checks the rank first, with its own message
            raise ShapeError(
                f"Input tensor must have at least {k} dimensions, but got {len(shape)}"
            )
        _check_trailing(shape, self.normalized_shape, "*")  # sic: torch prints [*4, 5]
        return shape

    def _rows(self, shape: Shape) -> int:
        return prod(shape[: len(shape) - len(self.normalized_shape)])

    # torch 2.13 runs rms_norm as a composite in float32: x.float() (a copy for half
    # precision), pow, mean, rsqrt, x * rstd, * weight, then back to the input dtype

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        numel, rows = prod(shape), self._rows(shape)
        upcast = at.itemsize != STAT
        normed = STAT * numel if learns else 0  # for the weight's gradient
        if not grad_in:
            return Saves(extra=normed)
        # for the input's: x as float32 (the input itself in float32) and rstd
        return Saves(input=not upcast, extra=normed + STAT * rows + upcast * STAT * numel)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        numel, rows = STAT * prod(shape), STAT * self._rows(shape)
        upcast = numel if at.itemsize != STAT else 0
        rsqrt = upcast + numel + 2 * rows  # x**2, its mean, rsqrt
        normed = upcast + numel + rows
        scaled = normed + numel if self.elementwise_affine else 0
        return max(rsqrt, normed, scaled) - at.itemsize * prod(out)

    def num_params(self) -> int:
        return prod(self.normalized_shape) if self.elementwise_affine else 0

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        if not self.elementwise_affine:
            lines = ["params = 0 (elementwise_affine=False)"]
        else:
            size = " * ".join(map(str, self.normalized_shape))
            lines = _count_lines("prod(normalized_shape) (weight)", size, self.num_params())
        return _keeps(self, shape, out) + lines


# ----------------------------------------------------------------- LocalResponseNorm and LRN2d


@register
@dataclass(frozen=True)
class LocalResponseNorm(Layer):
    size: PosInt
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def output_shape(self, shape: Shape) -> Shape:
        # functional.py local_response_norm (sic: the run of spaces is in torch's message);
        # the pad (size//2, (size-1)//2) then avg_pool of kernel size along C keeps C.
        if len(shape) < 3:
            raise ShapeError(
                "Expected 3D or higher dimensionality                          "
                f"input (got {len(shape)} dimensions)"
            )
        return shape

    def _padded(self, shape: Shape, at: Device) -> int:
        return at.itemsize * shape[0] * (shape[1] + self.size - 1) * prod(shape[2:])

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # functional.py local_response_norm: x*x (keeps x), padded along C and avg-pooled (keeps
        # the padded square), .mul(alpha).add(k).pow(beta) (keeps its base and its result), then
        # input / div (keeps both)
        return Saves(input=True, extra=self._padded(shape, at) + 2 * at.itemsize * prod(shape))

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        # the square and its padded copy; later three full-size tensors at once (the old div,
        # div * alpha, + k)
        size = at.itemsize * prod(shape)
        return max(3 * size, size + self._padded(shape, at)) - size


@register
@dataclass(frozen=True)
class CrossMapLRN2d(Layer):
    size: PosInt
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0  # torch's default is the int 1

    def output_shape(self, shape: Shape) -> Shape:
        # torch/nn/_functions.py CrossMapLRN2d.forward
        if len(shape) != 4:
            raise ShapeError(f"CrossMapLRN2d: Expected input to be 4D, got {len(shape)}D instead.")
        return shape

    def empty_error(self, shape: Shape) -> str | None:
        if shape[1] == 0:  # torch/nn/_functions.py: scale.select(1, 0)
            return f"select(): index 0 out of range for tensor of size {fmt(shape)} at dimension 1"
        return None

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        return Saves(input=True, output=True)  # torch/nn/_functions.py: save_for_backward

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        return at.itemsize * prod(shape)  # ctx.scale, as big as the input

    def python_steps(self, shape: Shape) -> int:
        return shape[1]  # torch/nn/_functions.py CrossMapLRN2d.forward: a loop over channels
