"""The checked, expanded spec: blocks, variables and ``repeat`` resolved, values coerced.

Shapes are not known here; the engine (:mod:`convshape.engine`) walks these declarations with
the input shape, infers ``in_channels`` and friends, and predicts every output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from convshape.errors import Location
from convshape.layers import Layer, Shape


class Container(StrEnum):
    SEQUENTIAL = "Sequential"
    RESIDUAL = "Residual"
    CONCAT = "Concat"


AUTO = "auto"  # `shortcut: auto`: 1x1 conv + BatchNorm when the body changes the shape


@dataclass(frozen=True)
class Origin:
    """Where a declaration is written."""

    location: Location
    spec_path: str  # "layers[4].body[0]"
    via: str | None = None  # "block Bottleneck used at configs/resnet50.yaml:41:5"


@dataclass(frozen=True)
class Decl:
    """What every declaration has: its module key in the parent and its metadata."""

    key: str
    origin: Origin
    name: str | None = None
    expect: tuple[int | None, ...] | None = None
    block: str | None = None  # the block this declaration instantiates
    trainable: bool = True


@dataclass(frozen=True)
class LeafDecl(Decl):
    cls: type[Layer] = Layer
    args: dict[str, Any] = field(default_factory=dict)  # coerced; the inferred one may be absent
    arg_locations: dict[str, Location] = field(default_factory=dict)


@dataclass(frozen=True)
class SeqDecl(Decl):
    children: tuple[Decl, ...] = ()


@dataclass(frozen=True)
class ResidualDecl(Decl):
    body: SeqDecl | None = None
    shortcut: SeqDecl | str | None = None  # None: identity; AUTO: projection when needed


@dataclass(frozen=True)
class ConcatDecl(Decl):
    branches: tuple[SeqDecl, ...] = ()
    dim: int = 1


@dataclass(frozen=True)
class Spec:
    file: str
    name: str | None
    input_shape: Shape
    input_location: Location
    root: SeqDecl
