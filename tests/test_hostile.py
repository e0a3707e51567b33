"""Hostile and broken input: every failure is a located message and exit 1; nothing runs.

One test per way a spec can be wrong (YAML, expressions, values, impossible shapes, memory),
each asserting the message the user sees, location included. The fuzzing is in test_fuzz.py.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from helpers import cli, error_of, predict_text, run_cli, write

from convshape.errors import ErrorKind
from convshape.spec.names import RESERVED_NAMES


def check(*args: str) -> tuple[int, str]:
    """``convshape check ARGS`` in-process: (exit code, stderr)."""
    outcome = cli("check", *args)
    return outcome.code, outcome.stderr


def check_text(tmp_path: Path, text: str | bytes, *args: str) -> tuple[Path, int, str]:
    path = tmp_path / "model.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    code, stderr = check("--no-verify", "-q", *args, str(path))
    return path, code, stderr


# ------------------------------------------------------------------------------ YAML


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: !!python/object/apply:os.system ['touch {pwned}']\n",
         "1:8: tag tag:yaml.org,2002:python/object/apply:os.system is not allowed: "
         "convshape reads plain data only"),
        ("input: !!python/name:os.system\n",
         "1:8: tag tag:yaml.org,2002:python/name:os.system is not allowed: "
         "convshape reads plain data only"),
        ("input: [1, 3]\nlayers:\n  - !!python/object:collections.OrderedDict {}\n",
         "3:5: tag tag:yaml.org,2002:python/object:collections.OrderedDict is not allowed: "
         "convshape reads plain data only"),
        ("input: !custom [1, 3]\n", "1:8: tag !custom is not allowed: convshape reads plain data only"),
        ("input: !!set {a: null}\n",
         "1:8: tag tag:yaml.org,2002:set is not allowed: convshape reads plain data only"),
    ],
    ids=["object-apply", "name", "object", "custom", "set"],
)  # fmt: skip
def test_yaml_tags_other_than_plain_data_are_refused_and_nothing_runs(
    tmp_path: Path, text: str, message: str
) -> None:
    pwned = tmp_path / "pwned"
    path, code, stderr = check_text(tmp_path, text.replace("{pwned}", str(pwned)))
    assert code == 1
    assert f"{path}:{message}" in stderr
    assert not pwned.exists()


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    path, code, stderr = check_text(tmp_path, "\n".join(levels) + "\n")  # 9**9 = 387M nodes
    assert time.perf_counter() - start < 20  # a hang guard, not a speed target
    assert code == 1
    assert stderr == (
        f"{path}:6:12: the document expands to more than 200,000 nodes "
        "(alias expansion bomb?); refusing to read it\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: " + "[" * 10_000 + "]" * 10_000 + "\n", "1:71: nesting deeper than 64 levels"),
        (
            "".join("  " * i + f"k{i}:\n" for i in range(100)),
            "65:129: nesting deeper than 64 levels",
        ),
    ],
    ids=["flow", "block"],
)
def test_yaml_nesting_depth_is_bounded(tmp_path: Path, text: str, message: str) -> None:
    path, code, stderr = check_text(tmp_path, text)
    assert code == 1
    assert stderr == f"{path}:{message}\n"


def test_layer_nesting_through_blocks_is_bounded(tmp_path: Path) -> None:
    """Each block body nests 20 Sequentials and uses the next block: 320 levels in all."""
    nest = "{type: Sequential, layers: [" * 20 + "{inner}" + "]}" * 20
    lines = ["blocks:"]
    for i in range(16):
        inner = f"B{i + 1}" if i < 15 else "ReLU"
        lines.append(f"  B{i}: {{layers: [{nest.replace('{inner}', inner)}]}}")
    text = "\n".join([*lines, "input: [1, 3]", "layers: [B0]", ""])
    path, code, stderr = check_text(tmp_path, text)
    assert code == 1
    assert stderr.startswith(f"{path}:4:73: layers[0].layers[0].layers[0]")
    first = stderr.splitlines()[0]
    assert first.endswith(": layers nested deeper than 48 containers (counting block bodies)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1:1: a spec is a mapping with 'input' and 'layers'; this file is empty"),
        ("# only a comment\n", "1:1: a spec is a mapping with 'input' and 'layers'; this file is empty"),
        ("- Conv2d\n- ReLU\n", "1:1: a spec is a mapping with 'input' and 'layers'; this file is a list"),
        ("just words\n", "1:1: a spec is a mapping with 'input' and 'layers'; this file is a str"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "1:1: this is a binary file, not YAML text"),
        ("name: caf\xe9\n".encode("latin-1"), "1:1: not UTF-8 text (byte 0xe9 at offset 9)"),
        ("input: [1, 3\nlayers: [", "2:7: invalid YAML: did not find expected ',' or ']'"),
        ("input: [1]\n\tlayers: []\n", "2:1: invalid YAML: found character that cannot start any token"),
        ("input: [1]\nlayers: []\n---\ninput: [2]\n", "3:1: a spec file holds one YAML document; found a second '---'"),
    ],
    ids=["empty", "comment-only", "top-level-list", "scalar", "binary", "latin-1", "truncated",
         "tab", "two-documents"],
)  # fmt: skip
def test_files_that_are_not_a_spec_get_their_own_message(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    path, code, stderr = check_text(tmp_path, text)
    assert code == 1
    assert stderr == f"{path}:{message}\n"


def test_directories_missing_and_unreadable_paths(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    missing = tmp_path / "nope.yaml"
    too_long = str(tmp_path / ("x" * 300 + ".yaml"))
    code, stderr = check("--no-verify", "-q", str(folder), str(missing), too_long)
    assert code == 1
    assert stderr.splitlines() == [
        f"{folder}: is a directory with no *.yaml or *.yml file",
        f"{missing}: no such file",
        f"{too_long}: cannot read: File name too long",
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_a_pipe_or_device_is_refused_without_reading_it(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)  # reading it would block forever
    code, stderr = check("--no-verify", "-q", str(fifo), "/dev/zero")
    assert code == 1
    assert stderr.splitlines() == [
        f"{fifo}: not a regular file (a device, pipe or socket?)",
        "/dev/zero: not a regular file (a device, pipe or socket?)",
    ]


def test_integers_past_64_bits_are_refused_before_conversion(tmp_path: Path) -> None:
    text = "input: [1, 3, " + "9" * 5000 + "]\nlayers: []\n"  # int() would raise past 4300
    path, code, stderr = check_text(tmp_path, text)
    assert code == 1
    assert stderr == (
        f"{path}:1:15: integer 99999999999999999999... (5000 digits) is out of range: "
        "convshape reads 64-bit integers\n"
    )


# ------------------------------------------------------------------------------ expressions


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("widht * 2", "unknown variable 'widht' (did you mean 'width'?); in scope: width"),
        ("width.__class__", "${width.__class__}: `width.__class__` is not allowed (only numbers, "
         "true/false, variables, + - * / // % **, comparisons, and/or/not, a if c else b, min, "
         "max, abs, int, round, ceil, floor, make_divisible)"),
        ("__import__('os').system('true')", "${__import__('os').system('true')}: "
         "`__import__('os').system('true')` is not allowed"),
        ("open('x')", "${open('x')}: function 'open' is not allowed"),
        ("__builtins__", "unknown variable '__builtins__'; in scope: width"),
        ("(lambda: 1)()", "${(lambda: 1)()}: `(lambda: 1)()` is not allowed"),
        ("[width][0]", "${[width][0]}: `[width][0]` is not allowed"),
        ("'a' * 10", "${'a' * 10}: `'a'` is not allowed"),
        ("10 ** 10 ** 10", "${10 ** 10 ** 10}: 10 ** 10000000000 is too large to compute"),
        ("9 ** 9 ** 9", "${9 ** 9 ** 9}: 9 ** 387420489 is too large to compute"),
        ("round(5, -10 ** 15)", "${round(5, -10 ** 15)}: round() ndigits must be an int from -30 "
         "to 30, got -1000000000000000"),
        ("2 ** 40 * 2 ** 40", "${2 ** 40 * 2 ** 40} = 1.21e+24 is out of range (|value| <= 1e15)"),
        ("width // 0", "${width // 0}: division by zero"),
        ("(-8) ** 0.5", "${(-8) ** 0.5} is not a real number"),
        ("width +", "cannot parse ${width +}: invalid syntax"),
    ],
)  # fmt: skip
def test_expressions_refuse_everything_but_arithmetic_before_computing(
    tmp_path: Path, expr: str, message: str
) -> None:
    text = f"vars: {{width: 8}}\ninput: [1, 3, 8, 8]\nlayers:\n  - {{type: Conv2d, out_channels: ${{{expr}}}, kernel_size: 3}}\n"
    start = time.perf_counter()
    err = error_of(tmp_path, text)
    assert time.perf_counter() - start < 10  # a hang guard, not a speed target
    assert err.kind == ErrorKind.SPEC
    assert err.render().startswith(f"{tmp_path}/model.yaml:4:34: layers[0]: {message}")


def test_expression_in_the_input_shape_is_located(tmp_path: Path) -> None:
    path, code, stderr = check_text(tmp_path, "input: [1, '${10 ** 10 ** 10}']\nlayers: []\n")
    assert code == 1
    assert stderr == f"{path}:1:8: input: ${{10 ** 10 ** 10}}: 10 ** 10000000000 is too large to compute\n"  # fmt: skip


# ------------------------------------------------------------------------------ values

CONV = "input: [1, 3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3%s}\n"


@pytest.mark.parametrize(
    ("more", "column", "message"),
    [
        (", out_channels: -4", 0, "duplicate key 'out_channels' (first at line 3, column 20)"),
        (", padding: [1, 1, 1]", 62,
         "layers[0] (Conv2d): Conv2d argument 'padding' must be an int or a list of 2 ints, got [1, 1, 1]"),
        (", stride: 0", 61, "layers[0] (Conv2d): Conv2d argument 'stride' must be a positive int "
         "or a list of 2 positive ints, got 0"),
        (", dilation: -1", 63, "layers[0] (Conv2d): Conv2d argument 'dilation' must be a positive "
         "int or a list of 2 positive ints, got -1"),
        (", groups: 0", 61, "layers[0] (Conv2d): Conv2d argument 'groups' must be a positive int, got 0"),
        (", groups: true", 61, "layers[0] (Conv2d): Conv2d argument 'groups' must be a positive int, got True"),
        (", stride: [true, 1]", 61, "layers[0] (Conv2d): Conv2d argument 'stride' must be a positive "
         "int or a list of 2 positive ints, got [True, 1]"),
        (", stride: 2.0", 61, "layers[0] (Conv2d): Conv2d argument 'stride' must be a positive int "
         "or a list of 2 positive ints, got 2.0"),
        (", bias: 1", 59, "layers[0] (Conv2d): Conv2d argument 'bias' must be true or false, got 1"),
        (", padding_mode: reflekt", 67, "layers[0] (Conv2d): Conv2d argument 'padding_mode' must be "
         "one of 'zeros', 'reflect', 'replicate', 'circular', got 'reflekt' (did you mean 'reflect'?)"),
        (", kernal_size: 3", 53, "layers[0]: Conv2d has no key 'kernal_size' (allowed: in_channels, "
         "out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, type, "
         "name, expect, repeat, trainable, allow, if)\n  hint: did you mean 'kernel_size'?"),
        (", name: forward", 59, "layers[0]: layer name 'forward' cannot be a module name in "
         "torch: it is an attribute of nn.Sequential\n  hint: rename it, e.g. 'forward_1'"),
    ],
)  # fmt: skip
def test_bad_values_are_located_with_the_parameter_named(
    tmp_path: Path, more: str, column: int, message: str
) -> None:
    err = error_of(tmp_path, CONV % more)
    assert err.kind in (ErrorKind.SPEC, ErrorKind.YAML)
    column = column or 53  # the duplicate key's own column
    assert err.render() == f"{tmp_path}/model.yaml:3:{column}: {message}"


@pytest.mark.parametrize(
    ("layer", "column", "message"),
    [
        ("{type: Convv2d, out_channels: 4}", 12,
         "layers[0]: unknown layer type 'Convv2d'\n  hint: did you mean 'Conv2d'?"),
        ("{type: Linear, out_features: 0}", 34,
         "layers[0] (Linear): Linear argument 'out_features' must be a positive int, got 0"),
        ("{type: Upsample, scale_factor: 1e300}", 36,
         "layers[0] (Upsample): Upsample argument 'scale_factor' must be a positive number (at most "
         "2**63) or a list of them, got 1e+300"),
        ("{type: Dropout, p: .nan}", 24,
         "layers[0] (Dropout): Dropout argument 'p' must be a probability between 0 and 1, got nan"),
    ],
)  # fmt: skip
def test_bad_types_and_values_of_other_layers(
    tmp_path: Path, layer: str, column: int, message: str
) -> None:
    err = error_of(tmp_path, f"input: [1, 3, 8, 8]\nlayers:\n  - {layer}\n")
    assert err.render() == f"{tmp_path}/model.yaml:3:{column}: {message}"


def test_strict_values_still_take_what_torch_takes(tmp_path: Path) -> None:
    """Refusing hostile values must not refuse valid ones: torch's 1-d adaptive pools take [3]."""
    spec = "input: [1, 2, 8]\nlayers: [{type: AdaptiveAvgPool1d, output_size: [3]}]\n"
    assert predict_text(tmp_path, spec).output_shape == (1, 2, 3)
    err = error_of(tmp_path, spec.replace("[3]", "[null]"))  # torch: "must be tuple of ints"
    assert "argument 'output_size' must be an int >= 0 or a list of 1 ints >= 0" in str(err)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("[-1, 3, 8, 8]", "'input' must be a list of ints >= 0, batch first, e.g. [1, 3, 224, "
         "224]; got [-1, 3, 8, 8]"),
        ("[1, 3, 8.0]", "'input' must be a list of ints >= 0, batch first, e.g. [1, 3, 224, "
         "224]; got [1, 3, 8.0]"),
        ("[true, 3]", "'input' must be a list of ints >= 0, batch first, e.g. [1, 3, 224, "
         "224]; got [True, 3]"),
        ("[4611686018427387904, 4, 8, 8]", "input [4611686018427387904, 4, 8, 8] would have about "
         "2**70 elements, more than a torch tensor can hold (2**63 - 1)"),
    ],
)  # fmt: skip
def test_bad_input_shapes(tmp_path: Path, shape: str, message: str) -> None:
    err = error_of(tmp_path, f"input: {shape}\nlayers: [ReLU]\n")
    assert err.render() == f"{tmp_path}/model.yaml:1:8: {message}"


# ------------------------------------------------------------------------------ impossible shapes


@pytest.mark.parametrize(
    ("input", "layer", "message"),
    [
        ("[1, 3, 2, 2]", "{type: Conv2d, out_channels: 4, kernel_size: 5, padding: 1}",
         "layers[0] (Conv2d): output height would be 0\n"
         "  H_out = floor((H_in + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1\n"
         "        = floor((2 + 2*1 - 1*(5-1) - 1) / 1) + 1 = 0\n"
         "  input to this layer: [1, 3, 2, 2]"),
        ("[1, 3, 8, 8]", "{type: MaxPool2d, kernel_size: 12}",
         "layers[0] (MaxPool2d): output height would be 0\n"
         "  H_out = floor((H_in + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1\n"
         "        = floor((8 + 2*0 - 1*(12-1) - 1) / 12) + 1 = 0\n"
         "  input to this layer: [1, 3, 8, 8]"),
        ("[1, 10, 8, 8]", "{type: Conv2d, out_channels: 5, kernel_size: 3, groups: 6}",
         "layers[0] (Conv2d): in_channels must be divisible by groups\n"
         "  in_channels % groups = 10 % 6 = 4\n"
         "  input to this layer: [1, 10, 8, 8]"),
        ("[1, 3, 8, 8]", "{type: Conv2d, in_channels: 8, out_channels: 4, kernel_size: 3}",
         "layers[0] (Conv2d): expected input with 8 channels, but got 3 channels\n"
         "  torch: Given groups=1, weight of size [4, 8, 3, 3], expected input[1, 3, 8, 8] to "
         "have 8 channels, but got 3 channels instead\n"
         "  input to this layer: [1, 3, 8, 8]\n"
         "  hint: in_channels: 3 would fit this input (or leave it out to infer it)"),
    ],
    ids=["output-0", "kernel-larger-than-input", "groups", "channels"],
)  # fmt: skip
def test_impossible_shapes_show_the_formula_with_numbers(
    tmp_path: Path, input: str, layer: str, message: str
) -> None:
    err = error_of(tmp_path, f"input: {input}\nlayers:\n  - {layer}\n")
    assert err.kind == ErrorKind.SHAPE
    assert err.render() == f"{tmp_path}/model.yaml:3:5: {message}"


def test_channel_mismatch_names_the_layer_it_came_from_and_the_value_that_fits(
    tmp_path: Path,
) -> None:
    err = error_of(
        tmp_path,
        "input: [1, 3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 3}\n"
        "  - {type: Conv2d, in_channels: 16, out_channels: 4, kernel_size: 3}\n",
    )
    assert err.render() == (
        f"{tmp_path}/model.yaml:4:5: layers[1] (Conv2d): expected input with 16 channels, "
        "but got 8 channels\n"
        "  torch: Given groups=1, weight of size [4, 16, 3, 3], expected input[1, 8, 6, 6] to "
        "have 16 channels, but got 8 channels instead\n"
        "  the input comes from layers[0] (Conv2d): [1, 3, 8, 8] -> [1, 8, 6, 6]\n"
        "  input to this layer: [1, 8, 6, 6]\n"
        "  hint: in_channels: 8 would fit this input (or leave it out to infer it)"
    )


def test_in_features_after_flatten_shows_what_flatten_gives(tmp_path: Path) -> None:
    path, code, stderr = check_text(
        tmp_path,
        "input: [1, 3, 8, 8]\nlayers:\n  - Flatten\n"
        "  - {type: Linear, in_features: 256, out_features: 10}\n",
    )
    assert code == 1
    assert stderr == (
        f"{path}:4:5: layers[1] (Linear): expected input with 256 features in the last "
        "dimension, but got 192\n"
        "  torch: mat1 and mat2 shapes cannot be multiplied (1x192 and 256x10)\n"
        "  the input comes from layers[0] (Flatten):\n"
        "    flatten dims 1..3: [1, 3, 8, 8] -> [1, 192]\n"
        "    size = prod(input[1:4]) = 3 * 8 * 8 = 192\n"
        "  input to this layer: [1, 192]\n"
        "  hint: in_features: 192 would fit this input (or leave it out to infer it)\n"
    )


# ------------------------------------------------------------------------------ memory guard

BIG = "input: [64, 3, 2048, 2048]\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 3}\n"


@pytest.mark.torch
def test_memory_guard_refuses_with_the_estimate_and_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path, BIG)
    start = time.perf_counter()
    code, stderr = check("-q", "--verify", "--max-memory", "1M", str(path))
    assert time.perf_counter() - start < 10  # nothing was allocated
    # the conv's input 64*3*2048*2048 and output 64*8*2046*2046 alive together, and its
    # params 8*3*3*3 + 8, float32
    need = 4 * (64 * 3 * 2048 * 2048 + 64 * 8 * 2046 * 2046 + 8 * 3 * 3 * 3 + 8)
    assert round(need / 2**30, 1) == 11.0
    assert code == 1
    lines = stderr.splitlines()
    assert lines[0].startswith(
        f"{path}:1:8: --max-memory 1 MiB: {need:,} bytes for inference (parameters, buffers "
        "and the activation peak) is over the limit of 1,048,576"
    )
    assert "  hint: raise --max-memory, or shrink the largest layers" in lines


@pytest.mark.torch
def test_memory_guard_default_limit_is_a_fraction_of_available_memory(tmp_path: Path) -> None:
    path = write(tmp_path, "input: [4096, 3, 8192, 8192]\nlayers: [ReLU]\n")
    code, stderr = check("-q", "--verify", str(path))
    assert 4 * 2 * (4096 * 3 * 8192 * 8192) == 6 * 2**40  # ReLU's input and output
    assert code == 1
    assert "verifying on cpu needs 6.0 TiB" in stderr
    assert "(half the available memory)" in stderr


@pytest.mark.torch
def test_meta_device_verifies_any_size(tmp_path: Path) -> None:
    path = write(tmp_path, BIG)
    code, stderr = check("-q", "--verify", "--device", "meta", str(path))
    assert (code, stderr) == (0, "")


# ------------------------------------------------------------------------------ no side effects


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--no-verify"], id="no-verify"),
        pytest.param(
            ["--verify", "--device", "cpu", "-f", "json"], id="verify", marks=pytest.mark.torch
        ),
    ],
)
def test_check_creates_and_modifies_nothing_next_to_the_specs(
    tmp_path: Path, args: list[str]
) -> None:
    good = write(tmp_path, "input: [1, 3, 8, 8]\nlayers: [{type: Conv2d, out_channels: 4, kernel_size: 3}]\n", "good.yaml")  # fmt: skip
    write(tmp_path, "input: [1, 3, 8, 8]\nlayers: [{type: Conv2d, out_channels: 4, kernel_size: 9}]\n", "bad.yaml")  # fmt: skip
    write(tmp_path, "input: !!python/object/apply:os.system ['touch pwned']\n", "evil.yaml")
    (tmp_path / "sub").mkdir()
    before = _snapshot(tmp_path)
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    proc = run_cli("check", *args, good.name, "bad.yaml", "evil.yaml", "sub", cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.torch
def test_reserved_layer_names_are_the_attributes_of_nn_sequential() -> None:
    from torch import nn

    sequential = nn.Sequential()
    public = {n for n in set(dir(sequential)) | set(vars(sequential)) if not n.startswith("_")}
    assert public == RESERVED_NAMES, sys.version


def test_an_enormous_value_is_not_echoed_back_whole(tmp_path: Path) -> None:
    dims = ", ".join(["-1"] * 50_000)
    err = error_of(tmp_path, f"input: [{dims}]\nlayers: [ReLU]\n")
    assert len(err.render()) < 1000
    assert "'input' must be a list of ints >= 0" in err.message
    assert "characters cut" in err.message
