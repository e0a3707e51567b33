"""The layer registry: one frozen dataclass per ``torch.nn`` class.

The leaf contract: a layer takes one tensor and returns one tensor (what ``nn.Sequential``
passes on). How a layer type becomes a torch module is its :attr:`Layer.torch_module`: by
default ``torch.nn``'s class of the same name, called with the dataclass fields as keywords;
a layer backed by a small wrapper names its class in :mod:`convshape.modules` instead.

A registered class is named after its torch class; its fields are torch's constructor arguments,
in torch's positional order, with torch's defaults. The field annotations name a *kind* from
:mod:`convshape.layers.kinds`, so the dataclass is the schema the spec loader checks against.
Each class carries its own rules: construction checks (:meth:`Layer.check`), the output shape
(:meth:`Layer.output_shape`, raising :class:`ShapeError` where torch would raise), the parameter
count, the MACs and the formula text. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from math import prod
from typing import Any, ClassVar, TypeVar

from convshape.errors import ShapeError

Shape = tuple[int, ...]
Strides = tuple[int, ...]  # in elements, one per dim

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
AXIS_WORDS = {"L": "length", "H": "height", "W": "width", "D": "depth"}


@dataclasses.dataclass(frozen=True)
class Device:
    """Where the memory rules run: the device kind (``cpu``, ``meta``, ``cuda``) and the bytes
    per element of the activation dtype."""

    kind: str
    itemsize: int


@dataclasses.dataclass(frozen=True)
class Saves:
    """What a layer's autograd nodes keep for backward in one training forward."""

    input: bool = False  # its input's storage
    output: bool = False  # its output's storage
    extra: int = 0  # bytes of new storages: statistics, indices, noise, copies


@dataclasses.dataclass(frozen=True)
class Layer:
    """Base of every registered layer type."""

    ndim: ClassVar[int] = 0  # number of spatial dims of an N-d family (Conv2d: 2)
    inferred: ClassVar[str | None] = None  # the field the engine may infer from the input
    counts_macs: ClassVar[bool] = False  # a convolution or matrix-multiply layer
    torch_module: ClassVar[str | None] = None  # "convshape.modules.X"; None: torch.nn.<name>
    strided_window: ClassVar[bool] = False  # a conv / pool: its stride scales spatial sizes
    returns_alias: ClassVar[bool] = False  # eval forward may return (a view of) its input
    takes_unbatched: ClassVar[bool] = False  # an N-d family that also takes (C, *spatial)
    elementwise: ClassVar[bool] = False  # its output keeps its input's memory layout

    @property
    def type_name(self) -> str:
        return type(self).__name__

    @classmethod
    def infer(cls, shape: Shape) -> int | None:
        """The value of :attr:`inferred` that fits an input of ``shape`` (None: can't tell)."""
        return None

    @classmethod
    def inferable(cls, shape: Shape) -> dict[str, int | None]:
        """Every argument that may be left out, with the value that fits ``shape``."""
        return {cls.inferred: cls.infer(shape)} if cls.inferred else {}

    def check(self) -> None:
        """Construction-time checks (torch raises in ``__init__``)."""

    def output_shape(self, shape: Shape) -> Shape:
        """The shape torch's forward returns, or :class:`ShapeError` where it raises."""
        return shape

    def num_params(self) -> int:
        return 0

    def macs(self, shape: Shape, out: Shape) -> int:
        """Multiply-accumulates of one forward pass, bias excluded (README: Counting
        conventions)."""
        return 0

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        """The formula lines, with the numbers of this input filled in."""
        return [f"{self.type_name} keeps the shape: {list(shape)} -> {list(out)}"]

    def unbatched(self, shape: Shape) -> bool:
        """Whether torch reads this input as one unbatched sample ``(C, *spatial)``."""
        return self.takes_unbatched and len(shape) == self.ndim + 1

    def workspace(self, shape: Shape) -> int:
        """Elements of the temporaries forward allocates besides its output (a bound)."""
        return 0

    def python_steps(self, shape: Shape) -> int:
        """Iterations of a Python loop forward runs (torch ops each, on any device)."""
        return 0

    def writes_input(self) -> bool:
        """Whether forward overwrites its input (``inplace: true``)."""
        return getattr(self, "inplace", False) is True

    def aliases_input(self) -> bool:
        """Whether the output may share its input's storage (a view, in-place, identity)."""
        return self.returns_alias or self.writes_input()

    # ------------------------------------------------------------ memory (convshape.footprint)

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        """What one training forward keeps for backward, when autograd records this layer at
        all (``grad_in``: the input requires grad; ``learns``: it has trainable parameters)."""
        return Saves(input=True)

    def training_error(self, shape: Shape) -> str | None:
        """Why a training-mode forward raises on this input (eval does not), or None."""
        return None

    def empty_error(self, shape: Shape) -> str | None:
        """Why torch raises on this input with a dimension of size 0 (which
        :meth:`output_shape` accepted), or None: most layers take empty tensors."""
        return None

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        """Bytes of the temporaries alive at the peak of one eval forward, besides the input
        and the output."""
        return 0

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        """The output's strides when it shares its input's storage (in place, a view); None
        when forward makes a new tensor."""
        return strides if self.writes_input() else None

    def layout(self, shape: Shape, out: Shape) -> Strides | None:
        """The strides of a new output that is not contiguous (None: contiguous, or laid out
        like the input for an elementwise layer)."""
        return None

    def storage_bytes(self, shape: Shape, out: Shape, at: Device) -> int:
        """Bytes of the storage a new output gets (a kernel may allocate more than it uses)."""
        return at.itemsize * prod(out)

    def buffer_bytes(self, itemsize: int) -> int:
        """Bytes of the module's buffers (float buffers in the model dtype, counters int64)."""
        return 0

    def param_tensors(self) -> int:
        """How many parameter tensors the module has."""
        return 1 if self.num_params() else 0

    def largest_param(self) -> int:
        """Elements of its largest parameter tensor."""
        return self.num_params()

    def window_stride(self) -> tuple[int, ...] | None:
        """The stride per spatial dim of a conv or pooling window; None for other layers."""
        if not self.strided_window:
            return None
        fields = vars(self)
        stride = fields.get("stride")
        return ntuple(stride if stride is not None else fields["kernel_size"], self.ndim)

    def window_extent(self) -> tuple[int, ...] | None:
        """``dilation * (kernel_size - 1) + 1`` per spatial dim of a conv or pooling window."""
        if not self.strided_window:
            return None
        fields = vars(self)
        kernel = ntuple(fields["kernel_size"], self.ndim)
        dilation = ntuple(fields.get("dilation", 1), self.ndim)
        return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments for the torch constructor."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def signature(self) -> str:
        """``Conv2d(16, 33, kernel_size=3, stride=2)``: the non-default arguments."""
        args = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.default is dataclasses.MISSING or value != f.default:
                args.append(f"{f.name}={value!r}")
        return f"{self.type_name}({', '.join(args)})"


class KeepsNothing(Layer):
    """A reshape or a rearrangement: its backward needs no tensor."""

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        return Saves()


class Reshapes(KeepsNothing):
    """``reshape`` semantics: a view where the strides allow one, else a copy."""

    returns_alias = True  # the input itself, or a view of it

    def view(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, training: bool
    ) -> Strides | None:
        return view_strides(shape, strides, out)


REGISTRY: dict[str, type[Layer]] = {}

L = TypeVar("L", bound=type[Layer])


def register(cls: L) -> L:
    """Class decorator: add a layer type to :data:`REGISTRY` under its class name."""
    REGISTRY[cls.__name__] = cls
    return cls


# ---------------------------------------------------------------- shared helpers for the rules


def ntuple(value: int | tuple[int, ...], n: int) -> tuple[int, ...]:
    """torch's ``_ntuple``: an int repeated n times; tuples are checked by the schema."""
    return (value,) * n if isinstance(value, int) else tuple(value)


def contiguous(shape: Shape) -> Strides:
    """The strides of a contiguous tensor of ``shape``."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def view_strides(shape: Shape, strides: Strides, out: Shape) -> Strides | None:
    """ATen's ``computeStride`` (aten/src/ATen/TensorUtils.cpp): the strides of ``x.view(out)``
    for ``x`` of ``shape`` and ``strides``, or None where ``view`` is impossible and
    ``reshape`` copies."""
    if not shape or not out:
        return contiguous(out)
    new: list[int] = [0] * len(out)
    view_d = len(out) - 1
    chunk_base = strides[-1]
    tensor_numel = 1
    view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or out[view_d] == 1):
                new[view_d] = view_numel * chunk_base
                view_numel *= out[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = strides[d - 1]
                tensor_numel = 1
                view_numel = 1
    return tuple(new) if view_d == -1 else None


def fmt(shape: Shape | list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def split_batch(shape: Shape, ndim: int, op: str) -> tuple[int | None, int, Shape]:
    """(N, C, spatial) of a batched ``(N, C, *s)`` or unbatched ``(C, *s)`` input (N None; a
    batch may be 0)."""
    if len(shape) == ndim + 2:
        return shape[0], shape[1], shape[2:]
    if len(shape) == ndim + 1:
        return None, shape[0], shape[1:]
    raise ShapeError(
        f"Expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input to {op}, "
        f"but got input of size: {fmt(shape)}"
    )


def first_empty(shape: Shape, start: int) -> int | None:
    """The first dimension from ``start`` on whose size is 0, or None."""
    return next((i for i in range(start, len(shape)) if shape[i] == 0), None)


def non_batch(shape: Shape, ndim: int) -> int:
    """Where an N-d family's non-batch dims start: 1 for ``(N, C, *s)``, 0 for ``(C, *s)``."""
    return 1 if len(shape) == ndim + 2 else 0


def join_batch(batch: int | None, channels: int, spatial: Shape | list[int]) -> Shape:
    """Inverse of :func:`split_batch`."""
    return (channels, *spatial) if batch is None else (batch, channels, *spatial)


def channel_dim(shape: Shape, ndim: int) -> int | None:
    """The channel count of an N-d family's input (batched or not), None for a wrong rank."""
    if len(shape) == ndim + 2:
        return shape[1]
    if len(shape) == ndim + 1:
        return shape[0]
    return None


def wrap_dim(dim: int, rank: int, name: str = "dim") -> int:
    """c10 ``maybe_wrap_dim`` (c10/core/WrapDimMinimal.h): ``dim`` in ``[-rank, rank)``; a 0-d
    tensor wraps dims as if it were 1-d."""
    n = max(rank, 1)
    if not -n <= dim < n:
        raise ShapeError(
            f"{name}={dim} is out of range for a {rank}-d input",
            formula=[
                f"torch: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                f"but got {dim})"
            ],
        )
    return dim % n


def broadcast_shape(a: Shape, b: Shape) -> Shape:
    """torch's broadcasting (aten/src/ATen/ExpandUtils.cpp infer_size): align from the right;
    each pair of sizes is equal or one of them is 1."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            dim = max(len(a), len(b)) - i
            raise ShapeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {dim}",
                formula=[f"{fmt(a)} with {fmt(b)}: sizes align from the right"],
            )
        out.append(y if x == 1 else x)  # 1 against 0 broadcasts to 0
    return tuple(reversed(out))


def fit_hint(field: str, value: int) -> str:
    """The hint for a declared argument that does not fit the input."""
    return f"{field}: {value} would fit this input (or leave it out to infer it)"


def dim_formula(axis: str, symbolic: str, numeric: str, value: int) -> list[str]:
    """Two aligned lines: ``H_out = <symbols>`` and ``      = <numbers> = value``."""
    lhs = f"{axis}_out"
    return [f"{lhs} = {symbolic}", f"{' ' * len(lhs)} = {numeric} = {value}"]


def too_small(axes: tuple[str, ...], outs: list[int], formulas: list[list[str]]) -> None:
    """Raise for the first spatial output below 1, with its formula."""
    for axis, out, lines in zip(axes, outs, formulas, strict=True):
        if out < 1:
            raise ShapeError(f"output {AXIS_WORDS[axis]} would be {out}", formula=lines)


def forward_shape(layer: Layer, shape: Shape, training: bool = False, empty: bool = False) -> Shape:
    """The layer's output shape. A zero-size dimension is refused unless ``empty`` (the
    engine takes torch's empty tensors and warns, CS106; ``sizes`` looks for inputs that give
    real outputs). In ``training`` mode, what only a training forward refuses is refused too."""
    out = layer.output_shape(shape)
    refused = layer.empty_error(shape) if 0 in shape else None
    if refused is not None:
        raise ShapeError(refused, hint="an empty tensor comes from a dimension of size 0 upstream")
    reason = layer.training_error(shape) if training else None
    if reason is not None:
        raise ShapeError(
            f"{reason} (in training mode)",
            hint="eval mode (check without --train) accepts it; a training run does not",
        )
    for i, size in enumerate(out):
        if size < 1 and not (empty and size == 0):
            raise ShapeError(f"output dimension {i} would have size {size}: {fmt(out)}")
    return out
