"""Conv1d/2d/3d and ConvTranspose1d/2d/3d (torch/nn/modules/conv.py, ATen ConvUtils.h)."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from convshape.errors import ShapeError, SpecError
from convshape.layers.argtypes import ConvPad, NonNegPad, PaddingMode, PosInt, Size, ZerosOnly
from convshape.layers.base import (
    AXES,
    Device,
    Layer,
    Saves,
    Shape,
    Strides,
    channel_dim,
    first_empty,
    fit_hint,
    fmt,
    join_batch,
    ntuple,
    register,
    split_batch,
    too_small,
)
from convshape.layers.formulas import (
    conv_out,
    conv_text,
    same_padding,
    transpose_out,
    transpose_text,
)
from convshape.layers.pad import padding_empty_error


def spatial_empty_error(shape: Shape, ndim: int) -> str | None:
    """aten Convolution.cpp: a batch or channel count of 0 gives an empty output; an empty
    spatial dim is refused (shown as the kernel sees it: batched, 1-d as ``(N, C, 1, L)``)."""
    if first_empty(shape, len(shape) - ndim) is None:
        return None
    seen = shape if len(shape) == ndim + 2 else (1, *shape)
    if ndim == 1:
        seen = (*seen[:-1], 1, seen[-1])
    return f"Only zero batch or zero channel inputs are supported, but got input shape: {fmt(seen)}"


def _check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    if in_channels % groups:
        raise ShapeError(
            "in_channels must be divisible by groups",
            formula=[f"in_channels % groups = {in_channels} % {groups} = {in_channels % groups}"],
        )
    if out_channels % groups:
        raise ShapeError(
            "out_channels must be divisible by groups",
            formula=[
                f"out_channels % groups = {out_channels} % {groups} = {out_channels % groups}"
            ],
        )


def _check_channels(got: int, expected: int, weight: list[int], shape: Shape, groups: int) -> None:
    if got != expected:
        batched = shape if len(shape) == len(weight) else (1, *shape)
        raise ShapeError(
            f"expected input with {expected} channels, but got {got} channels",
            formula=[
                f"torch: Given groups={groups}, weight of size {fmt(weight)}, expected "
                f"input{fmt(batched)} to have {expected} channels, but got {got} channels instead"
            ],
            hint=fit_hint("in_channels", got),
        )


class _InfersInChannels(Layer):
    """Conv and ConvTranspose: in_channels comes from the input's channel dim when left out."""

    takes_unbatched = True

    inferred = "in_channels"
    counts_macs = True

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        return channel_dim(shape, cls.ndim)

    def param_tensors(self) -> int:
        return 2 if getattr(self, "bias", False) else 1

    def largest_param(self) -> int:
        bias = getattr(self, "out_channels", 0) if getattr(self, "bias", False) else 0
        return self.num_params() - bias


@dataclass(frozen=True)
class _ConvNd(_InfersInChannels):
    strided_window = True
    in_channels: PosInt
    out_channels: PosInt
    kernel_size: Size
    stride: Size = 1
    padding: ConvPad = 0
    dilation: Size = 1
    groups: PosInt = 1
    bias: bool = True
    padding_mode: PaddingMode = "zeros"

    def check(self) -> None:
        _check_groups(self.in_channels, self.out_channels, self.groups)
        if self.padding == "same" and any(s != 1 for s in ntuple(self.stride, self.ndim)):
            raise ShapeError("padding='same' is not supported for strided convolutions")
        pads = self.padding
        if self.padding_mode == "zeros" and not isinstance(pads, str):
            if any(p < 0 for p in ntuple(pads, self.ndim)):
                raise SpecError(f"negative padding is not supported, got padding={self.padding}")

    def _pads(self) -> list[tuple[int, int]]:
        """(left, right) padding per spatial dim."""
        k = ntuple(self.kernel_size, self.ndim)
        d = ntuple(self.dilation, self.ndim)
        if self.padding == "same":
            return [same_padding(ki, di) for ki, di in zip(k, d, strict=True)]
        if isinstance(self.padding, str):  # 'valid'
            return [(0, 0)] * self.ndim
        return [(p, p) for p in ntuple(self.padding, self.ndim)]

    def _check_mode_padding(self, spatial: Shape, rank: int) -> None:
        """padding_mode != zeros: torch first calls F.pad (torch/nn/functional.py pad rules)."""
        if self.padding_mode == "reflect":
            for i, (size, (lo, hi)) in enumerate(zip(spatial, self._pads(), strict=True)):
                if lo >= size or hi >= size:
                    dim = rank - self.ndim + i
                    raise ShapeError(
                        "reflect padding must be smaller than the input: "
                        f"padding ({lo}, {hi}) at dimension {dim} of size {size}"
                    )
        elif self.padding_mode == "circular":
            for size, (lo, hi) in zip(spatial, self._pads(), strict=True):
                if lo > size or hi > size:
                    raise ShapeError(
                        "Padding value causes wrapping around more than once: "
                        f"padding ({lo}, {hi}) on a dim of size {size}"
                    )

    def empty_error(self, shape: Shape) -> str | None:
        if self.padding_mode != "zeros":  # F.pad first: ReflectionPad.cpp and friends
            return padding_empty_error(shape, self.ndim)
        return spatial_empty_error(shape, self.ndim)

    def output_shape(self, shape: Shape) -> Shape:
        op = f"conv{self.ndim}d"
        if self.padding_mode != "zeros" and len(shape) in (self.ndim + 1, self.ndim + 2):
            self._check_mode_padding(shape[-self.ndim :], len(shape))
        batch, channels, spatial = split_batch(shape, self.ndim, op)
        weight = [self.out_channels, self.in_channels // self.groups, *self._kernel()]
        _check_channels(channels, self.in_channels, weight, shape, self.groups)
        outs = self._spatial_out(spatial)
        return join_batch(batch, self.out_channels, outs)

    def _kernel(self) -> tuple[int, ...]:
        return ntuple(self.kernel_size, self.ndim)

    def _spatial_out(self, spatial: Shape) -> list[int]:
        axes = AXES[self.ndim]
        ks, ss, ds = (
            self._kernel(),
            ntuple(self.stride, self.ndim),
            ntuple(self.dilation, self.ndim),
        )
        pads = self._pads()
        if self.padding == "same":
            return list(spatial)
        outs = [
            conv_out(size, k, s, lo, d)
            for size, k, s, d, (lo, _) in zip(spatial, ks, ss, ds, pads, strict=True)
        ]
        if min(outs) < 1:  # torch: "Kernel size can't be greater than actual input size"
            texts = [
                conv_text(axis, size, k, s, lo, d)
                for axis, size, k, s, d, (lo, _) in zip(
                    axes, spatial, ks, ss, ds, pads, strict=True
                )
            ]
            too_small(axes, outs, texts)
        return outs

    def num_params(self) -> int:
        weight = self.out_channels * (self.in_channels // self.groups) * prod(self._kernel())
        return weight + (self.out_channels if self.bias else 0)

    def _padded(self, shape: Shape, at: Device) -> int:
        """Bytes of the padded copy the convolution reads: padding_mode != zeros pads all of
        it with F.pad; padding='same' with an odd total (an even kernel) pads the one extra
        element on the right with a constant pad (aten Convolution.cpp _convolution_mode)."""
        if self.padding_mode != "zeros":
            extra = [lo + hi for lo, hi in self._pads()]
        elif self.padding == "same":
            extra = [(lo + hi) % 2 for lo, hi in self._pads()]
            if not any(extra):
                return 0
        else:
            return 0
        spatial = [s + pad for s, pad in zip(shape[-self.ndim :], extra, strict=True)]
        return at.itemsize * prod(shape[: -self.ndim]) * prod(spatial)

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # F.pad first (reflect/replicate keep their input, circular nothing), then the
        # convolution keeps its (padded) input
        padded = self._padded(shape, at)
        if not padded:
            return Saves(input=True)
        keeps_x = grad_in and self.padding_mode in ("reflect", "replicate")
        return Saves(input=keeps_x, extra=padded)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        return self._padded(shape, at)

    def macs(self, shape: Shape, out: Shape) -> int:
        # one MAC per weight element per output position: N * C_out * prod(out) * C_in/g * prod(k)
        per_position = (self.in_channels // self.groups) * prod(self._kernel())
        return prod(out) * per_position

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        _, _, spatial = split_batch(shape, self.ndim, "")
        ks, ss, ds = (
            self._kernel(),
            ntuple(self.stride, self.ndim),
            ntuple(self.dilation, self.ndim),
        )
        lines: list[str] = []
        if self.padding == "same":
            lines.append("padding='same': output size = input size; the odd extra pad goes last")
            pads = ", ".join(f"({lo}, {hi})" for lo, hi in self._pads())
            lines.append(f"(left, right) padding per dim: {pads}")
        else:
            for axis, size, k, s, d, (p, _) in zip(
                AXES[self.ndim], spatial, ks, ss, ds, self._pads(), strict=True
            ):
                lines += conv_text(axis, size, k, s, p, d)
        return lines + self._count_lines(out)

    def _count_lines(self, out: Shape) -> list[str]:
        k = " * ".join(map(str, self._kernel()))
        cin = self.in_channels // self.groups
        bias = f" + {self.out_channels}" if self.bias else ""
        return [
            "params = out_channels * in_channels/groups * prod(kernel_size)"
            + (" + out_channels" if self.bias else ""),
            f"       = {self.out_channels} * {cin} * {k}{bias} = {self.num_params()}",
            "MACs = prod(output shape) * in_channels/groups * prod(kernel_size)",
            f"     = {' * '.join(map(str, out))} * {cin} * {k} = {self.macs((), out)}",
        ]


@register
class Conv1d(_ConvNd):
    ndim = 1


@register
class Conv2d(_ConvNd):
    ndim = 2


@register
class Conv3d(_ConvNd):
    ndim = 3


@dataclass(frozen=True)
class _ConvTransposeNd(_InfersInChannels):
    in_channels: PosInt
    out_channels: PosInt
    kernel_size: Size
    stride: Size = 1
    padding: NonNegPad = 0
    output_padding: NonNegPad = 0
    groups: PosInt = 1
    bias: bool = True
    dilation: Size = 1
    padding_mode: ZerosOnly = "zeros"

    def check(self) -> None:
        _check_groups(self.in_channels, self.out_channels, self.groups)
        n = self.ndim
        for op, s, d in zip(
            ntuple(self.output_padding, n),
            ntuple(self.stride, n),
            ntuple(self.dilation, n),
            strict=True,
        ):
            if op >= s and op >= d:
                raise ShapeError(
                    "output padding must be smaller than either stride or dilation",
                    formula=[f"output_padding = {op} >= stride = {s} and >= dilation = {d}"],
                )

    def _params(self) -> list[tuple[int, ...]]:
        n = self.ndim
        return [
            ntuple(v, n)
            for v in (
                self.kernel_size,
                self.stride,
                self.padding,
                self.dilation,
                self.output_padding,
            )
        ]

    def empty_error(self, shape: Shape) -> str | None:
        return spatial_empty_error(shape, self.ndim)

    def output_shape(self, shape: Shape) -> Shape:
        batch, channels, spatial = split_batch(shape, self.ndim, f"conv_transpose{self.ndim}d")
        ks = ntuple(self.kernel_size, self.ndim)
        weight = [self.in_channels, self.out_channels // self.groups, *ks]
        if channels != self.in_channels:
            batched = shape if batch is not None else (1, *shape)
            raise ShapeError(
                f"expected input with {self.in_channels} channels, but got {channels} channels",
                formula=[
                    f"torch: Given transposed=1, weight of size {fmt(weight)}, expected "
                    f"input{fmt(batched)} to have {self.in_channels} channels, "
                    f"but got {channels} channels instead"
                ],
                hint=fit_hint("in_channels", channels),
            )
        outs = [transpose_out(size, *p) for size, *p in zip(spatial, *self._params(), strict=True)]
        texts = [
            transpose_text(a, size, *p)
            for a, size, *p in zip(AXES[self.ndim], spatial, *self._params(), strict=True)
        ]
        try:  # an output size of 0: some CPU kernels (grouped, no bias) return an empty tensor,
            too_small(AXES[self.ndim], outs, texts)  # the others and meta raise: refused
        except ShapeError as exc:
            raise ShapeError(
                exc.message + " (torch returns an empty tensor or raises, depending on backend)",
                formula=exc.formula,
            ) from None
        return join_batch(batch, self.out_channels, outs)

    def num_params(self) -> int:
        ks = ntuple(self.kernel_size, self.ndim)
        weight = self.in_channels * (self.out_channels // self.groups) * prod(ks)
        return weight + (self.out_channels if self.bias else 0)

    def macs(self, shape: Shape, out: Shape) -> int:
        # torch/utils/flop_counter.py conv_flop_count(transposed=True): every input position
        # is multiplied by the whole (C_out/g, *k) slice of the weight.
        ks = ntuple(self.kernel_size, self.ndim)
        return prod(shape) * (self.out_channels // self.groups) * prod(ks)

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        _, _, spatial = split_batch(shape, self.ndim, "")
        lines: list[str] = []
        for a, size, *p in zip(AXES[self.ndim], spatial, *self._params(), strict=True):
            lines += transpose_text(a, size, *p)
        ks = " * ".join(map(str, ntuple(self.kernel_size, self.ndim)))
        cout = self.out_channels // self.groups
        bias = f" + {self.out_channels}" if self.bias else ""
        return lines + [
            "params = in_channels * out_channels/groups * prod(kernel_size)"
            + (" + out_channels" if self.bias else ""),
            f"       = {self.in_channels} * {cout} * {ks}{bias} = {self.num_params()}",
            "MACs = prod(input shape) * out_channels/groups * prod(kernel_size)",
            f"     = {' * '.join(map(str, shape))} * {cout} * {ks} = {self.macs(shape, out)}",
        ]


@register
class ConvTranspose1d(_ConvTransposeNd):
    ndim = 1


@register
class ConvTranspose2d(_ConvTransposeNd):
    ndim = 2


@register
class ConvTranspose3d(_ConvTransposeNd):
    ndim = 3
