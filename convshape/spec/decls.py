"""Declarations: the checked, expanded spec (blocks, variables and ``repeat`` resolved).

Shapes are not known here; the engine (:mod:`convshape.engine`) walks these declarations with
the input shape, infers ``in_channels`` and friends, and predicts every output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convshape.errors import Location
from convshape.layers import Layer, Shape
from convshape.spec.budgets import Budget


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
    expect_location: Location | None = None
    block: str | None = None  # the block this declaration instantiates
    use: Origin | None = None  # where that block is used
    block_args: tuple[tuple[str, Any], ...] = ()  # its params and vars, as that use set them
    trainable: bool = True
    allow: frozenset[str] = frozenset()  # warning codes allowed on this declaration


@dataclass(frozen=True)
class LeafDecl(Decl):
    cls: type[Layer] = Layer
    args: dict[str, Any] = field(default_factory=dict)  # coerced; the inferred one may be absent
    arg_locations: dict[str, Location] = field(default_factory=dict)


@dataclass(frozen=True)
class SeqDecl(Decl):
    children: tuple[Decl, ...] = ()


@dataclass(frozen=True)
class Branch:
    """One path of a :class:`MergeDecl`: its module key and layers (None: the identity)."""

    key: str
    layers: SeqDecl | None


@dataclass(frozen=True)
class MergeDecl(Decl):
    """A container whose branches all read the same input and whose outputs are merged.

    ``kind`` is the container type's name (``Residual``, ``Concat``) in
    :data:`convshape.containers.CONTAINERS`, which holds its rules; ``options`` its own settings
    (``dim``, ``auto``).
    """

    kind: str = ""
    branches: tuple[Branch, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


def _unexpanded(shape: Shape) -> Decl:
    raise NotImplementedError


@dataclass(frozen=True)
class BlockDecl(Decl):
    """A block use, expanded by the engine once its input shape is known (``expand``)."""

    expand: Callable[[Shape], Decl] = _unexpanded


@dataclass(frozen=True)
class Spec:
    file: str
    name: str | None
    input_shape: Shape
    input_location: Location
    root: SeqDecl
    unbatched: bool = False  # `input` has no batch dimension, on purpose
    allow: frozenset[str] = frozenset()  # warning codes allowed for the whole file
    expects: bool = True  # check `expect:` (off for a --batch re-run)
    training: bool = False  # training mode's rules too (check --train)
    budgets: tuple[Budget, ...] = ()  # `budget:` limits, checked after the prediction
    # the layer budget counts a prediction's block expansions from the parse's count
    restart: Callable[[], None] | None = field(default=None, compare=False, repr=False)


def decl_type(decl: Decl) -> str:
    """The type a declaration builds: the torch class of a leaf, else the container type."""
    if isinstance(decl, LeafDecl):
        return decl.cls.__name__
    if isinstance(decl, MergeDecl):
        return decl.kind
    if isinstance(decl, BlockDecl):
        return decl.block or "block"
    return "Sequential"
