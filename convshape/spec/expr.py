"""``$name`` and ``${expr}``: a small arithmetic evaluator that never calls ``eval``.

Accepted: int and float literals, ``true``/``false`` (``True``/``False``), the variables in
scope, ``+ - * / // % **``, unary ``+ -``, parentheses, comparisons (``== != < <= > >=``,
chained), ``and``, ``or``, ``not``, conditionals (``a if cond else b``) and the functions
``min``, ``max``, ``abs``, ``int``, ``round``, ``ceil``, ``floor`` and ``make_divisible``
(torchvision's ``_make_divisible``). Booleans are not numbers: arithmetic on them is refused.
Everything else (names not in scope, attributes, subscripts, other calls, strings, lambdas,
dunders) is refused before anything is computed; ``**`` and results are bounded so that
``10 ** 10 ** 10`` is refused instead of computed.

Budgets, each a :class:`SpecError` that names it: an expression is at most
``MAX_EXPR_LENGTH`` characters and ``MAX_EXPR_DEPTH`` levels deep; a string built by
substitution is at most ``MAX_STRING_LENGTH`` characters (counted before it is built); a list
built by substitution (``b: [$a, $a]``, chained through ``vars``) stays within the YAML
reader's budgets: ``MAX_NODES`` nodes, ``MAX_DEPTH`` levels and ``MAX_TEXT`` characters.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from convshape.errors import SpecError, did_you_mean
from convshape.spec.yamlio import MAX_DEPTH, MAX_NODES, MAX_TEXT

Number = int | float
MAX_MAGNITUDE = 10**15
MAX_EXPR_LENGTH = 500
MAX_EXPR_DEPTH = MAX_DEPTH  # operators, calls and brackets inside each other, as YAML nesting
MAX_STRING_LENGTH = 10_000  # a string built by substituting variables into a longer string

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**"}  # fmt: skip


def _round(value: Number, ndigits: Number | None = None) -> Number:
    # round(5, -10**15) computes 10**(10**15): bound the digits before Python does
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 30):
        raise ValueError(f"ndigits must be an int from -30 to 30, got {ndigits!r}")
    return round(value) if ndigits is None else round(value, ndigits)


def make_divisible(value: Number, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision/models/_utils.py ``_make_divisible``: the nearest multiple of ``divisor``,
    at least ``min_value`` (default ``divisor``), never below 90% of ``value``."""
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be a positive int, got {divisor!r}")
    low = divisor if min_value is None else min_value
    new = max(low, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


_FUNCS: dict[str, Callable[..., Number]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "round": _round,
    "ceil": math.ceil,
    "floor": math.floor,
    "make_divisible": make_divisible,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
Value = Number | bool
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
        raise SpecError(f"${{{text}}} = {_shown(value)} is out of range (|value| <= 1e15)")
    return value


def _shown(value: Number) -> str:
    """``1.21e+24``; an int past a float's range (a 400-digit literal) without float()."""
    if isinstance(value, int) and value.bit_length() > 1000:
        digits = str(abs(value))  # at most MAX_EXPR_LENGTH digits
        return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"
    return f"{value:.3g}"


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any], text: str) -> None:
        self.scope = scope
        self.text = text

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            if isinstance(node.value, bool):
                return node.value
            return _bounded(node.value, self.text)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self.number(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return self.binop(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self.call(node.func.id, node.args)
        return self.logic(node)

    def logic(self, node: ast.AST) -> Any:
        """Comparisons, and / or / not, and ``a if cond else b``."""
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            parts = [node.left, *node.comparators]
            values = [self.eval(part) for part in parts]
            for i, op in enumerate(node.ops):
                a, b = values[i], values[i + 1]
                both_bool = isinstance(a, bool) and isinstance(b, bool)
                if not (both_bool and isinstance(op, ast.Eq | ast.NotEq)):
                    for value, part in ((a, parts[i]), (b, parts[i + 1])):
                        self._not_bool(value, part)  # no true < 1
                if not _COMPARE[type(op)](a, b):
                    return False
            return True
        if isinstance(node, ast.BoolOp):
            want_all = isinstance(node.op, ast.And)
            for value in node.values:
                if self.boolean(value) is not want_all:
                    return not want_all
            return want_all
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self.boolean(node.operand)
        if isinstance(node, ast.IfExp):
            return self.eval(node.body if self.boolean(node.test) else node.orelse)
        raise SpecError(
            f"${{{self.text}}}: `{ast.unparse(node)}` is not allowed (only numbers, true/false, "
            "variables, + - * / // % **, comparisons, and/or/not, a if c else b, min, max, "
            "abs, int, round, ceil, floor, make_divisible)"
        )

    def number(self, node: ast.AST) -> Number:
        return self._not_bool(self.eval(node), node)

    def _not_bool(self, value: Any, node: ast.AST) -> Number:
        """``value`` (of ``node``) as a number; true/false is not one."""
        if isinstance(value, bool):
            raise SpecError(f"${{{self.text}}}: `{ast.unparse(node)}` is true/false, not a number")
        return value  # type: ignore[no-any-return]

    def boolean(self, node: ast.AST) -> bool:
        value = self.eval(node)
        if not isinstance(value, bool):
            raise SpecError(
                f"${{{self.text}}}: `{ast.unparse(node)}` is a number, not true/false "
                "(compare it: `x > 0`)"
            )
        return value

    def name(self, name: str) -> Value:
        if name in ("true", "false") and name not in self.scope:
            return name == "true"  # YAML's spelling
        if name not in self.scope:
            close = did_you_mean(name, self.scope)
            tip = f" ({close})" if close else ""
            known = ", ".join(sorted(k for k in self.scope if not k.startswith("input_")))
            known = known or "none"
            raise SpecError(f"unknown variable '{name}'{tip}; in scope: {known}")
        value = self.scope[name]
        if not _is_number(value) and not isinstance(value, bool):
            raise SpecError(f"variable '{name}' is {value!r}, not a number, in ${{{self.text}}}")
        return value  # type: ignore[no-any-return]

    def binop(self, node: ast.BinOp) -> Number:
        left, right = self.number(node.left), self.number(node.right)
        if isinstance(node.op, ast.Pow):
            _check_pow(left, right, self.text)
        try:
            value = _BINOPS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise SpecError(f"${{{self.text}}}: division by zero") from None
        except OverflowError:  # 1e-10 ** -40: a float past 1.8e308
            symbol = _SYMBOLS[type(node.op)]
            raise SpecError(f"${{{self.text}}}: {left} {symbol} {right} is too large") from None
        if isinstance(value, complex):
            raise SpecError(f"${{{self.text}}} is not a real number")
        return _bounded(value, self.text)

    def call(self, func: str, args: list[ast.expr]) -> Number:
        if func not in _FUNCS:
            raise SpecError(f"${{{self.text}}}: function '{func}' is not allowed")
        values = [self.number(a) for a in args]
        try:
            return _bounded(_FUNCS[func](*values), self.text)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SpecError(f"${{{self.text}}}: {func}() {exc}") from None


def parse_expression(text: str, what: str) -> ast.Expression:
    """``text`` parsed as one Python expression at most ``MAX_EXPR_DEPTH`` levels deep.

    A :class:`SyntaxError` (a NUL character included) is the caller's to word; nesting too
    deep for the budget, or for Python's own parser, is a :class:`SpecError` naming ``what``.
    """
    try:
        tree = ast.parse(text, mode="eval")
    except (RecursionError, MemoryError):  # Python's parser ran out of stack first
        raise _too_deep(what) from None
    except ValueError as exc:  # "source code string cannot contain null bytes" (3.11)
        raise SyntaxError(str(exc)) from None
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:  # iterative: the check itself cannot recurse too deep
        node, depth = stack.pop()
        if depth > MAX_EXPR_DEPTH:
            raise _too_deep(what)
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + isinstance(child, ast.expr)))
    return tree


def _too_deep(what: str) -> SpecError:
    return SpecError(f"{what}: expression nested too deeply (more than {MAX_EXPR_DEPTH} levels)")


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """The value (a number, or true/false) of the expression ``text`` over ``scope``."""
    if len(text) > MAX_EXPR_LENGTH:
        raise SpecError(f"expression longer than {MAX_EXPR_LENGTH} characters")
    try:
        tree = parse_expression(text.strip(), f"${{{text}}}")
    except SyntaxError as exc:
        raise SpecError(f"cannot parse ${{{text}}}: {exc.msg}") from None
    try:
        return _Evaluator(scope, text).eval(tree)
    except (RecursionError, MemoryError):  # within the budget, but called from deep already
        raise SpecError(f"${{{text}}}: expression nested too deeply") from None


def substitute(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve ``$name`` / ``${expr}`` in a string scalar; other values pass through.

    A string that is exactly one reference becomes the referenced value itself (a number, a
    list, ...); references inside a longer string are formatted into it, within
    ``MAX_STRING_LENGTH`` characters: the length is counted piece by piece, and a piece that
    would pass the budget is refused before it is built.
    """
    if not isinstance(value, str) or "$" not in value:
        return value
    whole = _WHOLE.fullmatch(value)
    if whole:
        return _resolve(whole, scope)
    parts: list[str] = []
    size = end = 0
    for m in _WHOLE.finditer(value):
        literal = value[end : m.start()]
        piece = _text(_resolve(m, scope), MAX_STRING_LENGTH - size - len(literal))
        if piece is None:
            raise _too_long()
        parts += (literal, piece)
        size += len(literal) + len(piece)
        end = m.end()
    if not parts:  # a "$" that starts no reference: nothing was substituted
        return value
    if size + len(value) - end > MAX_STRING_LENGTH:
        raise _too_long()
    parts.append(value[end:])
    return "".join(parts)


def _too_long() -> SpecError:
    return SpecError(
        f"substituting variables here makes a string longer than {MAX_STRING_LENGTH:,} "
        "characters (the limit for a string built from variables)"
    )


def _resolve(match: re.Match[str], scope: Mapping[str, Any]) -> Any:
    name = match.group("name")
    if name is None:
        return evaluate(match.group("expr"), scope)
    if name not in scope:
        return _Evaluator(scope, name).name(name)  # raises with did-you-mean
    return scope[name]


def _text(value: Any, budget: int) -> str | None:
    """``str(value)``, or None as soon as it would be longer than ``budget`` (built no further).

    Lists and mappings are written as Python writes them (``[1, 'a']``), iteratively.
    """
    if not isinstance(value, list | dict):
        if isinstance(value, str):
            return value if len(value) <= budget else None
        text = str(value)  # a number, a bool, None: short
        return text if len(text) <= budget else None
    parts: list[str] = []
    size = 0
    stack: list[Iterator[tuple[bool, Any]]] = [_tokens(value)]
    while stack:
        token = next(stack[-1], None)
        if token is None:
            stack.pop()
            continue
        literal, item = token
        if not literal and isinstance(item, list | dict):
            stack.append(_tokens(item))
            continue
        if not literal and isinstance(item, str) and len(item) + 2 > budget - size:
            return None  # repr() would be at least this long: not built
        text = item if literal else repr(item)
        size += len(text)
        if size > budget:
            return None
        parts.append(text)
    return "".join(parts)


def _tokens(value: list[Any] | dict[Any, Any]) -> Iterator[tuple[bool, Any]]:
    """(True, text to write) or (False, a value to write with repr): a list's or dict's repr."""
    if isinstance(value, dict):
        yield True, "{"
        for n, (key, item) in enumerate(value.items()):
            yield from (((True, ", "),) if n else ())
            yield from ((False, key), (True, ": "), (False, item))
        yield True, "}"
        return
    yield True, "["
    for n, item in enumerate(value):
        yield from (((True, ", "),) if n else ())
        yield False, item
    yield True, "]"


# ------------------------------------------------------------------------------ built values


class Built(list[Any]):
    """A list substitution built (``[$a, $a]``), with its size as the YAML reader counts it."""

    nodes: int
    depth: int
    chars: int


def measure(value: Any) -> tuple[int, int, int]:
    """(nodes, depth, chars) of a value after alias and variable expansion.

    A scalar is one node, depth 0, and its length if it is a string. A YAML collection or a
    :class:`Built` list knows its own; any other list or mapping is walked once (shared parts
    counted once per use, as alias expansion counts them), and the walk stops past the budgets.
    """
    if not isinstance(value, list | dict):
        return 1, 0, len(value) if isinstance(value, str) else 0
    known = _known(value)
    if known is not None:
        return known
    over = (MAX_NODES + 1, MAX_DEPTH + 1, MAX_TEXT + 1)
    memo: dict[int, tuple[int, int, int]] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    steps = 0
    while stack:
        item, children_done = stack.pop()
        if id(item) in memo:
            continue
        children = list(item.items()) if isinstance(item, dict) else item
        steps += len(children) + 1
        if steps > 2 * MAX_NODES:  # past the budget, or a list that contains itself
            return over
        if not children_done:
            stack.append((item, True))
            for child in _parts(children):
                if isinstance(child, list | dict) and id(child) not in memo:
                    known = _known(child)
                    if known is not None:
                        memo[id(child)] = known
                    else:
                        stack.append((child, False))
            continue
        nodes, depth, chars = 1, 0, 0
        for child in _parts(children):
            n, d, c = memo[id(child)] if isinstance(child, list | dict) else measure(child)
            nodes, depth, chars = nodes + n, max(depth, d), chars + c
        memo[id(item)] = (min(nodes, over[0]), depth + 1, min(chars, over[2]))
    return memo[id(value)]


def _known(value: list[Any] | dict[Any, Any]) -> tuple[int, int, int] | None:
    sizes = (
        getattr(value, "nodes", None),
        getattr(value, "depth", None),
        getattr(value, "chars", None),
    )
    return sizes if all(isinstance(n, int) for n in sizes) else None  # type: ignore[return-value]


def _parts(children: list[Any]) -> Iterator[Any]:
    """The items of a list, or the keys and values of a mapping's item pairs."""
    for child in children:
        if isinstance(child, tuple):
            yield from child
        else:
            yield child


def build_list(items: list[Any]) -> Built:
    """``items`` as a :class:`Built` list, refused past the YAML reader's budgets.

    ``b: [$a, $a, $a, $a]`` chained through ``vars`` would otherwise grow 4x a step with no
    alias in sight, and ``b: [$a]`` one level a step.
    """
    nodes, depth, chars = 1, 0, 0
    for item in items:
        n, d, c = measure(item)
        nodes, depth, chars = nodes + n, max(depth, d), chars + c
    depth += 1
    if nodes > MAX_NODES or chars > MAX_TEXT:
        what = f"{MAX_NODES:,} nodes" if nodes > MAX_NODES else f"{MAX_TEXT:,} characters"
        raise SpecError(
            f"substituting variables here makes a value of more than {what} "
            "(the budget of a whole spec)"
        )
    if depth > MAX_DEPTH:
        raise SpecError(
            f"substituting variables here makes a list nested deeper than {MAX_DEPTH} levels"
        )
    built = Built(items)
    built.nodes, built.depth, built.chars = nodes, depth, chars
    return built
