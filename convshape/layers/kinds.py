"""Value kinds: the annotation names the layer dataclasses use, and how a raw value is checked.

Every registered field is annotated with one of the names in :data:`KINDS`. :func:`coerce`
checks a raw value (from YAML or from a ``calc`` expression) against it, converts lists to
tuples, and raises :class:`SpecError` naming the parameter. A bool is never an int, a float is
never an int, and sizes are positive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from convshape.errors import ShapeError, SpecError, did_you_mean
from convshape.layers.base import REGISTRY, Layer, Shape, fmt

MAX_SCALE = float(2**63)
Check = Callable[[Any, int], Any]  # (value, ndim) -> normalised value; raises ValueError(msg)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int(lo: int | None) -> Check:
    what = _what(lo)

    def check(v: Any, ndim: int) -> int:
        if not _is_int(v):
            raise ValueError(f"must be {what}, got {v!r}")
        if lo is not None and v < lo:
            raise ValueError(f"must be {what}, got {v}")
        return int(v)

    return check


def _ints(lo: int | None, length: Callable[[int], int], scalar: bool = True) -> Check:
    """An int (if ``scalar``) or a list of exactly ``length(ndim)`` ints, each >= lo."""
    one = _int(lo)

    def check(v: Any, ndim: int) -> int | tuple[int, ...]:
        n = length(ndim)
        if scalar and not isinstance(v, list | tuple):
            try:
                return int(one(v, ndim))
            except ValueError:
                pass
        if isinstance(v, list | tuple) and len(v) == n and all(_is_int(x) for x in v):
            if all(x >= lo for x in v) if lo is not None else True:
                return tuple(int(x) for x in v)
        each = {None: "ints", 0: "ints >= 0", 1: "positive ints"}[lo]
        alt = f"{_what(lo)} or " if scalar else ""
        raise ValueError(f"must be {alt}a list of {n} {each}, got {v!r}")

    return check


def _what(lo: int | None) -> str:
    return {None: "an int", 0: "an int >= 0", 1: "a positive int"}[lo]


def _number(lo_exclusive: float | None = None) -> Check:
    def check(v: Any, ndim: int) -> float:
        if not _is_num(v):
            raise ValueError(f"must be a number, got {v!r}")
        if lo_exclusive is not None and v <= lo_exclusive:
            raise ValueError(f"must be > {lo_exclusive:g}, got {v}")
        return float(v)

    return check


def _nonzero_int(v: Any, ndim: int) -> int:
    if not _is_int(v) or v == 0:
        raise ValueError(f"must be a non-zero int, got {v!r}")
    return int(v)


def _nonzero_number(v: Any, ndim: int) -> float:
    if not _is_num(v) or v == 0:
        raise ValueError(f"must be a non-zero number, got {v!r}")
    return float(v)


def _probability(v: Any, ndim: int) -> float:
    if not _is_num(v) or not 0 <= v <= 1:
        raise ValueError(f"must be a probability between 0 and 1, got {v!r}")
    return float(v)


def _bool(v: Any, ndim: int) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"must be true or false, got {v!r}")
    return v


def _false(v: Any, ndim: int) -> bool:
    if v is not False:
        raise ValueError(
            "must be false: with true the layer returns a tuple, which nn.Sequential cannot pass on"
        )
    return v


def _optional(inner: Check) -> Check:
    def check(v: Any, ndim: int) -> Any:
        return None if v is None else inner(v, ndim)

    return check


def _choice(*choices: str) -> Check:
    def check(v: Any, ndim: int) -> str:
        if v not in choices:
            close = did_you_mean(str(v), choices)
            tip = f" ({close})" if close else ""
            raise ValueError(f"must be one of {', '.join(map(repr, choices))}, got {v!r}{tip}")
        return str(v)

    return check


def _conv_padding(v: Any, ndim: int) -> Any:
    if isinstance(v, str):
        return _choice("same", "valid")(v, ndim)
    return _ints(None, lambda n: n)(v, ndim)


def _output_size(v: Any, ndim: int) -> Any:
    """Adaptive pooling: an int >= 0, or a list of ndim of them or nulls (nulls 2-d and 3-d
    only: torch's 1-d functions take ints only, ``[3]`` included). 0 gives an empty tensor, as
    torch does (warning CS106)."""
    if _is_int(v) and v >= 0:
        return int(v)
    if (
        isinstance(v, list | tuple)
        and len(v) == ndim
        and all((x is None and ndim > 1) or (_is_int(x) and x >= 0) for x in v)
    ):
        return tuple(v)
    nulls = " or nulls" if ndim > 1 else ""
    raise ValueError(f"must be an int >= 0 or a list of {ndim} ints >= 0{nulls}, got {v!r}")


def _int_list(v: Any, ndim: int) -> tuple[int, ...]:
    if (
        isinstance(v, list | tuple)
        and v
        and all(_is_int(x) and (x >= 1 or x == -1) for x in v)
        and sum(x == -1 for x in v) <= 1
    ):
        return tuple(int(x) for x in v)
    raise ValueError(f"must be a non-empty list of positive ints (one may be -1), got {v!r}")


def _dim_list(v: Any, ndim: int) -> tuple[int, ...]:
    if isinstance(v, list | tuple) and v and all(_is_int(x) for x in v):
        return tuple(int(x) for x in v)
    raise ValueError(f"must be a non-empty list of dims (ints), got {v!r}")


def _normalized_shape(v: Any, ndim: int) -> tuple[int, ...]:
    if _is_int(v) and v >= 1:
        return (int(v),)
    if isinstance(v, list | tuple) and v and all(_is_int(x) and x >= 1 for x in v):
        return tuple(int(x) for x in v)
    raise ValueError(f"must be a positive int or a non-empty list of positive ints, got {v!r}")


def _scale(v: Any, ndim: int) -> Any:
    if _is_positive_finite(v):
        return float(v)
    if isinstance(v, list | tuple) and v and all(_is_positive_finite(x) for x in v):
        return tuple(float(x) for x in v)
    raise ValueError(f"must be a positive number (at most 2**63) or a list of them, got {v!r}")


def _ratio(v: Any, ndim: int) -> Any:
    """FractionalMaxPool's output_ratio: a number in (0, 1), or a list of ndim of them."""
    if _is_num(v) and 0 < v < 1:
        return float(v)
    if isinstance(v, list | tuple) and len(v) == ndim and all(_is_num(x) and 0 < x < 1 for x in v):
        return tuple(float(x) for x in v)
    raise ValueError(f"must be a number between 0 and 1 (exclusive) or a list of {ndim}, got {v!r}")


def _is_positive_finite(v: object) -> bool:
    """> 0 and <= 2**63, so that ``size * scale`` stays a finite float (1e308 * 8 is inf)."""
    return _is_num(v) and 0 < v <= MAX_SCALE  # type: ignore[operator]


def _size_any(v: Any, ndim: int) -> Any:
    if _is_int(v) and v >= 1:
        return int(v)
    if isinstance(v, list | tuple) and v and all(_is_int(x) and x >= 1 for x in v):
        return tuple(int(x) for x in v)
    raise ValueError(f"must be a positive int or a list of positive ints, got {v!r}")


CHOICES: dict[str, tuple[str, ...]] = {  # the kinds that are one of a few words
    "ZerosOnly": ("zeros",),
    "PaddingMode": ("zeros", "reflect", "replicate", "circular"),
    "UpsampleMode": (
        "nearest",
        "linear",
        "bilinear",
        "bicubic",
        "trilinear",
        "area",
        "nearest-exact",
    ),
    "GeluApprox": ("none", "tanh"),
    "StochasticMode": ("row", "batch"),
    "ActivationName": ("relu", "gelu"),
}

KINDS: dict[str, Check] = {
    "int": _int(None),
    "PosInt": _int(1),
    "NonNegInt": _int(0),
    "float": _number(),
    "PosFloat": _number(0.0),
    "OptFloat": _optional(_number()),
    "Probability": _probability,
    "OptNonZeroInt": _optional(_nonzero_int),
    "NonZeroFloat": _nonzero_number,
    "bool": _bool,
    "OptBool": _optional(_bool),
    "FalseOnly": _false,
    "Size": _ints(1, lambda n: n),  # kernel_size, stride, dilation: positive
    "OptSize": _optional(_ints(1, lambda n: n)),  # pooling stride (None = kernel_size)
    "Pad": _ints(None, lambda n: n),  # conv / pool padding; range checked by the layer
    "NonNegPad": _ints(0, lambda n: n),
    "ConvPad": _conv_padding,
    "PadSpec": _ints(None, lambda n: 2 * n),  # padding layers: (left, right, top, bottom, ...)
    "OutputSize": _output_size,
    "OutSize2": _ints(1, lambda n: 2),  # Fold's output_size
    "Size2": _ints(1, lambda n: 2),  # Fold / Unfold kernel, stride, dilation
    "Pad2": _ints(0, lambda n: 2),
    "OptSizeAny": _optional(_size_any),
    "OptScale": _optional(_scale),
    **{name: _choice(*words) for name, words in CHOICES.items()},
    "OptRatio": _optional(_ratio),
    "OptOutSize": _optional(_ints(1, lambda n: n)),  # FractionalMaxPool's output_size
    "IntList": _int_list,
    "DimList": _dim_list,
    "NormShape": _normalized_shape,
}


_SCHEMAS: dict[type[Layer], dict[str, dataclasses.Field[Any]]] = {}


def schema(cls: type[Layer]) -> dict[str, dataclasses.Field[Any]]:
    """The fields of a layer type by name (its keyword arguments), cached per type."""
    fields = _SCHEMAS.get(cls)
    if fields is None:
        fields = _SCHEMAS[cls] = {f.name: f for f in dataclasses.fields(cls)}
    return fields


def required(cls: type[Layer]) -> list[str]:
    missing = dataclasses.MISSING
    return [
        name
        for name, f in schema(cls).items()
        if f.default is missing and f.default_factory is missing
    ]


def coerce(cls: type[Layer], name: str, value: Any) -> Any:
    """Check one argument of ``cls``; raise :class:`SpecError` naming it."""
    fields = schema(cls)
    if name not in fields:
        raise unknown_key(cls, name)
    kind = str(fields[name].type)
    try:
        return KINDS[kind](value, cls.ndim)
    except ValueError as exc:
        raise SpecError(f"{cls.__name__} argument '{name}' {exc}") from None


def unknown_key(cls: type[Layer], name: str) -> SpecError:
    known = list(schema(cls))
    hint = did_you_mean(name, known)
    listing = ", ".join(known) or "none"
    return SpecError(
        f"{cls.__name__} has no argument '{name}' (its arguments: {listing})", hint=hint
    )


def make(cls: type[Layer], args: dict[str, Any]) -> Layer:
    """Build a checked layer from already-coerced keyword arguments."""
    missing = [name for name in required(cls) if name not in args]
    if missing:
        raise SpecError(f"{cls.__name__} needs argument '{missing[0]}'")
    layer = cls(**args)
    layer.check()
    return layer


def make_for_input(cls: type[Layer], args: dict[str, Any], shape: Shape) -> Layer:
    """Fill the inferable argument (``in_channels``, ...) from the input, check, make."""
    for name, value in cls.inferable(shape).items():
        if name in args:
            continue
        if value is None:
            raise ShapeError(
                f"{cls.__name__} cannot take the {len(shape)}-D input {fmt(shape)}"
                f"{_ranks_text(cls)}",
                hint=rank_hint(cls, shape),
            )
        args = {**args, name: value}
    return make(cls, args)


def _ranks(cls: type[Layer]) -> list[int]:
    """The input ranks a layer type can infer its argument from (probed, so always in step)."""
    return [rank for rank in range(1, 7) if cls.infer((2,) * rank) is not None]


def _ranks_text(cls: type[Layer]) -> str:
    ranks = _ranks(cls)
    if not ranks or ranks == list(range(ranks[0], 7)):
        return ""
    return ": it takes a " + " or ".join(f"{r}-D" for r in ranks) + " input"


def rank_hint(cls: type[Layer], shape: Shape) -> str | None:
    """``Conv3d takes a 5-D input``: the sibling type (1d/2d/3d) that fits this rank."""
    stem = cls.__name__.rstrip("d").rstrip("123")
    if stem == cls.__name__.rstrip("d") or not cls.inferred or cls.infer(shape) is not None:
        return None
    batched_first = sorted((1, 2, 3), key=lambda n: n + 2 != len(shape))
    for n in batched_first:
        sibling = REGISTRY.get(f"{stem}{n}d")
        if sibling and sibling is not cls and sibling.infer(shape) is not None:
            return f"{sibling.__name__} takes a {len(shape)}-D input"
    return None
