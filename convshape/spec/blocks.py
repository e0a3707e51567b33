"""Blocks: their definitions (``blocks:``, and the ``include:`` files that hold more), and the
names a block body reads from its input's shape.

``include: [blocks/mobile.yaml]`` reads block definitions from files next to the spec: a path
relative to the including file's folder, never a URL, never outside the spec's folder, each file
once (a cycle is refused); errors in an included file point into that file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convshape.containers import CONTAINERS
from convshape.errors import Location
from convshape.layers import REGISTRY, Shape
from convshape.spec.checks import fail, identifier
from convshape.spec.yamlio import YList, YMap, load_yaml

INCLUDE_KEYS = ("include", "blocks")
MAX_INCLUDES = 64


@dataclass(frozen=True)
class Block:
    name: str
    params: YMap  # name -> default (None: required)
    vars: YMap  # block-local derived values, evaluated after the params
    body: YMap
    location: Location


def read_blocks(data: YMap, file: str) -> dict[str, Block]:
    """The blocks of a spec: its own ``blocks:`` and those of its ``include:`` files."""
    root = Path(file).resolve().parent
    blocks: dict[str, Block] = {}
    _gather(data, Path(file), root, [], blocks)
    return blocks


def _gather(
    data: YMap, path: Path, root: Path, stack: list[Path], blocks: dict[str, Block]
) -> None:
    stack = [*stack, path.resolve()]
    for included, loc in _includes(data):
        target = _resolve(included, loc, path, root)
        if target.resolve() in stack:
            chain = " -> ".join(p.name for p in [*stack, target])
            raise fail(f"include cycle: {chain}", loc, "include")
        if len(stack) > MAX_INCLUDES:
            raise fail(f"includes nested deeper than {MAX_INCLUDES}", loc, "include")
        text = load_yaml(target)
        if not isinstance(text, YMap):
            raise fail(f"an included file holds a mapping with 'blocks'; {included} does not",
                       loc, "include")  # fmt: skip
        for key in text:
            if key not in INCLUDE_KEYS:
                raise fail(f"an included file has only {', '.join(INCLUDE_KEYS)}; found '{key}'",
                           text.key_locs[key], "")  # fmt: skip
        _gather(text, target, root, stack, blocks)
    for name, block in _own_blocks(data).items():
        if name in blocks:
            first = blocks[name].location
            raise fail(f"block '{name}' is defined twice (first at {first})", block.location)
        blocks[name] = block


def _includes(data: YMap) -> list[tuple[str, Location]]:
    raw = data.get("include")
    if raw is None:
        return []
    items = raw if isinstance(raw, YList) else [raw]
    locs = raw.item_locs if isinstance(raw, YList) else [data.value_locs["include"]]
    for item, loc in zip(items, locs, strict=True):
        if not isinstance(item, str) or not item:
            raise fail(f"'include' lists file paths, got {item!r}", loc, "include")
    return list(zip(items, locs, strict=True))


def _resolve(included: str, loc: Location, path: Path, root: Path) -> Path:
    if "://" in included or included.startswith("//"):
        raise fail(f"include '{included}': only files next to the spec, never URLs", loc,
                   "include")  # fmt: skip
    target = path.parent / included  # shown as the user wrote it, checked resolved
    if not target.resolve().is_relative_to(root):
        raise fail(f"include '{included}' is outside the spec's folder {root}", loc, "include",
                   hint="keep shared blocks in the spec's folder or below it")  # fmt: skip
    return target


def _own_blocks(data: YMap) -> dict[str, Block]:
    raw = data.get("blocks") or YMap()
    if not isinstance(raw, YMap):
        where = data.value_locs["blocks"]
        raise fail("'blocks' must be a mapping of block names to definitions", where, "blocks")
    blocks = {}
    for name, body in raw.items():
        loc = raw.key_locs[name]
        identifier(name, loc, "block")
        if name in REGISTRY or name in CONTAINERS:
            raise fail(f"block name '{name}' hides the layer type of that name", loc)
        if not isinstance(body, YMap):
            raise fail(f"block '{name}' must be a mapping with 'type' or 'layers'", loc)
        params = body.get("params") or YMap()
        if not isinstance(params, YMap):
            raise fail(f"block '{name}': 'params' must be a mapping", body.loc)
        for p in params:
            identifier(p, params.key_locs[p], "block parameter")
        local = body.get("vars") or YMap()
        if not isinstance(local, YMap):
            raise fail(f"block '{name}': 'vars' must be a mapping", body.value_locs["vars"])
        blocks[name] = Block(name, params, local, body, loc)
    return blocks


def shape_names(shape: Shape, prefix: str) -> dict[str, int]:
    """The sizes of a ``(N, C, *spatial)`` shape by name: ``N``, ``C``, then ``L`` (1-d),
    ``H, W`` (2-d) or ``D, H, W`` (3-d), ``E`` (the last dim) and ``rank``; with ``prefix``
    (``input_H``)."""
    names: dict[str, int] = {"rank": len(shape)}
    for name, size in zip(("N", "C"), shape, strict=False):
        names[name] = size
    spatial = {3: ("L",), 4: ("H", "W"), 5: ("D", "H", "W")}.get(len(shape), ())
    names.update(zip(spatial, shape[2:], strict=False))
    if shape:
        names["E"] = shape[-1]  # the last dim: the embedding of a (N, L, E) sequence
    return {f"{prefix}{k}": v for k, v in names.items()}
