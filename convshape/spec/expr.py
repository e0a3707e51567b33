"""``$name`` and ``${expr}``: a small arithmetic evaluator that never calls ``eval``.

Accepted: int and float literals, the variables in scope, ``+ - * / // % **``, unary ``+ -``,
parentheses and the functions ``min``, ``max``, ``abs``, ``int``, ``round``, ``ceil``,
``floor``. Everything else (names not in scope, attributes, subscripts, other calls, strings,
comparisons, lambdas, dunders) is refused before anything is computed; ``**`` and results are
bounded so that ``10 ** 10 ** 10`` is refused instead of computed.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from convshape.errors import SpecError

Number = int | float
MAX_MAGNITUDE = 10**15
MAX_EXPR_LENGTH = 500

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _round(value: Number, ndigits: Number | None = None) -> Number:
    # round(5, -10**15) computes 10**(10**15): bound the digits before Python does
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 30):
        raise ValueError(f"ndigits must be an int from -30 to 30, got {ndigits!r}")
    return round(value) if ndigits is None else round(value, ndigits)


_FUNCS: dict[str, Callable[..., Number]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "round": _round,
    "ceil": math.ceil,
    "floor": math.floor,
}
_WHOLE = re.compile(r"\$(?:\{(?P<expr>[^{}]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*))")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_pow(base: Number, exp: Number, text: str) -> None:
    if abs(exp) > 64 or (abs(base) > 1 and exp * math.log2(abs(base)) > 50):
        raise SpecError(f"${{{text}}}: {base} ** {exp} is too large to compute")


def _bounded(value: Number, text: str) -> Number:
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"${{{text}}} is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise SpecError(f"${{{text}}} = {value:.3g} is out of range (|value| <= 1e15)")
    return value


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any], text: str) -> None:
        self.scope = scope
        self.text = text

    def eval(self, node: ast.AST) -> Number:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            if isinstance(node.value, bool):
                raise SpecError(f"${{{self.text}}}: booleans are not numbers here")
            return _bounded(node.value, self.text)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self.eval(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return self.binop(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self.call(node.func.id, node.args)
        raise SpecError(
            f"${{{self.text}}}: `{ast.unparse(node)}` is not allowed "
            "(only numbers, variables, + - * / // % **, min, max, abs, int, round, ceil, floor)"
        )

    def name(self, name: str) -> Number:
        if name not in self.scope:
            close = difflib.get_close_matches(name, list(self.scope), n=1)
            tip = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(self.scope)) or "none"
            raise SpecError(f"unknown variable '{name}'{tip}; in scope: {known}")
        value = self.scope[name]
        if not _is_number(value):
            raise SpecError(f"variable '{name}' is {value!r}, not a number, in ${{{self.text}}}")
        return value  # type: ignore[no-any-return]

    def binop(self, node: ast.BinOp) -> Number:
        left, right = self.eval(node.left), self.eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_pow(left, right, self.text)
        try:
            value = _BINOPS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise SpecError(f"${{{self.text}}}: division by zero") from None
        if isinstance(value, complex):
            raise SpecError(f"${{{self.text}}} is not a real number")
        return _bounded(value, self.text)

    def call(self, func: str, args: list[ast.expr]) -> Number:
        if func not in _FUNCS:
            raise SpecError(f"${{{self.text}}}: function '{func}' is not allowed")
        values = [self.eval(a) for a in args]
        try:
            return _bounded(_FUNCS[func](*values), self.text)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SpecError(f"${{{self.text}}}: {func}() {exc}") from None


def evaluate(text: str, scope: Mapping[str, Any]) -> Number:
    """The value of the arithmetic expression ``text`` over ``scope``."""
    if len(text) > MAX_EXPR_LENGTH:
        raise SpecError(f"expression longer than {MAX_EXPR_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"cannot parse ${{{text}}}: {exc.msg}") from None
    return _Evaluator(scope, text).eval(tree)


def substitute(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve ``$name`` / ``${expr}`` in a string scalar; other values pass through.

    A string that is exactly one reference becomes the referenced value itself (a number, a
    list, ...); references inside a longer string are formatted into it.
    """
    if not isinstance(value, str) or "$" not in value:
        return value
    whole = _WHOLE.fullmatch(value)
    if whole:
        return _resolve(whole, scope)
    return _WHOLE.sub(lambda m: str(_resolve(m, scope)), value)


def _resolve(match: re.Match[str], scope: Mapping[str, Any]) -> Any:
    name = match.group("name")
    if name is None:
        return evaluate(match.group("expr"), scope)
    if name not in scope:
        return _Evaluator(scope, name).name(name)  # raises with did-you-mean
    return scope[name]
