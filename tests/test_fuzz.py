"""Fuzzing ``convshape check``: whatever the file holds, the CLI ends with exit 0 or 1.

Hypothesis writes specs (every registered layer type, containers, blocks, variables,
expressions), mostly plausible values of each argument's kind mixed with hostile ones (negative,
huge, NaN, bools, strings, lists of the wrong length, code in ``${...}``), then mutates the YAML
text (truncation, deleted and inserted characters, duplicated lines) or replaces it with random
text and bytes. The CLI runs in process through ``main(argv)``: an uncaught exception anywhere in the package
fails the test with its traceback. The example counts below are for the default profile
(1,300 files without torch, 150 verified on the meta device); HYPOTHESIS_PROFILE scales them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from convshape.layers import REGISTRY
from convshape.layers.kinds import required, schema


def fuzz(examples: int) -> settings:
    """``examples`` under the default profile (200 examples a property), scaled by the one
    loaded: quick runs fewer, thorough more."""
    return settings(
        max_examples=max(1, examples * settings().max_examples // 200),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ------------------------------------------------------------------------------ values

SMALL = st.integers(-2, 9)
HOSTILE_STRINGS = [
    "same", "valid", "zeros", "reflect", "nearest", "bilinear", "auto", "tanh", "none", "$w",
    "${w * 2}", "${w // 0}", "${10 ** 10 ** 10}", "${__import__('os').system('true')}",
    "${w.__class__}", "${round(5, -10**15)}", "$nope", "${min()}", "${1e308 * 10}", "",
    "!!python/object:os.system", "conv${w}",
]  # fmt: skip
SCALARS = st.one_of(
    SMALL,
    SMALL,
    st.integers(),  # past 64 bits too
    st.floats(),  # nan, inf, -0.0, subnormals
    st.booleans(),
    st.none(),
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=6),
)
HOSTILE = st.one_of(SCALARS, st.lists(SMALL, max_size=5), st.lists(SCALARS, max_size=3))


Kind = Callable[[int], st.SearchStrategy[Any]]  # ndim -> plausible values of a kind


def _sizes(lo: int, length: Callable[[int], int] = lambda n: n, hi: int = 4) -> Kind:
    """An int, or a list of ``length(ndim)`` ints, in [lo, hi]."""
    return lambda n: (
        st.integers(lo, hi)
        | st.lists(st.integers(lo, hi), min_size=max(length(n), 1), max_size=max(length(n), 1))
    )


def _just(strategy: st.SearchStrategy[Any]) -> Kind:
    return lambda n: strategy


def _optional(kind: Kind) -> Kind:
    return lambda n: st.none() | kind(n)


PLAUSIBLE: dict[str, Kind] = {
    "int": _just(st.integers(-3, 3)),
    "PosInt": _just(st.integers(1, 8)),
    "NonNegInt": _just(st.integers(0, 8)),
    "float": _just(st.floats(-2, 2)),
    "PosFloat": _just(st.floats(1e-6, 2)),
    "OptFloat": _optional(_just(st.floats(-2, 2))),
    "Probability": _just(st.floats(0, 1)),
    "OptNonZeroInt": _optional(_just(st.sampled_from([-1, 1, 2]))),
    "NonZeroFloat": _just(st.sampled_from([-1.0, 0.5, 2.0])),
    "bool": _just(st.booleans()),
    "OptBool": _optional(_just(st.booleans())),
    "FalseOnly": _just(st.just(False)),
    "Size": _sizes(1),
    "OptSize": _optional(_sizes(1)),
    "Pad": _sizes(0, hi=2),
    "NonNegPad": _sizes(0, hi=2),
    "ZerosOnly": _just(st.just("zeros")),
    "ConvPad": lambda n: _sizes(0, hi=2)(n) | st.sampled_from(["same", "valid"]),
    "PadSpec": _sizes(0, lambda n: 2 * n, hi=2),
    "OutputSize": lambda n: (
        st.integers(1, 4) | st.lists(st.none() | st.integers(1, 4), min_size=n, max_size=n)
    ),
    "OutSize2": _just(st.lists(st.integers(1, 8), min_size=2, max_size=2)),
    "Size2": _sizes(1, lambda n: 2),
    "Pad2": _sizes(0, lambda n: 2, hi=2),
    "OptSizeAny": _optional(_sizes(1, hi=16)),
    "OptScale": _optional(_just(st.sampled_from([0.5, 1.0, 2.0, 1.5]))),
    "OptRatio": _optional(_just(st.sampled_from([0.5, 0.7, 0.25]))),
    "OptOutSize": _optional(_sizes(1)),
    "IntList": _just(st.lists(st.sampled_from([-1, 1, 2, 3, 4]), min_size=1, max_size=3)),
    "NormShape": _sizes(1, lambda n: 1, hi=8),
    "PaddingMode": _just(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
    "UpsampleMode": _just(st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "area"])),
    "GeluApprox": _just(st.sampled_from(["none", "tanh"])),
    "DimList": _just(st.lists(st.integers(-4, 3), min_size=1, max_size=5)),
    "StochasticMode": _just(st.sampled_from(["row", "batch"])),
    "ActivationName": _just(st.sampled_from(["relu", "gelu"])),
}
assert set(PLAUSIBLE) >= {str(f.type) for c in REGISTRY.values() for f in schema(c).values()}

TYPES = sorted(REGISTRY)
NAMES = st.integers(0, 10**6).map(lambda i: f"layer{i}")
META: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["conv", "forward", "_x", "a b", "conv_0", "to"]) | NAMES,
    "expect": st.one_of(st.lists(st.one_of(st.none(), st.integers(0, 16)), max_size=5), HOSTILE),
    "repeat": st.one_of(st.integers(-1, 3), st.just("$w"), HOSTILE),
    "trainable": st.one_of(st.booleans(), HOSTILE),
    "if": st.one_of(st.booleans(), st.just("${1 < 2}"), HOSTILE),
    "allow": st.one_of(st.just(["CS105"]), st.just("CS999"), HOSTILE),
}


@st.composite
def leaf(draw: st.DrawFn, rudeness: int, blocks: tuple[str, ...]) -> Any:
    """A layer of any type; each argument hostile with probability ``rudeness`` / 8."""
    typos = ["Conv2D", "Linaer", "Blk"] if rudeness else []
    type_name = draw(st.sampled_from(TYPES + list(blocks) + typos))
    cls = REGISTRY.get(type_name)
    fields = {n: str(f.type) for n, f in schema(cls).items()} if cls else {"c": "PosInt"}
    keys = list(fields) + (list(META) + ["bogus", "kernel"] if rudeness else ["name"])
    needed = required(cls) if cls and not (rudeness and draw(st.booleans())) else []
    chosen = needed + draw(st.lists(st.sampled_from(keys), unique=True, max_size=3))
    if not chosen and draw(st.booleans()):
        return type_name  # a bare name: the defaults
    layer: dict[str, Any] = {"type": type_name}
    ndim = cls.ndim if cls else 2
    for key in chosen:
        if draw(st.integers(0, 7)) < rudeness:
            layer[key] = draw(HOSTILE)
        elif key in META:
            layer[key] = draw(META[key] if rudeness else NAMES)
        else:
            layer[key] = draw(PLAUSIBLE.get(fields.get(key, ""), _just(SMALL))(ndim))
    return layer


def layer_list(
    rudeness: int, depth: int, blocks: tuple[str, ...] = ()
) -> st.SearchStrategy[list[Any]]:
    """1 to 4 layers; containers (Sequential, Residual, Concat) nest ``depth`` more levels."""
    layer: st.SearchStrategy[Any] = leaf(rudeness, blocks)
    if depth > 0:
        inner = layer_list(rudeness, depth - 1, blocks)
        container = st.one_of(
            st.fixed_dictionaries({"type": st.just("Sequential"), "layers": inner}),
            st.fixed_dictionaries(
                {"type": st.just("Residual"), "body": inner},
                optional={"shortcut": st.one_of(inner, st.just("auto"))},
            ),
            st.fixed_dictionaries(
                {"type": st.just("Concat"), "branches": st.lists(inner, min_size=1, max_size=3)},
                optional={"dim": st.integers(-2, 2)},
            ),
        )
        layer = st.one_of(layer, layer, container)
    if rudeness:
        layer = st.one_of(layer, layer, layer, HOSTILE)
    return st.lists(layer, min_size=0 if rudeness else 1, max_size=4)


@st.composite
def specs(draw: st.DrawFn, hostile: bool) -> dict[str, Any]:
    """A spec dict; when ``hostile``, a rudeness from 0 (all plausible) to 3 is drawn first."""
    rudeness = draw(st.integers(0, 3)) if hostile else 0
    shape = st.lists(st.integers(0, 12), min_size=2, max_size=5)  # 0: empty tensors
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["vars"] = {"w": draw(HOSTILE if rudeness else st.integers(1, 6))}
    if draw(st.booleans()):
        params = {"c": draw(st.one_of(st.none(), st.integers(1, 8))), "s": 1}
        names = draw(st.lists(st.sampled_from(["Stem", "Blk"]), unique=True, max_size=2))
        spec["blocks"] = {
            name: {"params": params, "layers": draw(layer_list(rudeness, 1))} for name in names
        }
    spec["input"] = draw(st.one_of(shape, shape, HOSTILE) if rudeness else shape)
    spec["layers"] = draw(layer_list(rudeness, 2, tuple(spec.get("blocks", ()))))
    if rudeness and draw(st.integers(0, 5)) == 0:
        spec[draw(st.sampled_from(["layer", "inputs", "name", "junk"]))] = draw(HOSTILE)
    return spec


def to_yaml(spec: Any, flow: bool | None) -> str:
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=flow, allow_unicode=True)


# ------------------------------------------------------------------------------ mutations

YAML_CHARS = st.sampled_from(list(":{}[]-,&*!|>'\"#%@?\n\t $0123456789abc\\\x00\u00e9"))


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.integers(1, 3))):
        n = len(text)
        op = draw(st.sampled_from(["cut", "delete", "insert", "dup_line", "indent"]))
        i = draw(st.integers(0, n))
        if op == "cut":
            text = text[:i]
        elif op == "delete":
            text = text[:i] + text[draw(st.integers(i, n)) :]
        elif op == "insert":
            text = text[:i] + "".join(draw(st.lists(YAML_CHARS, min_size=1, max_size=4))) + text[i:]
        else:
            lines = text.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            extra = lines[k] if op == "dup_line" else "  " + lines[k]
            lines[k : k + 1] = [lines[k], extra] if op == "dup_line" else [extra]
            text = "\n".join(lines)
    return text


# ------------------------------------------------------------------------------ the CLI


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "spec.yaml"


def check(path: Path, data: str | bytes, *options: str) -> None:
    """Run ``convshape check`` on ``data``; exit 0 or 1, and the promised output either way."""
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    code, stdout, stderr = cli("check", *options, str(path))
    assert code in (0, 1), (code, stdout, stderr)
    assert "Traceback" not in stdout + stderr
    event(f"exit {code}")  # --hypothesis-show-statistics: how far the files got
    if "json" in options:
        (report,) = json.loads(stdout)["files"]
        assert report["ok"] is (code == 0)
        assert all(e["message"] and e["kind"] for e in report["errors"])
        for e in report["errors"]:
            event(f"error kind {e['kind']}")
    elif code == 1:
        assert str(path) in stderr  # a message naming the file, not silence


FORMATS = st.sampled_from([("-f", "table"), ("-f", "json"), ("-f", "markdown"), ("-q",)])


@fuzz(600)
@given(
    spec=specs(hostile=True),
    flow=st.sampled_from([None, False, True]),
    options=FORMATS,
)
def test_fuzz_generated_specs(spec_file: Path, spec: Any, flow: bool | None,
                              options: tuple[str, ...]) -> None:  # fmt: skip
    check(spec_file, to_yaml(spec, flow), "--no-verify", *options)


@fuzz(500)
@given(
    data=st.data(),
    spec=specs(hostile=True),
    flow=st.sampled_from([None, False, True]),
)
def test_fuzz_mutated_yaml(spec_file: Path, data: st.DataObject, spec: Any, flow: bool | None) -> None:  # fmt: skip
    text = data.draw(mutated(to_yaml(spec, flow)))
    check(spec_file, text, "--no-verify", "-f", "json")


@fuzz(200)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        st.text(alphabet=YAML_CHARS, max_size=200),
    )
)
def test_fuzz_random_text_and_bytes(spec_file: Path, data: str | bytes) -> None:
    check(spec_file, data, "--no-verify", "-q")


@pytest.mark.torch
@fuzz(150)
@given(spec=specs(hostile=False), options=FORMATS)
def test_fuzz_verified_on_meta(spec_file: Path, spec: Any, options: tuple[str, ...]) -> None:
    check(spec_file, to_yaml(spec, None), "--verify", "--device", "meta", *options)
