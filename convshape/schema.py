"""The JSON Schema (draft 2020-12) of the spec language, generated from the registry.

``convshape schema -o convshape.schema.json`` writes it; yaml-language-server (VS Code's YAML
extension, and other editors) then completes keys and values, shows each argument's kind and
torch default on hover, and flags a misspelt key or a value of the wrong kind.

Generated, never written by hand: the keys of a spec (:data:`convshape.spec.parse.TOP_KEYS`),
of each layer type (its dataclass fields, :func:`convshape.layers.kinds.schema`, with torch's
defaults), of each container (:data:`convshape.containers.CONTAINERS`), of block definitions
and of included files (:data:`convshape.spec.blocks.INCLUDE_KEYS`). Each kind of
:data:`convshape.layers.kinds.KINDS` has a fragment in :data:`KIND_SCHEMAS`; wherever the loader
substitutes variables, a string holding ``$name`` or ``${expr}`` is accepted too. Only keywords
yaml-language-server reads are used (it implements draft-07: ``if``/``then``, ``$ref``,
``additionalProperties``; not ``unevaluatedProperties``).

The schema never refuses a spec the loader accepts; it cannot see everything the loader refuses:
- a block use: its keys are the block's params, so an item whose ``type`` is not a registered
  layer or container takes any identifier keys, and a misspelt type name reads as a block use;
- what an expression evaluates to, and whether its variables exist;
- an integral float: JSON Schema takes ``3.0`` for the integer 3, the loader does not;
- rules across arguments or shapes: a layer's own ``check()`` (padding at most half the kernel,
  groups dividing the channels), shape rules, a Split's sizes matching its branches;
- a budget written as a string beyond its form (``0M``, ``1e30``); unique layer names; that
  included files exist; and a block body, which the loader reads only where the block is used.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from convshape.calc import describe
from convshape.codes import CODES
from convshape.containers import CONTAINERS
from convshape.layers import REGISTRY, Layer
from convshape.layers.kinds import CHOICES, MAX_SCALE, required, schema
from convshape.spec.blocks import INCLUDE_KEYS
from convshape.spec.budgets import UNITS
from convshape.spec.names import RESERVED_NAMES
from convshape.spec.parse import BLOCK_KEYS, META_KEYS, TOP_KEYS

Fragment = dict[str, Any]
DRAFT = "https://json-schema.org/draft/2020-12/schema"
EXPRESSION = r"\$(?:\{[^{}]*\}|[A-Za-z_][A-Za-z0-9_]*)"  # expr.py's _WHOLE, found anywhere
# str.isidentifier() for ASCII names; a name with any other character is left to the loader
IDENTIFIER = r"^(?!__)(?:[A-Za-z_][A-Za-z0-9_]*|.*[^\x00-\x7F].*)$"
_NUMBER = r"(?=[^0-9]*[0-9])\s*[_,]*\+?[0-9_,]*\.?[0-9_,]*(?:[eE][_,]*[+-]?[0-9_,]+)?\s*"
BUDGET_PATTERNS = {  # budgets.parse_limit: _ and , dropped, K M G T, bytes may end in (i)B
    "count": f"^{_NUMBER}[KMGTkmgt]?\\s*$",
    "bytes": f"^{_NUMBER}[KMGTkmgt]?[iI]?[bB]?\\s*$",
}
EXPR_REF = {"$ref": "#/$defs/expression"}


def _ref(name: str) -> Fragment:
    return {"$ref": f"#/$defs/{name}"}


def _or_expr(fragment: Fragment) -> Fragment:
    return {"anyOf": [fragment, EXPR_REF]}


def _int(lo: int | None = None) -> Fragment:
    return {"type": "integer"} if lo is None else {"type": "integer", "minimum": lo}


def _list(item: Fragment, size: int | None = None, min_items: int = 0) -> Fragment:
    """A list whose items are ``item`` or an expression (substitute_deep reaches into lists)."""
    out: Fragment = {"type": "array", "items": _or_expr(item)}
    if size is not None:
        out.update(minItems=size, maxItems=size)
    elif min_items:
        out["minItems"] = min_items
    return out


def _ints(lo: int | None, size: Callable[[int], int]) -> Callable[[int], Fragment]:
    """kinds._ints: an int, or a list of exactly ``size(ndim)`` ints, each >= lo."""
    return lambda ndim: {"anyOf": [_int(lo), _list(_int(lo), size(ndim))]}


def _optional(inner: Callable[[int], Fragment]) -> Callable[[int], Fragment]:
    return lambda ndim: {"anyOf": [{"type": "null"}, inner(ndim)]}


def _const(fragment: Fragment) -> Callable[[int], Fragment]:
    return lambda ndim: fragment


def _output_size(ndim: int) -> Fragment:
    item = {"anyOf": [_int(0), {"type": "null"}]} if ndim > 1 else _int(0)
    return {"anyOf": [_int(0), _list(item, ndim)]}


def _positive_or_list(item: Fragment) -> Fragment:
    return {"anyOf": [item, _list(item, min_items=1)]}


_SCALE = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SCALE}
_RATIO = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
_INT_LIST = _list({"anyOf": [_int(1), {"const": -1}]}, min_items=1)  # one -1 at most: loader


class Kind(NamedTuple):
    words: str  # for hover text; {n} is the number of spatial dims
    build: Callable[[int], Fragment]  # ndim -> the fragment


def _choice(*choices: str) -> Kind:
    return Kind("one of " + ", ".join(choices), _const({"enum": list(choices)}))


KIND_SCHEMAS: dict[str, Kind] = {  # one per kinds.KINDS entry, each mirroring its check
    "int": Kind("an int", _const(_int())),
    "PosInt": Kind("a positive int", _const(_int(1))),
    "NonNegInt": Kind("an int >= 0", _const(_int(0))),
    "float": Kind("a number", _const({"type": "number"})),
    "PosFloat": Kind("a number > 0", _const({"type": "number", "exclusiveMinimum": 0})),
    "OptFloat": Kind("a number or null", _optional(_const({"type": "number"}))),
    "Probability": Kind(
        "a probability from 0 to 1", _const({"type": "number", "minimum": 0, "maximum": 1})
    ),
    "OptNonZeroInt": Kind(
        "a non-zero int or null", _optional(_const({"type": "integer", "not": {"const": 0}}))
    ),
    "NonZeroFloat": Kind("a non-zero number", _const({"type": "number", "not": {"const": 0}})),
    "bool": Kind("true or false", _const({"type": "boolean"})),
    "OptBool": Kind("true, false or null", _optional(_const({"type": "boolean"}))),
    "FalseOnly": Kind("false (true returns a tuple)", _const({"const": False})),
    "Size": Kind("a positive int or a list of {n} positive ints", _ints(1, lambda n: n)),
    "OptSize": Kind(
        "null (= kernel_size), a positive int or a list of {n}", _optional(_ints(1, lambda n: n))
    ),
    "Pad": Kind("an int or a list of {n} ints", _ints(None, lambda n: n)),
    "NonNegPad": Kind("an int >= 0 or a list of {n} of them", _ints(0, lambda n: n)),
    "ConvPad": Kind(
        "same, valid, an int or a list of {n} ints",
        lambda n: {"anyOf": [{"enum": ["same", "valid"]}, _ints(None, lambda m: m)(n)]},
    ),
    "PadSpec": Kind(
        "an int or a list of {n2} ints (left, right, ...)", _ints(None, lambda n: 2 * n)
    ),
    "OutputSize": Kind("an int >= 0 or a list of {n} of them (or nulls)", _output_size),
    "OutSize2": Kind("a positive int or a list of 2", _ints(1, lambda n: 2)),
    "Size2": Kind("a positive int or a list of 2", _ints(1, lambda n: 2)),
    "Pad2": Kind("an int >= 0 or a list of 2", _ints(0, lambda n: 2)),
    "OptSizeAny": Kind(
        "null, a positive int or a list of positive ints",
        _optional(_const(_positive_or_list(_int(1)))),
    ),
    "OptScale": Kind(
        "null, a positive number or a list of them", _optional(_const(_positive_or_list(_SCALE)))
    ),
    "OptRatio": Kind(
        "null, a number between 0 and 1 (exclusive) or a list of {n}",
        _optional(lambda n: {"anyOf": [_RATIO, _list(_RATIO, n)]}),
    ),
    "OptOutSize": Kind(
        "null, a positive int or a list of {n} positive ints", _optional(_ints(1, lambda n: n))
    ),
    **{name: _choice(*words) for name, words in CHOICES.items()},
    "IntList": Kind("a list of positive ints (one may be -1)", _const(_INT_LIST)),
    "DimList": Kind("a non-empty list of dims (ints)", _const(_list(_int(), min_items=1))),
    "NormShape": Kind("a positive int or a list of them", _const(_positive_or_list(_int(1)))),
}


# ------------------------------------------------------------------------------ layer types


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, tuple | list) else value


def _inferable(cls: type[Layer]) -> set[str]:
    """The arguments the engine fills from the input (their names do not depend on it)."""
    return set(cls.inferable((1, 1, 1)))


def _argument(cls: type[Layer], field: dataclasses.Field[Any]) -> Fragment:
    kind = KIND_SCHEMAS[str(field.type)]
    words = kind.words.format(n=cls.ndim, n2=2 * cls.ndim)
    torch_name = f"{cls.torch_module or 'torch.nn.' + cls.__name__}"
    if field.name in _inferable(cls):
        when = "inferred from the input when left out"
    elif field.default is dataclasses.MISSING:
        when = "required"
    else:
        when = f"default {json.dumps(_jsonable(field.default))}"
    out = _or_expr(kind.build(cls.ndim))
    out["description"] = f"{words} ({field.type}); {when}. {torch_name}'s `{field.name}`."
    out["markdownDescription"] = f"**{field.name}**: {words} (`{field.type}`), {when}.\n\n" + (
        f"`{torch_name}`"
    )
    if field.default is not dataclasses.MISSING:
        out["default"] = _jsonable(field.default)
    return out


def _layer_type(cls: type[Layer]) -> Fragment:
    """The arguments of one layer type; ``_rules`` adds which keys are allowed."""
    fields = schema(cls)
    signature = describe(cls)
    module = cls.torch_module or f"torch.nn.{cls.__name__}"
    return {
        "description": f"{signature}\n{module}",
        "markdownDescription": f"```\n{signature}\n```\n\n`{module}`",
        "properties": {name: _argument(cls, f) for name, f in fields.items()},
        "required": [name for name in required(cls) if name not in _inferable(cls)],
    }


# ------------------------------------------------------------------------------ containers

_LAYER_LIST = _ref("layerList")
CONTAINER_KEYS: dict[str, Fragment] = {  # containers.py: each ContainerType.read
    "layers": {**_LAYER_LIST, "description": "the layers, in order"},
    "body": {**_LAYER_LIST, "description": "the residual branch"},
    "shortcut": {
        "anyOf": [{"const": "auto"}, _LAYER_LIST, EXPR_REF],
        "description": "layers, none (the identity), or auto (1x1 conv + BatchNorm if needed)",
    },
    "connect": {**_or_expr({"type": "boolean"}), "default": True, "description": "add at all"},
    "shortcut_first": {**_or_expr({"type": "boolean"}), "default": False},
    "branches": {
        "type": "array",
        "minItems": 1,
        "items": _LAYER_LIST,
        "description": "a list of layer lists, one per branch",
    },
    "dim": {**_or_expr(_int()), "default": 1, "description": "the dim to concatenate along"},
    "sizes": {**_or_expr(_list(_int(1), min_items=1)), "description": "torch.split's sizes"},
    "chunks": {**_or_expr(_int(1)), "description": "torch.chunk's chunks"},
}
CONTAINER_REQUIRED = {
    "Residual": ["body"],
    "Concat": ["branches"],
    "Split": ["branches"],
    "Gate": ["layers"],
}


def _container(name: str) -> Fragment:
    rule = CONTAINERS[name]
    doc = (type(rule).__doc__ or "").strip() if name != "Sequential" else "layers in a row"
    out: Fragment = {
        "description": f"{name} (container): {doc}",
        "properties": {key: CONTAINER_KEYS[key] for key in rule.keys},
        "required": CONTAINER_REQUIRED.get(name, []),
    }
    if name == "Split":
        out["oneOf"] = [{"required": ["sizes"]}, {"required": ["chunks"]}]
    return out


def _types() -> dict[str, Fragment]:
    overlap = set(REGISTRY) & set(CONTAINERS)
    assert not overlap, f"layer types named like containers: {overlap}"
    out = {name: _layer_type(cls) for name, cls in REGISTRY.items()}
    out.update({name: _container(name) for name in CONTAINERS})
    return dict(sorted(out.items()))


def _rules(types: dict[str, Fragment], extra: tuple[str, ...], untyped: str | None) -> Fragment:
    """One ``if type is X then X's keys only`` per known type (``untyped``: the type of an item
    without ``type``); any other type is a block use: identifier keys."""
    rules = []
    for name, fragment in types.items():
        test: Fragment = {"properties": {"type": {"const": name}}}
        if name != untyped:
            test["required"] = ["type"]
        keys = [*fragment["properties"], *META_KEYS, *extra]
        then = {
            "$ref": f"#/$defs/types/{name}",
            "properties": dict.fromkeys(keys, True),
            "additionalProperties": False,
        }
        rules.append({"if": test, "then": then})
    return {"allOf": rules, "propertyNames": _ref("identifier")}


# ------------------------------------------------------------------------------ items, blocks


def _meta() -> dict[str, Fragment]:
    codes = _ref("allow")
    return {
        "type": _ref("typeName"),
        "name": {"anyOf": [_ref("moduleName"), EXPR_REF], "description": "the module's key"},
        "expect": {
            **_or_expr(_list({"anyOf": [_int(1), {"type": "null"}]})),
            "description": "the output shape this layer must give (null = any size)",
        },
        "repeat": {**_or_expr({**_int(0), "maximum": 10_000}), "description": "copies of it"},
        "trainable": {**_or_expr({"type": "boolean"}), "default": True},
        "allow": {"anyOf": [codes, _list(codes), EXPR_REF], "description": "warnings allowed"},
        "if": {**_or_expr({"type": "boolean"}), "description": "written only when true"},
    }


def _item(types: dict[str, Fragment]) -> Fragment:
    """A layer: a type name alone, or a mapping with ``type`` and its arguments."""
    mapping = {
        "type": "object",
        "required": ["type"],
        "properties": _meta(),
        **_rules(types, (), None),
    }
    return {
        "if": {"type": "string"},
        "then": _ref("typeName"),
        "else": mapping,
        "type": ["string", "object"],
    }


def _block(types: dict[str, Fragment]) -> Fragment:
    """A block definition: params, vars and a body (``layers:``, or a ``type:`` item)."""
    names = {"type": ["object", "null"], "propertyNames": _ref("identifier")}
    properties = {
        "params": {
            **names,
            "description": "the block's parameters: name -> default (null: "
            "required); a use sets them as keys",
        },
        "vars": {**names, "description": "values derived from the params (and the input: C, H)"},
        **_meta(),
        "layers": _LAYER_LIST,
    }
    return {"type": "object", "properties": properties, **_rules(types, BLOCK_KEYS, "Sequential")}


def _type_name(types: dict[str, Fragment]) -> Fragment:
    known = {
        "enum": list(types),
        "markdownEnumDescriptions": [
            t.get("markdownDescription", t["description"]) for t in types.values()
        ],
    }
    block = {"type": "string", "description": "a block name, or an expression"}
    return {"anyOf": [known, block], "description": "a layer type, container or block"}


# ------------------------------------------------------------------------------ top level


def _budget() -> Fragment:
    figures = {
        figure: {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 2**63},
                {"type": "string", "pattern": BUDGET_PATTERNS[unit]},
                EXPR_REF,
            ],
            "description": f"a limit on {figure} ({'25M, 4.1G' if unit == 'count' else '2GiB'})",
        }
        for figure, unit in UNITS.items()
    }
    return {"type": "object", "properties": figures, "additionalProperties": False}


def _top_keys() -> dict[str, Fragment]:
    path = {"type": "string", "pattern": "^(?!//)(?![\\s\\S]*://)[\\s\\S]+$"}
    return {
        "name": {"type": ["string", "null"], "description": "the model's name"},
        "description": {"description": "free text"},
        "input": {
            **_or_expr(_list(_int(0), min_items=1)),
            "description": "the input shape, batch first, e.g. [1, 3, 224, 224] (0: empty, CS106)",
        },
        "unbatched": {"type": "boolean", "default": False},
        "allow": {"anyOf": [_ref("allow"), {"type": "array", "items": _ref("allow")}]},
        "include": {
            "anyOf": [path, {"type": "array", "items": path}, {"type": "null"}],
            "description": "files of blocks, relative to this file",
        },
        "vars": {"type": ["object", "null"], "propertyNames": _ref("identifier")},
        "blocks": {
            "type": ["object", "null"],
            "propertyNames": {**_ref("identifier"), "not": {"enum": [*REGISTRY, *CONTAINERS]}},
            "additionalProperties": _ref("block"),
        },
        "budget": _budget(),
        "layers": _LAYER_LIST,
    }


def _defs() -> dict[str, Fragment]:
    types = _types()
    module_name = {
        "type": "string",
        "pattern": IDENTIFIER.replace("(?!__)", "(?!_)"),
        "not": {"enum": sorted(RESERVED_NAMES)},
    }
    return {
        "allow": {"enum": list(CODES), "markdownEnumDescriptions": list(CODES.values())},
        "block": _block(types),
        "expression": {
            "type": "string",
            "pattern": EXPRESSION,
            "description": "a variable ($width) or an expression (${width * 4})",
        },
        "identifier": {"type": "string", "pattern": IDENTIFIER},
        "layer": _item(types),
        "layerList": {"type": ["array", "null"], "items": _ref("layer")},
        "moduleName": module_name,
        "typeName": _type_name(types),
        "types": types,
    }


def spec_schema() -> dict[str, Any]:
    """The schema: a spec file (``input`` and ``layers``), or an included file of blocks."""
    keys = _top_keys()
    assert tuple(keys) == TOP_KEYS, "a top-level key without a schema"
    return {
        "$schema": DRAFT,
        "title": "convshape spec",
        "description": "A convshape spec: a PyTorch network as YAML (convshape schema)",
        "type": "object",
        "properties": keys,
        "additionalProperties": False,
        "anyOf": [
            {"required": ["input", "layers"]},
            {"propertyNames": {"enum": list(INCLUDE_KEYS)}},  # an included file of blocks
        ],
        "$defs": _defs(),
    }


def schema_text() -> str:
    return json.dumps(spec_schema(), indent=2) + "\n"
