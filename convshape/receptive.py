"""Receptive field and effective stride of every module (torch-free).

After Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks"
(Distill, 2019): per spatial dim of the model input (pixel centres 0 .. n-1), unit ``i`` of a
module's output sees ``start + i * stride ± (size - 1) / 2``; padding counts as positions outside
the input, so a field may outgrow the input (which only clips it). Inside, each spatial dim holds
every unit's exact span, a table repeating every ``period`` units shifted by ``jump`` positions,
which each layer maps exactly (:func:`_leaf`, :func:`_union`). A Field has ``stride = jump /
period`` (None unless an integer: upsampling past the input's resolution, adaptive pooling 7 ->
3; 0: every unit sees the same region) and the smallest box of that stride holding every unit's
span: exact, unless an upsampling left units stepping unevenly (two neighbours share a field
after ConvTranspose2d(2, stride=2)), then the tightest such box.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor, gcd, lcm

from convshape.containers import CONTAINERS
from convshape.engine import Node, Prediction
from convshape.layers import Layer, Shape, activation, conv, learned, norm, pool, reshape, tensor
from convshape.layers.base import ntuple, wrap_dim
from convshape.layers.pad import _PadNd
from convshape.layers.upsample import _Interpolate
from convshape.spec.decls import MergeDecl

KEEPS = (reshape.Identity, reshape.ChannelShuffle)  # and every normalisation
MIXES = {reshape.Linear: -1, learned.ClassToken: -2, activation.Softmax2d: -3}  # the dim mixed
LONGEST, HALF = 1 << 16, Fraction(1, 2)  # a longer table (an odd scale_factor) gives None


@dataclass(frozen=True)
class Field:
    """Per spatial dim of the model input: unit ``i`` sees ``start + i * stride ± (size - 1)/2``."""

    size: tuple[int, ...]
    stride: tuple[int, ...]
    start: tuple[float, ...]


@dataclass(frozen=True)
class _Axis:
    """Unit ``o`` sees ``[lo(o), hi(o)]`` of input dim ``dim``, repeating every ``period``."""

    dim: int
    period: int
    jump: int
    lo: tuple[int, ...]
    hi: tuple[int, ...]

    def at(self, o: int) -> tuple[int, int]:
        q, m = divmod(o, self.period)
        return self.lo[m] + q * self.jump, self.hi[m] + q * self.jump


State = tuple[_Axis | None, ...]  # per tensor dim: a spatial dim of the model input, or None
Op = Callable[[_Axis], _Axis | None]


def _gather(ratio: Fraction, taps: Callable[[int], Iterable[int]]) -> Op:
    """Unit ``o`` sees units ``taps(o)``; ``taps(o + q) = taps(o) + q * ratio`` for whole steps."""

    def op(a: _Axis) -> _Axis | None:
        g = gcd(ratio.numerator, a.period)
        period, jump = ratio.denominator * a.period // g, a.jump * ratio.numerator // g
        spans = [[a.at(i) for i in taps(o)] for o in range(min(period, LONGEST))]
        if period > LONGEST or not all(spans):  # or a unit no ConvTranspose tap reaches
            return None
        lo, hi = (tuple(f(s[k] for s in unit) for unit in spans) for f, k in ((min, 0), (max, 1)))
        return _Axis(a.dim, period, jump, lo, hi)

    return op


def _window(s: int, e: int, p: int, d: int = 1) -> Op:
    """Stride ``s``, extent ``e = d * (k - 1) + 1``, left padding ``p``, dilation ``d``."""
    return _gather(Fraction(s), lambda o: range(o * s - p, o * s - p + e, d))


def _transposed(k: int, s: int, p: int, d: int) -> Op:
    """Output ``o`` gets input ``i`` where ``o + p == i * s + t * d``, ``0 <= t < k``."""
    return _gather(Fraction(1, s), lambda o: [v // s for v in range(o + p, o + p - k * d, -d)
                                              if v % s == 0])  # fmt: skip


def _adaptive(n: int, m: int) -> Op:
    return _gather(Fraction(n, m), lambda o: range(o * n // m, -(-(o + 1) * n // m)))


def _interpolate(layer: _Interpolate, n: int, m: int, scale: float | None) -> Op | None:
    mode, given = layer._mode(), scale is not None and not layer._recompute()
    r = 1 / Fraction(repr(scale)) if given else Fraction(n, m)  # torch's source step
    if mode == "area" or layer._align_corners():
        return _adaptive(n, m) if mode == "area" else None
    if mode.startswith("nearest"):
        return _gather(r, lambda o: [floor((o + HALF * (mode == "nearest-exact")) * r)])

    def taps(o: int) -> range:  # floor(x)..ceil(x) (one input if x is on it), bicubic one more
        x = (o + HALF) * r - HALF
        more = int(mode == "bicubic" and x != floor(x))
        return range(floor(x) - more, ceil(x) + 1 + more)

    return _gather(r, taps)


def _last(state: State | None, ops: Sequence[Op | None], mixes: int | None = None) -> State | None:
    """``ops`` on the trailing dims (a window over a non-spatial dim leaves it so), by a layer that
    also mixes all positions of dim ``mixes`` (a conv its channels): None if that one is spatial."""
    if state is None or (mixes is not None and state[wrap_dim(mixes, len(state))]):
        return None
    cut = len(state) - len(ops)
    tail = [a and (op(a) if op else None) for a, op in zip(state[cut:], ops, strict=True)]
    lost = any(a and not b for a, b in zip(state[cut:], tail, strict=True))
    return None if lost else (*state[:cut], *tail)


def _reshape(state: State, shape: Shape, out: Shape) -> State | None:
    """Row-major reshape: equal leading and trailing sizes stay the same dims."""
    i = j = 0
    while i < min(len(shape), len(out)) and shape[i] == out[i]:
        i += 1
    while j < min(len(shape), len(out)) - i and shape[-1 - j] == out[-1 - j]:
        j += 1
    if any(state[i : len(shape) - j]):
        return None
    return (*state[:i], *[None] * (len(out) - i - j), *state[len(shape) - j :])


def _leaf(layer: Layer, state: State, shape: Shape, out: Shape) -> State | None:
    """Windows: conv, pooling (any padding mode pads), padding (a negative pad crops), ConvTranspose
    (the inputs its taps reach), adaptive pooling, Upsample ('nearest': ``floor(o * n/m)``, linear
    modes: the taps around ``(o + 1/2) * n/m - 1/2``). Kept: elementwise layers, norms (statistics
    over positions not counted, as in the paper), Permute, reshapes leaving spatial dims whole."""
    n, lead = layer.ndim, len(shape) - layer.ndim
    if isinstance(layer, conv._ConvNd | pool._PoolNd):
        stride, extent = layer.window_stride(), layer.window_extent()
        assert stride is not None and extent is not None
        dilation = ntuple(vars(layer).get("dilation", 1), n)
        if isinstance(layer, conv._ConvNd):  # it also mixes its channels
            left, mixes = tuple(lo for lo, _ in layer._pads()), -n - 1
        else:
            left, mixes = layer._window()[2], None
        windows = [_window(*g) for g in zip(stride, extent, left, dilation, strict=True)]
        return _last(state, windows, mixes)
    if isinstance(layer, conv._ConvTransposeNd):
        args = (layer.kernel_size, layer.stride, layer.padding, layer.dilation)
        geometry = zip(*(ntuple(v, n) for v in args), strict=True)
        return _last(state, [_transposed(*g) for g in geometry], -n - 1)
    if isinstance(layer, _PadNd):
        return _last(state, [_window(1, 1, lo) for lo, _ in layer._pairs()])
    if isinstance(layer, pool._AdaptivePoolNd):  # units [floor(o * n/m), ceil((o + 1) * n/m))
        return _last(state, [_adaptive(*s) for s in zip(shape[lead:], out[lead:], strict=True)])
    if isinstance(layer, _Interpolate):  # align_corners=True: None
        scale = layer.scale_factor
        scales = scale if isinstance(scale, tuple) else (scale,) * (len(shape) - 2)
        sizes = zip(shape[2:], out[2:], scales, strict=True)
        return _last(state, [_interpolate(layer, *s) for s in sizes])
    if isinstance(layer, activation._Softmax | activation.GLU):
        return _last(state, [], layer.dim)
    if type(layer) in MIXES:
        return _last(state, [], MIXES[type(layer)])
    if layer.elementwise or isinstance(layer, KEEPS) or type(layer).__module__ == norm.__name__:
        return state
    if isinstance(layer, reshape.Flatten | reshape.Unflatten | tensor.Reshape):
        return _reshape(state, shape, out)
    if isinstance(layer, tensor.Permute):
        return tuple(state[d] for d in layer.dims)
    return None  # attention, PixelShuffle, Fold, Transpose, ...: not known to keep positions


def _union(states: list[State | None], shapes: list[Shape], out: Shape) -> State | None:
    """Per unit, the hull of the branches' spans (the largest field when centres agree). A branch
    broadcast along a dim (a gate's 1x1) has one span for all units: if it holds the others', the
    merge has it (stride 0), else no field. Concat or Split along a spatial dim: no field."""
    known = [s for s in states if s is not None and len(s) == len(out)]
    if len(known) < len(states):
        return None  # a branch without a field
    merged: list[_Axis | None] = []
    for d, size in enumerate(out):
        entries = [(s[d], shape[d]) for s, shape in zip(known, shapes, strict=True)]
        if len({a and a.dim for a, _ in entries}) > 1:
            return None  # dims that do not match
        axes = [a if n == size else _Axis(a.dim, 1, 0, *zip(a.at(0), strict=True))
                for a, n in entries if a is not None]  # fmt: skip
        if not axes:
            merged.append(None)
            continue
        if all(a.jump * axes[0].period == axes[0].jump * a.period for a in axes):
            period = lcm(*(a.period for a in axes))
            jump, units = axes[0].jump * period // axes[0].period, range(period)
        else:  # a broadcast branch: one span for all units, if it holds the others
            period, jump, units = 1, 0, range(size)
        spans = [[a.at(o) for a in axes] for o in units]
        lo, hi = ([f(s[k] for s in unit) for unit in spans] for f, k in ((min, 0), (max, 1)))
        if len(set(lo[period:] + lo[:1])) > 1 or len(set(hi[period:] + hi[:1])) > 1:
            return None
        merged.append(_Axis(axes[0].dim, period, jump, tuple(lo[:period]), tuple(hi[:period])))
    return tuple(merged)


def _field(state: State | None, ndim: int) -> Field | None:
    """The smallest box of stride ``jump / period`` holding every unit's span, per input dim."""
    axes = sorted((a for a in state or () if a is not None), key=lambda a: a.dim)
    if [a.dim for a in axes] != list(range(ndim)) or any(a.jump % a.period for a in axes):
        return None  # a spatial dim gone, or a fractional stride
    boxes = []
    for a in axes:
        step = a.jump // a.period
        lo = min(v - m * step for m, v in enumerate(a.lo))
        hi = max(v - m * step for m, v in enumerate(a.hi))
        boxes.append((hi - lo + 1, step, (lo + hi) / 2))
    return Field(*zip(*boxes, strict=True))  # (sizes, strides, starts)


def receptive_fields(prediction: Prediction) -> dict[str, Field | None]:
    """Every row's :class:`Field` by module path, None where undefined; spatial dims: ``(N, C,
    *spatial)`` or unbatched ``(C, *spatial)``; a failed prediction: the rows before the error."""
    shape = prediction.spec.input_shape
    lead = min(1 if prediction.spec.unbatched else 2, len(shape))
    ndim = len(shape) - lead
    fields: dict[str, Field | None] = {}

    def walk(node: Node, state: State | None) -> State | None:
        decl = node.decl
        if 0 in node.output_shape:
            state = None  # an empty tensor: no unit to see anything (warning CS106)
        if node.layer is not None:
            state = _leaf(node.layer, state, node.input_shape, node.output_shape) if state else None
        elif isinstance(decl, MergeDecl):
            dim = decl.options.get("dim")
            if state and dim is not None and state[wrap_dim(dim, len(state))]:
                state = None  # Concat or Split along a spatial dim
            children = {child.key: child for child in node.children}
            pieces, outs, shapes = CONTAINERS[decl.kind].inputs(decl, node.input_shape), [], []
            for branch, piece in zip(decl.branches, pieces, strict=True):
                child = children.get(branch.key)
                outs.append(state if child is None else walk(child, state))
                shapes.append(piece if child is None else child.output_shape)
            state = _union(outs, shapes, node.output_shape) if state else None
        else:
            for child in node.children:
                state = walk(child, state)
        fields[node.path] = _field(state, ndim) if ndim else None
        return state

    state: State | None = (None,) * lead + tuple(_Axis(d, 1, 1, (0,), (0,)) for d in range(ndim))
    root = prediction.root
    for node in root.children if root else [n for n in prediction.partial if n.depth == 1]:
        state = walk(node, state)
    return {row.path: fields.get(row.path) for row in prediction.rows}
