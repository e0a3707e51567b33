"""Activations and dropouts of one tensor, in eval mode (dropout is the identity there).

Sources: torch/nn/modules/activation.py and dropout.py, torch/nn/functional.py and the ATen
kernels named per rule. Every rule was confirmed against torch 2.13 with ``module.eval()`` under
``no_grad``. All keep the shape except GLU, which halves one dim.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from convshape.errors import ShapeError
from convshape.layers.argtypes import GeluApprox, NonNegInt, Probability
from convshape.layers.base import Device, Layer, Saves, Shape, Strides, fmt, register, wrap_dim

FLOAT_MAX = 3.4028234663852886e38  # float32 max: Softshrink's upper bound for lambd


# ------------------------------------------------------------------ memory (training: what
# autograd saves; eval: temporaries). Each rule follows the op's entry in torch's
# tools/autograd/derivatives.yaml as run by torch 2.13, and is probed in tests/test_memory.py.

SAVES_OUTPUT = {"ReLU", "Sigmoid", "Tanh", "Softmax", "Softmin", "LogSoftmax", "Softmax2d"}
# in place, autograd clones the input before overwriting it (the backward formula reads self)
CLONES_IN_PLACE = {"ReLU6", "Hardtanh", "SiLU", "Hardsigmoid", "Hardswish", "Threshold", "Mish"}
# composites that keep a full-size intermediate: log_sigmoid's buffer, softsign's 1 + |x|,
# tanhshrink's tanh(x), rrelu's noise
KEEPS_INTERMEDIATE = {"LogSigmoid": True, "Softsign": True, "Tanhshrink": False, "RReLU": True}


@dataclass(frozen=True)
class _Act(Layer):
    """An activation or dropout: elementwise, its output laid out like its input."""

    elementwise = True
    # arguments ATen converts to the input's float32 on every forward: above 3.4e38 it raises
    # "value cannot be converted to type float without overflow"
    float32_args: ClassVar[tuple[str, ...]] = ()

    def check(self) -> None:
        for name in self.float32_args:
            value = getattr(self, name)
            if abs(value) > FLOAT_MAX:
                raise ShapeError(
                    "value cannot be converted to type float without overflow",
                    formula=[f"|{name}| = {abs(value):g} > float32 max 3.40282e+38"],
                )

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        name, size = self.type_name, at.itemsize * prod(shape)
        if name in SAVES_OUTPUT:
            return Saves(output=True)
        if name in CLONES_IN_PLACE and self.writes_input():
            return Saves(extra=size)
        if name in KEEPS_INTERMEDIATE:
            return Saves(input=KEEPS_INTERMEDIATE[name], extra=size)
        return Saves(input=True)

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        # softmin negates first; rrelu draws its noise tensor in eval mode too
        keeps = self.type_name in KEEPS_INTERMEDIATE or self.type_name == "Softmin"
        return at.itemsize * prod(shape) if keeps else 0


# ------------------------------------------------------- no arguments, or only ``inplace``


@dataclass(frozen=True)
class _Inplace(_Act):
    inplace: bool = False


@register
class Sigmoid(_Act):
    """1 / (1 + exp(-x))."""


@register
class Tanh(_Act):
    """tanh(x)."""


@register
class LogSigmoid(_Act):
    """log(sigmoid(x))."""


@register
class Softsign(_Act):
    """x / (1 + |x|)."""


@register
class Tanhshrink(_Act):
    """x - tanh(x)."""


@register
class ReLU(_Inplace):
    """max(0, x)."""


@register
class ReLU6(_Inplace):
    """min(max(0, x), 6)."""


@register
class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6."""


@register
class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6."""


@register
class SiLU(_Inplace):
    """x * sigmoid(x)."""


@register
class Mish(_Inplace):
    """x * tanh(softplus(x))."""


@register
class SELU(_Inplace):
    """scale * elu(x, alpha) with fixed constants."""


# ------------------------------------------------------------ activations with arguments


@register
@dataclass(frozen=True)
class ELU(_Act):
    float32_args = ("alpha",)
    alpha: float = 1.0
    inplace: bool = False


@register
@dataclass(frozen=True)
class CELU(_Act):
    alpha: float = 1.0
    inplace: bool = False

    float32_args = ("alpha",)

    def check(self) -> None:
        # ATen Activation.cpp celu: torch raises on every forward, so convshape at construction
        if self.alpha == 0:
            raise ShapeError("ZeroDivisionError: alpha cannot be 0 for CELU")
        super().check()
        if abs(1 / self.alpha) > FLOAT_MAX:  # celu runs elu with input_scale = 1 / alpha
            raise ShapeError(
                "value cannot be converted to type float without overflow",
                formula=[f"1 / alpha = {1 / self.alpha:g} > float32 max 3.40282e+38"],
            )


@register
@dataclass(frozen=True)
class LeakyReLU(_Act):
    float32_args = ("negative_slope",)
    negative_slope: float = 0.01
    inplace: bool = False


@register
@dataclass(frozen=True)
class Hardshrink(_Act):
    float32_args = ("lambd",)
    lambd: float = 0.5


@register
@dataclass(frozen=True)
class Softshrink(_Act):
    lambd: float = 0.5

    def check(self) -> None:
        # ATen Activation.cpp softshrink_check (raised on every float32 forward)
        if not 0 <= self.lambd <= FLOAT_MAX:
            raise ShapeError(
                f"lambda must be in range [0, 3.40282e+38] for input dtype Float, "
                f"but found {self.lambd:g}"
            )


@register
@dataclass(frozen=True)
class Softplus(_Act):
    float32_args = ("beta", "threshold")
    beta: float = 1.0
    threshold: float = 20.0


@register
@dataclass(frozen=True)
class GELU(_Act):
    approximate: GeluApprox = "none"


@register
@dataclass(frozen=True)
class Threshold(_Act):
    float32_args = ("threshold", "value")
    threshold: float
    value: float
    inplace: bool = False


@register
@dataclass(frozen=True)
class RReLU(_Act):
    lower: float = 1.0 / 8
    upper: float = 1.0 / 3
    inplace: bool = False

    float32_args = ("lower", "upper")

    def check(self) -> None:
        super().check()
        # ATen RReLU (rrelu_with_noise): checked on every forward, eval mode included
        if not self.lower <= self.upper:
            raise ShapeError(
                "Lower bound should be less than or equal to the upper bound",
                formula=[f"lower = {self.lower} > upper = {self.upper}"],
            )


@register
@dataclass(frozen=True)
class Hardtanh(_Act):
    # torch's deprecated min_value/max_value aliases are left out (they only warn)
    min_val: float = -1.0
    max_val: float = 1.0
    inplace: bool = False

    float32_args = ("min_val", "max_val")

    def check(self) -> None:
        super().check()
        # activation.py Hardtanh.__init__: an assert, so equal bounds fail too
        if not self.max_val > self.min_val:
            raise ShapeError(
                f"max_val ({self.max_val}) must be greater than min_val ({self.min_val})"
            )


@register
@dataclass(frozen=True)
class PReLU(_Act):
    num_parameters: NonNegInt = 1  # 0 fits a channel dim of 0
    init: float = 0.25

    def output_shape(self, shape: Shape) -> Shape:
        # ATen Activation.cpp prelu: the channel dim is dim 1, or 1 for ranks below 2
        if self.num_parameters == 1:
            return shape
        if not shape:
            raise ShapeError("Not allow zero-dim input tensor.")
        channels = shape[1] if len(shape) >= 2 else 1
        if channels != self.num_parameters:
            raise ShapeError(
                "Mismatch of parameter numbers and input channel size. Found parameter "
                f"numbers = {self.num_parameters} and channel size = {channels}.",
                hint=f"num_parameters must be 1 or the channel size (dim 1): {channels}",
            )
        return shape

    def num_params(self) -> int:
        return self.num_parameters

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        return [
            f"PReLU keeps the shape: {fmt(shape)} -> {fmt(out)}",
            f"params = num_parameters = {self.num_parameters}",
        ]


# ------------------------------------------------------------------------- GLU, softmaxes


@register
@dataclass(frozen=True)
class GLU(_Act):
    dim: int = -1

    def output_shape(self, shape: Shape) -> Shape:
        if not shape:  # functional.py glu
            raise ShapeError("glu does not support scalars because halving size must be even")
        d = wrap_dim(self.dim, len(shape))
        if shape[d] % 2:  # ATen GatedLinearUnit.cpp
            raise ShapeError(
                f"Halving dimension must be even, but dimension {d} is size {shape[d]}"
            )
        return (*shape[:d], shape[d] // 2, *shape[d + 1 :])

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        d = wrap_dim(self.dim, len(shape))
        return [
            f"GLU halves dim {d} (a * sigmoid(b) of its two halves): {shape[d]} / 2 = {out[d]}",
            f"{fmt(shape)} -> {fmt(out)}",
        ]


@dataclass(frozen=True)
class _Softmax(_Act):
    dim: int  # required: torch's dim=None only warns and guesses (functional.py)

    def output_shape(self, shape: Shape) -> Shape:
        wrap_dim(self.dim, len(shape))
        return shape


@register
class Softmax(_Softmax):
    """exp(x) / sum(exp(x)) along dim."""


@register
class Softmin(_Softmax):
    """softmax(-x) along dim."""


@register
class LogSoftmax(_Softmax):
    """log(softmax(x)) along dim."""


@register
class Softmax2d(_Act):
    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) not in (3, 4):  # activation.py Softmax2d.forward
            raise ShapeError(f"Softmax2d: expected input to be 3D or 4D, got {len(shape)}D instead")
        return shape


# -------------------------------------------------------------------------------- dropout


@dataclass(frozen=True)
class _Dropout(_Act):
    returns_alias = True  # eval: the input itself
    p: Probability = 0.5  # dropout.py _DropoutNd.__init__ checks 0 <= p <= 1
    inplace: bool = False

    def training_error(self, shape: Shape) -> str | None:
        feature = self.type_name == "FeatureAlphaDropout"
        if feature and 0 < self.p < 1 and len(shape) < 2:  # aten Dropout.cpp feature noise
            return "Feature dropout requires at least 2 dimensions in the input"
        return None

    def noise(self, shape: Shape) -> int:
        """Elements of the noise tensor training draws (feature dropouts: one per channel)."""
        if self.type_name in ("Dropout", "AlphaDropout"):
            return prod(shape)
        unbatched = (self.type_name, len(shape)) in (("Dropout1d", 2), ("Dropout3d", 4))
        return shape[0] if unbatched else shape[0] * shape[1]

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        if self.p == 0:
            return Saves()
        if self.p == 1:  # aten Dropout.cpp: input * a zero scalar tensor
            return Saves(extra=at.itemsize)
        if self.type_name == "Dropout" and at.kind == "cuda":  # fused kernel: a bool mask
            return Saves(extra=prod(shape))
        return Saves(extra=at.itemsize * self.noise(shape))

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        return strides if not training or self.p == 0 or self.inplace else None


@register
class Dropout(_Dropout):
    """Identity in eval mode."""


@register
class AlphaDropout(_Dropout):
    """Identity in eval mode."""


@register
class FeatureAlphaDropout(_Dropout):
    """Identity in eval mode; torch's rank check only runs in training."""


@register
class Dropout1d(_Dropout):
    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) not in (2, 3):  # functional.py dropout1d
            raise ShapeError(
                f"dropout1d: Expected 2D or 3D input, but received a {len(shape)}D input"
            )
        return shape


def _dropout_warning(op: str, rank: int, ok: tuple[int, ...]) -> ShapeError:
    """functional.py dropout2d/dropout3d only warn; convshape treats the warning as an error."""
    want = " or ".join(f"{r}D" for r in ok)
    if rank == 3 and op == "dropout2d":
        quote = (
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L) ..."
        )
        hint = "use Dropout1d for (N, C, L) inputs"
    else:
        quote = (
            f"{op}: Received a {rank}-D input to {op}, which is deprecated and will result "
            "in an error in a future release ..."
        )
        hint = "use Dropout for inputs of other ranks"
    return ShapeError(
        f"{op} expects a {want} input, got {rank}D (torch warns; convshape treats it as an error)",
        formula=[f"torch warns: {quote}"],
        hint=hint,
    )


@register
class Dropout2d(_Dropout):
    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 4:  # 3-D inputs get their own warning: read as (N, C, L)
            raise _dropout_warning("dropout2d", len(shape), (4,))
        return shape


@register
class Dropout3d(_Dropout):
    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) not in (4, 5):
            raise _dropout_warning("dropout3d", len(shape), (4, 5))
        return shape
