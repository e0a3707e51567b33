"""``convshape schema``: the JSON Schema validates every shipped config, refuses each bad spec
of a table at the path of the mistake, and agrees with the real loader: a spec the loader
accepts is schema-valid (no false red squiggle in an editor), and a bad spec of the table is
refused by both.

Files are read with convshape's own YAML reader (``load_yaml``), as JSON data: it reads
``1e-6`` as a float, as YAML 1.2 and yaml-language-server do, where ``yaml.safe_load`` (YAML 1.1)
would read the string ``"1e-6"``.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from textwrap import dedent
from typing import Any

import jsonschema
import pytest
import yaml
from helpers import ROOT, cli
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import convshape
from convshape.containers import CONTAINERS
from convshape.errors import ConvshapeError
from convshape.layers import REGISTRY
from convshape.layers.kinds import KINDS, schema
from convshape.schema import KIND_SCHEMAS, schema_text, spec_schema
from convshape.spec.parse import META_KEYS, TOP_KEYS
from convshape.spec.yamlio import load_yaml

CONFIGS = sorted((ROOT / "configs").glob("**/*.yaml"))


@cache
def checker() -> Draft202012Validator:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture
def validator() -> Draft202012Validator:
    return checker()


def data_of(path: Path) -> Any:
    return json.loads(json.dumps(load_yaml(path)))


def refusal(path: Path) -> str | None:
    """Why the loader (or the engine, for a missing argument) refuses the spec; None: accepted."""
    try:
        prediction = convshape.predict(convshape.load(path))
    except ConvshapeError as exc:
        return exc.message
    return prediction.error.message if prediction.error else None


def write(folder: Path, text: str, name: str = "model.yaml") -> Path:
    path = folder / name
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ coverage


def test_every_kind_has_a_schema() -> None:
    assert set(KIND_SCHEMAS) == set(KINDS)


@pytest.mark.parametrize("name", [*REGISTRY, *CONTAINERS])
def test_every_type_is_described(name: str) -> None:
    types = spec_schema()["$defs"]["types"]
    assert types[name]["description"]
    if name in REGISTRY:
        fields = types[name]["properties"]
        assert list(fields) == list(schema(REGISTRY[name]))
        assert all(f["description"] for f in fields.values())


def test_keys_come_from_the_parser() -> None:
    root = spec_schema()
    assert tuple(root["properties"]) == TOP_KEYS
    item = root["$defs"]["layer"]["else"]
    assert tuple(item["properties"]) == META_KEYS
    names = root["$defs"]["typeName"]["anyOf"][0]["enum"]
    assert sorted(names) == sorted([*REGISTRY, *CONTAINERS])


def test_defaults_are_torchs() -> None:
    conv = spec_schema()["$defs"]["types"]["Conv2d"]
    assert conv["required"] == ["out_channels", "kernel_size"]  # in_channels: inferred
    props = conv["properties"]
    assert (props["stride"]["default"], props["padding_mode"]["default"]) == (1, "zeros")
    assert "default" not in props["kernel_size"]


# ------------------------------------------------------------------------------ configs


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_validates(validator: Draft202012Validator, path: Path) -> None:
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(data_of(path))]
    assert errors == []


# ------------------------------------------------------------------------------ bad specs

HEAD = "input: [1, 3, 32, 32]\n"
BLOCK = "blocks:\n  B:\n    params: {c: 8}\n"
BAD = [  # (id, spec text, the path of the schema's error)
    ("typo-kernal_size", "layers: [{type: Conv2d, out_channels: 8, kernal_size: 3}]",
     "$.layers[0]"),
    ("kernel_size-string", "layers: [{type: Conv2d, out_channels: 8, kernel_size: '3'}]",
     "$.layers[0].kernel_size"),
    ("bias-int", "layers: [{type: Conv2d, out_channels: 8, kernel_size: 3, bias: 1}]",
     "$.layers[0].bias"),
    ("stride-zero", "layers: [{type: Conv2d, out_channels: 8, kernel_size: 3, stride: 0}]",
     "$.layers[0].stride"),
    ("padding_mode-zero",
     "layers: [{type: Conv2d, out_channels: 8, kernel_size: 3, padding_mode: zero}]",
     "$.layers[0].padding_mode"),
    ("kernel_size-3d-on-conv2d", "layers: [{type: Conv2d, out_channels: 8, kernel_size: [3, 3, 3]}]",
     "$.layers[0].kernel_size"),
    ("missing-out_channels", "layers: [{type: Conv2d, kernel_size: 3}]", "$.layers[0]"),
    ("dropout-p-above-1", "layers: [{type: Dropout, p: 1.5}]", "$.layers[0].p"),
    ("gelu-approximate", "layers: [{type: GELU, approximate: tanhh}]",
     "$.layers[0].approximate"),
    ("bare-int-item", "layers: [3]", "$.layers[0]"),
    ("item-without-type", "layers: [{out_channels: 8}]", "$.layers[0]"),
    ("nested-typo", "layers: [{type: Sequential, layers: [{type: ReLU, in_place: true}]}]",
     "$.layers[0].layers[0]"),
    ("unknown-top-key", "layer: []\nlayers: []", "$"),
    ("missing-input", None, "$"),
    ("input-negative", "input: [1, -1, 32]\nlayers: []", "$.input[1]"),
    ("unbatched-string", "unbatched: 'yes'\nlayers: []", "$.unbatched"),
    ("name-int", "name: 3\nlayers: []", "$.name"),
    ("budget-value", "budget: {params: lots}\nlayers: []", "$.budget.params"),
    ("budget-figure", "budget: {parms: 25M}\nlayers: []", "$.budget"),
    ("budget-count-in-bytes", "budget: {params: 25MiB}\nlayers: []", "$.budget.params"),
    ("allow-code", "allow: [CS999]\nlayers: []", "$.allow[0]"),
    ("layer-allow-code", "layers: [{type: ReLU, allow: CS1}]", "$.layers[0].allow"),
    ("repeat-negative", "layers: [{type: ReLU, repeat: -1}]", "$.layers[0].repeat"),
    ("trainable-string", "layers: [{type: ReLU, trainable: 'no'}]", "$.layers[0].trainable"),
    ("expect-zero", "layers: [{type: ReLU, expect: [1, 0, 32, 32]}]", "$.layers[0].expect[1]"),
    ("name-reserved", "layers: [{type: ReLU, name: forward}]", "$.layers[0].name"),
    ("shortcut-typo", "layers: [{type: Residual, body: [ReLU], shorcut: auto}]", "$.layers[0]"),
    ("shortcut-word", "layers: [{type: Residual, body: [ReLU], shortcut: none}]",
     "$.layers[0].shortcut"),
    ("residual-without-body", "layers: [{type: Residual}]", "$.layers[0]"),
    ("concat-no-branches", "layers: [{type: Concat, branches: []}]", "$.layers[0].branches"),
    ("split-sizes-and-chunks",
     "layers: [{type: Split, branches: [[], []], sizes: [1, 2], chunks: 2}]", "$.layers[0]"),
    ("adaptive-1d-null", "input: [1, 3, 32]\nlayers: [{type: AdaptiveAvgPool1d, output_size: [null]}]",
     "$.layers[0].output_size[0]"),
    ("vars-name", "vars: {2x: 3}\nlayers: []", "$.vars"),
    ("block-key-typo", BLOCK + "    layers: [ReLU]\n    parms: {}\nlayers: [B]", "$.blocks.B"),
    ("block-body-typo", BLOCK + "    layers: [{type: Conv2d, out_channel: $c, kernel_size: 1}]"
     "\nlayers: [B]", "$.blocks.B.layers[0]"),
    ("block-hides-type", "blocks: {ReLU: {layers: []}}\nlayers: [ReLU]", "$.blocks"),
    ("include-url", "include: https://example.com/blocks.yaml\nlayers: []", "$.include"),
]  # fmt: skip


def bad_text(text: str | None) -> str:
    if text is None:
        return "layers: [ReLU]\n"
    return text + "\n" if text.startswith("input") else HEAD + text + "\n"


@pytest.mark.parametrize(("text", "path"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_spec_fails_at_its_path(
    validator: Draft202012Validator, tmp_path: Path, text: str | None, path: str
) -> None:
    file = write(tmp_path, bad_text(text))
    errors = list(validator.iter_errors(data_of(file)))
    best = jsonschema.exceptions.best_match(errors)
    assert best is not None, "the schema accepts it"
    assert best.json_path == path, [e.json_path for e in errors]
    assert refusal(file) is not None, "the loader accepts it"


# ------------------------------------------------------------------------------ good specs

GOOD = [
    (
        "expressions",
        """
        vars: {w: 4, k: 3}
        layers:
          - {type: Conv2d, out_channels: $w, kernel_size: [$k, $k], padding: "${k // 2}"}
          - {type: Conv2d, out_channels: "${w * 2}", kernel_size: "$k", stride: "${1 + 1}"}
     """,
    ),
    (
        "unicode-variable",
        """
        vars: {größe: 4}
        layers: [{type: Conv2d, out_channels: "${größe}", kernel_size: 1}]
     """,
    ),
    (
        "bare-items-and-same",
        """
        layers: [{type: Conv2d, out_channels: 4, kernel_size: 3, padding: same}, BatchNorm2d, ReLU]
     """,
    ),
    (
        "residual-auto",
        """
        layers:
          - type: Residual
            body: [{type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}]
            shortcut: auto
          - {type: Residual, body: [ReLU], shortcut: null, connect: "${1 == 1}"}
     """,
    ),
    (
        "block-uses",
        """
        vars: {act: ReLU}
        blocks:
          ConvBN:
            params: {c: null, k: 3, what_ever: 1}
            vars: {pad: "${k // 2}"}
            layers: [{type: Conv2d, out_channels: $c, kernel_size: $k, padding: $pad}, BatchNorm2d]
          Act: {type: ReLU, inplace: true}
        layers:
          - {type: ConvBN, c: 8, what_ever: 2, name: stem}
          - {type: ConvBN, c: 8, k: 1, repeat: 2}
          - Act
          - $act
     """,
    ),
    (
        "adaptive-null",
        """
        layers: [{type: AdaptiveAvgPool2d, output_size: [null, 7]}]
     """,
    ),
    (
        "containers",
        """
        layers:
          - {type: Concat, branches: [[ReLU], [], [{type: Conv2d, out_channels: 5, kernel_size: 1}]]}
          - {type: Split, branches: [[], [ReLU]], chunks: 2}
          - {type: Split, branches: [[], [ReLU]], sizes: [5, 6], dim: 1}
          - {type: Gate, layers: [{type: AdaptiveAvgPool2d, output_size: 1}, Sigmoid]}
     """,
    ),
    (
        "meta-and-budget",
        """
        name: null
        description: {free: form}
        unbatched: false
        allow: CS104
        budget: {params: 25M, macs: "4.1g", inference_bytes: 2GiB, param_bytes: 1_000, flops: 1e9}
        layers:
          - {type: ReLU, allow: [CS104], if: "${1 > 0}", repeat: 0, trainable: false}
          - {type: ReLU, expect: [1, null, 32, 32], name: relu}
          - {type: Upsample, scale_factor: [2.0, 2], mode: nearest}
          - {type: Reshape, shape: [1, -1]}
     """,
    ),
    ("empty-layers", "layers:\n"),
]


@pytest.mark.parametrize("text", [g[1] for g in GOOD], ids=[g[0] for g in GOOD])
def test_good_spec_is_accepted_by_both(
    validator: Draft202012Validator, tmp_path: Path, text: str
) -> None:
    file = write(tmp_path, HEAD + dedent(text).lstrip("\n"))
    assert refusal(file) is None
    assert [e.message for e in validator.iter_errors(data_of(file))] == []


def test_include_file_and_its_user(validator: Draft202012Validator, tmp_path: Path) -> None:
    library = write(tmp_path, "blocks:\n  Act: {type: ReLU}\n", "blocks.yaml")
    user = write(tmp_path, HEAD + "include: [blocks.yaml]\nlayers: [Act]\n")
    assert refusal(user) is None
    for path in (library, user):
        assert list(validator.iter_errors(data_of(path))) == []


# ------------------------------------------------------------------------------ property

SHAPES = {0: [1, 4, 8, 8], 1: [1, 4, 16], 2: [1, 4, 16, 16], 3: [1, 4, 8, 8, 8]}
WRONG = st.one_of(
    st.integers(-2, 9),
    st.sampled_from([0.5, 2.5, -1.5, 1e-5, True, False, None, "$w", "${w * 2}", "three"]),
    st.sampled_from(["same", "valid", "zeros", "reflect", "bilinear", "tanh", "row", "gelu"]),
    st.lists(st.one_of(st.integers(-2, 9), st.none(), st.just("$w")), max_size=7),
)


def enums(fragment: Any) -> list[Any]:
    """The enum values anywhere in a schema fragment (a choice kind's choices)."""
    if isinstance(fragment, dict):
        return [*fragment.get("enum", []), *(v for f in fragment.values() for v in enums(f))]
    return [v for f in fragment for v in enums(f)] if isinstance(fragment, list) else []


def values(name: str, field: dataclasses.Field[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values for one argument (its default, its choices, small sizes), and
    some wrong ones."""
    ndim = REGISTRY[name].ndim
    fragment = checker().schema["$defs"]["types"][name]["properties"][field.name]
    plausible = [st.integers(1, 3), st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)]
    if field.default is not dataclasses.MISSING:
        plausible.append(st.just(field.default))
    if enums(fragment):
        plausible.append(st.sampled_from(enums(fragment)))
    return st.one_of(*plausible, *plausible, WRONG)


@st.composite
def single_layer(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(REGISTRY)))
    cls = REGISTRY[name]
    fields = schema(cls)
    keys = draw(st.lists(st.sampled_from([*fields, "kernal_size"]), unique=True, max_size=3))
    item = {"type": name}
    for key in keys:
        item[key] = draw(values(name, fields[key]) if key in fields else WRONG)
    return {"input": SHAPES[cls.ndim], "vars": {"w": 3}, "layers": [item]}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schema")


@given(spec=single_layer())
def test_schema_agrees_with_the_loader(scratch: Path, spec: dict[str, Any]) -> None:
    """Accepted by the loader and the engine => schema-valid; schema-valid and free of
    expressions => the loader's kind checks pass (it can still refuse what only a layer's
    ``check()`` or a shape rule sees, or what an expression evaluates to)."""
    file = scratch / "layer.yaml"
    file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    data = data_of(file)
    valid = checker().is_valid(data)
    try:
        loaded = convshape.load(file)
    except ConvshapeError as exc:
        has_expression = "$" in json.dumps(spec["layers"])
        assert not valid or has_expression, f"schema-valid, loader refuses: {exc.message}"
        return
    if convshape.predict(loaded).error is None:
        assert valid, [e.message for e in checker().iter_errors(data)]


# ------------------------------------------------------------------------------ CLI


def test_cli_prints_the_schema() -> None:
    code, out, _ = cli("schema")
    assert code == 0
    assert json.loads(out) == spec_schema()
    assert out == schema_text()


def test_cli_writes_the_schema(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    code, _, _ = cli("schema", "-o", str(target))
    assert code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == spec_schema()
