"""Fuzzing the budgets: whatever grows, nests or overflows, the answer is a value or a
ConvshapeError, and it comes quickly.

Three targets: (i) spec text with variable chains, anchors and aliases, merge keys, ``${...}``
expressions, standard tags, 0-padded numbers and U+2028, written as YAML text (not dumped), so
growth through ``vars`` and aliases reaches the loader; (ii) ``${...}`` expressions: arithmetic
with huge and tiny numbers, deep nesting, overflow, and code that is not arithmetic; (iii)
``convshape calc`` expressions and ``--input`` values. No ``@settings`` here: the profile loaded
in conftest.py sets the number of examples (200 a target by default).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import cli
from hypothesis import event, given
from hypothesis import strategies as st

import convshape
from convshape.calc import calculate
from convshape.errors import ConvshapeError
from convshape.layers import REGISTRY
from convshape.spec.expr import MAX_STRING_LENGTH, _text, evaluate, substitute

SECONDS = 5  # each example; the budgets are refused in milliseconds


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_budgets") / "spec.yaml"


# ------------------------------------------------------------------------------ (ii) expressions

NUMBERS = st.one_of(
    st.integers(0, 20).map(str),
    st.integers(0, 10**600).map(str),  # past a float, past 64 bits
    st.sampled_from(["1e-300", "1e308", "1e-10", "0.5", "0.0", "1e15", "1e16", "2.5e-5", ".5"]),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(abs(f))),
    st.sampled_from(["w", "f", "s", "l", "nope", "True", "None", "'a'", "__import__"]),
)
OPERATORS = st.sampled_from(
    ["+", "-", "*", "/", "//", "%", "**", "<<", "@", " and ", " if 1 else "]
)
FUNCTIONS = st.sampled_from(["min", "max", "abs", "int", "round", "ceil", "floor", "open", "w"])


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        NUMBERS,
        lambda inner: st.one_of(
            st.tuples(inner, OPERATORS, inner).map("".join),
            st.tuples(st.sampled_from(["-", "+", "~", "not "]), inner).map("".join),
            inner.map(lambda e: f"({e})"),
            st.tuples(FUNCTIONS, st.lists(inner, max_size=3)).map(
                lambda c: f"{c[0]}({', '.join(c[1])})"
            ),
            st.tuples(st.integers(1, 300), st.sampled_from("-(~[+"), inner).map(_nest),
        ),
        max_leaves=12,
    )


def _nest(args: tuple[int, str, str]) -> str:
    """``depth`` unary operators, parentheses or brackets around ``expr``."""
    depth, opener, expr = args
    closer = {"(": ")", "[": "]"}.get(opener, "")
    return opener * depth + expr + closer * depth


SCOPE = {"w": 8, "f": 0.5, "s": "x", "l": [1, 2]}


@given(
    expr=st.one_of(
        _expressions(),
        st.text(alphabet="0123456789.e+-*/%()[] wfabsminx,~", max_size=600),
    )
)
def test_fuzz_expressions_evaluate_or_raise_a_spec_error(expr: str) -> None:
    start = time.perf_counter()
    try:
        value = evaluate(expr, SCOPE)
    except ConvshapeError as exc:
        assert exc.render()
        event("refused")
    else:
        assert isinstance(value, int | float)  # a number, or true/false from a comparison
        assert abs(value) <= 10**15
        event("value")
    if "{" not in expr and "}" not in expr:
        for text in (f"${{{expr}}}", f"k${{{expr}}}-$w"):
            with contextlib.suppress(ConvshapeError):
                substitute(text, SCOPE)
    assert time.perf_counter() - start < SECONDS


# ------------------------------------------------------------------------------ (i) spec text


@st.composite
def var_value(draw: st.DrawFn, i: int, anchors: list[str]) -> str:
    """The YAML text of variable ``v{i}``: a literal, or built from the variables before it."""
    refs = [f"v{j}" for j in range(i)]
    kinds = ["int", "str", "list", "nest", "padded", "tagged"]
    if refs:  # growth and nesting through variables, the most likely
        kinds += ["repeat", "repeat", "refs", "refs", "refs", "expr", "alias", "alias", "int"]
    kind = draw(st.sampled_from(kinds))
    ref = f"${draw(st.sampled_from(refs))}" if refs else "1"
    if kind == "int":
        return str(draw(st.integers(1, 5) | st.integers(-3, 10**20)))
    if kind == "str":
        return draw(st.sampled_from(["xx", "'a b'", '"${w}"', "same", "'$'", "x" * 3000]))
    if kind == "list":
        return str(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    if kind == "repeat":  # "$v$v$v": strings 4x a step
        return (
            '"'
            + ref * draw(st.integers(1, 6))
            + draw(st.sampled_from(["", "-", "-" + "x" * 50]))
            + '"'
        )
    if kind == "refs":  # [$v, $v, ...]: lists 4x a step
        return "[" + ", ".join([ref] * draw(st.integers(1, 6))) + "]"
    if kind == "expr":
        return f"${{{ref[1:]} {draw(OPERATORS)} {draw(NUMBERS)}}}"
    if kind == "nest":
        depth = draw(st.integers(1, 80))
        inner = draw(st.sampled_from([ref, "3", f"*{anchors[-1]}" if anchors else "3"]))
        return "[" * depth + inner + "]" * depth
    if kind == "alias" and anchors:
        return f"*{draw(st.sampled_from(anchors))}"
    if kind == "padded":
        return draw(st.sampled_from(["-", "+", ""])) + "0" * draw(st.integers(0, 6000)) + "3"
    tag = draw(st.sampled_from(["!!int", "!!float", "!!bool", "!!null", "!!str", "!!seq"]))
    return f"{tag} {draw(st.sampled_from(TAGGED))}"


TAGGED = ["3", '"8"', "0x1F", "yes", "", "[1]", "abc", "'1e999'", "0b2"]


@st.composite
def spec_texts(draw: st.DrawFn) -> str:
    lines = ["vars:"]
    anchors: list[str] = []
    for i in range(draw(st.integers(1, 12))):
        value = draw(var_value(i, anchors))
        if draw(st.booleans()) and not value.startswith(("*", "!!")):
            anchors.append(f"a{i}")
            value = f"&a{i} {value}"
        comment = draw(st.sampled_from(["", "  # note", "  # a\u2028b: 1", "  # \x85"]))
        lines.append(f"  v{i}: {value}{comment}")
    last = f"$v{i}"
    lines.append(f"input: {draw(st.sampled_from(['[1, 3, 8, 8]', last, '[1, 3, 8, 8]']))}")
    base = "&conv {type: Conv2d, out_channels: 4, kernel_size: 3}"
    kernel = draw(st.sampled_from([last, last, "3", f"${{{i} % 3 + 1}}", "!!int '3'", "0003"]))
    layer = draw(st.sampled_from([
        f"{{type: Conv2d, out_channels: 4, kernel_size: {kernel}}}",
        f"{{<<: *conv, kernel_size: {kernel}}}",
        f"{{kernel_size: {kernel}, <<: *conv}}",
        f"{{type: ReLU, name: 'r{last}'}}",
        f"{{type: Linear, out_features: {kernel}}}",
    ]))  # fmt: skip
    lines += ["layers:", f"  - {base}", f"  - {layer}", ""]
    return "\n".join(lines)


@given(text=spec_texts(), json_report=st.booleans())
def test_fuzz_spec_text_with_vars_and_anchors_loads_or_raises(
    spec_path: Path, text: str, json_report: bool
) -> None:
    spec_path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    try:
        prediction = convshape.predict(convshape.load(spec_path))
    except ConvshapeError as exc:
        assert exc.context.location is not None, exc.render()  # located: file:line:col
        assert len(exc.render()) < 2000
        event(f"refused: {exc.kind}")
    else:
        if prediction.error is not None:
            assert len(prediction.error.render()) < 2000
        event("loaded")
    if json_report:  # and the CLI, in process, on the same file
        outcome = cli("check", "--no-verify", "-f", "json", str(spec_path))
        assert outcome.code in (0, 1), outcome
        assert json.loads(outcome.stdout)
    assert time.perf_counter() - start < SECONDS


# ------------------------------------------------------------------------------ (iii) calc

LITERALS = st.recursive(
    st.one_of(
        st.integers(-3, 9).map(str),
        st.integers(0, 10**500).map(str),
        st.sampled_from(["True", "None", "'same'", "'zeros'", "1e999", "-0.5", "2.0", "{[1]}",
                         "{1: 2}", "b'x'", "1j", "open('x')", "x", "*a", "**k", "1 + 1"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.lists(inner, max_size=3).map(lambda xs: f"({', '.join(xs)},)"),
        st.tuples(st.integers(1, 120), st.sampled_from("[(-"), inner).map(_nest),
    ),
    max_leaves=8,
)  # fmt: skip
LAYER_NAMES = st.sampled_from([*sorted(REGISTRY), "Conv2D", "__import__", "os.system", ""])
KEYWORDS = st.sampled_from(["stride", "padding", "kernel_size", "groups", "bias", "scale_factor",
                            "dim", "p", "bogus"])  # fmt: skip
SIZES = st.one_of(
    st.integers(1, 64).map(str),
    st.integers(-2, 10**400).map(str),
    st.integers(0, 5000).map(lambda n: "0" * n + "8"),
    st.sampled_from(["9223372036854775807", "9223372036854775808", "x", "", " 3 ", "1_0", "٣"]),
)


PLAUSIBLE_CALLS = [
    ("Conv2d(3, 8, 3)", "1,3,16,16"), ("Conv2d(3, 8, 3, stride=2, padding=1)", "2,3,9,9"),
    ("Conv1d(2, 4, [3])", "1,2,10"), ("MaxPool2d(2)", "1,3,8,8"), ("Linear(10, 5)", "4,10"),
    ("ReLU", "1,3"), ("Upsample(scale_factor=2)", "1,3,4,4"), ("BatchNorm2d(3)", "1,3,4,4"),
    ("Flatten()", "2,3,4"), ("AdaptiveAvgPool2d([1, 1])", "1,3,7,7"),
]  # fmt: skip


@st.composite
def calc_calls(draw: st.DrawFn) -> tuple[str, str]:
    if draw(st.booleans()):  # a call that works, with one argument or size made hostile
        expression, shape = draw(st.sampled_from(PLAUSIBLE_CALLS))
        change = draw(st.sampled_from(["none", "argument", "size"]))
        if change == "argument":
            expression = f"{expression.removesuffix(')')}, {draw(KEYWORDS)}={draw(LITERALS)})"
        elif change == "size":
            sizes = shape.split(",")
            sizes[draw(st.integers(0, len(sizes) - 1))] = draw(SIZES)
            shape = ",".join(sizes)
        return expression, shape
    args = draw(st.lists(LITERALS, max_size=4))
    kwargs = [f"{draw(KEYWORDS)}={v}" for v in draw(st.lists(LITERALS, max_size=2))]
    expression = f"{draw(LAYER_NAMES)}({', '.join(args + kwargs)})"
    if draw(st.integers(0, 9)) == 0:
        expression += " " * 100_000 if draw(st.booleans()) else ", 1" * 40_000
    shape = ",".join(draw(st.lists(SIZES, min_size=0, max_size=6)))
    return expression, draw(st.sampled_from([shape, f"[{shape}]", shape + ",1" * 3000]))


@given(call=calc_calls())
def test_fuzz_calc_answers_or_raises_a_convshape_error(call: tuple[str, str]) -> None:
    expression, shape = call
    start = time.perf_counter()
    try:
        result = calculate(expression, shape)
    except ConvshapeError as exc:
        assert len(exc.render()) < 2000 + 2 * len(shape)  # the input shape is shown whole
        event(f"refused: {exc.kind}")
    else:
        assert json.dumps(result.to_json())
        assert all(d <= 2**63 - 1 for d in (*result.input_shape, *result.output_shape))
        event("answered")
    assert time.perf_counter() - start < SECONDS


# ------------------------------------------------------------------------------ the formatter

VALUES = st.recursive(
    st.one_of(st.integers(-(2**63), 2**63), st.floats(), st.booleans(), st.none(), st.text()),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(value=VALUES, budget=st.integers(0, 200))
def test_fuzz_bounded_formatting_is_str_up_to_the_budget(value: Any, budget: int) -> None:
    """The string budget formats a list as str() does, and stops past the budget."""
    full = str(value)
    assert _text(value, MAX_STRING_LENGTH) == (full if len(full) <= MAX_STRING_LENGTH else None)
    assert _text(value, budget) == (full if len(full) <= budget else None)
