"""The single-layer calculator behind ``convshape calc``.

``Conv2d(16, 33, 3, stride=2)`` is parsed with :mod:`ast` and only literals are accepted
(numbers, strings, True/False/None, lists and tuples of those): nothing is ever evaluated.

The budgets of a spec hold here too: the expression is at most ``MAX_EXPR_LENGTH``
characters and ``MAX_EXPR_DEPTH`` levels deep, every integer (an argument or an ``--input``
size) fits in 64 bits (``MAX_INT``, checked before Python converts a long digit string), and
the input and output hold at most 2**63 - 1 elements, as torch tensors do.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from dataclasses import dataclass
from typing import Any

from convshape.engine import within_int64
from convshape.errors import ConvshapeError, SpecError, did_you_mean
from convshape.layers import REGISTRY, Layer, Shape, coerce
from convshape.layers.base import forward_shape
from convshape.layers.kinds import make_for_input, schema
from convshape.spec.expr import MAX_EXPR_LENGTH, parse_expression
from convshape.spec.yamlio import MAX_INT

_INT = re.compile(r"[-+]?\d+(?:_\d+)*")  # what int() reads (Unicode digits too)


@dataclass(frozen=True)
class CalcResult:
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def formula(self) -> list[str]:
        return self.layer.explain(self.input_shape, self.output_shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.layer.type_name,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "formula": self.formula(),
        }


def layer_type(name: str) -> type[Layer]:
    """The registered class called ``name``, or a SpecError with a did-you-mean."""
    cls = REGISTRY.get(name)
    if cls is None:
        lower = {k.lower(): k for k in REGISTRY}
        hint = (
            did_you_mean(name, REGISTRY)
            or did_you_mean(lower.get(name.lower(), ""), REGISTRY)
            or "`convshape layers` lists them all"
        )
        raise SpecError(f"unknown layer type '{name}'", hint=hint)
    return cls


def _literal(node: ast.expr, what: str) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError):  # not a literal; {[1]}: an unhashable set item
        raise SpecError(
            f"{what} must be a literal (number, string, True/False/None, list or tuple), "
            f"got `{ast.unparse(node)}`"
        ) from None
    _check_ints(value, what)
    return value


def _check_ints(value: Any, what: str) -> None:
    """Every int in ``value`` fits in 64 bits, as every int of a spec does (iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
            raise SpecError(f"{what}: {_out_of_range(item)}")


def _out_of_range(value: int | str) -> str:
    """The message of a spec's integer past 64 bits (``value`` as an int, or its digits)."""
    text = str(value)  # an int of at most MAX_EXPR_LENGTH digits, or the digits themselves
    digits = text.lstrip("+-").lstrip("0")
    shown = text if len(text) <= 30 else f"{text[:20]}... ({len(digits)} digits)"
    return f"integer {shown} is out of range: convshape reads 64-bit integers"


def parse_call(expression: str) -> tuple[type[Layer], dict[str, Any]]:
    """``"Conv2d(16, 33, 3, stride=2)"`` -> (Conv2d, {in_channels: 16, ...}), values unchecked."""
    text = expression.strip()
    if len(text) > MAX_EXPR_LENGTH:
        raise SpecError(
            f"layer expression longer than {MAX_EXPR_LENGTH} characters ({len(text):,}), "
            "the limit for an expression"
        )
    try:
        tree = parse_expression(text, f"cannot parse layer expression {expression!r}")
    except SyntaxError as exc:
        raise SpecError(f"cannot parse layer expression {expression!r}: {exc.msg}") from None
    call = tree.body
    if isinstance(call, ast.Name | ast.Attribute):  # a bare name means all defaults: "ReLU"
        call = ast.Call(func=call, args=[], keywords=[])
    if not isinstance(call, ast.Call):
        raise SpecError(f"expected a layer call such as Conv2d(3, 8, 3), got {expression!r}")
    cls = layer_type(_callee(call.func, expression))
    names = list(schema(cls))
    if len(call.args) > len(names):
        raise SpecError(f"{cls.__name__} takes at most {len(names)} positional arguments")
    kwargs: dict[str, Any] = {}
    for name, node in zip(names, call.args, strict=False):
        if isinstance(node, ast.Starred):
            raise SpecError("*args is not supported in a layer expression")
        kwargs[name] = _literal(node, f"argument '{name}'")
    for kw in call.keywords:
        if kw.arg is None:
            raise SpecError("**kwargs is not supported in a layer expression")
        if kw.arg in kwargs:
            raise SpecError(f"{cls.__name__} got argument '{kw.arg}' twice")
        kwargs[kw.arg] = _literal(kw.value, f"argument '{kw.arg}'")
    return cls, kwargs


def _callee(func: ast.expr, expression: str) -> str:
    """``Conv2d``, ``nn.Conv2d`` or ``torch.nn.Conv2d`` (what people paste) -> ``Conv2d``."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = ast.unparse(func.value)
        if owner in ("nn", "torch.nn"):
            return func.attr
    raise SpecError(
        f"expected a layer call such as Conv2d(3, 8, 3) or nn.Conv2d(3, 8, 3), got {expression!r}"
    )


def parse_shape(text: str) -> Shape:
    """``"20,16,50,100"``, ``"[20, 16, 50, 100]"`` or ``"20x16x50x100"`` -> (20, 16, 50, 100)."""
    body = text.strip().removeprefix("[").removesuffix("]").removeprefix("(").removesuffix(")")
    if "," not in body and "x" in body.lower():
        body = body.lower().replace("x", ",")
    try:
        shape = tuple(_size(part) for part in body.split(",") if part.strip())
    except ValueError:
        raise SpecError(
            f"--input must be ints such as 1,3,224,224 or 1x3x224x224, got {text!r}"
        ) from None
    if not shape or any(d < 1 for d in shape):
        raise SpecError(f"--input must be a non-empty list of positive sizes, got {text!r}")
    return shape


def _size(part: str) -> int:
    """One ``--input`` size, refused past 64 bits before Python converts its digits.

    Only the significant digits are converted: ``000...08`` (thousands of zeros) is 8.
    """
    part = part.strip()
    if not _INT.fullmatch(part):
        return int(part)  # a ValueError, or what int() alone reads (" 8 ")
    digits = part.lstrip("+-").replace("_", "").lstrip("0")
    if len(digits) > len(str(MAX_INT)):
        raise SpecError(f"--input: {_out_of_range(part)}")
    value = int(digits or "0")
    if value > MAX_INT:
        raise SpecError(f"--input: {_out_of_range(part)}")
    return -value if part.startswith("-") else value


def build_layer(cls: type[Layer], raw: dict[str, Any], shape: Shape) -> Layer:
    """Check the arguments and fill the inferable one (in_channels, ...) from ``shape``."""
    args = {name: coerce(cls, name, value) for name, value in raw.items()}
    return make_for_input(cls, args, shape)


def calculate(expression: str, input_shape: str | Shape) -> CalcResult:
    """The output shape, params and MACs of one layer on one input."""
    shape = parse_shape(input_shape) if isinstance(input_shape, str) else tuple(input_shape)
    within_int64(shape, "input")
    cls, raw = parse_call(expression)
    try:
        layer = build_layer(cls, raw, shape)
        out = within_int64(forward_shape(layer, shape))
    except ConvshapeError as exc:
        raise exc.located(layer_type=cls.__name__, input_shape=shape) from None
    return CalcResult(layer, shape, out, layer.num_params(), layer.macs(shape, out))


def explain_type(cls: type[Layer]) -> list[str]:
    """``convshape layers Conv2d``: the signature, each argument, what is inferred, the module
    and the rule's own documentation."""
    lines = [describe(cls), ""]
    for f in dataclasses.fields(cls):
        default = "required" if f.default is dataclasses.MISSING else f"default {f.default!r}"
        inferred = "  (inferred from the input when left out)" if f.name == cls.inferred else ""
        lines.append(f"  {f.name}: {f.type}, {default}{inferred}")
    module = cls.torch_module or f"torch.nn.{cls.__name__}"
    lines += ["", f"module: {module}"]
    doc = (cls.__doc__ or "").strip()
    if doc and not doc.startswith(f"{cls.__name__}("):  # not dataclass's generated one
        lines += ["", *doc.splitlines()]
    family = sys.modules[cls.__module__].__doc__ or ""
    if family.strip():
        lines += ["", *family.strip().splitlines()]
    lines += ["", f'try: convshape calc "{cls.__name__}(...)" --input N,C,H,W']
    return lines


def describe(cls: type[Layer]) -> str:
    """``Conv2d(in_channels, out_channels, kernel_size, stride=1, ...)``."""
    parts = []
    for f in dataclasses.fields(cls):
        parts.append(f.name if f.default is dataclasses.MISSING else f"{f.name}={f.default!r}")
    return f"{cls.__name__}({', '.join(parts)})"
