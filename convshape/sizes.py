"""Which input sizes work: every spatial size of a spec's input, valid or not, and why.

:func:`analyze` varies each spatial dimension of the input (the trailing dims of
``(N, C, *spatial)``; one at a time, the others at the spec's value, and all together when the
spec's input is square) over ``1..hi`` and reports the smallest valid size, every valid size in
``lo..hi``, the multiple the valid sizes step by (a U-Net's merges need its input divisible by
2^depth) with the layers that refuse the others, every class of invalid sizes with its error and
layer, and the sizes at which floor division silently drops border positions (warning CS105's
rule: a strided conv or pool, ceil_mode off, whose last input positions no window reads).

"Valid" means what :func:`convshape.engine.predict` says for the spec with its ``input:``
changed (``expect:`` off, as for ``--batch``): inferred arguments (``in_features``, a
``PositionEmbedding``'s ``num_positions``) are inferred again, blocks are expanded again and
``shortcut: auto`` is decided again at each size; the top-level ``input_H``/``input_W``
variables keep the spec's values. A model built at the spec's size keeps what was made there,
so each sweep also reports the sizes that model accepts (``built``; ViT-B/16 built at 224 takes
224..239 only) and why it refuses the others (:class:`Pin`). The tests check that against
predict() on the spec with everything made at its size written out.

Calling :func:`~convshape.engine.predict` once per size costs milliseconds (ResNet-50: about
8 ms on this project's machine, so 25 s for three sweeps of 1..1024). Instead the spec is
compiled once, at its own input, into a program of size functions (:class:`SizeModel`): a
strided window is its floor/ceil formula on the dims that vary, a layer that keeps the shape is
left out, a merge applies its container rule, and every other layer calls its own
``output_shape`` (the same code ``predict`` runs). Dims that cannot vary are constants, so
checks on them (channels, ranks) hold at every size once they held at the spec's. A block whose
expansion reads its input's size is expanded again at each size. The answers are then confirmed
by real ``predict`` calls (the spec's size, the smallest and the largest valid size, one size of
every invalid class and every dropping layer, a few more); a disagreement is reported in
:attr:`SizeReport.disagreements`, never hidden. Nothing here imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from math import gcd, prod
from operator import itemgetter
from typing import Any

from convshape.containers import CONTAINERS, ConcatType, ContainerType, GateType, ResidualType
from convshape.engine import BYTES_PER_FLOAT32, MAX_BYTES, Prediction, node_type, predict
from convshape.errors import ConvshapeError, SpecError
from convshape.layers import REGISTRY, Layer, Shape
from convshape.layers.activation import (
    GLU,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    PReLU,
    Softmax2d,
    _Softmax,
)
from convshape.layers.base import AXES, AXIS_WORDS, fmt, forward_shape, ntuple
from convshape.layers.conv import _ConvNd, _ConvTransposeNd
from convshape.layers.formulas import pool_out
from convshape.layers.kinds import make_for_input
from convshape.layers.learned import LayerScale
from convshape.layers.norm import LayerNorm, LocalResponseNorm, RMSNorm, _BatchNorm
from convshape.layers.pool import _AdaptivePoolNd, _AvgPool3dShapeCheck, _PoolNd
from convshape.layers.reshape import ChannelShuffle, Flatten, Linear, Unflatten
from convshape.layers.tensor import Permute, Reshape, Select, Transpose
from convshape.lint import RULES
from convshape.render import safe
from convshape.spec.decls import BlockDecl, Decl, LeafDecl, MergeDecl, SeqDecl, Spec
from convshape.spec.parse import Parser

__all__ = [
    "Disagreement",
    "Drop",
    "Failure",
    "Outcome",
    "Pin",
    "SizeModel",
    "SizeReport",
    "SizeSet",
    "Sweep",
    "Where",
    "analyze",
    "sizes_json",
    "sizes_table",
]

LIMIT = MAX_BYTES // BYTES_PER_FLOAT32  # engine.within_int64 refuses more elements than this
MAX_HI = 100_000  # each sweep evaluates every size from 1 to hi
SAMPLES = 1  # extra predict() confirmations per sweep, spread over lo..hi


# ------------------------------------------------------------------------------ the report


@dataclass(frozen=True)
class SizeSet:
    """A set of sizes as arithmetic progressions ``(first, last, step)``, exact and sorted."""

    runs: tuple[tuple[int, int, int], ...] = ()

    @classmethod
    def of(cls, sizes: Iterable[int]) -> SizeSet:
        return cls(tuple(_runs(sorted(set(sizes)))))

    def __iter__(self) -> Iterator[int]:
        for first, last, step in self.runs:
            yield from range(first, last + 1, step)

    def __contains__(self, size: object) -> bool:
        return any(
            isinstance(size, int) and first <= size <= last and (size - first) % step == 0
            for first, last, step in self.runs
        )

    def __len__(self) -> int:
        return sum((last - first) // step + 1 for first, last, step in self.runs)

    def __bool__(self) -> bool:
        return bool(self.runs)

    @property
    def first(self) -> int | None:
        return self.runs[0][0] if self.runs else None

    @property
    def last(self) -> int | None:
        return self.runs[-1][1] if self.runs else None

    @property
    def step(self) -> int | None:
        """The largest m with every size congruent mod m (the gcd of the differences); None for
        fewer than two sizes."""
        sizes = list(self)
        if len(sizes) < 2:
            return None
        g = 0
        for size in sizes[1:]:
            g = gcd(g, size - sizes[0])
        return g

    @cached_property
    def text(self) -> str:
        """``32, 48, ..., 1024 (every 16)``, ``224..239``, ``none``."""
        if not self.runs:
            return "none"
        if len(self.runs) > 4:
            periodic = _residues(list(self))
            if periodic is not None:
                return periodic
        parts = [_run_text(run) for run in self.runs[:4]]
        if len(self.runs) > 4:
            parts.append(f"... ({len(self)} sizes)")
        return ", ".join(parts)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Where:
    """A module of the model: its dotted path (``""``: the input), type and spec location."""

    path: str
    type_name: str
    spec_path: str | None
    location: str | None
    via: str | None = None

    @property
    def text(self) -> str:
        return f"{self.path or '(input)'} ({self.type_name})"


@dataclass(frozen=True)
class Failure:
    """One class of invalid sizes: those that fail first at the same module."""

    sizes: SizeSet  # in 1..hi
    layer: Where  # where predict() locates the error (at `example`)
    message: str  # predict()'s message at `example`
    example: int


@dataclass(frozen=True)
class Drop:
    """A conv or pooling window that drops border positions by floor division (CS105)."""

    layer: Where
    axis: str  # "H"
    sizes: SizeSet  # the valid sizes in lo..hi at which it drops (the spec's size: just it)
    example: str  # "at 33: floor division drops the last 1 height position(s) of 29: ..."


@dataclass(frozen=True)
class Pin:
    """Why the model built at the spec's size refuses sizes the spec takes: an argument
    inferred there that it keeps, or (``argument`` None) a module made there (a block's
    expansion, an auto shortcut)."""

    layer: Where
    argument: str | None  # "num_positions"; None: the module as made there fails
    value: int | None  # its value at the spec's size
    sizes: SizeSet  # the sizes (valid for the spec) the built model refuses because of it


@dataclass(frozen=True)
class Disagreement:
    """A size at which the fast path and predict() disagree (a bug: report it)."""

    sweep: str
    size: int
    fast: str
    predicted: str


@dataclass(frozen=True)
class Sweep:
    """One way of varying the input: one spatial dim (``H``) or all together (``H=W``)."""

    dim: str  # "H", "W", "H=W"
    positions: tuple[int, ...]  # the indices of the input shape that take the size
    spec_size: int
    smallest: int | None  # the smallest valid size in 1..hi
    valid: SizeSet  # valid sizes in lo..hi
    multiple: int | None  # every valid size in 1..hi is congruent mod this (gcd of differences)
    residue: int | None  # ... to this
    regular: bool  # the valid sizes are every `multiple`-th size from `smallest` to hi
    gaps: tuple[Where, ...]  # the modules that refuse the sizes between valid ones
    failures: tuple[Failure, ...]  # every class of invalid sizes in 1..hi
    drops: tuple[Drop, ...]  # layers dropping border positions at valid sizes in lo..hi
    clean: SizeSet  # valid sizes in lo..hi at which nothing is dropped
    built: SizeSet | None  # sizes in lo..hi a model built at the spec's size accepts
    built_clean: SizeSet | None  # ... at which nothing is dropped
    pins: tuple[Pin, ...]  # why the built model refuses more
    outputs: tuple[tuple[int, Shape], ...]  # example output shapes (size, shape)
    confirmed: tuple[int, ...]  # the sizes checked with predict()


@dataclass(frozen=True)
class SizeReport:
    file: str
    name: str | None
    input_shape: Shape
    lo: int
    hi: int
    spec_ok: bool  # the spec's own size is valid
    spec_output: Shape | None
    spec_error: str | None
    spec_drops: tuple[Drop, ...]  # at the spec's own size
    sweeps: tuple[Sweep, ...]
    disagreements: tuple[Disagreement, ...]
    notes: tuple[str, ...]
    seconds: float = field(default=0.0, compare=False)  # wall time of analyze()


# ------------------------------------------------------------------------------ the program


class _Fail(Exception):
    """The size fails at ``node`` (``pin``: only the built model refuses it)."""

    def __init__(self, node: _Prog, pin: tuple[str, int, int] | None = None) -> None:
        super().__init__()
        self.node = node
        self.pin = pin


DropRecord = tuple["_Prog", int, int, int, int, int]  # node, spatial index, size, pad, k, stride


class _Ctx:
    """One evaluation: the model (the spec's, or ``built`` at the spec's size), the drops seen,
    and whether an auto shortcut made here differs from the one built at the spec's size."""

    __slots__ = ("built", "diverged", "drops")

    def __init__(self, built: bool = False) -> None:
        self.drops: list[DropRecord] = []
        self.built = built
        self.diverged = False


class _Prog:
    """A compiled module: its output shape for an input shape, or :class:`_Fail`."""

    path = ""
    decl: Decl | None = None
    layer: Layer | None = None
    step: tuple[int, ...] | None = None  # a leaf's window stride (never inferred: fixed)

    fn: Callable[[Shape, _Ctx], Shape] | None = None  # a closure for the hot loop, if any

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        assert self.fn is not None
        return self.fn(x, ctx)

    def fast(self) -> Callable[[Shape, _Ctx], Shape]:
        """What the hot loop calls: the closure, or :meth:`run`."""
        return self.fn or self.run

    def stride(
        self, x: Shape, ndim: int, built: bool, y: Shape | None = None
    ) -> tuple[int, ...] | None:
        """``engine._stride`` of the module predicted at input ``x`` (output ``y``)."""
        if y is None:
            y = self.run(x, _Ctx(built))
        if len(x) == len(y) and x[-ndim:] == y[-ndim:]:
            return (1,) * ndim
        return self.own_stride(x, ndim, built)

    def own_stride(self, x: Shape, ndim: int, built: bool) -> tuple[int, ...] | None:
        step = self.step
        return step if step is not None and len(step) == ndim else None

    def where(self) -> Where:
        decl = self.decl
        if decl is None:
            return Where(self.path, "input", None, None)
        origin = decl.origin
        return Where(self.path, node_type(decl), origin.spec_path, str(origin.location), origin.via)


class _Input(_Prog):
    """The spec's input itself (``within_int64``)."""

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        if prod(x) > LIMIT:
            raise _Fail(self)
        return x


class _Const(_Prog):
    """A module whose input cannot vary: its output and drops are those at the spec's size."""

    def __init__(self, inner: _Prog, y: Shape, drops: list[DropRecord]) -> None:
        self.inner, self.y, self.drops = inner, y, drops
        self.path, self.decl = inner.path, inner.decl

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        if self.drops:
            ctx.drops.extend(self.drops)
        return self.y

    def own_stride(self, x: Shape, ndim: int, built: bool) -> tuple[int, ...] | None:
        return self.inner.own_stride(x, ndim, built)


def _window_params(layer: Layer) -> list[tuple[int, int, int, bool]] | None:
    """(extent, stride, padding, counts for CS105) per spatial dim of a conv or pool window."""
    stride, extent = layer.window_stride(), layer.window_extent()
    if stride is None or extent is None:
        return None
    padding = vars(layer).get("padding", 0)
    skip = bool(getattr(layer, "ceil_mode", False)) or isinstance(padding, str)
    pads = (0,) * layer.ndim if isinstance(padding, str) else ntuple(padding, layer.ndim)
    return [(k, s, p, not skip) for k, s, p in zip(extent, stride, pads, strict=True)]


def _drops_of(node: _Prog, layer: Layer, x: Shape, out: list[DropRecord]) -> None:
    """lint's CS105 rule (``_dropped_border``), every axis."""
    params = _window_params(layer)
    if params is None:
        return
    spatial = x[-layer.ndim :]
    for i, (size, (k, s, pad, counts)) in enumerate(zip(spatial, params, strict=True)):
        if counts and k >= s and size + 2 * pad >= k and (size + 2 * pad - k) % s - pad > 0:
            out.append((node, i, size, pad, k, s))


class _Generic(_Prog):
    """Any leaf: its own ``output_shape`` (what predict() runs), made again when an argument
    it infers from the input changes."""

    def __init__(self, path: str, decl: LeafDecl, layer: Layer | None, x: Shape) -> None:
        self.path, self.decl, self.layer = path, decl, layer
        self.cls = decl.cls
        self.infers = tuple(f for f in self.cls.inferable(x) if f not in decl.args)
        self.ref = self._key(x) if layer is not None else None
        self.made: dict[tuple[int | None, ...], Layer | None] = {}
        if layer is not None and self.ref is not None:
            self.made[self.ref] = layer
        self.window = _window_params(layer) is not None if layer is not None else True

    def _key(self, x: Shape) -> tuple[int | None, ...]:
        values = self.cls.inferable(x)
        return tuple(values.get(f) for f in self.infers)

    def layer_for(self, x: Shape, built: bool) -> Layer:
        if self.layer is not None and (built or not self.infers):
            return self.layer  # the built model keeps what was inferred at the spec's size
        key = self._key(x)
        if key in self.made:
            layer = self.made[key]
        else:
            assert isinstance(self.decl, LeafDecl)
            try:
                layer = make_for_input(self.cls, self.decl.args, x)
                if layer.num_params() * BYTES_PER_FLOAT32 > MAX_BYTES:
                    layer = None
            except ConvshapeError:
                layer = None
            self.made[key] = layer
        if layer is None:
            raise _Fail(self)
        return layer

    def _pin(self, x: Shape) -> tuple[str, int, int] | None:
        """The first argument inferred at the spec's size that this input would change."""
        if self.ref is None:
            return None
        for name, was, now in zip(self.infers, self.ref, self._key(x), strict=True):
            if was != now:
                return name, was or 0, now or 0
        return None

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        layer = self.layer_for(x, ctx.built)
        try:
            y = forward_shape(layer, x)
        except ConvshapeError:
            raise _Fail(self, self._pin(x) if ctx.built else None) from None
        if prod(y) > LIMIT:
            raise _Fail(self)
        if self.window:
            _drops_of(self, layer, x, ctx.drops)
        return y

    def own_stride(self, x: Shape, ndim: int, built: bool) -> tuple[int, ...] | None:
        step = self.layer_for(x, built).window_stride()
        return step if step is not None and len(step) == ndim else None


PASS, FLOOR, CEIL, TRANSPOSED = 0, 1, 2, 3  # how a window maps one varying size


class _Window(_Prog):
    """A conv, transposed conv or pooling layer whose varying dims are all spatial: the size
    formula on those dims, the spec's output on the others (a closure per layer: this is the
    hot loop)."""

    def __init__(
        self, path: str, decl: LeafDecl, layer: Layer, x: Shape, y: Shape, var: frozenset[int]
    ) -> None:
        self.path, self.decl, self.layer = path, decl, layer
        self.step = layer.window_stride()
        off = len(x) - layer.ndim
        # per varying dim: (position, spatial index, mode, a, stride, pad, extent, drops)
        items: list[tuple[int, int, int, int, int, int, int, bool]] = []
        params = _window_params(layer)
        if params is None:
            assert isinstance(layer, _ConvTransposeNd)
            n = layer.ndim
            k, st, pd, d, op = (
                ntuple(v, n)
                for v in (
                    layer.kernel_size,
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    layer.output_padding,
                )
            )
            for j in sorted(var):
                i = j - off
                # (H_in-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1
                a = d[i] * (k[i] - 1) + op[i] + 1 - 2 * pd[i]
                items.append((j, i, TRANSPOSED, a, st[i], 0, 0, False))
        else:
            same = getattr(layer, "padding", None) == "same"
            ceil = bool(getattr(layer, "ceil_mode", False))
            for j in sorted(var):
                i = j - off
                k_, s_, p_, counts = params[i]
                a = 2 * p_ - k_
                # PASS keeps the size: "same", or a padded stride-1 window
                keeps = same or (s_ == 1 and a == -1 and not ceil)
                mode = PASS if keeps else CEIL if ceil else FLOOR
                drops = counts and mode == FLOOR and s_ > 1 and k_ >= s_
                items.append((j, i, mode, a, s_, p_, k_, drops))
        static: list[DropRecord] = []
        fixed = [i for i in range(layer.ndim) if i + off not in var]
        if params is not None and fixed:
            found: list[DropRecord] = []
            _drops_of(self, layer, x, found)
            static = [d for d in found if d[1] in fixed]
        self.base = list(y)
        self.fixed = prod(v for j, v in enumerate(y) if j not in var)
        # the varying dims, when the layer keeps each of them (a chain of those folds into one)
        keeps = all(item[2] == PASS for item in items) and not static
        self.passes = tuple(sorted(var)) if keeps else None
        self.fn = self._kernel(list(y), items, static)

    def _kernel(
        self,
        base: list[int],
        items: list[tuple[int, int, int, int, int, int, int, bool]],
        static: list[DropRecord],
    ) -> Callable[[Shape, _Ctx], Shape]:
        node = self
        positions = {item[0] for item in items}
        fixed = prod(v for j, v in enumerate(base) if j not in positions)
        if len(items) == 1:
            j, i, mode, a, s, p, k, drops = items[0]
            head, tail = tuple(base[:j]), tuple(base[j + 1 :])

            def one(x: Shape, ctx: _Ctx) -> Shape:
                n = x[j]
                if mode == PASS:
                    out = n
                elif mode == FLOOR:
                    m = n + a
                    out = m // s + 1
                    if drops and m >= 0 and m % s - p > 0:
                        ctx.drops.append((node, i, n, p, k, s))
                elif mode == CEIL:
                    out = pool_out(n, k, s, p, 1, True)
                else:
                    out = (n - 1) * s + a
                if out < 1 or fixed * out > LIMIT:
                    raise _Fail(node)
                if static:
                    ctx.drops.extend(static)
                return (*head, out, *tail)

            return one

        if len(items) == 2 and items[0][2] == items[1][2] == FLOOR:
            (j1, i1, _, a1, s1, p1, k1, d1), (j2, i2, _, a2, s2, p2, k2, d2) = items
            head, mid, tail = tuple(base[:j1]), tuple(base[j1 + 1 : j2]), tuple(base[j2 + 1 :])

            def two(x: Shape, ctx: _Ctx) -> Shape:
                n1, n2 = x[j1], x[j2]
                m1, m2 = n1 + a1, n2 + a2
                out1, out2 = m1 // s1 + 1, m2 // s2 + 1
                if out1 < 1 or out2 < 1 or fixed * out1 * out2 > LIMIT:
                    raise _Fail(node)
                if d1 and m1 % s1 - p1 > 0:
                    ctx.drops.append((node, i1, n1, p1, k1, s1))
                if d2 and m2 % s2 - p2 > 0:
                    ctx.drops.append((node, i2, n2, p2, k2, s2))
                if static:
                    ctx.drops.extend(static)
                return (*head, out1, *mid, out2, *tail)

            return two

        def many(x: Shape, ctx: _Ctx) -> Shape:
            y = base.copy()
            for j, i, mode, a, s, p, k, drops in items:
                n = x[j]
                if mode == PASS:
                    out = n
                elif mode == FLOOR:
                    m = n + a
                    out = m // s + 1
                    if drops and m >= 0 and m % s - p > 0:
                        ctx.drops.append((node, i, n, p, k, s))
                elif mode == CEIL:
                    out = pool_out(n, k, s, p, 1, True)
                else:
                    out = (n - 1) * s + a
                if out < 1:
                    raise _Fail(node)
                y[j] = out
            if static:
                ctx.drops.extend(static)
            t = tuple(y)
            if prod(t) > LIMIT:
                raise _Fail(node)
            return t

        return many


class _Pass(_Prog):
    """A leaf that passes the varying dims through and reads only dims that do not vary (a
    Linear on a fixed last dim, a LayerNorm over fixed trailing dims): the spec's output with
    the varying dims from the input."""

    def __init__(
        self, path: str, decl: LeafDecl, layer: Layer, y: Shape, var: frozenset[int]
    ) -> None:
        self.path, self.decl, self.layer = path, decl, layer
        self.step = layer.window_stride()
        self.base = list(y)
        self.fixed = prod(v for j, v in enumerate(y) if j not in var)
        self.passes: tuple[int, ...] | None = tuple(sorted(var))
        self.fn = _chain([self])


class _Perm(_Prog):
    """Permute or Transpose: the dims in a new order (same elements, so nothing to check)."""

    def __init__(self, path: str, decl: LeafDecl, layer: Layer, order: list[int]) -> None:
        self.path, self.decl, self.layer = path, decl, layer
        self.fn = self._kernel(itemgetter(*order))

    @staticmethod
    def _kernel(get: Callable[[Shape], Any]) -> Callable[[Shape, _Ctx], Shape]:
        def run(x: Shape, ctx: _Ctx) -> Shape:
            y: Shape = get(x)
            return y

        return run


def _reads(layer: Layer, x: Shape) -> frozenset[int] | None:
    """The input dims a leaf's output shape and checks depend on, for the leaves that pass
    every other dim through unchanged (their ``output_shape`` read for this); None for the
    others."""
    rank = len(x)
    if isinstance(layer, (_Softmax, Softmax2d, Dropout1d, Dropout2d, Dropout3d)):
        return frozenset()  # the rank only
    if isinstance(layer, LocalResponseNorm):
        return frozenset()
    if isinstance(layer, PReLU):
        return frozenset() if layer.num_parameters == 1 else frozenset({1})
    if isinstance(layer, _BatchNorm):  # batch statistics check N * prod(spatial)
        return frozenset({1}) if layer.track_running_stats else None
    if isinstance(layer, (LayerNorm, RMSNorm)):
        return frozenset(range(rank - len(layer.normalized_shape), rank))
    if isinstance(layer, LayerScale):
        return frozenset({1, layer.dim % rank})
    if isinstance(layer, (Linear, GLU)) and rank:
        return frozenset({(layer.dim if isinstance(layer, GLU) else -1) % rank})
    if isinstance(layer, ChannelShuffle):
        return frozenset({1})
    return None


class _Adaptive(_Prog):
    """Adaptive pooling: a fixed output size, or the input's where ``output_size`` has None."""

    def __init__(self, path: str, decl: LeafDecl, layer: Layer, y: Shape, keep: list[int]) -> None:
        self.path, self.decl, self.layer = path, decl, layer
        self.base, self.keep = list(y), keep
        self.step = layer.window_stride()

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        if not self.keep:
            return tuple(self.base)
        y = self.base.copy()
        for j in self.keep:
            y[j] = x[j]
        t = tuple(y)
        if prod(t) > LIMIT:
            raise _Fail(self)
        return t


class _Seq(_Prog):
    """A Sequential: its children in a row (nested ones run flat; the tree is kept for
    :meth:`own_stride`)."""

    def __init__(self, path: str, decl: Decl, children: list[_Prog]) -> None:
        self.path, self.decl, self.children = path, decl, children
        self.flat: list[_Prog] = []
        for child in children:
            self.flat += child.flat if isinstance(child, _Seq) else [child]
        self.runs = _fold(self.flat)

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        for run in self.runs:
            x = run(x, ctx)
        return x

    def own_stride(self, x: Shape, ndim: int, built: bool) -> tuple[int, ...] | None:
        total = [1] * ndim
        scratch = _Ctx(built)
        for child in self.children:
            y = child.run(x, scratch)
            step = child.stride(x, ndim, built, y)
            if step is None:
                return None
            total = [a * b for a, b in zip(total, step, strict=True)]
            x = y
        return tuple(total)


def _fold(flat: list[_Prog]) -> list[Callable[[Shape, _Ctx], Shape]]:
    """The run functions of a row of modules, each chain of windows that keep the varying
    dims (1x1 convs, padded 3x3 stride-1 convs) folded into one."""
    runs: list[Callable[[Shape, _Ctx], Shape]] = []
    group: list[_Window | _Pass] = []
    for child in [*flat, None]:
        passes = child.passes if isinstance(child, (_Window, _Pass)) else None
        if passes is not None and (not group or group[0].passes == passes):
            assert isinstance(child, (_Window, _Pass))
            group.append(child)
            continue
        if len(group) == 1:
            runs.append(group[0].fast())
        elif group:
            runs.append(_chain(group))
        group = [child] if passes is not None and isinstance(child, (_Window, _Pass)) else []
        if child is not None and not group:
            runs.append(child.fast())
    return runs


def _chain(group: Sequence[_Window | _Pass]) -> Callable[[Shape, _Ctx], Shape]:
    """Windows that keep the varying dims ``P``: the last one's output with ``P`` from the
    input; each output's size is its constant part times the varying sizes."""
    positions = group[0].passes
    assert positions is not None
    base = group[-1].base
    most = max(node.fixed for node in group)

    def fail(v: int) -> _Fail:
        return _Fail(next(node for node in group if node.fixed * v > LIMIT))

    if len(positions) == 1:
        j = positions[0]
        head, tail = tuple(base[:j]), tuple(base[j + 1 :])

        def one(x: Shape, ctx: _Ctx) -> Shape:
            n = x[j]
            if most * n > LIMIT:
                raise fail(n)
            return (*head, n, *tail)

        return one

    def many(x: Shape, ctx: _Ctx) -> Shape:
        y = base.copy()
        v = 1
        for j in positions:
            y[j] = x[j]
            v *= x[j]
        if most * v > LIMIT:
            raise fail(v)
        return tuple(y)

    return many


IDENTITY, NODE, AUTO = 0, 1, 2


class _Merge(_Prog):
    """A container whose branches read the same input (or pieces of it), then merge."""

    def __init__(self, path: str, decl: MergeDecl, rule: ContainerType) -> None:
        self.path, self.decl, self.rule = path, decl, rule
        self.plain = type(rule).inputs is ContainerType.inputs
        self.branches: list[tuple[int, _Prog | None]] = []
        self.n = len(decl.branches)
        self._gate_ref: Shape = ()
        self.fn = self._general
        # the auto shortcut made at the spec's size: (stride, channels), None (identity), or () if
        # there is none
        self.shortcut: tuple[tuple[int, ...], int] | tuple[()] | None = ()

    def seal(self, y: Shape | None, var: frozenset[int], outs: list[frozenset[int]]) -> None:
        """Pick a fast form once the branches, their varying dims (``outs``) and the output at
        the spec's size (``y``) are known: a residual compares two shapes; a Concat or a Gate
        that merged at the spec's size only needs its varying dims to agree."""
        kinds = [kind for kind, _ in self.branches]
        body = self.branches[0][1]
        if isinstance(self.rule, ResidualType) and kinds in ([NODE, IDENTITY], [NODE, AUTO]):
            assert body is not None
            self.body_run = body.fast()
            self.fn = self._residual
            return
        if y is None or not self.plain or AUTO in kinds:
            return
        decl = self.decl
        assert isinstance(decl, MergeDecl)
        runs = [prog.fast() if prog is not None else None for _, prog in self.branches]
        if type(self.rule) is ConcatType:
            dim = decl.options["dim"] % len(y)
            varying = frozenset().union(*outs)
            if dim not in varying:
                self.fn = self._agree(runs, sorted(varying), list(y))
        elif type(self.rule) is GateType and kinds == [IDENTITY, NODE] and not outs[1]:
            gate = self._gate_ref
            lead = len(y) - len(gate)
            # x * gate: the gate (fixed) is 1 wherever x varies, so the product keeps x's sizes
            if lead >= 0 and all(j < lead or gate[j - lead] == 1 for j in var):
                gate_run = runs[1]
                assert gate_run is not None
                self.fn = self._gated(gate_run, sorted(var), list(y))

    @staticmethod
    def _gated(
        gate: Callable[[Shape, _Ctx], Shape], varying: list[int], base: list[int]
    ) -> Callable[[Shape, _Ctx], Shape]:
        """x * gate(x) with a fixed gate of size 1 wherever x varies: x's sizes (the gate
        still runs: it may fail)."""

        def gated(x: Shape, ctx: _Ctx) -> Shape:
            gate(x, ctx)
            y = base.copy()
            for j in varying:
                y[j] = x[j]
            return tuple(y)  # as many elements as x, which passed the check

        return gated

    def _agree(
        self, runs: list[Callable[[Shape, _Ctx], Shape] | None], varying: list[int], base: list[int]
    ) -> Callable[[Shape, _Ctx], Shape]:
        """Every branch run; their varying dims must agree; the output is the one at the
        spec's size with those dims."""
        node = self
        fixed = prod(v for j, v in enumerate(base) if j not in varying)
        if not varying:

            def constant(x: Shape, ctx: _Ctx) -> Shape:
                for run in runs:
                    if run is not None:
                        run(x, ctx)
                return tuple(base)

            return constant
        get = itemgetter(*varying)
        j0 = varying[0]
        head, tail = tuple(base[:j0]), tuple(base[j0 + 1 :])
        one = len(varying) == 1

        def agree(x: Shape, ctx: _Ctx) -> Shape:
            first: Any = None
            for run in runs:
                v = get(x if run is None else run(x, ctx))
                if first is None:
                    first = v
                elif v != first:
                    raise _Fail(node)
            if one:
                if fixed * first > LIMIT:
                    raise _Fail(node)
                return (*head, first, *tail)
            y = base.copy()
            for j, size in zip(varying, first, strict=True):
                y[j] = size
            if fixed * prod(first) > LIMIT:
                raise _Fail(node)
            return tuple(y)

        return agree

    def _residual(self, x: Shape, ctx: _Ctx) -> Shape:
        """body(x) + x, or + the auto projection: equal shapes, or the rule's error."""
        y = self.body_run(x, ctx)
        added = x if self.branches[1][0] == IDENTITY else self._auto(x, y, ctx)
        if y != added:
            raise _Fail(self)
        return y

    def _general(self, x: Shape, ctx: _Ctx) -> Shape:
        decl = self.decl
        assert isinstance(decl, MergeDecl)
        if self.plain:
            xs = [x] * self.n
        else:
            try:
                xs = self.rule.inputs(decl, x)
            except ConvshapeError:
                raise _Fail(self) from None
        outs: list[Shape] = []
        for (kind, prog), xi in zip(self.branches, xs, strict=True):
            if kind == NODE:
                assert prog is not None
                outs.append(prog.run(xi, ctx))
            elif kind == IDENTITY:
                outs.append(xi)
            else:
                outs.append(self._auto(x, outs[0], ctx))
        if len(outs) == 2 and outs[0] == outs[1] and isinstance(self.rule, ResidualType):
            y = outs[0]
        else:
            try:
                y = self.rule.merge(decl, outs)
            except ConvshapeError:
                raise _Fail(self) from None
        if prod(y) > LIMIT:
            raise _Fail(self)
        return y

    def _kept(self, x: Shape) -> Shape | None:
        """What the auto shortcut built at the spec's size gives (None: none was built)."""
        shortcut = self.shortcut
        if shortcut == ():
            return None
        if shortcut is None:
            return x
        assert len(shortcut) == 2
        kept, channels = shortcut
        return (x[0], channels, *((i - 1) // s + 1 for i, s in zip(x[2:], kept, strict=True)))

    def _auto(self, x: Shape, first: Shape, ctx: _Ctx) -> Shape:
        """``shortcut: auto`` as the engine predicts it: the identity when the body keeps the
        shape, else containers.projection (a 1x1 conv with the body's stride + BatchNorm). The
        built model keeps the shortcut made at the spec's size."""
        kept = self._kept(x)
        if ctx.built and kept is not None:
            if prod(kept) > LIMIT:
                raise _Fail(self)
            return kept
        added = self._made(x, first, ctx.built)
        if kept is not None and kept != added:
            ctx.diverged = True
        return added

    def _made(self, x: Shape, first: Shape, built: bool) -> Shape:
        if first == x:
            return x
        ndim = len(x) - 2
        if (
            len(first) != len(x)
            or f"Conv{ndim}d" not in REGISTRY
            or f"BatchNorm{ndim}d" not in REGISTRY
        ):
            raise _Fail(self)
        body = self.branches[0][1]
        assert body is not None
        stride = body.stride(x, ndim, built, first) if ndim >= 1 else None
        if stride is None:
            raise _Fail(self)
        projected = tuple((i - 1) // s + 1 for i, s in zip(x[2:], stride, strict=True))
        if projected != first[2:] or x[1] * first[1] * BYTES_PER_FLOAT32 > MAX_BYTES:
            raise _Fail(self)
        added = (x[0], first[1], *projected)
        if prod(added) > LIMIT:
            raise _Fail(self)
        return added

    def own_stride(self, x: Shape, ndim: int, built: bool) -> tuple[int, ...] | None:
        decl = self.decl
        assert isinstance(decl, MergeDecl)
        xs = [x] * self.n if self.plain else self.rule.inputs(decl, x)
        for (kind, prog), xi in zip(self.branches, xs, strict=True):
            if kind == NODE:
                assert prog is not None
                return prog.stride(xi, ndim, built)
        return None


class _Lazy(_Prog):
    """A module the spec's own size never reached (an earlier layer failed there): compiled at
    the first size that reaches it, with every dim taken to vary."""

    def __init__(self, compiler: _Compiler, decl: Decl, path: str) -> None:
        self.compiler, self.decl, self.path = compiler, decl, path
        self.impl: _Prog | None = None

    def _impl(self, x: Shape) -> _Prog:
        if self.impl is None:
            assert self.decl is not None
            prog, _, _ = self.compiler.compile(self.decl, x, frozenset(range(len(x))), self.path)
            self.impl = prog or _Seq(self.path, self.decl, [])
        return self.impl

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        return self._impl(x).run(x, ctx)

    def own_stride(self, x: Shape, ndim: int, built: bool) -> tuple[int, ...] | None:
        return self._impl(x).own_stride(x, ndim, built)


class _Dynamic(_Prog):
    """A block whose expansion depends on its input's size: expanded again per input shape,
    as predict() does (the built model keeps the expansion at the spec's size)."""

    def __init__(
        self, compiler: _Compiler, decl: BlockDecl, path: str, built: _Prog | None
    ) -> None:
        self.compiler, self.decl, self.path, self.built = compiler, decl, path, built
        self.cache: dict[Shape, _Prog | None] = {}

    def _impl(self, x: Shape, built: bool) -> _Prog:
        if built and self.built is not None:
            return self.built
        if x not in self.cache:
            decl = self.decl
            assert isinstance(decl, BlockDecl)
            try:
                expanded = decl.expand(x)
            except ConvshapeError:
                self.cache[x] = None
            else:
                prog, _, _ = self.compiler.compile(expanded, x, frozenset(), self.path)
                self.cache[x] = prog or _Seq(self.path, expanded, [])
            self.compiler.budget.reset()
        prog = self.cache[x]
        if prog is None:
            raise _Fail(self)
        return prog

    def run(self, x: Shape, ctx: _Ctx) -> Shape:
        return self._impl(x, ctx.built).run(x, ctx)

    def own_stride(self, x: Shape, ndim: int, built: bool) -> tuple[int, ...] | None:
        return self._impl(x, built).own_stride(x, ndim, built)


# ------------------------------------------------------------------------------ the compiler


class _Budget:
    """Keep the spec's parser budget where analyze() found it.

    Each block expansion counts its layers on the parser's one counter (``Parser.count``,
    bounded at ``MAX_LAYERS``) and nothing resets it, so a few hundred predict() calls on one
    :class:`Spec` end in "the spec expands to more than 100,000 layers". The sweeps expand
    blocks and predict many times; they put the counter back after each.
    """

    def __init__(self, root: Decl) -> None:
        self.parsers: list[tuple[Parser, int]] = []
        for decl in _decls(root):
            if isinstance(decl, BlockDecl):
                parser = _closure(decl.expand).get("self")
                if isinstance(parser, Parser) and all(p is not parser for p, _ in self.parsers):
                    self.parsers.append((parser, parser.count))

    def reset(self) -> None:
        for parser, count in self.parsers:
            parser.count = count


def _decls(decl: Decl) -> Iterator[Decl]:
    yield decl
    if isinstance(decl, SeqDecl):
        for child in decl.children:
            yield from _decls(child)
    elif isinstance(decl, MergeDecl):
        for branch in decl.branches:
            if branch.layers is not None:
                yield from _decls(branch.layers)


def _closure(fn: Callable[..., Any]) -> dict[str, Any]:
    """The free variables of a closure by name (empty where there are none)."""
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    if code is None:
        return {}
    out: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return out


_MISSING = object()


def _same(a: Decl, b: Decl) -> bool:
    """Whether two expansions declare the same modules (locations aside)."""
    if type(a) is not type(b):
        return False
    if (a.key, a.name, a.expect, a.block, a.trainable) != (
        b.key,
        b.name,
        b.expect,
        b.block,
        b.trainable,
    ):
        return False
    if isinstance(a, LeafDecl):
        assert isinstance(b, LeafDecl)
        return a.cls is b.cls and a.args == b.args
    if isinstance(a, SeqDecl):
        assert isinstance(b, SeqDecl)
        return len(a.children) == len(b.children) and all(
            _same(x, y) for x, y in zip(a.children, b.children, strict=True)
        )
    if isinstance(a, MergeDecl):
        assert isinstance(b, MergeDecl)
        if (a.kind, a.options, len(a.branches)) != (b.kind, b.options, len(b.branches)):
            return False
        for x, y in zip(a.branches, b.branches, strict=True):
            if x.key != y.key or (x.layers is None) != (y.layers is None):
                return False
            if x.layers is not None and y.layers is not None and not _same(x.layers, y.layers):
                return False
        return True
    if isinstance(a, BlockDecl):
        assert isinstance(b, BlockDecl)
        # a nested block use expands from its arguments and its own input only
        given = _closure(a.expand).get("given", _MISSING)
        return given is not _MISSING and given == _closure(b.expand).get("given", _MISSING)
    return False


def _probes(x: Shape, var: frozenset[int]) -> list[Shape]:
    """Input shapes with the varying dims changed (each dim a little differently, so that a
    body comparing H with W sees them differ)."""
    shapes = []
    for value in (
        lambda n: 1,
        lambda n: 2,
        lambda n: n + 1,
        lambda n: 2 * n + 3,
        lambda n: 999_983,
    ):
        shape = list(x)
        for offset, j in enumerate(sorted(var)):
            shape[j] = value(x[j]) + offset
        if tuple(shape) != x:
            shapes.append(tuple(shape))
    return shapes


def _var_out(layer: Layer, x: Shape, y: Shape, var: frozenset[int]) -> frozenset[int]:
    """The output dims that may vary, given the input dims that may: exact for the reshaping
    layers, the same dims for a layer that keeps the rank, every dim otherwise."""
    if not var:
        return var
    rank = len(x)
    if isinstance(layer, Flatten) and rank:
        start, end = layer.start_dim % rank, layer.end_dim % rank
        return frozenset(j if j < start else start if j <= end else j - (end - start) for j in var)
    if isinstance(layer, Permute):
        dims = [d % rank for d in layer.dims]
        return frozenset(i for i, d in enumerate(dims) if d in var)
    if isinstance(layer, Transpose):
        a, b = layer.dim0 % rank, layer.dim1 % rank
        return frozenset(b if j == a else a if j == b else j for j in var)
    if isinstance(layer, Select):
        d = layer.dim % rank
        return frozenset(j if j < d else j - 1 for j in var if j != d)
    if isinstance(layer, Unflatten):
        d, extra = layer.dim % rank, len(layer.unflattened_size) - 1
        out = {j if j < d else j + extra for j in var if j != d}
        if d in var:
            out |= set(range(d, d + extra + 1))
        return frozenset(out)
    if isinstance(layer, Reshape):  # the batch is kept; the -1 takes what varies
        rest = {j + 1 for j, size in enumerate(layer.shape) if size == -1}
        return frozenset(({0} & var) | (rest if var - {0} else set()))
    if len(y) == rank and not layer.__class__.__name__.endswith("Fold"):
        return var  # each output dim is a function of the same input dim
    return frozenset(range(len(y)))


class _Compiler:
    def __init__(self, budget: _Budget) -> None:
        self.budget = budget
        self.dynamic: list[_Dynamic] = []
        self.inferring: list[_Generic] = []

    def compile(
        self, decl: Decl, x: Shape, var: frozenset[int], path: str
    ) -> tuple[_Prog | None, Shape | None, frozenset[int]]:
        """The program of ``decl`` at input ``x`` whose dims ``var`` may vary, its output at
        ``x`` (None: it fails there) and the output dims that may vary. None for a module that
        returns its input at every size."""
        prog, y, out_var = self._compile(decl, x, var, path)
        if var or y is None:
            return prog, y, out_var
        if prog is None:
            return None, y, out_var
        ctx = _Ctx()
        prog.run(x, ctx)
        return _Const(prog, y, ctx.drops), y, frozenset()

    def _compile(
        self, decl: Decl, x: Shape, var: frozenset[int], path: str
    ) -> tuple[_Prog | None, Shape | None, frozenset[int]]:
        if isinstance(decl, BlockDecl):
            return self._block(decl, x, var, path)
        if isinstance(decl, LeafDecl):
            return self._leaf(decl, x, var, path)
        if isinstance(decl, MergeDecl):
            return self._merge(decl, x, var, path)
        assert isinstance(decl, SeqDecl)
        return self._sequence(decl, x, var, path)

    def _block(
        self, decl: BlockDecl, x: Shape, var: frozenset[int], path: str
    ) -> tuple[_Prog | None, Shape | None, frozenset[int]]:
        try:
            expanded = decl.expand(x)
        except ConvshapeError:
            dynamic = _Dynamic(self, decl, path, None)
            self.dynamic.append(dynamic)
            return dynamic, None, frozenset()
        finally:
            self.budget.reset()
        if not var or self._independent(decl, expanded, x, var):
            return self.compile(expanded, x, var, path)
        prog, y, _ = self.compile(expanded, x, var, path)
        dynamic = _Dynamic(self, decl, path, prog)
        self.dynamic.append(dynamic)
        return dynamic, y, frozenset(range(len(y))) if y is not None else frozenset()

    def _independent(self, decl: BlockDecl, expanded: Decl, x: Shape, var: frozenset[int]) -> bool:
        try:
            for probe in _probes(x, var):
                try:
                    other = decl.expand(probe)
                except ConvshapeError:
                    return False
                if not _same(expanded, other):
                    return False
            return True
        finally:
            self.budget.reset()

    def _leaf(
        self, decl: LeafDecl, x: Shape, var: frozenset[int], path: str
    ) -> tuple[_Prog | None, Shape | None, frozenset[int]]:
        cls = decl.cls
        try:
            layer = make_for_input(cls, decl.args, x)
            if layer.num_params() * BYTES_PER_FLOAT32 > MAX_BYTES:
                raise ConvshapeError("weights")
            y = forward_shape(layer, x)
            if prod(y) > LIMIT:
                raise ConvshapeError("output")
        except ConvshapeError:
            return _Generic(path, decl, None, x), None, frozenset()
        if cls.output_shape is Layer.output_shape and not cls.inferable(x):
            return None, y, var  # keeps the shape, checks nothing
        spatial = frozenset(range(len(x) - layer.ndim, len(x))) if layer.ndim else frozenset()
        reads = _reads(layer, x)
        if reads is not None and len(y) == len(x) and not reads & var:
            if y == x:
                return None, y, var  # returns its input at every size
            return _Pass(path, decl, layer, y, var), y, var
        if isinstance(layer, (Permute, Transpose)) and len(x) >= 2:
            order = list(range(len(x)))
            if isinstance(layer, Permute):
                order = [d % len(x) for d in layer.dims]
            else:
                a, b = layer.dim0 % len(x), layer.dim1 % len(x)
                order[a], order[b] = b, a
            return _Perm(path, decl, layer, order), y, _var_out(layer, x, y, var)
        if var <= spatial and self._windowed(layer):
            return _Window(path, decl, layer, x, y, var), y, var
        if isinstance(layer, _AdaptivePoolNd):
            sizes = ntuple(layer.output_size, layer.ndim)  # type: ignore[arg-type]
            first = len(x) - layer.ndim
            keep = [j for j in sorted(var) if j < first or sizes[j - first] is None]
            return _Adaptive(path, decl, layer, y, keep), y, frozenset(keep)
        prog = _Generic(path, decl, layer, x)
        if prog.infers and var:
            self.inferring.append(prog)
        return prog, y, _var_out(layer, x, y, var)

    @staticmethod
    def _windowed(layer: Layer) -> bool:
        if isinstance(layer, _ConvNd):
            return layer.padding_mode == "zeros"
        if isinstance(layer, _ConvTransposeNd):
            return not isinstance(layer.padding, str)
        return isinstance(layer, _PoolNd) and not isinstance(layer, _AvgPool3dShapeCheck)

    def _sequence(
        self, decl: SeqDecl, x: Shape, var: frozenset[int], path: str
    ) -> tuple[_Prog | None, Shape | None, frozenset[int]]:
        children: list[_Prog] = []
        current: Shape | None = x
        for child in decl.children:
            child_path = f"{path}.{child.key}" if path else child.key
            if current is None:
                children.append(_Lazy(self, child, child_path))
                continue
            prog, current, var = self.compile(child, current, var, child_path)
            if prog is not None:
                children.append(prog)
        return _Seq(path, decl, children), current, var

    def _merge(
        self, decl: MergeDecl, x: Shape, var: frozenset[int], path: str
    ) -> tuple[_Prog | None, Shape | None, frozenset[int]]:
        rule = CONTAINERS[decl.kind]
        merge = _Merge(path, decl, rule)
        try:
            xs: list[Shape] | None = rule.inputs(decl, x)
        except ConvshapeError:
            xs = None
        out_var = set(var)
        outs: list[frozenset[int]] = []  # the varying dims of each branch's output
        nodes = 0
        for i, branch in enumerate(decl.branches):
            outs.append(var)
            if branch.layers is None:
                if nodes and isinstance(rule, ResidualType) and decl.options.get("auto"):
                    merge.branches.append((AUTO, None))  # ResidualType.auto_branch
                elif (
                    not nodes
                    or isinstance(rule, ResidualType)
                    or type(rule).auto_branch is ContainerType.auto_branch
                ):
                    merge.branches.append((IDENTITY, None))
                else:  # pragma: no cover - every container type of containers.py is handled
                    raise TypeError(f"sizes: {decl.kind} writes a branch this module cannot model")
                continue
            nodes += 1
            child_path = f"{path}.{branch.layers.key}" if path else branch.layers.key
            if xs is None:
                merge.branches.append((NODE, _Lazy(self, branch.layers, child_path)))
                continue
            prog, y, branch_var = self.compile(branch.layers, xs[i], var, child_path)
            merge.branches.append((NODE, prog or _Seq(child_path, branch.layers, [])))
            out_var |= branch_var
            outs[-1] = branch_var
            if y is not None and i == 1:
                merge._gate_ref = y
        try:
            y_out: Shape | None = merge.run(x, _Ctx())
        except _Fail:
            y_out = None
        merge.seal(y_out, var, outs)
        body = merge.branches[0][1]
        if y_out is not None and any(kind == AUTO for kind, _ in merge.branches) and body:
            first = body.run(x, _Ctx())
            stride = body.stride(x, len(x) - 2, False, first) if first != x else None
            merge.shortcut = (stride, first[1]) if stride is not None else None
        return merge, y_out, frozenset(out_var)


# ------------------------------------------------------------------------------ public model


@dataclass(frozen=True)
class Outcome:
    """What the fast path says for one input shape."""

    ok: bool
    output_shape: Shape | None
    layer_path: str | None  # the first module that fails ("" = the input itself)
    drops: tuple[tuple[str, str], ...]  # (module path, axis) of every CS105 drop
    pin: str | None = None  # the built model only: the inferred argument that refuses it


class SizeModel:
    """A spec compiled into size functions at its own input; evaluate it per input shape.

    Only the spatial dims may differ from the spec's input (the others are compiled as
    constants).
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.leading = 1 if spec.unbatched else 2
        shape = spec.input_shape
        self.positions = tuple(range(min(self.leading, len(shape)), len(shape)))
        self.budget = _Budget(spec.root)
        self.compiler = _Compiler(self.budget)
        self.input = _Input()
        var = frozenset(self.positions)
        try:
            prog, y, _ = self.compiler.compile(spec.root, shape, var, "")
        finally:
            self.budget.reset()
        assert prog is not None  # the root is a Sequential
        self.root = prog
        self.root_fn = prog.fast()
        self.ok_at_spec = y is not None and prod(shape) <= LIMIT

    def _check(self, shape: Shape) -> None:
        base = self.spec.input_shape
        if len(shape) != len(base) or any(
            a != b
            for j, (a, b) in enumerate(zip(shape, base, strict=True))
            if j not in self.positions
        ):
            raise ValueError(
                f"only the spatial dims of the input {fmt(base)} may change, got {fmt(shape)}"
            )
        if min(shape) < 1:
            raise ValueError(f"sizes are positive, got {fmt(shape)}")

    def _run(self, shape: Shape, built: bool) -> tuple[Shape | None, _Fail | None, _Ctx]:
        ctx = _Ctx(built)
        try:
            self.input.run(shape, ctx)
            return self.root_fn(shape, ctx), None, ctx
        except _Fail as fail:
            return None, fail, ctx
        finally:
            self.budget.reset()

    def outcome(self, shape: Shape, built: bool = False) -> Outcome:
        """The fast path at ``shape``: as predict() sees the spec with this input, or
        (``built``) as the model built at the spec's size would run it."""
        self._check(shape)
        y, fail, ctx = self._run(shape, built)
        drops = tuple(sorted({(d[0].path, _axis(d[0], d[1])) for d in ctx.drops}))
        if fail is not None:
            pin = fail.pin[0] if fail.pin else None
            return Outcome(False, None, fail.node.path, (), pin)
        return Outcome(True, y, None, drops)

    @property
    def adapts(self) -> bool:
        """Whether the built model may differ from the spec at any size (else only where an
        auto shortcut differs: :attr:`_Ctx.diverged`)."""
        return bool(self.compiler.inferring or self.compiler.dynamic)


def _axis(node: _Prog, index: int) -> str:
    layer = node.layer
    ndim = layer.ndim if layer is not None else 0
    return AXES[ndim][index] if ndim in AXES else f"dim {index}"


# ------------------------------------------------------------------------------ analyze


@dataclass
class _Scan:
    """A sweep's raw results over 1..hi."""

    outputs: dict[int, Shape] = field(default_factory=dict)
    fails: dict[int, _Fail] = field(default_factory=dict)
    drops: dict[int, list[DropRecord]] = field(default_factory=dict)
    built_fails: dict[int, _Fail] = field(default_factory=dict)


def analyze(spec: Spec, lo: int = 32, hi: int = 1024) -> SizeReport:
    """Which input sizes work for ``spec``: see the module docstring."""
    if not 1 <= lo <= hi:
        raise ValueError(f"the range needs 1 <= lo <= hi, got {lo}..{hi}")
    if hi > MAX_HI:
        raise ValueError(f"hi is at most {MAX_HI:,} (every size from 1 to hi is evaluated)")
    if 0 in spec.input_shape:
        raise SpecError(
            f"sizes varies the spatial sizes of a real input; this spec's input "
            f"{list(spec.input_shape)} is empty (a dimension of size 0)",
            hint="give every dimension of `input` a size of at least 1",
        ).located(location=spec.input_location)
    started = time.perf_counter()
    spec = replace(spec, expects=False)
    model = SizeModel(spec)
    shape = spec.input_shape
    notes: list[str] = []
    disagreements: list[Disagreement] = []
    checker = _Checker(spec, model, disagreements)

    spec_prediction = checker.predict(shape)
    own = model.outcome(shape)
    checker.compare("spec", shape[-1] if shape else 0, own, spec_prediction)
    _, _, own_ctx = model._run(shape, False)
    spec_drops = tuple(_drop_groups({0: own_ctx.drops}))

    positions = model.positions
    names = _names(len(positions))
    plans: list[tuple[str, tuple[int, ...]]] = [
        (n, (j,)) for n, j in zip(names, positions, strict=True)
    ]
    if len(positions) > 1 and len({shape[j] for j in positions}) == 1:
        plans.append(("=".join(names), positions))
    if not positions:
        notes.append(f"the input {fmt(shape)} has no spatial dims: nothing to vary")
    built_ok = model.ok_at_spec
    if not built_ok:
        notes.append("the spec fails at its own size, so no model can be built there")
    for dynamic in model.compiler.dynamic:
        notes.append(
            f"block {dynamic.decl.block if dynamic.decl else '?'} at {dynamic.path or '(root)'} "
            "reads its input's size: it is expanded again at every size"
        )

    sweeps = [_sweep(model, checker, name, pos, lo, hi, built_ok) for name, pos in plans]
    model.budget.reset()
    if any(s.built is not None and s.built != s.valid for s in sweeps):
        notes.append(
            "the spec is made again at each size (inferred arguments, block expansions, auto "
            "shortcuts); a model built at the spec's size keeps what was made there and "
            "accepts fewer sizes (built)"
        )
    if disagreements:
        notes.append(
            f"the fast path disagreed with predict() at {len(disagreements)} size(s): "
            "a bug in convshape.sizes; predict() is right"
        )
    return SizeReport(
        file=spec.file,
        name=spec.name,
        input_shape=shape,
        lo=lo,
        hi=hi,
        spec_ok=spec_prediction.ok,
        spec_output=spec_prediction.output_shape,
        spec_error=spec_prediction.error.message if spec_prediction.error else None,
        spec_drops=spec_drops,
        sweeps=tuple(sweeps),
        disagreements=tuple(disagreements),
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )


def _names(n: int) -> tuple[str, ...]:
    return AXES.get(n, tuple(f"dim{i}" for i in range(n)))


def _sweep(
    model: SizeModel,
    checker: _Checker,
    name: str,
    positions: tuple[int, ...],
    lo: int,
    hi: int,
    built: bool,
) -> Sweep:
    base = list(model.spec.input_shape)
    scan = _Scan()
    for size in range(1, hi + 1):
        for j in positions:
            base[j] = size
        shape = tuple(base)
        y, fail, ctx = model._run(shape, False)
        if fail is not None:
            scan.fails[size] = fail
            continue
        assert y is not None
        scan.outputs[size] = y
        if ctx.drops:
            scan.drops[size] = ctx.drops
        if built and (model.adapts or ctx.diverged):
            _, built_fail, _ = model._run(shape, True)
            if built_fail is not None:
                scan.built_fails[size] = built_fail
    valid_all = sorted(scan.outputs)
    valid = [s for s in valid_all if s >= lo]
    spec_size = model.spec.input_shape[positions[0]]

    # the multiple: every valid size is congruent to the smallest mod the gcd of differences
    multiple = SizeSet.of(valid_all).step
    smallest = valid_all[0] if valid_all else None
    residue = smallest % multiple if smallest is not None and multiple else None
    regular = bool(
        multiple
        and smallest is not None
        and all(s in scan.outputs for s in range(smallest, hi + 1, multiple))
    )

    # invalid classes, each confirmed (and located) by predict()
    groups: dict[int, list[int]] = {}
    nodes: dict[int, _Prog] = {}
    for size, fail in scan.fails.items():
        groups.setdefault(id(fail.node), []).append(size)
        nodes[id(fail.node)] = fail.node
    failures: list[Failure] = []
    by_node: dict[int, Failure] = {}
    for key, sizes in sorted(groups.items(), key=lambda kv: kv[1][0]):
        example = next((s for s in sizes if s >= lo), sizes[0])
        prediction = checker.check(name, positions, example)
        failure = _failure(prediction, nodes[key], SizeSet.of(sizes), example)
        failures.append(failure)
        by_node[key] = failure
    gap_layers: list[Where] = []
    if smallest is not None and valid_all:
        for size in range(smallest, valid_all[-1]):
            fail = scan.fails.get(size)
            if fail is not None and by_node[id(fail.node)].layer not in gap_layers:
                gap_layers.append(by_node[id(fail.node)].layer)

    # dropped borders at valid sizes in lo..hi
    in_range = {s: d for s, d in scan.drops.items() if s >= lo}
    drops = _drop_groups(in_range)
    for size in _cover([set(drop.sizes) for drop in drops]):
        checker.check(name, positions, size)
    clean = SizeSet.of(s for s in valid if s not in scan.drops)

    # the model built at the spec's size
    built_set: SizeSet | None = None
    pins: list[Pin] = []
    if model.ok_at_spec:
        built_set = SizeSet.of(s for s in valid if s not in scan.built_fails)
        pin_groups: dict[tuple[int, str | None], tuple[_Prog, int | None, list[int]]] = {}
        for size, fail in scan.built_fails.items():
            if size < lo:
                continue
            arg, value = (fail.pin[0], fail.pin[1]) if fail.pin else (None, None)
            entry = pin_groups.setdefault((id(fail.node), arg), (fail.node, value, []))
            entry[2].append(size)
        for (_, arg), (node, value, sizes) in pin_groups.items():
            pins.append(Pin(node.where(), arg, value, SizeSet.of(sizes)))

    # confirmations: the spec's size, the ends, a few more
    extra = [spec_size, lo, hi, *(valid[:1] + valid[-1:]), smallest or lo]
    extra += [lo + (hi - lo) * (i + 1) // (SAMPLES + 1) for i in range(SAMPLES)]
    for size in extra:
        if 1 <= size <= hi:
            checker.check(name, positions, size)
    samples = sorted(
        {
            s
            for s in (
                smallest,
                spec_size,
                valid[0] if valid else None,
                valid[-1] if valid else None,
            )
            if s in scan.outputs
        }
    )
    return Sweep(
        dim=name,
        positions=positions,
        spec_size=spec_size,
        smallest=smallest,
        valid=SizeSet.of(valid),
        multiple=multiple,
        residue=residue,
        regular=regular,
        gaps=tuple(gap_layers),
        failures=tuple(failures),
        drops=tuple(drops),
        clean=clean,
        built=built_set,
        built_clean=SizeSet.of(s for s in built_set if s in clean) if built_set else built_set,
        pins=tuple(pins),
        outputs=tuple((s, scan.outputs[s]) for s in samples),
        confirmed=tuple(sorted(checker.done.get(name, set()))),
    )


def _cover(sets: list[set[int]]) -> list[int]:
    """A few sizes that meet every set (greedy set cover): one predict() call confirms every
    dropping layer at such a size."""
    chosen: list[int] = []
    left = [s for s in sets if s]
    while left:
        counts: dict[int, int] = {}
        for s in left:
            for size in s:
                counts[size] = counts.get(size, 0) + 1
        best = min(counts, key=lambda size: (-counts[size], size))
        chosen.append(best)
        left = [s for s in left if best not in s]
    return chosen


def _failure(prediction: Prediction, node: _Prog, sizes: SizeSet, example: int) -> Failure:
    error = prediction.error
    if error is None:  # the checker has recorded the disagreement; describe the fast path's
        return Failure(sizes, node.where(), "(predict() accepts this size)", example)
    ctx = error.context
    where = Where(
        ctx.layer_path or "",
        ctx.layer_type or "input",
        ctx.spec_path,
        str(ctx.location) if ctx.location else None,
        ctx.via,
    )
    return Failure(sizes, where, error.message, example)


def _drop_groups(drops: dict[int, list[DropRecord]]) -> list[Drop]:
    """One :class:`Drop` per (layer, axis), with the sizes and the message at the first (size
    0: the spec's own input, no sizes)."""
    groups: dict[tuple[int, int], tuple[DropRecord, list[int]]] = {}
    for size in sorted(drops):
        for record in drops[size]:
            key = (id(record[0]), record[1])
            if key not in groups:
                groups[key] = (record, [])
            if not groups[key][1] or groups[key][1][-1] != size:
                groups[key][1].append(size)
    out = []
    for (node, index, size, pad, k, s), sizes in groups.values():  # size: at the layer
        axis = _axis(node, index)
        left = (size + 2 * pad - k) % s
        message = (
            f"{f'at {sizes[0]}: ' if sizes[0] else ''}floor division drops the last {left - pad} "
            f"{AXIS_WORDS.get(axis, axis)} position(s) of {size}: ({size} + 2*{pad} - {k}) % {s} "
            f"= {left}"
        )
        out.append(Drop(node.where(), axis, SizeSet.of(s for s in sizes if s), message))
    return out


class _Checker:
    """Confirms fast-path answers with predict(); records every disagreement."""

    def __init__(self, spec: Spec, model: SizeModel, out: list[Disagreement]) -> None:
        self.spec, self.model, self.out = spec, model, out
        self.done: dict[str, set[int]] = {}
        self.cache: dict[Shape, Prediction] = {}

    def predict(self, shape: Shape) -> Prediction:
        if shape not in self.cache:
            self.model.budget.reset()
            self.cache[shape] = predict(replace(self.spec, input_shape=shape))
            self.model.budget.reset()
        return self.cache[shape]

    def check(self, name: str, positions: tuple[int, ...], size: int) -> Prediction:
        shape = list(self.spec.input_shape)
        for j in positions:
            shape[j] = size
        prediction = self.predict(tuple(shape))
        if size not in self.done.setdefault(name, set()):
            self.done[name].add(size)
            self.compare(name, size, self.model.outcome(tuple(shape)), prediction)
        return prediction

    def compare(self, name: str, size: int, fast: Outcome, p: Prediction) -> None:
        if fast.ok and p.ok:
            cs105 = tuple(sorted({node.path for node, _, _ in RULES["CS105"].check(p) if node}))
            mine = tuple(sorted({path for path, _ in fast.drops}))
            if fast.output_shape != p.output_shape or cs105 != mine:
                self.out.append(
                    Disagreement(
                        name,
                        size,
                        f"output {fmt(fast.output_shape or ())}, drops at {list(mine)}",
                        f"output {fmt(p.output_shape or ())}, CS105 at {list(cs105)}",
                    )
                )
            return
        if not fast.ok and not p.ok:
            assert p.error is not None
            path = p.error.context.layer_path or ""
            mine_path = fast.layer_path or ""
            if path == mine_path:
                return
            self.out.append(Disagreement(name, size, f"fails at {mine_path}", f"fails at {path}"))
            return
        fast_text = "valid" if fast.ok else f"fails at {fast.layer_path or '(input)'}"
        p_text = "valid" if p.ok else f"fails: {p.error.message if p.error else '?'}"
        self.out.append(Disagreement(name, size, fast_text, p_text))


# ------------------------------------------------------------------------------ rendering


def _runs(values: Sequence[int], consecutive: bool = False) -> list[tuple[int, int, int]]:
    """Greedy maximal arithmetic progressions of at least three sizes (``consecutive``: of
    step 1 only); the rest singly."""
    out: list[tuple[int, int, int]] = []
    i, n = 0, len(values)
    while i < n:
        if i + 2 < n and (not consecutive or values[i + 1] - values[i] == 1):
            step = values[i + 1] - values[i]
            j = i + 1
            while j + 1 < n and values[j + 1] - values[j] == step:
                j += 1
            if j - i >= 2:
                out.append((values[i], values[j], step))
                i = j + 1
                continue
        out.append((values[i], values[i], 1))
        i += 1
    return out


def _run_text(run: tuple[int, int, int]) -> str:
    first, last, step = run
    if first == last:
        return str(first)
    if step == 1:
        return f"{first}..{last}"
    if last == first + step:
        return f"{first}, {last}"
    return f"{first}, {first + step}, ..., {last} (every {step})"


def _residues(sizes: list[int]) -> str | None:
    """``n % 16 in {8..15} (40..1023, 496 sizes)`` when the sizes repeat with a short period
    (at most 128, at least twice over) and their residues are a few runs."""
    first, last = sizes[0], sizes[-1]
    members = set(sizes)
    for period in range(2, min(128, (last - first) // 2) + 1):
        if all((s in members) == (s + period in members) for s in range(first, last - period + 1)):
            residues = _runs(sorted({s % period for s in sizes}), consecutive=True)
            if len(residues) > 3:
                return None
            listed = ", ".join(_run_text(run) for run in residues)
            return f"n % {period} in {{{listed}}} ({first}..{last}, {len(sizes)} sizes)"
    return None


def _where_text(where: Where) -> str:
    return safe(where.text)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def _multiple_text(sweep: Sweep) -> str:
    """``16``, or ``16k+1`` when the valid sizes are not multiples of it."""
    if sweep.multiple is None:
        return "-"
    if sweep.residue:
        return f"{sweep.multiple}k+{sweep.residue}"
    return str(sweep.multiple)


def _built_text(sweep: Sweep) -> str:
    if sweep.built is None:
        return "-"
    if sweep.built == sweep.valid:
        return "same"
    text = sweep.built.text
    if sweep.built_clean is not None and sweep.built_clean != sweep.built:
        text += f" (nothing dropped: {sweep.built_clean.text})"
    return text


def sizes_table(report: SizeReport) -> str:
    """The report as plain text: a title, then tables with columns two spaces apart."""
    title = [safe(report.file)]
    if report.name:
        title.append(safe(report.name))
    title += [f"input {fmt(report.input_shape)}", f"sizes {report.lo}..{report.hi}"]
    lines = ["  ".join(title), ""]
    if report.spec_ok:
        own = f"at the spec's size: valid, output {fmt(report.spec_output or ())}"
        own += ", border positions dropped:" if report.spec_drops else ", nothing dropped"
    else:
        own = f"at the spec's size: invalid: {safe(report.spec_error or '')}"
    lines.append(own)
    for drop in report.spec_drops:
        lines.append(f"  {_where_text(drop.layer)} {drop.axis}: {drop.example}")
    if report.sweeps:
        lines.append("")
        header = [
            "dim",
            "spec",
            "smallest",
            f"valid in {report.lo}..{report.hi}",
            "multiple",
            "nothing dropped",
            "built at the spec's size",
        ]
        rows = []
        for s in report.sweeps:
            built = _built_text(s)
            rows.append(
                [
                    s.dim,
                    str(s.spec_size),
                    str(s.smallest) if s.smallest is not None else "none",
                    s.valid.text,
                    _multiple_text(s),
                    "same" if s.clean == s.valid else s.clean.text,
                    built,
                ]
            )
        lines += _table(header, rows)
    gaps = [s for s in report.sweeps if s.gaps]
    if gaps:
        lines += ["", "why the multiple: the sizes between valid ones fail at"]
        for s in gaps:
            where = ", ".join(_where_text(w) for w in s.gaps)
            lines.append(f"  {s.dim}: {where}")
    failure_rows = [
        [
            s.dim,
            f.sizes.text,
            _where_text(f.layer),
            safe(f.layer.location or "-"),
            str(f.example),
            safe(f.message),
        ]
        for s in report.sweeps
        for f in s.failures
    ]
    if failure_rows:
        lines += ["", "invalid sizes"]
        lines += _table(["dim", "sizes", "layer", "location", "e.g.", "error there"], failure_rows)
    drop_rows = [
        [
            s.dim,
            d.sizes.text,
            _where_text(d.layer),
            d.axis,
            safe(d.layer.location or "-"),
            d.example,
        ]
        for s in report.sweeps
        for d in s.drops
    ]
    if drop_rows:
        lines += ["", "border positions dropped (valid sizes)"]
        lines += _table(["dim", "sizes", "layer", "axis", "location", "first"], drop_rows)
    pin_rows = [
        [
            s.dim,
            p.sizes.text,
            _where_text(p.layer),
            f"{p.argument}={p.value}" if p.argument else "its shape rule fails",
        ]
        for s in report.sweeps
        for p in s.pins
    ]
    if pin_rows:
        lines += ["", "refused by the model built at the spec's size"]
        lines += _table(["dim", "sizes", "layer", "as built there"], pin_rows)
    if report.disagreements:
        lines += ["", "DISAGREEMENTS with predict() (a bug in convshape.sizes)"]
        for d in report.disagreements:
            lines.append(f"  {d.sweep} {d.size}: fast path {d.fast}; predict() {d.predicted}")
    if report.notes:
        lines += ["", *[f"note: {safe(n)}" for n in report.notes]]
    return "\n".join(lines) + "\n"


def _set_json(sizes: SizeSet | None) -> dict[str, Any] | None:
    if sizes is None:
        return None
    return {"text": sizes.text, "count": len(sizes), "runs": [list(r) for r in sizes.runs]}


def _where_json(where: Where) -> dict[str, Any]:
    return {
        "path": where.path,
        "type": where.type_name,
        "spec_path": where.spec_path,
        "location": where.location,
        "via": where.via,
    }


def _drop_json(drop: Drop) -> dict[str, Any]:
    return {
        "layer": _where_json(drop.layer),
        "axis": drop.axis,
        "sizes": _set_json(drop.sizes),
        "example": drop.example,
    }


def sizes_json(report: SizeReport) -> dict[str, Any]:
    """The report as one JSON-ready object (sizes as exact runs ``[first, last, step]``)."""
    return {
        "file": report.file,
        "name": report.name,
        "input_shape": list(report.input_shape),
        "range": [report.lo, report.hi],
        "spec": {
            "ok": report.spec_ok,
            "output_shape": list(report.spec_output) if report.spec_output else None,
            "error": report.spec_error,
            "drops": [_drop_json(d) for d in report.spec_drops],
        },
        "sweeps": [
            {
                "dim": s.dim,
                "positions": list(s.positions),
                "spec_size": s.spec_size,
                "smallest": s.smallest,
                "valid": _set_json(s.valid),
                "multiple": s.multiple,
                "residue": s.residue,
                "regular": s.regular,
                "gaps": [_where_json(w) for w in s.gaps],
                "failures": [
                    {
                        "sizes": _set_json(f.sizes),
                        "layer": _where_json(f.layer),
                        "message": f.message,
                        "example": f.example,
                    }
                    for f in s.failures
                ],
                "drops": [_drop_json(d) for d in s.drops],
                "clean": _set_json(s.clean),
                "built": _set_json(s.built),
                "built_clean": _set_json(s.built_clean),
                "pins": [
                    {
                        "layer": _where_json(p.layer),
                        "argument": p.argument,
                        "value": p.value,
                        "sizes": _set_json(p.sizes),
                    }
                    for p in s.pins
                ],
                "outputs": [{"size": size, "shape": list(shape)} for size, shape in s.outputs],
                "confirmed": list(s.confirmed),
            }
            for s in report.sweeps
        ],
        "disagreements": [
            {"sweep": d.sweep, "size": d.size, "fast": d.fast, "predict": d.predicted}
            for d in report.disagreements
        ],
        "notes": list(report.notes),
        "seconds": round(report.seconds, 3),
    }
