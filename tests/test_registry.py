"""The registry, the builder and the README's layer table cover each other."""

from __future__ import annotations

import dataclasses
import re

import pytest
from helpers import ROOT

from convshape.layers import REGISTRY
from convshape.layers.kinds import KINDS, schema


def readme_layer_names() -> set[str]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| family | layers |") :].split("\n\n")[0]
    names: set[str] = set()
    for word in re.findall(r"[A-Z][A-Za-z0-9]+(?:/[0-9]d)*", table):
        stem, *dims = word.split("/")
        names.add(stem)
        names.update(stem[:-2] + d for d in dims)
    return names


def test_readme_layer_table_lists_every_registered_type() -> None:
    assert set(REGISTRY) <= readme_layer_names()


def test_every_field_kind_is_known() -> None:
    for cls in REGISTRY.values():
        for field in dataclasses.fields(cls):
            assert str(field.type) in KINDS, f"{cls.__name__}.{field.name}: {field.type}"


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_type_has_a_torch_class_with_the_same_arguments(name: str) -> None:
    import inspect

    from convshape.builder import torch_class

    torch_params = inspect.signature(torch_class(REGISTRY[name]).__init__).parameters
    ours = list(schema(REGISTRY[name]))
    theirs = [p for p in torch_params if p not in ("self", "device", "dtype")]
    # same names, in torch's positional order (torch may have extra, deprecated ones)
    assert [p for p in theirs if p in ours] == ours, f"{name}: {ours} vs torch {theirs}"
