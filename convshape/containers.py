"""Container types: one table, read by the spec parser, the engine and the builder.

``Sequential`` runs its layers in a row. Every other container is a *merge*: each branch reads
the same input and the branch outputs are merged (``add`` for ``Residual``, ``cat`` for
``Concat``). An entry of :data:`CONTAINERS` says which YAML keys the container takes and how
they become branches, how the outputs merge (the shape rule, refused where torch raises), and
which class of :mod:`convshape.modules` builds it. Adding a container is adding an entry here
and, when no existing module fits, a class in :mod:`convshape.modules`. Nothing here imports
torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from convshape.errors import Location, ShapeError
from convshape.layers import REGISTRY, Shape
from convshape.layers.base import broadcast_shape, fmt, wrap_dim
from convshape.spec.decls import Branch, LeafDecl, MergeDecl, Origin, SeqDecl

if TYPE_CHECKING:
    from convshape.spec.yamlio import YMap

AUTO = "auto"  # `shortcut: auto`: 1x1 conv + BatchNorm when the body changes the shape
Call = tuple[list[tuple[str | None, str]], dict[str, Any]]  # ContainerType.call


class Reader(Protocol):
    """What a container type needs from the spec parser (:class:`convshape.spec.parse.Parser`)."""

    def layer_list(self, items: Any, loc: Location, scope: Any, path: str, key: str) -> SeqDecl:
        """A list of layer declarations as a Sequential."""
        ...

    def value(self, item: YMap, key: str, scope: Any, path: str) -> Any:
        """The value of ``item[key]`` with variables substituted."""
        ...

    def fail(self, message: str, loc: Location, path: str) -> Exception:
        """A located spec error."""
        ...


@dataclass(frozen=True)
class ContainerType:
    """The rules of one container type (the base is ``Sequential``)."""

    name: str
    keys: tuple[str, ...]  # its YAML keys, besides type/name/expect/repeat/trainable/allow
    torch_class: str  # the class in convshape.modules that builds it
    merges: ClassVar[bool] = False

    def read(self, r: Reader, item: YMap, scope: Any, path: str) -> MergeDecl | SeqDecl:
        """The declaration's container part (the caller adds key, origin and metadata)."""
        seq = r.layer_list(item.get("layers"), item.loc, scope, f"{path}.layers", "")
        return seq

    def inputs(self, decl: MergeDecl, shape: Shape) -> list[Shape]:
        """The input of each branch: all the container's input, unless it splits it."""
        return [shape] * len(decl.branches)

    def merge(self, decl: MergeDecl, outs: list[Shape]) -> Shape:
        """The merged output shape of the branch outputs, or :class:`ShapeError`."""
        raise NotImplementedError

    def merge_saves(self, decl: MergeDecl, grads: list[bool]) -> list[int]:
        """Which branch outputs the merge op keeps for backward, given which require grad
        (add and cat keep none)."""
        return []

    def merge_copies(self, decl: MergeDecl, branches: int) -> bool:
        """Whether merging makes a new tensor (else the output is the first branch's)."""
        return True

    def auto_branch(
        self, decl: MergeDecl, shape: Shape, first: Shape, stride: tuple[int, ...] | None
    ) -> SeqDecl | None:
        """A branch written ``auto``, from the input shape, the first branch's output and its
        stride (the product of its layers' strides per spatial dim; None: not only strides)."""
        return None

    def call(self, decl: MergeDecl) -> Call:
        """How :attr:`torch_class` is constructed (by the builder, and in exported code): the
        branches in order, each ``(keyword or None, branch key)``, then the other keywords
        whose values are not the default."""
        return [(None, b.key) for b in decl.branches], {}


@dataclass(frozen=True)
class ResidualType(ContainerType):
    """``body(x) + shortcut(x)``; no shortcut is the identity, ``auto`` a projection;
    ``connect: false`` is the body alone (a block whose skip applies only sometimes)."""

    merges: ClassVar[bool] = True

    def read(self, r: Reader, item: YMap, scope: Any, path: str) -> MergeDecl:
        if "body" not in item:
            raise r.fail("Residual needs a 'body' (a list of layers)", item.loc, path)
        body = r.layer_list(item["body"], item.value_locs["body"], scope, f"{path}.body", "body")
        shortcut: SeqDecl | None = None
        auto = False
        if item.get("shortcut") is not None:
            loc = item.value_locs["shortcut"]
            raw = r.value(item, "shortcut", scope, path)
            if raw == AUTO:
                auto = True
            elif isinstance(raw, str):
                raise r.fail(f"'shortcut' must be a list of layers or 'auto', got {raw!r}", loc,
                             path)  # fmt: skip
            else:
                seq = r.layer_list(raw, loc, scope, f"{path}.shortcut", "shortcut")
                shortcut = seq if seq.children else None
        connect = r.value(item, "connect", scope, path) if "connect" in item else True
        if not isinstance(connect, bool):
            raise r.fail(f"'connect' must be true or false, got {connect!r}",
                         item.value_locs["connect"], path)  # fmt: skip
        if not connect:  # torchvision's use_res_connect = False: the body alone
            return MergeDecl(key="", origin=body.origin, kind=self.name,
                             branches=(Branch("body", body),), options={})  # fmt: skip
        branches = (Branch("body", body), Branch("shortcut", shortcut))
        first = r.value(item, "shortcut_first", scope, path) if "shortcut_first" in item else False
        if not isinstance(first, bool):
            raise r.fail(f"'shortcut_first' must be true or false, got {first!r}",
                         item.value_locs["shortcut_first"], path)  # fmt: skip
        if first and shortcut is not None:  # registered first, as torchvision's RegNet does
            branches = branches[::-1]
        return MergeDecl(key="", origin=body.origin, kind=self.name, branches=branches,
                         options={"auto": auto})  # fmt: skip

    def merge_copies(self, decl: MergeDecl, branches: int) -> bool:
        return branches > 1  # connect: false returns the body's output itself

    def call(self, decl: MergeDecl) -> Call:
        if len(decl.branches) == 1:
            return [("body", "body")], {"connect": False}
        first = decl.branches[0].key == "shortcut"
        return [("body", "body"), ("shortcut", "shortcut")], {
            "shortcut_first": True
        } if first else {}

    def merge(self, decl: MergeDecl, outs: list[Shape]) -> Shape:
        if len(outs) == 1:
            return outs[0]  # connect: false
        body, added = outs if decl.branches[0].key == "body" else outs[::-1]
        if added != body:
            shortcut = next(b.layers for b in decl.branches if b.key == "shortcut")
            what = "the shortcut" if shortcut is not None else "the identity shortcut"
            raise ShapeError(
                f"cannot add body and shortcut: body gives {fmt(body)}, {what} gives {fmt(added)}",
                hint="use `shortcut: auto` for a 1x1 conv + BatchNorm projection"
                if shortcut is None and not decl.options.get("auto")
                else None,
            )
        return body

    def auto_branch(
        self, decl: MergeDecl, shape: Shape, first: Shape, stride: tuple[int, ...] | None
    ) -> SeqDecl | None:
        """`shortcut: auto`: identity if the body keeps the shape, else 1x1 conv (with the
        body's stride) + BatchNorm."""
        if not decl.options.get("auto") or first == shape:
            return None
        return projection(shape, first, stride, decl.origin)


@dataclass(frozen=True)
class ConcatType(ContainerType):
    """``torch.cat([branch(x) for branch in branches], dim)``; ``[]`` is the identity."""

    merges: ClassVar[bool] = True

    def read(self, r: Reader, item: YMap, scope: Any, path: str) -> MergeDecl:
        raw = item.get("branches")
        if not isinstance(raw, list) or not raw:
            where = item.value_locs.get("branches", item.loc)
            raise r.fail("Concat needs 'branches': a list of layer lists", where, path)
        locs = getattr(raw, "item_locs", None) or [item.value_locs["branches"]] * len(raw)
        branches = tuple(
            Branch(str(i), r.layer_list(b, locs[i], scope, f"{path}.branches[{i}]", str(i)))
            for i, b in enumerate(raw)
        )
        dim = r.value(item, "dim", scope, path) if "dim" in item else 1
        if type(dim) is not int:
            raise r.fail(f"'dim' must be an int, got {dim!r}", item.value_locs["dim"], path)
        origin = Origin(item.loc, path)
        return MergeDecl(key="", origin=origin, kind=self.name, branches=branches,
                         options={"dim": dim})  # fmt: skip

    def merge(self, decl: MergeDecl, outs: list[Shape]) -> Shape:
        return cat_shape(outs, decl.options["dim"])

    def call(self, decl: MergeDecl) -> Call:
        branches: list[tuple[str | None, str]] = [(None, b.key) for b in decl.branches]
        return branches, {k: v for k, v in decl.options.items() if (k, v) != ("dim", 1)}


@dataclass(frozen=True)
class GateType(ContainerType):
    """``x * gate(x)`` (squeeze-excitation): the gate's output broadcasts to ``x``."""

    merges: ClassVar[bool] = True

    def read(self, r: Reader, item: YMap, scope: Any, path: str) -> MergeDecl:
        if "layers" not in item:
            raise r.fail("Gate needs 'layers': the gate, e.g. pool, conv, ReLU, conv, Sigmoid",
                         item.loc, path)  # fmt: skip
        gate = r.layer_list(item["layers"], item.value_locs["layers"], scope, f"{path}.layers",
                            "gate")  # fmt: skip
        return MergeDecl(key="", origin=Origin(item.loc, path), kind=self.name,
                         branches=(Branch("input", None), Branch("gate", gate)))  # fmt: skip

    def merge(self, decl: MergeDecl, outs: list[Shape]) -> Shape:
        return broadcast_shape(outs[0], outs[1])

    def call(self, decl: MergeDecl) -> Call:
        return [(None, "gate")], {}

    def merge_saves(self, decl: MergeDecl, grads: list[bool]) -> list[int]:
        # x * gate: MulBackward0 keeps each factor for the other's gradient
        return [i for i, other in ((0, grads[1]), (1, grads[0])) if other]


@dataclass(frozen=True)
class SplitType(ConcatType):
    """``torch.split(x, sizes, dim)`` (or ``torch.chunk(x, chunks, dim)``), branch i on piece
    i, the outputs concatenated along ``dim`` (ShuffleNetV2's unit); ``[]`` passes a piece on."""

    merges: ClassVar[bool] = True

    def read(self, r: Reader, item: YMap, scope: Any, path: str) -> MergeDecl:
        concat = CONCAT.read(r, item, scope, path)
        options: dict[str, Any] = {"dim": concat.options["dim"]}
        if ("sizes" in item) == ("chunks" in item):
            raise r.fail("Split needs 'sizes' (a list) or 'chunks' (an int), one of them",
                         item.loc, path)  # fmt: skip
        key = "sizes" if "sizes" in item else "chunks"
        value = r.value(item, key, scope, path)
        ok = (
            isinstance(value, list) and value and all(type(v) is int and v >= 1 for v in value)
            if key == "sizes"
            else type(value) is int and value >= 1
        )
        if not ok:
            what = "a list of positive ints" if key == "sizes" else "a positive int"
            raise r.fail(f"'{key}' must be {what}, got {value!r}", item.value_locs[key], path)
        options[key] = tuple(value) if key == "sizes" else value
        count = len(value) if key == "sizes" else value
        if key == "sizes" and count != len(concat.branches):
            raise r.fail(f"Split has {len(concat.branches)} branches for {count} sizes",
                         item.value_locs["branches"], path)  # fmt: skip
        return MergeDecl(key="", origin=concat.origin, kind=self.name,
                         branches=concat.branches, options=options)  # fmt: skip

    def inputs(self, decl: MergeDecl, shape: Shape) -> list[Shape]:
        dim = wrap_dim(decl.options["dim"], len(shape))
        size = shape[dim]
        if "sizes" in decl.options:
            sizes = list(decl.options["sizes"])
            if sum(sizes) != size:
                raise ShapeError(
                    f"split_with_sizes expects split_sizes to sum exactly to {size} (input "
                    f"tensor's size at dimension {dim}), but got split_sizes={sizes}"
                )
        else:  # torch.chunk: pieces of ceil(size / chunks); maybe fewer pieces than chunks
            step = -(-size // decl.options["chunks"])
            sizes = [min(step, size - start) for start in range(0, size, step)]
        if len(sizes) != len(decl.branches):
            raise ShapeError(
                f"Split cuts dim {dim} ({size}) into {len(sizes)} pieces {sizes}, but has "
                f"{len(decl.branches)} branches"
            )
        return [(*shape[:dim], s, *shape[dim + 1 :]) for s in sizes]

    def merge(self, decl: MergeDecl, outs: list[Shape]) -> Shape:
        return cat_shape(outs, decl.options["dim"])


def cat_shape(outs: list[Shape], dim: int) -> Shape:
    """``torch.cat``'s rule: equal ranks, equal sizes except along ``dim``."""
    rank = len(outs[0])
    dim = wrap_dim(dim, rank)
    for i, out in enumerate(outs):
        if len(out) != rank or any(
            a != b for j, (a, b) in enumerate(zip(out, outs[0], strict=True)) if j != dim
        ):
            raise ShapeError(
                f"branch {i} gives {fmt(out)}, branch 0 gives {fmt(outs[0])}: "
                f"Concat needs every size equal except along dim {dim}",
            )
    total = sum(out[dim] for out in outs)
    return (*outs[0][:dim], total, *outs[0][dim + 1 :])


def projection(shape: Shape, out: Shape, stride: tuple[int, ...] | None, origin: Origin) -> SeqDecl:
    """The 1x1 conv (with the body's stride) + BatchNorm that maps ``shape`` to ``out``.

    Refused, with the body's output, when that projection does not give the body's spatial
    size (an unpadded 3x3 conv, an upsampling or adaptive layer in the body): adding it would
    hide a forgotten padding.
    """
    ndim = len(shape) - 2
    conv, norm = REGISTRY.get(f"Conv{ndim}d"), REGISTRY.get(f"BatchNorm{ndim}d")
    if len(out) != len(shape) or conv is None or norm is None:
        raise ShapeError(
            f"shortcut: auto needs a batched 1d-3d input with the body keeping the rank; "
            f"got {fmt(shape)} -> {fmt(out)}"
        )
    projected = (
        tuple((i - 1) // s + 1 for i, s in zip(shape[2:], stride, strict=True))
        if stride is not None
        else None
    )
    if projected != out[2:]:
        steps = (
            "its layers are not only strided windows"
            if stride is None
            else (f"a 1x1 conv with the body's stride {list(stride)} gives {list(projected or ())}")
        )
        raise ShapeError(
            f"shortcut: auto cannot match the body: the body maps {fmt(shape)} to {fmt(out)}, "
            f"and {steps}",
            formula=["1x1 projection: size_out = floor((size_in - 1) / stride) + 1"],
            hint="pad the body's convolutions so only their stride changes the size "
            "(e.g. padding: 1 for a 3x3), or write the shortcut out",
        )
    where = Origin(origin.location, f"{origin.spec_path}.shortcut", origin.via)
    args = {"out_channels": out[1], "kernel_size": 1, "stride": stride, "bias": False}
    children = (
        LeafDecl(key="0", origin=where, cls=conv, args=args),
        LeafDecl(key="1", origin=where, cls=norm),
    )
    return SeqDecl(key="shortcut", origin=where, children=children)


SEQUENTIAL = ContainerType("Sequential", ("layers",), "Sequential")
CONCAT = ConcatType("Concat", ("branches", "dim"), "Concat")
CONTAINERS: Mapping[str, ContainerType] = {
    c.name: c
    for c in (
        SEQUENTIAL,
        ResidualType("Residual", ("body", "shortcut", "connect", "shortcut_first"), "Residual"),
        CONCAT,
        GateType("Gate", ("layers",), "Gate"),
        SplitType("Split", ("branches", "dim", "sizes", "chunks"), "Split"),
    )
}
