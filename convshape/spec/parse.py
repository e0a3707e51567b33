"""From YAML data to a checked :class:`Spec`: schema checks, blocks, variables, ``repeat``.

Every error is a :class:`SpecError` located at the YAML node it is about, with the spec path
(``layers[4].body[0]``) and, inside a block, the place the block was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from convshape.codes import check_allow
from convshape.containers import CONTAINERS, SEQUENTIAL
from convshape.errors import ConvshapeError, Location, SpecError, did_you_mean
from convshape.layers import REGISTRY, Shape, coerce
from convshape.layers.kinds import schema
from convshape.spec.blocks import Block, read_blocks, shape_names
from convshape.spec.budgets import UNITS, Budget, parse_limit
from convshape.spec.checks import check_expect, fail, identifier, substitute_deep, type_hint
from convshape.spec.decls import BlockDecl, Decl, LeafDecl, Origin, SeqDecl, Spec
from convshape.spec.names import check_module_name
from convshape.spec.yamlio import YList, YMap, load_yaml

TOP_KEYS = (
    "name", "description", "input", "unbatched", "allow", "include", "vars", "blocks", "budget",
    "layers",
)  # fmt: skip
META_KEYS = ("type", "name", "expect", "repeat", "trainable", "allow", "if")
BLOCK_KEYS = ("params", "vars")  # a block definition's own keys, besides its body
SCOPE_HINT = "a block sees only its params, its own vars and the top-level vars"
MAX_BLOCK_DEPTH = 16
MAX_NESTING = 48  # containers in containers, through blocks too: far past any real model
MAX_REPEAT = 10_000
MAX_LAYERS = 100_000


@dataclass
class Scope:
    """What a layer declaration can see: variables, blocks, where it is used from.

    Scoping is lexical: the top level sees the top-level ``vars``; a block body sees the
    top-level ``vars``, its own ``params`` and its own ``vars``, never its caller's names.
    """

    values: Mapping[str, Any]
    blocks: Mapping[str, Block]
    via: str | None = None
    depth: int = 0
    top: Mapping[str, Any] | None = None  # the top-level vars


class Parser:
    def __init__(self, file: str) -> None:
        self.file = file
        self.count = 0
        self.nesting = 0  # how many layer declarations enclose the one being read

    # ------------------------------------------------------------------------------ top level

    def spec(self, data: Any) -> Spec:
        if not isinstance(data, YMap):
            what = "empty" if data is None else f"a {type(data).__name__.lstrip('Y').lower()}"
            where = getattr(data, "loc", Location(self.file, 1, 1))
            raise fail(f"a spec is a mapping with 'input' and 'layers'; this file is {what}", where)
        self._check_keys(data, TOP_KEYS, "spec", "")
        for key in ("input", "layers"):
            if key not in data:
                raise fail(f"the spec needs '{key}'", data.loc)
        values = self._vars(data)
        scope = Scope(values, read_blocks(data, self.file), top=values)
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise fail("'name' must be a string", data.value_locs["name"])
        loc = data.value_locs["input"]
        shape = self._input(self._subst(data["input"], values, loc, "input"), loc)
        values.update({k: v for k, v in shape_names(shape, "input_").items() if k not in values})
        unbatched = data.get("unbatched", False)
        if not isinstance(unbatched, bool):
            raise fail("'unbatched' must be true or false", data.value_locs["unbatched"])
        allow = frozenset[str]()
        if "allow" in data:
            allow = check_allow(data["allow"], data.value_locs["allow"], "allow")
        budgets = self._budgets(data, values)
        root = self.layer_list(data["layers"], data.value_locs["layers"], scope, "layers", "")
        parsed = self.count  # block bodies expand per prediction, each from this count

        def restart() -> None:
            self.count = parsed

        return Spec(self.file, name, shape, loc, root, unbatched=unbatched, allow=allow,
                    budgets=budgets, restart=restart)  # fmt: skip

    def _budgets(self, data: YMap, values: dict[str, Any]) -> tuple[Budget, ...]:
        """``budget: {params: 25M, macs: 4.1G, inference_bytes: 2GiB}``."""
        if "budget" not in data:
            return ()
        raw = data["budget"]
        if not isinstance(raw, YMap):
            raise fail("'budget' must be a mapping of figures to limits, e.g. {params: 25M}",
                       data.value_locs["budget"])  # fmt: skip
        budgets = []
        for key, value in raw.items():
            if key not in UNITS:
                raise fail(
                    f"budget has no figure '{key}' (figures: {', '.join(UNITS)})",
                    raw.key_locs[key],
                    hint=did_you_mean(str(key), list(UNITS)),
                )
            loc = raw.value_locs[key]
            value = self._subst(value, values, loc, f"budget.{key}")
            try:
                limit = parse_limit(key, value)
            except ValueError as exc:
                raise fail(f"budget.{key}: {exc}", loc) from None
            budgets.append(Budget(key, limit, str(value), f"budget.{key}", loc))
        return tuple(budgets)

    def _input(self, value: Any, loc: Location) -> tuple[int, ...]:
        ok = isinstance(value, list) and value
        if not ok or not all(type(d) is int and d >= 0 for d in value):
            raise fail(
                f"'input' must be a list of ints >= 0, batch first, e.g. [1, 3, 224, 224]; "
                f"got {value!r}",
                loc,
            )
        return tuple(value)

    def _vars(self, data: YMap) -> dict[str, Any]:
        raw = data.get("vars") or YMap()
        if not isinstance(raw, YMap):
            raise fail("'vars' must be a mapping of names to values", data.value_locs["vars"])
        values: dict[str, Any] = {}
        for key, value in raw.items():
            identifier(key, raw.key_locs[key], "variable")
            values[key] = self._subst(value, values, raw.value_locs[key], "vars")
        return values

    def _check_keys(self, m: YMap, allowed: tuple[str, ...], what: str, path: str) -> None:
        for key in m:
            if key not in allowed:
                raise fail(
                    f"{what} has no key '{key}' (allowed: {', '.join(allowed)})",
                    m.key_locs[key],
                    path,
                    hint=did_you_mean(key, allowed),
                )

    def _subst(
        self, value: Any, scope: Mapping[str, Any], loc: Location, path: str, block: bool = False
    ) -> Any:
        try:
            return substitute_deep(value, scope)
        except ConvshapeError as exc:
            if block and exc.message.startswith("unknown variable") and exc.hint is None:
                exc = type(exc)(exc.message, formula=exc.formula, hint=SCOPE_HINT)
            raise exc.located(location=loc, spec_path=path) from None

    # ---------------------------------------------------------------- what containers call

    def value(self, item: YMap, key: str, scope: Scope, path: str) -> Any:
        return self._subst(item[key], scope.values, item.value_locs[key], path, scope.depth > 0)

    def fail(self, message: str, loc: Location, path: str) -> Exception:
        return fail(message, loc, path)

    # ------------------------------------------------------------------------------ layers

    def layer_list(self, items: Any, loc: Location, scope: Scope, path: str, key: str) -> SeqDecl:
        if items is None:
            items = YList()
            items.loc, items.item_locs = loc, []
        if not isinstance(items, list):
            raise fail(f"'{path.rsplit('.', 1)[-1]}' must be a list of layers", loc, path)
        item_locs = getattr(items, "item_locs", None) or [loc] * len(items)
        children: list[Decl] = []
        names: set[str] = set()
        for i, item in enumerate(items):
            item_path, item_loc = f"{path}[{i}]", item_locs[i]
            if not self._included(item, scope, item_path):
                continue
            times = self._repeat(item, item_loc, scope, item_path)
            for copy in range(times):
                copy_path = f"{item_path} (copy {copy + 1} of {times})" if times > 1 else item_path
                decl = self.layer(item, item_loc, scope, copy_path, str(len(children)))
                if decl.name:
                    unique = f"{decl.name}_{copy}" if times > 1 else decl.name
                    check_module_name(unique, item_loc, item_path)
                    if unique in names:
                        raise fail(f"duplicate layer name '{unique}'", item_loc, item_path)
                    names.add(unique)
                    decl = replace(decl, key=unique)
                children.append(decl)
        return SeqDecl(key=key, origin=Origin(loc, path, scope.via), children=tuple(children))

    def _included(self, item: Any, scope: Scope, path: str) -> bool:
        """``if: ${...}``: a layer written only when a condition holds."""
        if not isinstance(item, YMap) or "if" not in item:
            return True
        cond = self.value(item, "if", scope, path)
        if not isinstance(cond, bool):
            raise fail(f"'if' must be true or false, got {cond!r}", item.value_locs["if"], path)
        return cond

    def _repeat(self, item: Any, loc: Location, scope: Scope, path: str) -> int:
        if not isinstance(item, YMap) or "repeat" not in item:
            return 1
        times = self.value(item, "repeat", scope, path)
        if type(times) is not int or not 0 <= times <= MAX_REPEAT:
            raise fail(
                f"'repeat' must be an int from 0 to {MAX_REPEAT:,}, got {times!r}",
                item.value_locs["repeat"],
                path,
            )
        return times

    def layer(self, item: Any, loc: Location, scope: Scope, path: str, key: str) -> Decl:
        self.count += 1
        if self.count > MAX_LAYERS:
            raise fail(f"the spec expands to more than {MAX_LAYERS:,} layers", loc, path)
        if self.nesting >= MAX_NESTING:
            raise fail(
                f"layers nested deeper than {MAX_NESTING} containers (counting block bodies)",
                getattr(item, "loc", loc),
                path,
            )
        self.nesting += 1
        try:
            return self._layer(item, loc, scope, path, key)
        finally:
            self.nesting -= 1

    def _layer(self, item: Any, loc: Location, scope: Scope, path: str, key: str) -> Decl:
        if isinstance(item, str):
            bare = YMap({"type": item})
            bare.loc, bare.key_locs, bare.value_locs = loc, {"type": loc}, {"type": loc}
            item = bare
        if not isinstance(item, YMap):
            raise fail(f"a layer is a type name or a mapping with 'type', got {item!r}", loc, path)
        if "type" not in item:
            raise fail("layer needs a 'type'", item.loc, path, hint=type_hint(item))
        type_name = self.value(item, "type", scope, path)
        if not isinstance(type_name, str):
            raise fail(f"'type' must be a name, got {type_name!r}", item.value_locs["type"], path)
        meta = self._meta(item, scope, path)
        origin = Origin(item.loc, path, scope.via)
        if type_name in scope.blocks:
            return self._instance(scope.blocks[type_name], item, scope, path, key, meta)
        if type_name in CONTAINERS:
            return self._container(type_name, item, scope, path, key, meta, origin)
        if type_name not in REGISTRY:
            choices = [*REGISTRY, *scope.blocks, *CONTAINERS]
            hint = did_you_mean(type_name, choices) or "`convshape layers` lists the layer types"
            raise fail(
                f"unknown layer type '{type_name}'", item.value_locs["type"], path, hint=hint
            )
        return self._leaf(type_name, item, scope, path, key, meta, origin)

    def _meta(self, item: YMap, scope: Scope, path: str) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        for key in ("name", "expect", "trainable", "allow"):
            if key in item:
                meta[key] = self.value(item, key, scope, path)
        loc = item.value_locs
        if "name" in meta:
            name = meta["name"]
            if not isinstance(name, str) or not name.isidentifier():
                raise fail(f"'name' must be an identifier, got {name!r}", loc["name"], path)
            check_module_name(name, loc["name"], path)
        if "expect" in meta:
            meta["expect"] = check_expect(meta["expect"], loc["expect"], path)
            meta["expect_location"] = loc["expect"]
        if "allow" in meta:
            meta["allow"] = check_allow(meta["allow"], loc["allow"], path)
        if "trainable" in meta and not isinstance(meta["trainable"], bool):
            raise fail("'trainable' must be true or false", loc["trainable"], path)
        return meta

    def _leaf(
        self,
        type_name: str,
        item: YMap,
        scope: Scope,
        path: str,
        key: str,
        meta: dict[str, Any],
        origin: Origin,
    ) -> LeafDecl:
        cls = REGISTRY[type_name]
        allowed = (*schema(cls), *META_KEYS)
        self._check_keys(item, allowed, type_name, path)
        args: dict[str, Any] = {}
        locs: dict[str, Location] = {}
        for name, raw in item.items():
            if name in META_KEYS:
                continue
            loc = item.value_locs[name]
            value = self._subst(raw, scope.values, loc, path, scope.depth > 0)
            try:
                args[name] = coerce(cls, name, value)
            except SpecError as exc:
                raise exc.located(
                    location=loc, spec_path=path, via=scope.via, layer_type=type_name
                ) from None
            locs[name] = loc
        return LeafDecl(key=key, origin=origin, cls=cls, args=args, arg_locations=locs, **meta)

    def _container(
        self,
        kind: str,
        item: YMap,
        scope: Scope,
        path: str,
        key: str,
        meta: dict[str, Any],
        origin: Origin,
    ) -> Decl:
        rule = CONTAINERS[kind]
        self._check_keys(item, (*rule.keys, *META_KEYS), kind, path)
        decl = rule.read(self, item, scope, path)
        return replace(decl, key=key, origin=origin, **meta)

    # ------------------------------------------------------------------------------ blocks

    def _instance(
        self, block: Block, item: YMap, scope: Scope, path: str, key: str, meta: dict[str, Any]
    ) -> Decl:
        """A block use: its arguments are read here, where it is used; its body is expanded
        when the engine knows its input shape (:class:`BlockDecl`), so the body can read it."""
        if scope.depth >= MAX_BLOCK_DEPTH:
            raise fail(f"blocks nested deeper than {MAX_BLOCK_DEPTH} (a block using itself?)",
                       item.loc, path)  # fmt: skip
        allowed = (*block.params, *META_KEYS)
        self._check_keys(item, allowed, f"block {block.name}", path)
        given = {name: self.value(item, name, scope, path) for name in block.params if name in item}
        missing = [name for name, default in block.params.items() if default is None]
        for name in missing:
            if name not in given:
                raise fail(f"block {block.name} needs parameter '{name}'", item.loc, path)
        via = f"block {block.name} used at {item.loc}"
        if scope.via:
            via += f", inside {scope.via.removeprefix('block ')}"
        use = Origin(item.loc, path, scope.via)
        nesting = self.nesting

        def expand(shape: Shape) -> Decl:
            values = self._arguments(block, given, scope, path, shape)
            inner = Scope(values, scope.blocks, via, scope.depth + 1, scope.top)
            outer, self.nesting = self.nesting, nesting
            try:
                decl = self.layer(self._body(block), block.location, inner, path, key)
            finally:
                self.nesting = outer
            bound = tuple((name, values[name]) for name in (*block.params, *block.vars))
            return replace(decl, block=block.name, use=use, block_args=bound, **meta)

        return BlockDecl(key=key, origin=use, block=block.name, use=use, expand=expand, **meta)

    @staticmethod
    def _body(block: Block) -> YMap:
        body = YMap({k: v for k, v in block.body.items() if k not in BLOCK_KEYS})
        body.loc, body.key_locs, body.value_locs = (
            block.body.loc,
            block.body.key_locs,
            block.body.value_locs,
        )
        if "type" not in body:  # a block of plain `layers:` is a Sequential
            body["type"] = SEQUENTIAL.name
            body.value_locs = {**body.value_locs, "type": block.location}
        return body

    def _arguments(
        self, block: Block, given: dict[str, Any], scope: Scope, path: str, shape: Shape
    ) -> dict[str, Any]:
        """The block body's variables: top-level vars, its input's sizes (:func:`shape_names`),
        the params (a given value was evaluated where the block is used, a default is evaluated
        in the block's own scope), then the block's vars."""
        values = {**(scope.top or {}), **shape_names(shape, ""), **given}
        for name, default in block.params.items():
            if name not in given:
                loc = block.params.value_locs[name]
                values[name] = self._subst(default, values, loc, path, True)
        return self._block_vars(block.vars, values, path)

    def _block_vars(self, local: YMap, values: dict[str, Any], path: str) -> dict[str, Any]:
        for name, value in local.items():
            identifier(name, local.key_locs[name], "variable")
            values[name] = self._subst(value, values, local.value_locs[name], path, True)
        return values


def load(path: str | Path) -> Spec:
    """Read and check a spec file (never imports torch)."""
    return Parser(str(path)).spec(load_yaml(path))
