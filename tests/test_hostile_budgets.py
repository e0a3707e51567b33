"""Hostile input that slipped the budgets: each class is refused by one rule, with a located
message that names the limit, never a traceback, RecursionError, MemoryError or a hang.

Growth (strings and lists built from variables, anchors nested through aliases, long lines of
``${...}``), numbers (float overflow, 0-padded ints, standard tags), ``convshape calc``, and
messages that pointed at the wrong place (merge keys, U+2028). Fuzzing: test_fuzz_budgets.py.
"""

from __future__ import annotations

import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from helpers import cli

import convshape
from convshape.calc import calculate
from convshape.errors import ConvshapeError, ErrorKind, SpecError
from convshape.spec.checks import substitute_deep
from convshape.spec.expr import MAX_EXPR_DEPTH, MAX_STRING_LENGTH, evaluate
from convshape.spec.yamlio import MAX_DEPTH, MAX_NODES, MAX_TEXT, load_yaml, parse_text


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> tuple[Path, str]:
    """(the file, the rendered error) of a spec the loader or the engine refuses."""
    path = spec_file(tmp_path, text)
    try:
        prediction = convshape.predict(convshape.load(path))
    except ConvshapeError as exc:
        return path, exc.render()
    assert prediction.error is not None, "expected an error"
    return path, prediction.error.render()


def output_of(tmp_path: Path, text: str) -> tuple[int, ...] | None:
    prediction = convshape.predict(convshape.load(spec_file(tmp_path, text)))
    assert prediction.error is None, prediction.error
    return prediction.output_shape


def test_the_budgets_are_the_documented_numbers() -> None:
    assert (MAX_DEPTH, MAX_NODES, MAX_TEXT) == (64, 200_000, 5_000_000)
    assert (MAX_STRING_LENGTH, MAX_EXPR_DEPTH) == (10_000, 64)


# ------------------------------------------------------------------------------ 1a. strings


def test_a_string_grown_through_vars_is_refused_at_the_limit_before_it_is_built(
    tmp_path: Path,
) -> None:
    """Each var is 4x the last: 2, 8, ..., 8192, then 32768 is refused (it ran out of memory
    after 30 s at 30 levels)."""
    names = "abcdefghijklmnopqrstuvwxyzABCD"
    lines = ["vars:", "  a: xx"] + [f'  {n}: "${p}${p}${p}${p}"' for p, n in pairwise(names)]
    text = "\n".join([*lines, "input: [1, 3]", "layers: [ReLU]", ""])
    start = time.perf_counter()
    path, message = error_of(tmp_path, text)
    assert time.perf_counter() - start < 20  # a hang guard, not a speed target
    assert message == (
        f"{path}:9:6: vars: substituting variables here makes a string longer than 10,000 "
        "characters (the limit for a string built from variables)"
    )


@pytest.mark.parametrize(("tail", "ok"), [("", True), ("-", False)])
def test_the_string_budget_is_exact(tmp_path: Path, tail: str, ok: bool) -> None:
    half = "x" * (MAX_STRING_LENGTH // 2)
    text = f'vars:\n  a: {half}\n  b: "$a$a{tail}"\ninput: [1, 3]\nlayers: [ReLU]\n'
    if ok:
        assert output_of(tmp_path, text) == (1, 3)
    else:
        path, message = error_of(tmp_path, text)
        assert message.startswith(f"{path}:3:6: vars: substituting variables here makes a string")


def test_a_long_string_with_a_dollar_but_no_reference_is_not_substituted(tmp_path: Path) -> None:
    assert load_yaml(spec_file(tmp_path, f"a: '{'x' * 20_000} $ 5'\n"))["a"].endswith("x $ 5")
    data = parse_text("vars: {a: x}\ninput: [1]\nlayers: []\n", "f")
    assert substitute_deep(f"{'y' * 20_000} costs 5$", data["vars"]).endswith("5$")


def test_a_list_formatted_into_a_string_is_written_as_python_writes_it(tmp_path: Path) -> None:
    text = "vars:\n  a: [1, 'x', null, 2.5, [true]]\n  b: 'k$a'\ninput: [1, 3]\nlayers: [ReLU]\n"
    data = load_yaml(spec_file(tmp_path, text))
    assert substitute_deep(data["vars"]["b"], data["vars"]) == "k[1, 'x', None, 2.5, [True]]"


# ------------------------------------------------------------------------------ 1a. lists


def test_a_list_grown_through_vars_is_refused_at_the_node_budget(tmp_path: Path) -> None:
    """v0 has 5 nodes, each v(k) = 1 + 4 v(k-1): v8 = 349,525 > 200,000 (it hung on repr)."""
    lines = ["vars:", "  v0: [1, 1, 1, 1]"]
    lines += [f"  v{i}: [$v{i - 1}, $v{i - 1}, $v{i - 1}, $v{i - 1}]" for i in range(1, 20)]
    text = "\n".join([*lines, "input: $v19", "layers: [ReLU]", ""])
    start = time.perf_counter()
    path, message = error_of(tmp_path, text)
    assert time.perf_counter() - start < 20  # a hang guard, not a speed target
    assert message == (
        f"{path}:10:7: vars: substituting variables here makes a value of more than 200,000 "
        "nodes (the budget of a whole spec)"
    )


def test_a_list_nested_through_vars_is_refused_at_the_depth_limit(tmp_path: Path) -> None:
    lines = ["vars:", "  v0: 1"] + [f"  v{i}: [$v{i - 1}]" for i in range(1, 1000)]
    text = "\n".join([*lines, "input: [1, 3]", "layers: [{type: Conv2d, out_channels: 3, "
                      "kernel_size: $v999}]", ""])  # fmt: skip
    path, message = error_of(tmp_path, text)
    assert message == (
        f"{path}:67:8: vars: substituting variables here makes a list nested deeper than 64 levels"
    )


def test_a_long_string_in_a_list_grown_through_vars_is_refused_at_the_text_budget(
    tmp_path: Path,
) -> None:
    text = f"vars:\n  a: ['{'x' * 1_000_000}']\n  b: [$a, $a, $a, $a, $a, $a]\ninput: $b\n"
    path, message = error_of(tmp_path, text + "layers: [ReLU]\n")
    assert message == (
        f"{path}:3:6: vars: substituting variables here makes a value of more than 5,000,000 "
        "characters (the budget of a whole spec)"
    )


def test_substitute_deep_does_not_recurse() -> None:
    deep: Any = 1
    for _ in range(10 * sys.getrecursionlimit()):
        deep = [deep]
    assert substitute_deep(deep, {}) is deep  # nothing to substitute: the same list
    bottom = inner = [["$a"]]
    for _ in range(10 * sys.getrecursionlimit()):
        bottom = [bottom]
    with pytest.raises(SpecError, match="makes a list nested deeper than 64 levels"):
        substitute_deep(bottom, {"a": 1})
    assert substitute_deep(inner, {"a": 1}) == [[1]]


# ------------------------------------------------------------------------------ 1b. anchors


def test_an_alias_that_nests_an_anchored_value_past_the_limit_is_refused_at_the_alias(
    tmp_path: Path,
) -> None:
    text = "a: &a " + "[" * 60 + "]" * 60 + "\nb: [[[[[*a]]]]]\n"
    path, message = error_of(tmp_path, text)
    assert message == (
        f"{path}:2:9: nesting deeper than 64 levels: alias *a puts 60 levels at depth 6"
    )


def test_anchors_chained_hundreds_of_levels_deep_are_refused_not_a_recursion_error(
    tmp_path: Path,
) -> None:
    lines = ["vars:", "  x0: &x0 [[[[[[[[[[[1]]]]]]]]]]]"]
    lines += [f"  x{i}: &x{i} [[[[[[[[[[*x{i - 1}]]]]]]]]]]" for i in range(1, 80)]
    path, message = error_of(tmp_path, "\n".join([*lines, "input: [1, 3]", "layers: [ReLU]", ""]))
    assert message == (
        f"{path}:8:21: nesting deeper than 64 levels: alias *x5 puts 61 levels at depth 12"
    )


def test_anchored_values_within_the_limit_still_work(tmp_path: Path) -> None:
    text = (
        "vars:\n  k: &k [[[3]]]\n  deep: [[[[[[*k]]]]]]\ninput: [1, 3, 8, 8]\n"
        "layers: [{type: Conv2d, out_channels: 2, kernel_size: 3}]\n"
    )
    assert output_of(tmp_path, text) == (1, 2, 6, 6)


def test_an_aliased_long_string_is_refused_at_the_text_budget(tmp_path: Path) -> None:
    """999,000 characters, anchored once and aliased: the 5th alias passes 5,000,000 (with the
    10 characters of the keys); it took minutes and gigabytes when a message echoed it."""
    text = f'vars:\n  a: &a "{"x" * 999_000}"\ninput: [*a, *a, *a, *a, *a, *a]\n'
    start = time.perf_counter()
    path, message = error_of(tmp_path, text)
    assert time.perf_counter() - start < 20  # a hang guard, not a speed target
    assert message == (
        f"{path}:3:25: the document expands to more than 5,000,000 characters "
        "(alias expansion bomb?); refusing to read it"
    )


# ------------------------------------------------------------------------------ 1c. linear time

ITEMS = ", ".join(["${a}"] * 50_000)  # 300,000 characters on one line


def test_a_300_kb_line_of_expressions_parses_in_well_under_a_second() -> None:
    line = f"x: [{ITEMS}]\n"
    assert len(line) > 300_000
    start = time.process_time()
    data = parse_text(line, "f")
    assert time.process_time() - start < 10  # a hang guard: 0.3 s now; it took minutes (quadratic)
    assert len(data["x"]) == 50_000
    assert data["x"].item_locs[-1].column == len(line) - 5  # columns still the user's


def test_a_300_kb_line_of_expressions_loads_as_a_spec(tmp_path: Path) -> None:
    text = f"vars: {{a: 1, many: [{ITEMS}]}}\ninput: [1, 3]\nlayers: [ReLU]\n"
    start = time.process_time()
    assert output_of(tmp_path, text) == (1, 3)
    assert time.process_time() - start < 20  # a hang guard, not a speed target


def test_a_long_run_of_digits_that_is_not_a_number_is_read_in_linear_time(
    tmp_path: Path,
) -> None:
    """The float pattern had two ways to split each digit run: 8,000 digits took 6 s."""
    start = time.process_time()
    data = load_yaml(spec_file(tmp_path, f"name: {'1' * 200_000}x\n"))
    assert time.process_time() - start < 10  # a hang guard, not a speed target
    assert data["name"] == "1" * 200_000 + "x"


# ------------------------------------------------------------------------------ expressions


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("-" * 70 + "1", "expression nested too deeply (more than 64 levels)"),
        ("~" * 400 + "1", "expression nested too deeply (more than 64 levels)"),
        ("+".join(["1"] * 66), "expression nested too deeply (more than 64 levels)"),
        ("[" * 100 + "]" * 100, "expression nested too deeply (more than 64 levels)"),
        ("(" * 240 + "1" + ")" * 240, "too many nested parentheses"),
        ("1e-10 ** -40", "1e-10 ** -40 is too large"),
        ("1e15 / 1e-300", "${1e15 / 1e-300} is not a finite number"),
        ("9" * 400, "= 9.99e+399 is out of range (|value| <= 1e15)"),
    ],
    ids=["minus", "invert", "sum", "brackets", "parentheses", "float-overflow", "inf",
         "400-digits"],
)  # fmt: skip
def test_expressions_nested_too_deep_or_overflowing_are_spec_errors(
    tmp_path: Path, expr: str, message: str
) -> None:
    text = (
        f"vars: {{w: 8}}\ninput: [1, 3]\nlayers:\n  - {{type: Linear, out_features: ${{{expr}}}}}\n"
    )
    path, rendered = error_of(tmp_path, text)
    assert rendered.startswith(f"{path}:4:34: layers[0]: ")
    assert message in rendered


def test_an_overflow_message_in_full(tmp_path: Path) -> None:
    text = "input: [1, 3]\nlayers:\n  - {type: Linear, out_features: ${1e-10 ** -40}}\n"
    path, message = error_of(tmp_path, text)
    assert message == f"{path}:3:34: layers[0]: ${{1e-10 ** -40}}: 1e-10 ** -40 is too large"


def test_expressions_within_the_depth_still_evaluate() -> None:
    assert evaluate("-" * 63 + "1", {}) == -1
    assert evaluate("+".join(["1"] * 64), {}) == 64
    assert evaluate("((((w)))) * 2", {"w": 3}) == 6


def test_an_expression_evaluated_when_the_stack_is_almost_used_up_is_a_spec_error() -> None:
    """Python's parser and the evaluator need stack; what is left may be less than the budget."""

    def at_depth(n: int) -> Any:
        if n > 0:
            return at_depth(n - 1)
        try:
            return evaluate("-" * 60 + "1", {})
        except SpecError as exc:
            return exc.message

    used = len(_frames())
    outcome = at_depth(sys.getrecursionlimit() - used - 40)
    assert outcome == 1 or "expression nested too deeply" in outcome


def _frames() -> list[Any]:
    frame, frames = sys._getframe(), []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


def test_an_expression_with_a_nul_character_cannot_be_parsed(tmp_path: Path) -> None:
    text = 'input: [1, 3]\nlayers:\n  - {type: Linear, out_features: "${1\\0}"}\n'
    path, message = error_of(tmp_path, text)
    assert message == (
        f"{path}:3:34: layers[0]: cannot parse ${{1\x00}}: source code string cannot contain "
        "null bytes"
    )


# ------------------------------------------------------------------------------ 2b. numbers


def test_zero_padded_integers_are_read_by_their_significant_digits(tmp_path: Path) -> None:
    """Thousands of leading zeros passed the 64-bit check, then int() refused 4,301 digits."""
    kernel = "0" * 5000 + "3"
    text = f"input: [1, 3, 8, 8]\nlayers:\n  - {{type: Conv2d, out_channels: 4, kernel_size: {kernel}}}\n"
    assert output_of(tmp_path, text) == (1, 4, 6, 6)
    data = load_yaml(spec_file(tmp_path, f"a: -{'0' * 5000}\nb: +{'0' * 5000}7\n"))
    assert (data["a"], data["b"]) == (0, 7)


def test_zero_padded_integers_past_64_bits_are_still_refused(tmp_path: Path) -> None:
    path, message = error_of(tmp_path, f"input: [1, {'0' * 5000}{'9' * 20}]\nlayers: []\n")
    assert message == (
        f"{path}:1:12: integer 00000000000000000000... (20 digits) is out of range: "
        "convshape reads 64-bit integers"
    )


def test_floats_with_huge_digit_strings_are_read(tmp_path: Path) -> None:
    data = load_yaml(spec_file(tmp_path, f"p: 0.{'0' * 100_000}5\nq: {'0' * 100_000}1.5\n"))
    assert (data["p"], data["q"]) == (0.0, 1.5)


# ------------------------------------------------------------------------------ 2c. tags


@pytest.mark.parametrize(
    ("yaml_value", "value"),
    [
        ('!!int "8"', 8), ("!!int '-0012'", -12), ("!!int 0x1F", 31), ("!!int 0o17", 15),
        ("!!int 0b101", 5), ("!!int 1_000", 1000),
        ('!!float "1.5"', 1.5), ("!!float 8", 8.0), ('!!float ".inf"', float("inf")),
        ("!!float -.INF", float("-inf")), ("!!float 1e-5", 1e-5),
        ('!!bool "true"', True), ("!!bool False", False), ("!!bool yes", True), ("!!bool off", False),
        ('!!null ""', None), ("!!null ~", None), ("!!null", None), ("!!null 'null'", None),
        ("!!str 8", "8"), ("!!str true", "true"), ("!!str", ""), ('!!str "x"', "x"),
        ('"8"', "8"), ("8", 8), ("no", "no"),
    ],
)  # fmt: skip
def test_standard_tags_give_their_type_even_when_quoted(
    tmp_path: Path, yaml_value: str, value: Any
) -> None:
    data = load_yaml(spec_file(tmp_path, f"a: {yaml_value}\n"))
    assert data["a"] == value
    assert type(data["a"]) is type(value)


def test_tagged_values_make_a_working_spec(tmp_path: Path) -> None:
    text = (
        'input: [!!int "1", !!int "3", 8, 8]\nlayers:\n'
        '  - {type: Conv2d, out_channels: !!int "4", kernel_size: !!int "3", bias: !!bool "false"}\n'
        '  - {type: Dropout, p: !!float "0.5"}\n'
    )
    assert output_of(tmp_path, text) == (1, 4, 6, 6)


@pytest.mark.parametrize(
    ("yaml_value", "column", "message"),
    [
        ('!!int "abc"', 7, "!!int 'abc' is not an integer"),
        ("!!int 1.5", 7, "!!int '1.5' is not an integer"),
        ("!!int 0b102", 7, "!!int '0b102' is not an integer"),
        (f"!!int 0x{'F' * 17}", 7, "integer 0xFFFFFFFFFFFFFFFFF is out of range: convshape reads "
         "64-bit integers"),
        ('!!float "x"', 7, "!!float 'x' is not a number"),
        ('!!bool "maybe"', 7, "!!bool 'maybe' is not true or false"),
        ('!!null "x"', 7, "!!null 'x' is not null"),
        ("[!!int [1]]", 8, "tag tag:yaml.org,2002:int is not allowed: convshape reads plain data "
         "only"),
        ("!!seq {a: 1}", 7, "tag tag:yaml.org,2002:seq is not allowed on a mapping"),
        ("!!map [1]", 7, "tag tag:yaml.org,2002:map is not allowed on a sequence"),
        ("!!binary aGk=", 7, "tag tag:yaml.org,2002:binary is not allowed: convshape reads plain "
         "data only"),
        ("!!timestamp 2001-12-14", 7, "tag tag:yaml.org,2002:timestamp is not allowed: convshape "
         "reads plain data only"),
    ],
)  # fmt: skip
def test_invalid_tagged_values_are_located_yaml_errors(
    tmp_path: Path, yaml_value: str, column: int, message: str
) -> None:
    path = spec_file(tmp_path, f"input: [1]\nname: {yaml_value}\n")
    with pytest.raises(ConvshapeError) as caught:
        convshape.load(path)
    assert caught.value.kind == ErrorKind.YAML
    assert caught.value.render() == f"{path}:2:{column}: {message}"


# ------------------------------------------------------------------------------ 3. calc


@pytest.mark.parametrize(
    ("expression", "shape", "message"),
    [
        ("Conv2d(16, 33, " + "[" * 70 + "3" + "]" * 70 + ")", "1,16,8,8",
         "expression nested too deeply (more than 64 levels)"),
        ("Conv2d(16, 33, " + "-" * 300 + "3)", "1,16,8,8",
         "expression nested too deeply (more than 64 levels)"),
        ("Conv2d(16, 33, " + "(" * 240 + "3" + ")" * 240 + ")", "1,16,8,8",
         "too many nested parentheses"),
        ("Conv2d(16, 33, 3" + ", 1" * 50_000 + ")", "1,16,8,8",
         "layer expression longer than 500 characters (150,017), the limit for an expression"),
        ("Conv2d(16, 33, " + "9" * 400 + ")", "1,16,8,8",
         "argument 'kernel_size': integer 99999999999999999999... (400 digits) is out of range: "
         "convshape reads 64-bit integers"),
        ("Conv2d(16, 33, [3, -9223372036854775808])", "1,16,8,8",
         "argument 'kernel_size': integer -9223372036854775808 is out of range: convshape reads "
         "64-bit integers"),
        ("Conv2d(16, 33, {[1]})", "1,16,8,8",
         "argument 'kernel_size' must be a literal (number, string, True/False/None, list or "
         "tuple), got `{[1]}`"),
        ("Conv2d(16, 33, 3)", "1,16,8," + "9" * 400,
         "--input: integer 99999999999999999999... (400 digits) is out of range: convshape reads "
         "64-bit integers"),
        ("Conv2d(16, 33, 3)", "1,16,8,9223372036854775808",
         "--input: integer 9223372036854775808 is out of range: convshape reads 64-bit integers"),
        ("Conv2d(16, 33, 3)", "1,16,8," + "0" * 5000 + "8", None),
        ("ReLU", "9223372036854775807,9223372036854775807",
         "input [9223372036854775807, 9223372036854775807] would have about 2**125 elements, more "
         "than a torch tensor can hold (2**63 - 1)"),
        ("Upsample(scale_factor=1e9)", "1,1,1000000,1000000",
         "Upsample: output [1, 1, 1000000000000000, 1000000000000000] would have about 2**99 "
         "elements, more than a torch tensor can hold (2**63 - 1)"),
    ],
    ids=["nested-list", "unary-chain", "parentheses", "150-kb", "400-digit-argument",
         "int64-min", "unhashable", "400-digit-input", "2**63-input", "zero-padded-input",
         "numel", "output-numel"],
)  # fmt: skip
def test_calc_has_the_budgets_of_a_spec(expression: str, shape: str, message: str | None) -> None:
    if message is None:
        assert calculate(expression, shape).output_shape == (1, 33, 6, 6)
        return
    with pytest.raises(ConvshapeError) as caught:
        calculate(expression, shape)
    assert message in caught.value.render()
    outcome = cli("calc", expression, "--input", shape)
    assert outcome.code == 1
    assert outcome.stderr.startswith("error: ")
    assert message in outcome.stderr
    assert "Traceback" not in outcome.stderr


# ------------------------------------------------------------------------------ 4a. merge keys

BASE = "input: [1, 3, 80, 80]\nlayers:\n  - &conv {type: Conv2d, kernel_size: 3, out_channels: 4}\n"


@pytest.mark.parametrize(
    "layer",
    ["{<<: *conv, kernel_size: 64}", "{kernel_size: 64, <<: *conv}"],
    ids=["explicit-after-merge", "explicit-before-merge"],
)
def test_an_explicit_key_overrides_a_merged_one_in_either_order(tmp_path: Path, layer: str) -> None:
    assert output_of(tmp_path, BASE + f"  - {layer}\n") == (1, 4, 15, 15)


def test_an_overriding_key_keeps_its_own_location(tmp_path: Path) -> None:
    path, message = error_of(tmp_path, BASE + "  - {<<: *conv, kernel_size: 0}\n")
    assert message.startswith(
        f"{path}:4:30: layers[1] (Conv2d): Conv2d argument 'kernel_size' must be a positive int"
    )


def test_a_merged_value_keeps_its_own_location(tmp_path: Path) -> None:
    text = "input: [1, 3, 8, 8]\nlayers:\n  - &c {type: Conv2d, kernel_size: 0, out_channels: 4}\n"
    path, message = error_of(tmp_path, text.replace("kernel_size: 0", "kernel_size: 3")
                             + "  - {<<: [{kernel_size: 0}, *c]}\n")  # fmt: skip
    assert message.startswith(f"{path}:4:25: layers[1] (Conv2d): Conv2d argument 'kernel_size'")


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{<<: *conv, kernel_size: 5, kernel_size: 64}", "4:33: duplicate key 'kernel_size' "
         "(first at line 4, column 17)"),
        ("{kernel_size: 5, <<: *conv, kernel_size: 64}", "4:33: duplicate key 'kernel_size' "
         "(first at line 4, column 6)"),
    ],
)  # fmt: skip
def test_two_explicit_keys_are_still_a_duplicate(tmp_path: Path, layer: str, message: str) -> None:
    path, rendered = error_of(tmp_path, BASE + f"  - {layer}\n")
    assert rendered == f"{path}:{message}"


# ------------------------------------------------------------------------------ 4b. U+2028


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
def test_a_unicode_line_separator_in_a_comment_does_not_shift_later_lines(
    tmp_path: Path, char: str
) -> None:
    text = (
        "input: [1, 3, 8, 8]\n"
        f"# a note{char}with a separator\n"
        "layers:\n"
        "  - ReLU\n"
        "  - {type: Convv2d, out_channels: 4}\n"
    )
    path, message = error_of(tmp_path, text)
    assert message.startswith(f"{path}:5:12: layers[1]: unknown layer type 'Convv2d'")


def test_what_follows_a_separator_in_a_comment_stays_in_the_comment(tmp_path: Path) -> None:
    """PyYAML (YAML 1.1) ended the comment there: the rest was read as YAML, a new key."""
    text = "input: [1, 3]  # shape\u2028layers: [Bogus]\nlayers: [ReLU]\n"
    assert output_of(tmp_path, text) == (1, 3)


def test_separators_in_values_are_kept_and_columns_are_the_editors(tmp_path: Path) -> None:
    text = 'a: "x\u2028y"\nb: x\u2029y\nc: [1, 2, x\x85]\nd: [1, !!int nope]\n'
    path = spec_file(tmp_path, text.replace("d: [1, !!int nope]\n", ""))
    assert load_yaml(path) == {"a": "x\u2028y", "b": "x\u2029y", "c": [1, 2, "x\x85"]}
    path = spec_file(tmp_path, text)
    with pytest.raises(ConvshapeError) as caught:
        load_yaml(path)
    assert caught.value.render() == f"{path}:4:8: !!int 'nope' is not an integer"


def test_an_invalid_yaml_error_after_a_separator_is_on_the_editors_line(tmp_path: Path) -> None:
    path, message = error_of(tmp_path, "# \u2028 \u2028\ninput: [1, 3\nlayers: [")
    assert message == f"{path}:3:7: invalid YAML: did not find expected ',' or ']'"
